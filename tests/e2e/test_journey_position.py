"""Where a lead is in its journey, as search attributes on the real dev server: JourneyVersion
and JourneyStep (the step's position in that version) list the leads at a step, follow the lead
when it moves, and are cleared once it has left."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.journeys import load_journey
from domain.leads import EngagementEvent, EventType, LeadStage
from sandbox.server import SandboxServer
from starter.service.leads import LeadService, build_capture
from tests.conftest import daytime_journeys, eventually, make_settings
from workers.main import running_workers
from workflows.search_attributes import JOURNEY_STEP, JOURNEY_VERSION

WHERE_JOURNEY = """
id: where-e2e
version: 3
name: Where is the lead
from_email: marketing@mops.example
unsubscribe_group_id: 4242
scoring: default
handoff: {sla: 1d}
steps:
  - {id: welcome, type: send_email, template: nurture-welcome, subject: Welcome}
  - {id: await-click, type: wait_for_event, events: [click], timeout: 30d, on_event: done, on_timeout: done}
  - {id: done, type: goal, outcome: clicked}
"""


async def test_a_lead_is_listed_at_its_step_and_cleared_when_it_leaves(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(daytime_journeys(), journeys)
    (journeys / "where-e2e.yaml").write_text(WHERE_JOURNEY)
    spec = load_journey(journeys, "where-e2e")
    waiting_at = spec.position("await-click")
    assert (waiting_at, spec.step_at(waiting_at).id) == (2, "await-click")
    settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host, journeys_dir=journeys)
    leads = LeadService(dev_env.client, settings)
    email = f"lead.{uuid.uuid4().hex[:10]}@where.example"
    wf_id = leads.workflow_id(email=email)

    async with running_workers(dev_env.client, settings):
        await leads.capture(
            build_capture(settings, email=email, source="web_form", consent=True, journey_id="where-e2e")
        )
        query = f"JourneyId = 'where-e2e' AND JourneyVersion = 3 AND JourneyStep = {waiting_at}"

        async def listed() -> bool:
            return wf_id in {w.id async for w in dev_env.client.list_workflows(query)}

        await eventually(listed, what="the lead listed at the wait step by JourneyVersion/JourneyStep")

        await leads.record_event(
            EngagementEvent(event_id=f"click-{uuid.uuid4().hex[:8]}", type=EventType.CLICK, at=datetime.now(UTC)),
            email=email,
        )

        async def ended():
            st = await leads.state(email=email)
            return st.stage == LeadStage.COMPLETED and st

        st = await eventually(ended, what="the journey ends on the click")
        assert st.outcome == "clicked"

        async def cleared() -> bool:
            attrs = (await leads.handle(email=email).describe()).typed_search_attributes
            return attrs.get(JOURNEY_STEP) is None and attrs.get(JOURNEY_VERSION) == 3

        await eventually(cleared, what="JourneyStep cleared once the lead has left, JourneyVersion kept")
        assert not await listed()
