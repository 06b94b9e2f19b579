"""Leads in flight moved between published journey versions, on the real dev server with the
real workers and the sandbox: the dry run counts who is where, the real run moves the leads at
mapped steps (they then get v2's email, read from the SendGrid stand-in) and leaves the lead at
an unmapped step where it is, with its reason in the report; the same command again runs
nothing; a bad `--map` is one line and starts nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from domain.journey_migration import MigrateRequest, MigrationPlan, Timers
from domain.leads import EngagementEvent, EventType, LeadStage
from mops.settings import Settings, get_settings
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from starter.cli import app
from starter.service.journey_migrations import JourneyMigrationService, prepare
from starter.service.journeys import publish
from starter.service.leads import LeadService, build_capture
from tests.conftest import eventually, own_journeys
from workers.main import running_workers
from workflows.journey_migration import JourneyMigrationInput, JourneyMigrationWorkflow

V1 = """
id: migrate-e2e
version: 1
name: Migrate me
from_email: marketing@mops.example
unsubscribe_group_id: 4242
scoring: default
handoff: {sla: 1d}
steps:
  - {id: welcome, type: send_email, template: nurture-welcome, subject: Welcome}
  - {id: first, type: wait_for_event, events: [visit], timeout: 30d, on_event: second, on_timeout: done}
  - {id: second, type: wait_for_event, events: [visit], timeout: 30d, on_event: third, on_timeout: done}
  - {id: third, type: wait_for_event, events: [visit], timeout: 30d, on_event: done, on_timeout: done}
  - {id: done, type: goal, outcome: old path}
"""

V2 = """
id: migrate-e2e
version: 2
name: Migrate me, corrected
from_email: marketing@mops.example
unsubscribe_group_id: 4242
scoring: default
handoff: {sla: 1d}
steps:
  - {id: welcome, type: send_email, template: nurture-welcome, subject: Welcome}
  - {id: follow-up, type: send_email, template: nurture-checkin, subject: The corrected follow-up}
  - {id: done, type: goal, outcome: new path}
"""

MAPS = ["--map", "first=follow-up", "--map", "second=follow-up"]


async def mops(settings: Settings, *args: str):
    """The CLI as an operator runs it (in a thread: it runs its own event loop)."""
    env = {
        "MOPS_TEMPORAL_ADDRESS": settings.temporal_address,
        "MOPS_WORKFLOW_TASK_QUEUE": settings.workflow_task_queue,
        "MOPS_JOURNEYS_DIR": str(settings.journeys_dir),
        "MOPS_JOURNEY_VERSIONS_PATH": str(settings.journey_versions_file),
    }
    get_settings.cache_clear()
    try:
        return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    finally:
        get_settings.cache_clear()


async def test_leads_move_to_the_corrected_version_and_an_unmapped_one_stays(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path
) -> None:
    journeys, settings = own_journeys(sandbox.url, dev_env, tmp_path)
    leads = LeadService(dev_env.client, settings)
    tag = uuid.uuid4().hex[:8]
    emails = {at: f"{at}.{tag}@migrate.example" for at in ("first", "second", "third")}

    async with SandboxAdmin(sandbox.url) as admin, running_workers(dev_env.client, settings):
        (journeys / "migrate-e2e.yaml").write_text(V1)
        published = await mops(
            settings, "journeys", "publish", str(journeys / "migrate-e2e.yaml"), "--as", "maya", "--note", "v1"
        )
        assert published.exit_code == 0, published.output
        for email in emails.values():
            await leads.capture(
                build_capture(settings, email=email, source="web_form", consent=True, journey_id="migrate-e2e")
            )

        async def at(email: str, step: str) -> bool:
            st = await leads.state(email=email)
            return st.stage == LeadStage.NURTURING and st.next_step == step

        async def visit(email: str) -> None:
            event = EngagementEvent(
                event_id=f"visit-{uuid.uuid4().hex[:8]}", type=EventType.VISIT, at=datetime.now(UTC)
            )
            await leads.record_event(event, email=email)

        # Three leads at three steps: the first waits at `first`, visits move the others on.
        for email, passed in ((emails["second"], ["first"]), (emails["third"], ["first", "second"])):
            for step in passed:
                await eventually(lambda e=email, s=step: at(e, s), what=f"the lead waiting at {step}")
                await visit(email)
        for name, email in emails.items():
            await eventually(lambda e=email, s=name: at(e, s), what=f"the lead waiting at {name}")

        (journeys / "migrate-e2e.yaml").write_text(V2)
        published = await mops(
            settings, "journeys", "publish", str(journeys / "migrate-e2e.yaml"), "--as", "maya", "--note", "v2"
        )
        assert published.exit_code == 0, published.output
        args = ["journeys", "migrate", "migrate-e2e", "--from", "1", "--to", "v2", *MAPS]
        plan = MigrationPlan(
            journey_id="migrate-e2e",
            from_version=1,
            to_version=2,
            mapping={"first": "follow-up", "second": "follow-up"},
        )
        assert plan.timers == Timers.RESTART

        # Bad maps: one line, exit 2, nothing started.
        for bad, wrong in (
            ("fist=follow-up", "'fist' is not a step of migrate-e2e v1"),
            ("first=follow", "'follow' is not a step of migrate-e2e v2"),
        ):
            refused = await mops(
                settings, "journeys", "migrate", "migrate-e2e", "--from", "1", "--to", "2", "--map", bad
            )
            lines = [line for line in refused.output.splitlines() if line.strip()]
            assert refused.exit_code == 2 and lines == [f"error: map: {wrong}"], refused.output
        assert (
            await dev_env.client.count_workflows(
                f"WorkflowType = 'JourneyMigration' AND TaskQueue = '{settings.workflow_task_queue}'"
            )
        ).count == 0

        # The dry run counts who is where (visibility catches up with the step attributes).
        async def counted():
            dry = await mops(settings, *args, "--dry-run", "--json")
            assert dry.exit_code == 0, dry.output
            data = json.loads(dry.output)
            return data["moving"] == 2 and data["refusing"] == 1 and data

        data = await eventually(counted, what="the dry run sees the three leads at their steps")
        assert {r["step"]: (r["leads"], r["to_step"]) for r in data["steps"]} == {
            "welcome": (0, None),
            "first": (1, "follow-up"),
            "second": (1, "follow-up"),
            "third": (1, None),
            "done": (0, None),
        }
        assert data["migration_id"] == plan.migration_id
        text = await mops(settings, *args, "--dry-run")
        assert "would move 2, would refuse 1" in text.output and "stays (not mapped: refused)" in text.output
        assert all(
            s.next_step == n for n, s in zip(emails, [await leads.state(email=e) for e in emails.values()], strict=True)
        )

        # The real run: two moved, one refused with its reason.
        ran = await mops(settings, *args, "--rate", "50", "--json")
        assert ran.exit_code == 0, ran.output
        report = json.loads(ran.output)
        third_id = leads.workflow_id(email=emails["third"])
        assert (report["moved"], report["refused"], report["skipped"], report["attached"]) == (2, 1, 0, False)
        assert report["moves"] == {"first->follow-up": 1, "second->follow-up": 1}
        assert [(r["lead_id"], r["reason"]) for r in report["not_moved"]] == [(third_id, "step_not_mapped")]
        assert "step third is not in the mapping" in report["not_moved"][0]["detail"]

        async def done(email: str):
            st = await leads.state(email=email)
            return st.stage == LeadStage.COMPLETED and st

        for name in ("first", "second"):
            st = await eventually(lambda e=emails[name]: done(e), what=f"the lead from {name} ends on v2's path")
            assert (st.journey_version, st.outcome, st.emails_sent) == (2, "new path", 2)
            mails = [
                e["summary"]["subject"]
                for e in await admin.effects("sendgrid", "mail.send")
                if emails[name] in e["summary"]["to"]
            ]
            assert mails == ["Welcome", "The corrected follow-up"]
        stayed = await leads.state(email=emails["third"])
        assert (stayed.stage, stayed.journey_version, stayed.next_step) == (LeadStage.NURTURING, 1, "third")

        # The same command again attaches to the migration that ran: nothing is asked twice.
        sent = len(await admin.effects("sendgrid", "mail.send"))
        again = await mops(settings, *args, "--rate", "50")
        assert again.exit_code == 0, again.output
        assert "already started with this plan" in again.output and "moved 2, refused 1, skipped 0" in again.output
        assert len(await admin.effects("sendgrid", "mail.send")) == sent
        runs = [w async for w in dev_env.client.list_workflows(f"WorkflowId = '{plan.migration_id}'")]
        assert len(runs) == 1
        await leads.handle(email=emails["third"]).terminate()  # no lead of this test outlives its workers


async def test_a_migration_resumes_across_continue_as_new(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """One lead a batch and a new run after every batch: the cursor and the report carry over."""
    journeys, settings = own_journeys(sandbox.url, dev_env, tmp_path)
    leads = LeadService(dev_env.client, settings)
    emails = [f"resume{n}.{uuid.uuid4().hex[:8]}@migrate.example" for n in range(3)]
    async with running_workers(dev_env.client, settings):
        # Its own journey id: the other test leaves a lead running on migrate-e2e v1 (refused)
        # on the same server, with no worker once that test is over.
        v1, v2 = (text.replace("migrate-e2e", "migrate-resume") for text in (V1, V2))
        (journeys / "migrate-resume.yaml").write_text(v1)
        publish(settings, journeys / "migrate-resume.yaml", by="maya", note="v1")
        for email in emails:
            await leads.capture(
                build_capture(settings, email=email, source="web_form", consent=True, journey_id="migrate-resume")
            )
        (journeys / "migrate-resume.yaml").write_text(v2)
        publish(settings, journeys / "migrate-resume.yaml", by="maya", note="v2")
        prepared = prepare(settings, "migrate-resume", from_version=1, to_version=2, maps=["first=follow-up"])
        svc = JourneyMigrationService(dev_env.client, settings)

        async def all_waiting() -> bool:
            return (await svc.dry_run(prepared)).moving == len(emails)

        await eventually(all_waiting, what="the three leads listed at `first`")
        plan = prepared.plan
        handle = await dev_env.client.start_workflow(
            JourneyMigrationWorkflow.run,
            JourneyMigrationInput(
                plan=plan,
                request=MigrateRequest(
                    migration_id=plan.migration_id,
                    from_version=1,
                    journey=prepared.new,
                    mapping=plan.mapping,
                    timers=plan.timers,
                ),
                leads_per_second=50,
                batch_leads=1,
                queue=settings.workflow_task_queue,
                continue_as_new_after_batches=1,
            ),
            id=plan.migration_id,
            task_queue=settings.workflow_task_queue,
        )
        report = await handle.result()
        assert (report.moved, report.refused, report.skipped, report.done) == (3, 0, 0, True)
        assert report.cursor == max(leads.workflow_id(email=e) for e in emails)

        async def chained() -> bool:
            runs = [w async for w in dev_env.client.list_workflows(f"WorkflowId = '{plan.migration_id}'")]
            return len(runs) >= 3

        await eventually(chained, what="a run per batch (continue-as-new after each)")
        for email in emails:
            assert (await leads.state(email=email)).journey_version == 2
