"""A new journey version tried on real leads' recorded paths: two leads run v1 on the dev
server (real workers, the sandbox), one of them visits; v2 drops an email step; the
simulation replays both leads through v2 on the time-skipping server and reports the dropped
step going to 0 while the other steps, the goal and the ends match. Bad input starts nothing."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from temporalio.client import WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from domain.leads import EngagementEvent, EventType, LeadStage, lead_key, lead_workflow_id
from mops.queues import platform_queues
from mops.settings import Settings, get_settings
from sandbox.server import SandboxServer
from starter.cli import app
from starter.journey_simulate import prepare, print_report, recorded_leads, simulate
from starter.service.journeys import publish, versions
from starter.service.leads import LeadService, build_capture
from tests.conftest import daytime_journeys, eventually, make_settings, own_journeys
from workers.main import running_workers
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.lead_models import LeadJourneyInput
from workflows.search_attributes import JOURNEY_ID

V1 = """
id: simulate-e2e
version: 1
name: Simulate me
from_email: marketing@mops.example
unsubscribe_group_id: 4242
scoring: default
handoff: {sla: 1d}
steps:
  - {id: welcome, type: send_email, template: nurture-welcome, subject: Welcome}
  - {id: tips, type: send_email, template: nurture-checkin, subject: Tips}
  - {id: await-visit, type: wait_for_event, events: [visit], timeout: 30d, on_event: thanks, on_timeout: done}
  - {id: thanks, type: send_email, template: nurture-checkin, subject: Thanks for visiting}
  - {id: done, type: goal, outcome: finished}
"""

# v2 drops the tips email.
V2 = V1.replace("version: 1", "version: 2").replace(
    "  - {id: tips, type: send_email, template: nurture-checkin, subject: Tips}\n", ""
)


async def test_a_dropped_step_goes_to_zero_and_the_rest_matches(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path
) -> None:
    journeys, settings = own_journeys(sandbox.url, dev_env, tmp_path)
    leads = LeadService(dev_env.client, settings)
    tag = uuid.uuid4().hex[:8]
    visitor, quiet = f"visitor.{tag}@simulate.example", f"quiet.{tag}@simulate.example"
    async with running_workers(dev_env.client, settings):
        (journeys / "simulate-e2e.yaml").write_text(V1)
        publish(settings, journeys / "simulate-e2e.yaml", by="maya", note="v1")
        for email in (visitor, quiet):
            await leads.capture(
                build_capture(settings, email=email, source="web_form", consent=True, journey_id="simulate-e2e")
            )

        async def waiting(email: str) -> bool:
            st = await leads.state(email=email)
            return st.stage == LeadStage.NURTURING and st.next_step == "await-visit"

        for email in (visitor, quiet):
            await eventually(lambda e=email: waiting(e), what="the lead waiting for a visit")
        event = EngagementEvent(event_id=f"visit-{tag}", type=EventType.VISIT, at=datetime.now(UTC))
        await leads.record_event(event, email=visitor)

        async def completed() -> bool:
            return (await leads.state(email=visitor)).stage == LeadStage.COMPLETED

        await eventually(completed, what="the visitor's journey completed")
        (journeys / "simulate-e2e.yaml").write_text(V2)
        publish(settings, journeys / "simulate-e2e.yaml", by="maya", note="v2 without tips")

        plan = prepare(settings, "simulate-e2e", version_=2, against=1)

        async def both_listed():
            try:
                found = await recorded_leads(dev_env.client, plan, limit=20)
            except ValueError:
                return False
            return len(found) == 2 and found

        recorded = await eventually(both_listed, what="visibility lists both leads of v1")
        visits = [e.type for lead in recorded for e in lead.plan.events]
        assert visits == [EventType.VISIT]
        report = await simulate(settings, plan, recorded)
        await leads.handle(email=quiet).terminate()  # no lead of this test outlives its workers

    counts = {c.step: (c.real.leads, c.simulated.leads) for c in report.steps}
    assert counts == {"welcome": (2, 2), "tips": (2, 0), "thanks": (1, 1)}, report
    assert report.goals == {"done": (1, 1)}, report
    assert report.ends == {"completed: finished": (1, 1), "nurturing": (1, 1)}, report
    assert report.differences == ["step tips: 2 in v1, 0 in v2"]
    assert "sandbox" in report.platforms
    console = Console(record=True, width=120)
    print_report(console, report)
    text = console.export_text()
    assert "step tips: 2 in v1, 0 in v2" in text and "nothing reached a real platform" in text


async def test_a_lead_that_continued_as_new_brings_the_events_of_every_run(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The events before a continue-as-new are in the earlier run's history: the recorded path
    holds them beside the ones of the run after it, and the lead's capture time."""
    journeys, settings = own_journeys(sandbox.url, dev_env, tmp_path)
    leads = LeadService(dev_env.client, settings)
    tag = uuid.uuid4().hex[:8]
    # Its own journey id: the simulation queries every listed lead, and other tests' leads of
    # simulate-e2e have no workers any more.
    journey = f"simulate-can-{tag}"
    for text in (V1, V2):
        (journeys / f"{journey}.yaml").write_text(text.replace("simulate-e2e", journey))
        publish(settings, journeys / f"{journey}.yaml", by="maya", note="")

    async def start(email: str, can_after: int) -> tuple[WorkflowHandle, int]:
        """The lead started as a capture starts it, with its own continue-as-new threshold;
        returned once it waits for a visit, with its history's length then."""
        capture = build_capture(settings, email=email, source="web_form", consent=True, journey_id=journey)
        key = lead_key(email, settings.lead_id_secret.get_secret_value())
        handle = await dev_env.client.start_workflow(
            LeadJourneyWorkflow.run,
            LeadJourneyInput(
                lead_id=key,
                capture=capture,
                queues=platform_queues(settings),
                journey=versions(settings).spec(journey, 1),
                keys_per_entry=True,
                continue_as_new_after_events=can_after,
            ),
            id=lead_workflow_id(key),
            task_queue=settings.workflow_task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(JOURNEY_ID, journey)]),
        )

        async def waiting() -> int:
            assert (await leads.state(email=email)).next_step == "await-visit"
            return (await handle.describe()).history_length

        return handle, await eventually(waiting, what="the lead waiting for a visit")

    async with running_workers(dev_env.client, settings):
        # A first lead measures how long the history is at the wait, so the second continues
        # as new a few opens after it (each open is a signal and a workflow task: 4 events or more).
        probe, length = await start(f"probe.{tag}@simulate.example", 10_000)
        await probe.terminate()
        email = f"long.{tag}@simulate.example"
        first, _ = await start(email, length + 20)
        opens = 0
        while (await leads.handle(email=email).describe()).run_id == first.first_execution_run_id:
            assert opens < 40, f"no continue-as-new after {opens} opens (history {length} at the wait)"
            event = EngagementEvent(event_id=f"open-{tag}-{opens}", type=EventType.OPEN, at=datetime.now(UTC))
            await leads.record_event(event, email=email)
            opens += 1
        assert opens >= 1, "the first run took an open before it continued as new"
        visit = EngagementEvent(event_id=f"visit-{tag}", type=EventType.VISIT, at=datetime.now(UTC))
        # Into the run after it. Not waited on: what the lead does with it depends on how many
        # opens it took (enough make it an MQL), and the histories are what is read.
        await leads.record_event(visit, email=email)
        plan = prepare(settings, journey, version_=2, against=1)

        async def listed():
            found = [r for r in await recorded_leads(dev_env.client, plan, limit=20) if r.plan.capture.email == email]
            return found if found and len(found[0].plan.events) == opens + 1 else None

        (recorded,) = await eventually(listed, what="visibility lists both runs of the lead")
    assert [e.type for e in recorded.plan.events] == [EventType.OPEN] * opens + [EventType.VISIT]


async def mops(settings: Settings, *args: str):
    env = {
        "MOPS_TEMPORAL_ADDRESS": settings.temporal_address,
        "MOPS_WORKFLOW_TASK_QUEUE": settings.workflow_task_queue,
        "MOPS_JOURNEYS_DIR": str(settings.journeys_dir),
        "MOPS_JOURNEY_VERSIONS_PATH": str(settings.journey_versions_file),
        "MOPS_MAIL_SENDER_POSTAL": "mops test, 1 Sandbox Street, 10115 Berlin, Germany",
        "MOPS_MAIL_PREFERENCES_URL": "https://mops.example/preferences",
    }
    get_settings.cache_clear()
    try:
        return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    finally:
        get_settings.cache_clear()


async def test_bad_input_is_one_line_and_starts_nothing(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(daytime_journeys(), journeys)
    settings = make_settings(
        "http://127.0.0.1:9",
        dev_env.client.service_client.config.target_host,
        journeys_dir=journeys,
        journey_versions_path=tmp_path / "journeys.db",
    )
    journey_id = f"simulate-none-{uuid.uuid4().hex[:6]}"

    async def refused(version: str, against: str, line: str) -> None:
        result = await mops(settings, "journeys", "simulate", journey_id, "--version", version, "--against", against)
        lines = [x for x in result.output.splitlines() if x.strip()]
        assert result.exit_code != 0 and lines == [line], result.output

    await refused("2", "1", f"error: journey: {journey_id!r} has no published version")
    for text in (V1, V2):
        (journeys / f"{journey_id}.yaml").write_text(text.replace("simulate-e2e", journey_id))
        publish(settings, journeys / f"{journey_id}.yaml", by="maya", note="")
    await refused("3", "1", f"error: version: {journey_id} has no published v3 (published: v1, v2)")
    await refused("2", "1", f"error: against: {journey_id} v1 has no leads on the server")
    listed = f"WorkflowType = 'LeadJourney' AND JourneyId = '{journey_id}'"
    assert (await dev_env.client.count_workflows(listed)).count == 0
