"""Money in the units each platform wants: major units in specs, minor units (cents) on Meta,
micros on Google Ads. Amounts are `Decimal` or integer minor units, never floats.

Minor units follow ISO 4217: most currencies have 2 decimals (1.00 EUR = 100), a few have
0 (JPY, KRW) or 3 (BHD, KWD). Budgets are rounded *down* when converted, so a platform is
never asked to spend more than the campaign has.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

import pycountry

MICROS_PER_UNIT = 1_000_000

# ISO 4217 minor-unit exponents of the currencies whose exponent is not 2.
MINOR_EXPONENT: dict[str, int] = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}

# ISO 4217 codes that are not money anyone spends (metals, bond units, SDR, test and "no currency").
_NOT_SPENDABLE = frozenset(("XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"))


# Read once at import: pycountry opens its data file on first use, and a workflow
# that decodes a campaign inside Temporal's sandbox may not open files.
_ISO_CODES = frozenset(c.alpha_3 for c in pycountry.currencies)


def _iso_codes() -> frozenset[str]:
    return _ISO_CODES


def check_currency(code: str) -> str:
    """The ISO 4217 code, upper-cased; ValueError `unknown currency 'XYZ'` otherwise."""
    if not isinstance(code, str) or code.strip().upper() not in _iso_codes():
        raise ValueError(f"unknown currency {code!r}")
    upper = code.strip().upper()
    if upper in _NOT_SPENDABLE:
        raise ValueError(f"{upper!r} is not a currency budgets can be spent in")
    return upper


def exponent(currency: str) -> int:
    """Number of decimals of the currency's minor unit (EUR 2, JPY 0, KWD 3)."""
    return MINOR_EXPONENT.get(check_currency(currency), 2)


def quantum(currency: str) -> Decimal:
    """The smallest amount of the currency: Decimal('0.01') for EUR, Decimal('1') for JPY."""
    return Decimal(1).scaleb(-exponent(currency))


def _decimal(amount: Decimal | int | float | str) -> Decimal:
    # A float goes through its shortest repr, so 0.29 stays 0.29 and not 0.28999...
    return Decimal(str(amount)) if isinstance(amount, float) else Decimal(amount)


def to_minor(amount: Decimal, currency: str) -> int:
    """Major units to integer minor units, rounded down: 12.349 EUR -> 1234."""
    scaled = _decimal(amount).scaleb(exponent(currency))
    return int(scaled.to_integral_value(rounding=ROUND_FLOOR))


def from_minor(minor: int, currency: str) -> Decimal:
    """Integer minor units to major units with the currency's decimals: 1234 EUR -> Decimal('12.34')."""
    return Decimal(int(minor)).scaleb(-exponent(currency))


def to_micros(amount: Decimal) -> int:
    """Major units to micros (Google Ads `amount_micros`): 12.34 -> 12_340_000. Exact, or ValueError."""
    scaled = _decimal(amount) * MICROS_PER_UNIT
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than 6 decimals and cannot be written in micros")
    return int(scaled)


def pow10(n: int) -> int:
    """10 to the power `n` >= 0, as an int (`10 ** n` is typed int-or-float: a negative `n` gives a float)."""
    if n < 0:
        raise ValueError(f"pow10 needs a power >= 0, got {n}")
    return int(10**n)


def minor_to_micros(minor: int, currency: str) -> int:
    """Minor units to micros: 1234 EUR cents -> 12_340_000; 1234 JPY -> 1_234_000_000."""
    return int(minor) * pow10(6 - exponent(currency))


def micros_to_minor(micros: int, currency: str) -> int:
    """Micros to minor units, rounded down: 12_345_678 micros EUR -> 1234."""
    return int(micros) // pow10(6 - exponent(currency))


def show(amount: Decimal | int, currency: str, *, minor: bool = False) -> str:
    """An amount for people: `1,234.50 EUR`, `1,234 JPY`. With `minor`, `amount` is in minor units."""
    code = check_currency(currency)
    value = from_minor(int(amount), code) if minor else _decimal(amount)
    value = value.quantize(quantum(code), rounding=ROUND_HALF_UP)
    return f"{value:,.{exponent(code)}f} {code}"
