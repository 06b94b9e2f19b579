"""Click ids (parsing, shapes, Meta's fbc), the conversion plan, ids, hashing and Google's time format."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.click_ids import ClickIds
from domain.conversions import (
    ConversionPlan,
    conversion_key,
    deal_won_key,
    deal_won_value,
    google_datetime,
    meta_hash,
)
from domain.leads import LeadCapture, LeadStage
from mops.settings import SettingsError, load_settings
from starter.service.leads import LeadInputError, build_capture

GCLID = "Cj0KCQiA1234567890abc"
FBCLID = "IwAR2abcdefghijk"
ACTION = "customers/1234567890/conversionActions/987654321"


def test_click_ids_from_a_landing_url():
    ids = ClickIds.from_url(f"https://mops.example/spring?utm_source=google&gclid={GCLID}&fbclid={FBCLID}")
    assert ids == ClickIds(gclid=GCLID, fbclid=FBCLID)
    assert ClickIds.from_url("https://mops.example/spring?utm_source=google") is None
    assert ClickIds.from_url(None) is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"gclid": "short"}, "gclid"),
        ({"wbraid": "has spaces in it"}, "wbraid"),
        ({"fbclid": "<script>alert(1)</script>"}, "fbclid"),
        ({"fbc": FBCLID}, "fbc"),
        ({"fbp": "fb.1.1700000000000.abc"}, "fbp"),
    ],
)
def test_garbage_click_ids_are_refused_naming_the_field(fields, field):
    with pytest.raises(ValidationError) as err:
        ClickIds(**fields)
    assert err.value.errors()[0]["loc"] == (field,)


def test_fbc_is_derived_from_the_fbclid_and_the_capture_time():
    at = datetime(2026, 3, 1, 8, 0, 0, 123000, tzinfo=UTC)
    capture = LeadCapture(
        capture_id="c", email="ada@example.com", source="paid_social", captured_at=at, click_ids={"fbclid": FBCLID}
    )
    assert capture.click_ids is not None
    assert capture.click_ids.fbc == f"fb.1.{int(at.timestamp() * 1000)}.{FBCLID}" == f"fb.1.1772352000123.{FBCLID}"
    given = "fb.1.1700000000000.IwAR2other"
    kept = LeadCapture(
        capture_id="c",
        email="ada@example.com",
        source="paid_social",
        captured_at=at,
        click_ids={"fbclid": FBCLID, "fbc": given},
    )
    assert kept.click_ids is not None and kept.click_ids.fbc == given, "a real cookie wins over the derived one"


def test_google_takes_one_click_id_and_meta_needs_a_cookie():
    assert ClickIds(gclid=GCLID, gbraid="gbraid12345").google() == ("gclid", GCLID)
    assert ClickIds(wbraid="wbraid12345").google() == ("wbraid", "wbraid12345")
    assert ClickIds(fbclid=FBCLID).google() is None
    assert not ClickIds(gclid=GCLID).meta()
    assert ClickIds(fbp="fb.1.1700000000000.123456789").meta()


def test_a_later_click_wins():
    first = ClickIds(gclid=GCLID, fbp="fb.1.1700000000000.1")
    assert first.merged(ClickIds(gclid="Cj0KCQiAnewer12345")) == ClickIds(
        gclid="Cj0KCQiAnewer12345", fbp="fb.1.1700000000000.1"
    )


def test_capture_reads_the_landing_url_and_names_a_bad_click_id():
    settings = load_settings()
    capture = build_capture(
        settings,
        email="ada@example.com",
        source="paid_search",
        consent=True,
        landing_url=f"https://x.example/?gclid={GCLID}&utm_campaign=spring",
    )
    assert capture.click_ids == ClickIds(gclid=GCLID)
    assert capture.utm is not None and capture.utm.campaign == "spring"
    with pytest.raises(LeadInputError, match=r"^landing_url\.gclid: "):
        build_capture(
            settings,
            email="ada@example.com",
            source="paid_search",
            consent=True,
            landing_url="https://x.example/?gclid=bad",
        )
    with pytest.raises(LeadInputError, match=r"^click_ids\.fbc: "):
        build_capture(settings, email="ada@example.com", source="paid_search", consent=True, click_ids={"fbc": "nope"})


def test_meta_hash_is_sha256_of_the_trimmed_lowercased_value():
    assert meta_hash("  Ada@Example.COM ") == hashlib.sha256(b"ada@example.com").hexdigest()
    assert len(meta_hash("x")) == 64 and meta_hash("x") == meta_hash("x").lower()


def test_google_datetime_format():
    at = datetime(2026, 3, 1, 10, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    assert google_datetime(at) == "2026-03-01 08:30:05+00:00"
    with pytest.raises(ValueError):
        google_datetime(datetime(2026, 3, 1))


def test_conversion_key_is_stable_per_stage_and_cycle():
    assert conversion_key("abc", LeadStage.MQL, 0) == conversion_key("abc", LeadStage.MQL, 0) == "abc-mql-0"
    assert conversion_key("abc", LeadStage.MQL, 1) != conversion_key("abc", LeadStage.MQL, 0)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"on": []}, "at least one conversion"),
        ({"on": ["unsubscribed"], "meta_pixel_id": "123456"}, "not a conversion"),
        ({"on": ["mql", "deal_wonn"], "meta_pixel_id": "123456"}, r"'deal_wonn' is not a conversion.*deal_won, mql"),
        ({"on": ["mql"]}, "need a destination"),
        (
            {"on": ["mql"], "google_customer_id": "1234567890", "google_conversion_action": "conversionActions/1"},
            "resource name",
        ),
        ({"on": ["mql"], "google_customer_id": "1111111111", "google_conversion_action": ACTION}, "another customer"),
        ({"on": ["mql"], "meta_pixel_id": "123456", "value": "10"}, "value and currency"),
        ({"on": ["mql"], "meta_pixel_id": "123456", "value": "10", "currency": "XYZ"}, "unknown currency"),
    ],
)
def test_bad_plans_are_refused(fields, problem):
    with pytest.raises(ValidationError, match=problem):
        ConversionPlan(**fields)


def test_settings_build_the_plan_and_name_the_variable():
    assert load_settings().conversion_plan() is None
    plan = load_settings(conversions_on="MQL, converted", google_ads_conversion_action=ACTION).conversion_plan()
    assert plan is not None
    assert plan.on == [LeadStage.MQL, LeadStage.CONVERTED] and plan.google_customer_id == "1234567890"
    with pytest.raises(SettingsError, match=r"^MOPS_CONVERSIONS_ON: .*destination"):
        load_settings(conversions_on="mql")


def test_deal_won_is_a_conversion_beside_the_stages_not_a_stage():
    plan = load_settings(conversions_on="mql, Deal_Won", meta_pixel_id="123456").conversion_plan()
    assert plan is not None and plan.on == [LeadStage.MQL] and plan.deal_won
    only = ConversionPlan(on=["deal_won"], meta_pixel_id="123456")
    assert only.on == [] and only.deal_won
    assert ConversionPlan.model_validate(only.model_dump()) == only, "the pinned plan reads back the same"
    assert not ConversionPlan(on=["mql"], meta_pixel_id="123456").deal_won


def test_a_bad_conversion_name_is_refused_at_start_naming_the_variable_and_the_choices():
    with pytest.raises(SettingsError, match=r"^MOPS_CONVERSIONS_ON: 'deal-won' is not a conversion.*deal_won"):
        load_settings(conversions_on="mql,deal-won", meta_pixel_id="123456")


def test_deal_won_key_is_one_per_deal():
    assert deal_won_key("abc", "9001") == "abc-deal_won-9001" != deal_won_key("abc", "9002")
    assert deal_won_key("abc", "9001") != conversion_key("abc", LeadStage.CONVERTED, 0)


def test_deal_won_value_is_the_deal_amount_in_its_currency_unless_the_plan_fixes_one():
    free = ConversionPlan(on=["deal_won"], meta_pixel_id="123456")
    assert deal_won_value(free, Decimal("980.50"), "usd") == (Decimal("980.50"), "USD")
    fixed = ConversionPlan(on=["deal_won"], meta_pixel_id="123456", value="120", currency="EUR")
    assert deal_won_value(fixed, Decimal("980.50"), "USD") == (Decimal("120"), "EUR")
