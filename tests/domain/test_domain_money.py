from decimal import Decimal

import pycountry
import pytest

from domain.money import (
    MINOR_EXPONENT,
    check_currency,
    exponent,
    from_minor,
    micros_to_minor,
    minor_to_micros,
    pow10,
    show,
    to_micros,
    to_minor,
)


def test_minor_exponent_lists_only_real_currencies_that_differ_from_two():
    codes = {c.alpha_3 for c in pycountry.currencies}
    assert set(MINOR_EXPONENT) <= codes
    assert 2 not in MINOR_EXPONENT.values()
    assert (MINOR_EXPONENT["JPY"], MINOR_EXPONENT["KRW"], MINOR_EXPONENT["BHD"], MINOR_EXPONENT["KWD"]) == (0, 0, 3, 3)


@pytest.mark.parametrize(
    ("code", "expected"),
    [("EUR", 2), ("usd", 2), ("JPY", 0), ("KRW", 0), ("BHD", 3), ("KWD", 3), ("CLF", 4)],
)
def test_exponent(code, expected):
    assert exponent(code) == expected


def test_check_currency_upper_cases_and_refuses_unknown_codes():
    assert check_currency("eur") == "EUR"
    assert check_currency(" gbp ") == "GBP"
    for bad in ("XYZ", "EURO", "", "E"):
        with pytest.raises(ValueError, match=f"^unknown currency '{bad}'$"):
            check_currency(bad)
    with pytest.raises(ValueError, match="^unknown currency 978$"):
        check_currency(978)  # type: ignore[arg-type]
    # ISO 4217 lists gold and "no currency", but nobody buys ads in them.
    with pytest.raises(ValueError, match="^'XAU' is not a currency budgets can be spent in$"):
        check_currency("XAU")


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (Decimal("12.34"), "EUR", 1234),
        (Decimal("12.349"), "EUR", 1234),  # down, never up
        (Decimal("12.3"), "EUR", 1230),
        (Decimal("0.009"), "EUR", 0),
        (Decimal("1234.9"), "JPY", 1234),
        (Decimal("1.2345"), "KWD", 1234),
        (Decimal("100"), "EUR", 10000),
        (0.29, "EUR", 29),  # a float is read by its repr, not its binary value (0.28999...)
        (7, "USD", 700),
    ],
)
def test_to_minor_rounds_down(amount, currency, minor):
    assert to_minor(amount, currency) == minor


def test_from_minor_keeps_the_currency_decimals():
    assert str(from_minor(123450, "EUR")) == "1234.50"
    assert str(from_minor(5, "EUR")) == "0.05"
    assert str(from_minor(1234, "JPY")) == "1234"
    assert str(from_minor(1234, "KWD")) == "1.234"
    for minor in (0, 1, 99, 100, 123456789):
        assert to_minor(from_minor(minor, "EUR"), "EUR") == minor


def test_micros():
    assert to_micros(Decimal("12.34")) == 12_340_000
    assert to_micros(Decimal("0.000001")) == 1
    assert to_micros(5) == 5_000_000
    with pytest.raises(ValueError, match="more than 6 decimals"):
        to_micros(Decimal("0.0000015"))
    assert minor_to_micros(1234, "EUR") == 12_340_000
    assert minor_to_micros(1234, "JPY") == 1_234_000_000
    assert minor_to_micros(1234, "KWD") == 1_234_000
    assert micros_to_minor(12_345_678, "EUR") == 1234  # rounded down
    assert micros_to_minor(1_234_999_999, "JPY") == 1234
    assert micros_to_minor(1_234_567, "KWD") == 1234
    assert micros_to_minor(9_999, "EUR") == 0
    for minor in (0, 1, 100, 98765):
        for currency in ("EUR", "JPY", "KWD"):
            assert micros_to_minor(minor_to_micros(minor, currency), currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor", "text"),
    [
        (Decimal("1234.5"), "EUR", False, "1,234.50 EUR"),
        (123450, "eur", True, "1,234.50 EUR"),
        (Decimal("0.005"), "EUR", False, "0.01 EUR"),  # half up for display
        (Decimal("-12"), "USD", False, "-12.00 USD"),
        (1234, "JPY", True, "1,234 JPY"),
        (Decimal("1234567.8"), "JPY", False, "1,234,568 JPY"),
        (Decimal("1.5"), "KWD", False, "1.500 KWD"),
        (1500, "KWD", True, "1.500 KWD"),
        (0, "EUR", True, "0.00 EUR"),
    ],
)
def test_show(amount, currency, minor, text):
    assert show(amount, currency, minor=minor) == text


def test_pow10_is_an_exact_int_and_refuses_negative_powers():
    assert [pow10(n) for n in (0, 1, 6)] == [1, 10, 1_000_000]
    assert isinstance(pow10(4), int)
    with pytest.raises(ValueError, match="power >= 0"):
        pow10(-1)
