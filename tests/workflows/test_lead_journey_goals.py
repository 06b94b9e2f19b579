"""Journey goals and re-entry under the time-skipping server (the real workflow and workers).

Goals: stand-in platforms (tests/workflows/fakes.py). Re-entry: the real workers against the
sandbox, captured through `LeadService` (update-with-start, as every capture is), so the
refusal is what a caller hears; when a person finished a journey is in the contact ledger.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.leads import EventType, LeadStage
from domain.refusals import Refusal, Refused
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from starter.service.leads import LeadService, build_capture
from tests.conftest import daytime_journeys, eventually, make_settings, signal_taken
from tests.workflows.fakes import FakePlatforms
from tests.workflows.test_lead_journey_timers import JOURNEYS, event, new_queues, running, start_lead
from workers.main import running_workers
from workflows.lead_journey import LeadJourneyWorkflow

HEADER = """
version: 1
name: {name}
from_email: marketing@mops.example
unsubscribe_group_id: 4242
scoring: default
handoff: {{sla: 1d}}
"""
GOALS = (
    HEADER.format(name="Goals")
    + """
id: goals
goals:
  - {id: replied, event_seen: reply}
  - id: engaged
    when: [{field: score, op: gte, value: 40}]
steps:
  - {id: hello, type: send_email, template: hello, subject: Hello}
  - {id: long-wait, type: wait, duration: 30d}
  - {id: follow-up, type: send_email, template: follow-up, subject: "Still there?"}
  - {id: done, type: goal, outcome: nurture_complete}
"""
)


def journeys_with(tmp_path: Path, **files: str) -> Path:
    shutil.copytree(JOURNEYS / "scoring", tmp_path / "scoring", dirs_exist_ok=True)
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("events", "goal"),
    [
        ([EventType.REPLY], "replied"),  # an event goal
        ([EventType.FORM, EventType.FORM, EventType.FORM], "engaged"),  # 45 points: the score crosses the goal's test
    ],
)
async def test_a_goal_met_mid_wait_exits_at_once(
    time_env: WorkflowEnvironment, tmp_path: Path, events: list[EventType], goal: str
) -> None:
    fake, queues = FakePlatforms(), new_queues()
    async with running(time_env, fake, queues, journeys=journeys_with(tmp_path, goals=GOALS)):
        handle = await start_lead(time_env, queues, journey="goals")

        async def in_the_wait():
            st = await handle.query(LeadJourneyWorkflow.state)
            return st.next_step == "long-wait" and st

        st = await eventually(in_the_wait, what="the 30-day wait")
        assert st.goal is None and st.score is not None and st.score.total < 40, "no goal met before the events"
        await time_env.sleep(timedelta(days=2))
        signalled_at = await time_env.get_current_time()
        for kind in events:
            await signal_taken(handle, LeadJourneyWorkflow.event, await event(time_env, kind))
        result = await handle.result()
        state = await handle.query(LeadJourneyWorkflow.state)
        closed = (await handle.describe()).close_time

    assert (result.stage, result.outcome) == (LeadStage.COMPLETED, f"goal: {goal}")
    assert state.goal == goal
    assert closed is not None and closed - signalled_at < timedelta(hours=1), "ended at the event, not the timer"
    assert [c.arg.step_id for c in fake.of("email.send")] == ["hello"], "nothing after the goal"


ONCE = (
    HEADER.format(name="Once")
    + """
id: once
reentry: never
steps:
  - {id: hello, type: send_email, template: nurture-welcome, subject: Welcome}
  - {id: done, type: goal, outcome: welcomed}
"""
)
MONTHLY = ONCE.replace("id: once", "id: monthly").replace("reentry: never", "reentry: {after: 30d}")
ALWAYS = ONCE.replace("id: once", "id: always").replace("reentry: never\n", "")


async def test_reentry_refused_and_allowed_as_configured(
    time_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(daytime_journeys(), journeys)
    journeys_with(journeys, once=ONCE, monthly=MONTHLY, always=ALWAYS)
    settings = make_settings(sandbox.url, time_env.client.service_client.config.target_host, journeys_dir=journeys)
    leads = LeadService(time_env.client, settings)
    people = {j: f"lead.{uuid.uuid4().hex[:10]}@reentry.example" for j in ("once", "monthly", "always")}

    async def capture(journey: str):
        return await leads.capture(
            build_capture(settings, email=people[journey], source="web_form", consent=True, journey_id=journey)
        )

    async def finished(journey: str) -> str | None:
        res = await capture(journey)
        assert res.created and res.refused is None
        return (
            await time_env.client.get_workflow_handle_for(LeadJourneyWorkflow.run, res.workflow_id).result()
        ).outcome

    async with SandboxAdmin(sandbox.url) as admin, running_workers(time_env.client, settings):
        for journey in people:
            assert await finished(journey) == "welcomed"
        for journey in ("once", "monthly"):
            with pytest.raises(Refused) as refused:
                await capture(journey)
            assert refused.value.code == Refusal.REENTRY_REFUSED and refused.value.message.startswith(
                f"journey: '{journey}' takes a lead "
            ), refused.value.message
        assert await finished("always") == "welcomed", "no policy: a finished lead starts again"

        await time_env.sleep(timedelta(days=31))
        assert await finished("monthly") == "welcomed", "30 days on, the same person may enter again"
        with pytest.raises(Refused):
            await capture("once")
        state = await leads.state(email=people["once"])
        mails = await admin.effects("sendgrid", "mail.send")

    sent = {j: sum(email in m["summary"]["to"] for m in mails) for j, email in people.items()}
    assert sent == {"once": 1, "monthly": 2, "always": 2}, sent
    # A refused entry ends at once, touching no platform, and says why.
    assert state.stage == LeadStage.COMPLETED and state.emails_sent == 0
    assert state.outcome is not None and state.outcome.startswith("re-entry refused: 'once' takes a lead once")
