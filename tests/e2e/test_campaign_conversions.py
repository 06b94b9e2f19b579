"""A campaign file says which conversions its leads report: a capture tagged with the
campaign's utm_campaign pins the campaign's `conversions.count`, any other capture the
account's MOPS_CONVERSIONS_ON; a won deal goes back only for a lead whose pinned plan counts
won deals; a campaign naming conversions the account has nowhere to send is refused at
launch time, and a typo in its section is refused naming the file and field."""

from __future__ import annotations

import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.conversions import ConversionIdentity
from sandbox.server import SandboxServer
from starter.service.campaigns import CampaignInputError, prepare
from starter.service.conversion_plans import ConversionPlanError, conversion_plan, counts_won_deals
from starter.service.leads import LeadService, build_capture
from tests.conftest import ROOT, eventually, make_settings
from workers.main import running_workers
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.lead_models import LeadJourneyInput

TAG = "spring-launch-2027"  # the example campaign's utm_campaign (its id)


def campaigns_with(tmp: Path, section: str) -> Path:
    target = tmp / "campaigns"
    shutil.copytree(ROOT / "campaigns", target)
    example = target / "example.yaml"
    example.write_text(example.read_text() + f"\n{section}\n")
    return target


def account(sandbox: SandboxServer, address: str, campaigns: Path, **extra):
    tokens = sandbox.tokens
    return make_settings(
        sandbox.url,
        address,
        campaigns_dir=campaigns,
        conversions_on="converted",
        meta_pixel_id=tokens.meta_pixel_id,
        google_ads_conversion_action=tokens.google_ads_conversion_action,
        **extra,
    )


def capture_of(settings, tag: str | None):
    landing = "https://mops.example/spring?utm_source=facebook&fbclid=IwAR" + uuid.uuid4().hex
    if tag:
        landing += f"&utm_campaign={tag}"
    email = f"lead.{uuid.uuid4().hex[:10]}@acme.example"
    return build_capture(settings, email=email, source="paid_social", consent=True, landing_url=landing)


def test_the_campaign_decides_for_its_leads_and_the_account_for_the_rest(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    settings = account(sandbox, "127.0.0.1:7233", campaigns_with(tmp_path, "conversions:\n  count: [MQL, deal_won]"))
    ours = conversion_plan(settings, capture_of(settings, TAG))
    other = conversion_plan(settings, capture_of(settings, "someone-elses"))
    untagged = conversion_plan(settings, capture_of(settings, None))
    assert ours is not None and [s.value for s in ours.on] == ["mql"] and ours.deal_won
    assert ours.meta_pixel_id == sandbox.tokens.meta_pixel_id  # destinations stay the account's
    for plan in (other, untagged):
        assert plan is not None and [s.value for s in plan.on] == ["converted"] and not plan.deal_won
    # The collection sends won deals when any campaign counts them (each lead's own plan decides).
    assert (won := counts_won_deals(settings)) is not None and won.deal_won


def test_bad_sections_and_missing_destinations_are_refused(sandbox: SandboxServer, tmp_path: Path) -> None:
    typo = account(sandbox, "127.0.0.1:7233", campaigns_with(tmp_path / "a", "conversions:\n  count: [deal-won]"))
    with pytest.raises(ConversionPlanError, match=r"example\.yaml: conversions\.count: 'deal-won' is not a conversion"):
        conversion_plan(typo, capture_of(typo, TAG))
    with pytest.raises(CampaignInputError, match=r"conversions\.count: .*'deal-won' is not a conversion"):
        prepare(typo, typo.campaigns_dir / "example.yaml", now=datetime(2027, 3, 1, tzinfo=UTC))

    campaigns = campaigns_with(tmp_path / "b", "conversions:\n  count: [mql]")
    nowhere = make_settings(sandbox.url, "127.0.0.1:7233", campaigns_dir=campaigns)
    with pytest.raises(CampaignInputError, match=r"example\.yaml: conversions: .*destination"):
        prepare(nowhere, campaigns / "example.yaml", now=datetime(2027, 3, 1, tzinfo=UTC))


async def test_a_captured_lead_pins_its_campaigns_plan_and_answers_deal_won_by_it(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path
) -> None:
    settings = account(
        sandbox,
        dev_env.client.service_client.config.target_host,
        campaigns_with(tmp_path, "conversions:\n  count: [deal_won]"),
    )
    leads = LeadService(dev_env.client, settings)
    async with running_workers(dev_env.client, settings):
        ours = await leads.capture(capture_of(settings, TAG))
        other = await leads.capture(capture_of(settings, None))

        async def started_input(workflow_id: str) -> LeadJourneyInput:
            history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
            payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
            return (await dev_env.client.data_converter.decode(payloads, [LeadJourneyInput]))[0]

        pinned = await started_input(ours.workflow_id)
        assert pinned.conversions is not None and pinned.conversions.deal_won and pinned.conversions.on == []
        assert (await started_input(other.workflow_id)).conversions.deal_won is False  # type: ignore[union-attr]

        async def identity(workflow_id: str) -> ConversionIdentity:
            return await dev_env.client.get_workflow_handle_for(LeadJourneyWorkflow.run, workflow_id).query(
                LeadJourneyWorkflow.conversion_identity
            )

        mine = await eventually(lambda: identity(ours.workflow_id), what="the journey to answer")
        theirs = await identity(other.workflow_id)
    assert mine.withheld is None and mine.click_ids is not None and mine.click_ids.fbclid
    assert theirs.withheld == "its conversions do not count won deals" and theirs.click_ids is None


def test_the_example_campaign_documents_the_section() -> None:
    text = (ROOT / "campaigns" / "example.yaml").read_text()
    assert re.search(r"^# conversions:", text, flags=re.M), "campaigns/example.yaml shows the conversions section"
