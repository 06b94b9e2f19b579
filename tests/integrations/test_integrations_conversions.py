"""The conversion clients and activities against the sandbox (real HTTP): what arrives,
and that a repeat (a retry after a lost answer) is one conversion on each platform."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError

from activities.conversion_models import GoogleConversionInput, MetaConversionInput
from activities.conversions import ConversionActivities
from domain.conversions import ConversionOutcome
from integrations.errors import PlatformRejected
from integrations.google_conversions import GoogleConversionsClient
from integrations.meta_conversions import MetaConversionsClient
from sandbox.server import SandboxServer

FBC = "fb.1.1700000000000.IwAR2abcdefghijk"


@pytest.fixture
async def conversions(sandbox: SandboxServer, admin):
    tokens = sandbox.tokens
    meta = MetaConversionsClient(
        sandbox.url, tokens.meta_token.get_secret_value(), ad_account_id=tokens.meta_ad_account_id, timeout=5
    )
    google = GoogleConversionsClient(
        sandbox.url,
        tokens.google_ads_token.get_secret_value(),
        customer_id=tokens.google_ads_customer_id,
        developer_token=tokens.google_ads_developer_token.get_secret_value(),
        timeout=5,
    )
    yield ConversionActivities(meta, google)
    await meta.aclose()
    await google.aclose()


def meta_input(sandbox: SandboxServer, **over) -> MetaConversionInput:
    fields = dict(
        pixel_id=sandbox.tokens.meta_pixel_id,
        event_name="mql",
        event_id="abc123-mql-0",
        at=datetime.now(UTC) - timedelta(minutes=1),
        email="Ada@Example.com",
        lead_id="abc123",
        fbc=FBC,
        value=Decimal("50"),
        currency="EUR",
    )
    return MetaConversionInput(**{**fields, **over})


def google_input(sandbox: SandboxServer, **over) -> GoogleConversionInput:
    fields = dict(
        customer_id=sandbox.tokens.google_ads_customer,
        conversion_action=sandbox.tokens.google_ads_conversion_action,
        click_field="gclid",
        click_id="Cj0KCQiA1234567890abc",
        at=datetime(2025, 3, 1, 10, 30, 5, tzinfo=UTC),
        order_id="abc123-mql-0",
        value=Decimal("50"),
        currency="EUR",
    )
    return GoogleConversionInput(**{**fields, **over})


async def test_meta_event_arrives_hashed_and_once(sandbox, conversions, admin):
    inp = meta_input(sandbox)
    assert (await conversions.meta(inp)).outcome == ConversionOutcome.SENT
    assert (await conversions.meta(inp)).outcome == ConversionOutcome.SENT  # Meta drops the repeat silently
    kept = await admin.conversions()
    assert len(kept["meta"]) == 1 and kept["deduplicated"]["meta"] == 1
    event = kept["meta"][0]
    assert event["event_name"] == "mql" and event["event_id"] == "abc123-mql-0"
    assert event["action_source"] == "system_generated"
    assert event["event_time"] == int(inp.at.timestamp())
    assert event["user_data"]["em"] == [hashlib.sha256(b"ada@example.com").hexdigest()]
    assert event["user_data"]["external_id"] == [hashlib.sha256(b"abc123").hexdigest()]
    assert event["user_data"]["fbc"] == FBC
    assert event["custom_data"]["value"] == 50 and event["custom_data"]["currency"] == "EUR"


async def test_meta_refusal_is_raised(sandbox, conversions, admin):
    with pytest.raises(PlatformRejected) as err:
        await conversions._meta.send_events("999999999", [{"event_name": "mql"}])
    assert err.value.code == "100/33"
    too_old = meta_input(sandbox, at=datetime.now(UTC) - timedelta(days=8))
    with pytest.raises(ApplicationError) as app_err:
        await conversions.meta(too_old)
    assert app_err.value.non_retryable and app_err.value.type == "PlatformRejected"
    assert (await admin.conversions())["meta"] == []


async def test_google_conversion_arrives_once_and_a_repeat_is_done(sandbox, conversions, admin):
    inp = google_input(sandbox)
    assert (await conversions.google_ads(inp)).outcome == ConversionOutcome.SENT
    repeat = await conversions.google_ads(inp)
    assert repeat.outcome == ConversionOutcome.DUPLICATE
    assert repeat.detail == "conversionUploadError.CLICK_CONVERSION_ALREADY_EXISTS"
    kept = (await admin.conversions())["google_ads"]
    assert len(kept) == 1
    assert kept[0]["gclid"] == "Cj0KCQiA1234567890abc"
    assert kept[0]["conversionDateTime"] == "2025-03-01 10:30:05+00:00"
    assert kept[0]["orderId"] == "abc123-mql-0"
    assert kept[0]["conversionValue"] == 50 and kept[0]["currencyCode"] == "EUR"


async def test_google_lost_answer_then_retry_is_one_conversion(sandbox, conversions, admin):
    # The upload is applied, then its answer is lost (a 503 instead).
    await admin.set_faults("google_ads", fail_next=1, fail_after_apply=True, error_status=503)
    with pytest.raises(ApplicationError) as err:
        await conversions.google_ads(google_input(sandbox))
    assert not err.value.non_retryable  # retried by the activity's policy
    assert (await conversions.google_ads(google_input(sandbox))).outcome == ConversionOutcome.DUPLICATE
    assert len((await admin.conversions())["google_ads"]) == 1


async def test_google_partial_failure_is_raised_with_its_code(sandbox, conversions, admin):
    unknown = google_input(
        sandbox, conversion_action=f"customers/{sandbox.tokens.google_ads_customer}/conversionActions/1"
    )
    with pytest.raises(ApplicationError) as err:
        await conversions.google_ads(unknown)
    assert err.value.non_retryable
    assert err.value.details[0] == "conversionUploadError.NO_CONVERSION_ACTION_FOUND"
    assert (await admin.conversions())["google_ads"] == []
