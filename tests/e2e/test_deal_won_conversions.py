"""A lead that came through Google and Meta ads is handed to sales, and its deal is won
at the CRM: the analytics collection sends `deal_won` to each ad platform once, with the
deal's amount in its currency, even when the first upload's answer is lost after the
platform applied it, and a second collection sends nothing more. A won deal of a lead
without click ids sends nothing. (The real dev server, workers and sandbox over HTTP.)"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.conversions import ConversionOutcome, Platform
from domain.leads import EventType, LeadStage
from integrations.hubspot import HubSpotClient
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from starter.service.leads import LeadService, build_capture, build_event
from starter.service.reports import ReportService, period
from tests.conftest import eventually, make_settings
from tests.e2e.conftest import Stack
from tests.e2e.test_analytics_flow import run_cli
from workers.main import running_workers
from workflows.analytics_models import CollectionView

GCLID = "Cj0KCQiA" + uuid.uuid4().hex  # unique per run: the shared sandbox keeps earlier tests' uploads
FBCLID = "IwAR" + uuid.uuid4().hex


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    """This file's own sandbox: a collection reads every won deal the CRM holds, and the
    session's shared one holds other tests' deals, whose journeys' workers are gone (each
    such deal's upload waits out its query timeout: two minutes of a suite run)."""
    async with SandboxServer() as server:
        yield server


@pytest.fixture
async def winning(dev_env: WorkflowEnvironment, sandbox: SandboxServer) -> Stack:
    tokens = sandbox.tokens
    settings = make_settings(
        sandbox.url,
        dev_env.client.service_client.config.target_host,
        conversions_on="deal_won",  # no fixed value: each deal counts what it brought
        meta_pixel_id=tokens.meta_pixel_id,
        google_ads_conversion_action=tokens.google_ads_conversion_action,
    )
    async with SandboxAdmin(sandbox.url) as admin, running_workers(dev_env.client, settings):
        await admin.clear_faults()
        yield Stack(dev_env.client, settings, LeadService(dev_env.client, settings), admin, sandbox.url)
        await admin.clear_faults()


async def handed_off(stack: Stack, email: str, landing: str | None) -> tuple[str, str]:
    """A lead captured from `landing`, qualified and handed to sales: (workflow id, deal id)."""
    capture = build_capture(stack.settings, email=email, source="paid_search", consent=True, landing_url=landing)
    result = await stack.leads.capture(capture)
    for kind in (EventType.FORM, EventType.REPLY, EventType.CLICK):
        await stack.leads.record_event(build_event(type=kind), email=email)

    async def assigned():
        st = await stack.leads.state(email=email)
        return st.stage == LeadStage.SALES_ASSIGNED and st.deal_id and st

    st = await eventually(assigned, timeout=30, what="the hand-off to sales")
    return result.workflow_id, st.deal_id


async def test_a_won_deal_reaches_each_platform_once(winning: Stack, sandbox: SandboxServer) -> None:
    stack, tokens, s = winning, sandbox.tokens, winning.settings
    email = f"buyer.{uuid.uuid4().hex[:10]}@acme.example"
    landing = f"https://mops.example/spring?utm_source=google&gclid={GCLID}&fbclid={FBCLID}"
    clicked, clicked_deal = await handed_off(stack, email, landing)
    plain, plain_deal = await handed_off(stack, f"walk.in.{uuid.uuid4().hex[:10]}@acme.example", None)

    # Sales wins both deals at the CRM.
    closed = datetime.now(UTC)
    async with HubSpotClient(s.hubspot_base_url, s.hubspot_token.get_secret_value()) as hubspot:
        for deal_id, amount in ((clicked_deal, "980.50"), (plain_deal, "300")):
            await hubspot.update_deal(
                deal_id,
                {
                    "dealstage": "closedwon",
                    "amount": amount,
                    "deal_currency_code": "EUR",
                    "closedate": str(int(closed.timestamp() * 1000)),
                },
            )

    # The first upload to each platform is applied, then its answer is lost (503).
    await stack.admin.set_faults(
        "meta",
        fail_next=1,
        fail_after_apply=True,
        error_status=503,
        path_prefix=f"/v21.0/{tokens.meta_pixel_id}/events",
    )
    await stack.admin.set_faults(
        "google_ads", fail_next=1, fail_after_apply=True, error_status=503, path_prefix="/v18/customers/"
    )
    svc = ReportService(stack.client, s)
    today = closed.astimezone(UTC).date()
    days = period(today - timedelta(days=1), today, default_days=2, end=today)
    # Collected as an operator does, from the CLI, which lists what the run sent.
    since, until = days.start.isoformat(), days.end.isoformat()
    result = await run_cli(s, "report", "collect", "--source", "hubspot", "--from", since, "--to", until)
    assert result.exit_code == 0, result.output
    assert f"deal won   {clicked_deal} → meta: sent" in result.output
    assert f"deal won   {plain_deal} → google_ads: not_sent (no Google click id)" in result.output
    run = stack.client.get_workflow_handle(f"analytics-collect-{since}-{until}", result_type=CollectionView)
    view = await run.result()
    assert view.stale == {}, view.timeline
    faults = await stack.admin.faults()
    assert faults["meta"]["fail_next"] == faults["google_ads"]["fail_next"] == 0, "both lost answers happened"

    lead_id = clicked.removeprefix("lead-")
    key = f"{lead_id}-deal_won-{clicked_deal}"
    kept = await stack.admin.conversions()
    events = [e for e in kept["meta"] if e["event_id"] == key]
    assert len(events) == 1, "one Meta event for the deal, the retry dropped"
    [event] = events
    assert event["event_name"] == "deal_won" and event["event_time"] == int(closed.timestamp())
    assert event["user_data"]["em"] == [hashlib.sha256(email.encode()).hexdigest()]
    assert event["user_data"]["fbc"].endswith(f".{FBCLID}")
    assert event["custom_data"]["value"] == 980.5 and event["custom_data"]["currency"] == "EUR"
    clicks = [c for c in kept["google_ads"] if c.get("orderId") == key]
    assert len(clicks) == 1, "one Google click conversion for the deal"
    assert clicks[0]["gclid"] == GCLID and clicks[0]["conversionValue"] == 980.5
    assert clicks[0]["currencyCode"] == "EUR" and clicks[0]["conversionAction"] == tokens.google_ads_conversion_action
    plain_id = plain.removeprefix("lead-")
    assert not [e for e in kept["meta"] if e["event_id"].startswith(plain_id)], "no click id: nothing to Meta"
    assert not [c for c in kept["google_ads"] if str(c.get("orderId", "")).startswith(plain_id)], "nor to Google"

    # What was sent, as the collection and the store (and so `mops lead show`) tell it.
    outcomes = {(c.lead_workflow_id, c.platform): c.outcome for c in view.deal_conversions}
    assert outcomes == {
        (clicked, Platform.META): ConversionOutcome.SENT,  # Meta dropped the repeat silently
        (clicked, Platform.GOOGLE_ADS): ConversionOutcome.DUPLICATE,  # Google said it had it
        (plain, Platform.META): ConversionOutcome.NOT_SENT,
        (plain, Platform.GOOGLE_ADS): ConversionOutcome.NOT_SENT,
    }
    shown = await stack.leads.deal_conversions(lead_id=clicked)
    assert {(c.platform, c.key, c.value, c.currency) for c in shown} == {
        (Platform.META, key, Decimal("980.50"), "EUR"),
        (Platform.GOOGLE_ADS, key, Decimal("980.50"), "EUR"),
    }
    assert {c.detail for c in await stack.leads.deal_conversions(lead_id=plain)} == {
        "no Meta click id",
        "no Google click id",
    }
    result = await run_cli(s, "lead", "show", "--lead", clicked, "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)["deal_conversions"]
    assert {(d["platform"], d["outcome"]) for d in listed} == {("meta", "sent"), ("google_ads", "duplicate")}
    result = await run_cli(s, "lead", "show", "--lead", plain)
    assert result.exit_code == 0, result.output
    assert "deal won" in result.output and plain_deal in result.output and "no Google click id" in result.output

    # A second collection finds the deals again and sends nothing more.
    before = await stack.admin.conversions()
    _, again = await svc.collect(svc.collection_input(days, ["hubspot"]))
    assert again.stale == {} and again.deal_conversions == []
    after = await stack.admin.conversions()
    assert [e for e in after["meta"] if e["event_id"] == key] == events
    assert len(after["google_ads"]) == len(before["google_ads"]) and len(after["meta"]) == len(before["meta"])
    assert len(svc.store.deal_conversions()) == 4
