"""A split with a holdout against the real dev server and the sandbox: the variant lead gets
its variant's email, the holdout lead gets nothing and leaves the journey, and both show
which arm they were in (state query, JourneyVariant search attribute)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from rich.console import Console
from temporalio.testing import WorkflowEnvironment

from domain.journeys import SplitStep, load_journey
from domain.leads import LeadStage, lead_key
from domain.splits import HOLDOUT
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from starter.render import lead_panel
from starter.service.leads import LeadService, build_capture
from tests.conftest import daytime_journeys, eventually, make_settings
from workers.main import running_workers

SPLIT_JOURNEY = """
id: split-e2e
version: 1
name: Split with a holdout
from_email: marketing@mops.example
unsubscribe_group_id: 4242
scoring: default
handoff: {sla: 1d}
steps:
  - id: offer-test
    type: split
    holdout: 50
    variants:
      - {id: roi, weight: 50, goto: roi-email}
  - {id: roi-email, type: send_email, template: nurture-roi-calculator, subject: Build the business case}
  - {id: done, type: goal, outcome: tested}
"""


async def test_holdout_gets_nothing_and_the_variant_its_email(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(daytime_journeys(), journeys)
    (journeys / "split-e2e.yaml").write_text(SPLIT_JOURNEY)
    split = load_journey(journeys, "split-e2e").step("offer-test")
    assert isinstance(split, SplitStep)
    settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host, journeys_dir=journeys)
    secret = settings.lead_id_secret.get_secret_value()

    # One address of each arm, found by the same keyed hashes the journey uses.
    arms: dict[str, str] = {}
    while len(arms) < 2:
        email = f"lead.{uuid.uuid4().hex[:10]}@split.example"
        arms.setdefault(split.assign("split-e2e", lead_key(email, secret)), email)
    variant_lead, holdout_lead = arms["roi"], arms[HOLDOUT]

    leads = LeadService(dev_env.client, settings)
    async with SandboxAdmin(sandbox.url) as admin, running_workers(dev_env.client, settings):
        for email in (variant_lead, holdout_lead):
            await leads.capture(
                build_capture(settings, email=email, source="web_form", consent=True, journey_id="split-e2e")
            )

        async def ended(email: str):
            st = await leads.state(email=email)
            return st.stage == LeadStage.COMPLETED and st

        variant = await eventually(lambda: ended(variant_lead), what="the variant lead's journey ends")
        holdout = await eventually(lambda: ended(holdout_lead), what="the holdout lead's journey ends")
        mails = await admin.effects("sendgrid", "mail.send")

        async def listed(arm: str) -> bool:
            query = f"WorkflowType = 'LeadJourney' AND JourneyVariant = 'offer-test:{arm}'"
            return {w.id async for w in dev_env.client.list_workflows(query)} >= {leads.workflow_id(email=arms[arm])}

        await eventually(lambda: listed("roi"), what="the variant lead listed by JourneyVariant")
        await eventually(lambda: listed(HOLDOUT), what="the holdout lead listed by JourneyVariant")

    assert (variant.outcome, variant.variants, variant.emails_sent) == ("tested", {"offer-test": "roi"}, 1)
    assert (holdout.outcome, holdout.variants, holdout.emails_sent) == (
        "holdout (offer-test)",
        {"offer-test": HOLDOUT},
        0,
    )
    [sent] = [m for m in mails if variant_lead in m["summary"]["to"]]
    text = next(c["value"] for c in sent["summary"]["content"] if c["type"] == "text/plain")
    assert sent["summary"]["subject"] == "Build the business case"
    assert "Our calculator helps you build that case with your own numbers" in text
    assert not [m for m in mails if holdout_lead in m["summary"]["to"]], "the holdout lead got no email"
    # `mops lead show` says which arm the lead was in.
    console = Console(record=True, width=120)
    console.print(lead_panel(holdout, "http://localhost:8233"))
    assert "offer-test → holdout" in console.export_text()
