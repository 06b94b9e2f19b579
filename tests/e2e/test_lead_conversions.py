"""A lead that came through Google and Meta ads converts: each configured stage reaches
the Meta Conversions API and Google Ads once, over real HTTP, even when the first
upload's answer is lost after the platform applied it (the real dev server, workers,
sandbox)."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.conversions import ConversionOutcome, Platform
from domain.leads import EventType, LeadStage
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from starter.service.leads import LeadService, build_capture, build_event
from tests.conftest import eventually, make_settings
from tests.e2e.conftest import Stack
from workers.main import running_workers
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.lead_models import SalesDecision, SalesDecisionKind

GCLID = "Cj0KCQiA" + uuid.uuid4().hex  # unique per run: the shared sandbox keeps earlier tests' uploads
FBCLID = "IwAR" + uuid.uuid4().hex


@pytest.fixture
async def converting(dev_env: WorkflowEnvironment, sandbox: SandboxServer) -> Stack:
    tokens = sandbox.tokens
    settings = make_settings(
        sandbox.url,
        dev_env.client.service_client.config.target_host,
        conversions_on="mql,converted",
        meta_pixel_id=tokens.meta_pixel_id,
        google_ads_conversion_action=tokens.google_ads_conversion_action,
        conversion_value="120",
        conversion_currency="EUR",
    )
    async with SandboxAdmin(sandbox.url) as admin, running_workers(dev_env.client, settings):
        await admin.clear_faults()
        yield Stack(dev_env.client, settings, LeadService(dev_env.client, settings), admin, sandbox.url)
        await admin.clear_faults()


async def test_conversions_reach_each_platform_once(converting: Stack, sandbox: SandboxServer) -> None:
    stack, tokens = converting, sandbox.tokens
    email = f"lead.{uuid.uuid4().hex[:10]}@acme.example"
    landing = f"https://mops.example/spring?utm_source=google&utm_campaign=spring&gclid={GCLID}&fbclid={FBCLID}"
    capture = build_capture(stack.settings, email=email, source="paid_search", consent=True, landing_url=landing)
    result = await stack.leads.capture(capture)
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
    for kind in (EventType.FORM, EventType.REPLY, EventType.CLICK):
        await stack.leads.record_event(build_event(type=kind), email=email)

    async def assigned():
        st = await stack.leads.state(email=email)
        return st.stage == LeadStage.SALES_ASSIGNED and len(st.conversions) == 2 and st

    st = await eventually(assigned, timeout=30, what="MQL conversions and the hand-off")
    await stack.leads.sales_decision(
        SalesDecision(decision=SalesDecisionKind.ACCEPTED, owner_id=st.owner_id), email=email
    )
    final = await stack.client.get_workflow_handle_for(LeadJourneyWorkflow.run, result.workflow_id).result()
    assert final.stage == LeadStage.CONVERTED
    state = await stack.leads.state(email=email)

    kept = await stack.admin.conversions()
    ours = [e for e in kept["meta"] if e["event_id"].startswith(result.lead_id)]
    assert sorted(e["event_name"] for e in ours) == ["converted", "mql"], "one event per stage"
    mql = next(e for e in ours if e["event_name"] == "mql")
    assert mql["user_data"]["em"] == [hashlib.sha256(email.encode()).hexdigest()]
    assert mql["user_data"]["fbc"].startswith("fb.1.") and mql["user_data"]["fbc"].endswith(f".{FBCLID}")
    assert mql["custom_data"]["value"] == 120 and mql["custom_data"]["currency"] == "EUR"
    clicks = [c for c in kept["google_ads"] if c.get("gclid") == GCLID]
    assert sorted(c["orderId"] for c in clicks) == [f"{result.lead_id}-converted-0", f"{result.lead_id}-mql-0"]
    assert all(c["conversionAction"] == tokens.google_ads_conversion_action for c in clicks)
    faults = await stack.admin.faults()
    assert faults["meta"]["fail_next"] == faults["google_ads"]["fail_next"] == 0, "both lost answers happened"
    # The lost answers were retried: Meta dropped the repeat, Google answered "already exists".
    outcomes = {(c.platform, c.stage): c.outcome for c in state.conversions}
    assert outcomes == {
        (Platform.META, LeadStage.MQL): ConversionOutcome.SENT,
        (Platform.GOOGLE_ADS, LeadStage.MQL): ConversionOutcome.DUPLICATE,
        (Platform.META, LeadStage.CONVERTED): ConversionOutcome.SENT,
        (Platform.GOOGLE_ADS, LeadStage.CONVERTED): ConversionOutcome.SENT,
    }
