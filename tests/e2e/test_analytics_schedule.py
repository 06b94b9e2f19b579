"""The executive report's Temporal Schedule: weekly on Monday 08:00 in Berlin with the
overlap policy set; three backfilled weeks make three runs, one per period, each mailed
once to each recipient and posted once to chat, recorded in the store; a second run for
a period already reported mails nobody twice."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.client import ScheduleBackfill, ScheduleOverlapPolicy

from starter.service.reports import ReportService, weekly
from tests.conftest import eventually
from tests.e2e.conftest import Stack
from tests.e2e.test_analytics_flow import run_cli
from workflows.analytics import ExecutiveReportWorkflow
from workflows.analytics_models import ReportStatus, ReportView

BERLIN = ZoneInfo("Europe/Berlin")
RECIPIENTS = ["ceo@acme.example", "cmo@acme.example"]
BACKFILLED = (datetime(2026, 3, 16, tzinfo=BERLIN), datetime(2026, 3, 31, tzinfo=BERLIN))


async def test_one_report_per_period_sent_once_to_each_recipient(stack: Stack) -> None:
    s = stack.settings
    # As a user schedules it; then the same schedule is updated with a smaller collection.
    result = await run_cli(
        s,
        "report",
        "schedule",
        "--weekly",
        "mon",
        "08:00",
        "--tz",
        "Europe/Berlin",
        "--to",
        RECIPIENTS[0],
        "--to",
        RECIPIENTS[1],
        "--chat",
        "#leadership",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "schedule_id": s.report_schedule_id,
        "when": "every mon at 08:00 Europe/Berlin",
        "recipients": RECIPIENTS,
        "chat": "#leadership",
    }
    svc = ReportService(stack.client, s)
    spec = weekly("Monday", "08:00", "Europe/Berlin", s)
    inp = svc.report_input(tz=spec.timezone, to=RECIPIENTS, chat="#leadership", retry_within=timedelta(0))
    inp = inp.model_copy(update={"sources": ["sendgrid"]})  # keep each run's collection small
    schedule_id = await svc.schedule(spec, inp)
    assert await svc.schedule(spec, inp) == schedule_id  # scheduling again updates the same schedule
    handle = stack.client.get_schedule_handle(schedule_id)
    try:
        desc = await handle.describe()
        assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert desc.schedule.spec.time_zone_name == "Europe/Berlin"
        upcoming = [t.astimezone(BERLIN) for t in desc.info.next_action_times]
        assert upcoming and all((t.weekday(), t.hour, t.minute) == (0, 8, 0) for t in upcoming)

        # Three Mondays at 08:00 Berlin: 16, 23 and 30 March (the clocks go forward on the 29th,
        # so the last run is at 06:00 UTC, the others at 07:00 UTC).
        await handle.backfill(
            ScheduleBackfill(
                start_at=datetime(2026, 3, 16, 6, tzinfo=BERLIN),
                end_at=datetime(2026, 3, 30, 9, tzinfo=BERLIN),
                overlap=ScheduleOverlapPolicy.ALLOW_ALL,
            )
        )
        query = f"WorkflowType = 'ExecutiveReport' AND TaskQueue = '{s.workflow_task_queue}'"

        def backfilled(run) -> bool:
            """A run of the three backfilled Mondays. The schedule is live while the test runs, so
            when the test spans a real Monday 08:00 in Berlin it starts one more run of its own."""
            at = run.id.removeprefix(f"{schedule_id}-")
            return at != run.id and BACKFILLED[0] <= datetime.fromisoformat(at) < BACKFILLED[1]

        async def three_done():
            everything = [r async for r in stack.client.list_workflows(query)]
            runs = [r for r in everything if backfilled(r)]
            return len(runs) == 3 and all(r.close_time for r in runs) and (everything, runs)

        everything, runs = await eventually(three_done, timeout=60, what="three report runs to finish")
        assert all(r.id.startswith(f"{schedule_id}-") for r in everything), "only the schedule starts reports"
        views = [await stack.client.get_workflow_handle(r.id, result_type=ReportView).result() for r in runs]
        periods = sorted((v.period.start, v.period.end) for v in views)
        assert periods == [
            (date(2026, 3, 9), date(2026, 3, 15)),
            (date(2026, 3, 16), date(2026, 3, 22)),
            (date(2026, 3, 23), date(2026, 3, 29)),
        ]
        assert all(v.status == ReportStatus.DONE and v.stale == {} for v in views)

        mails = await stack.admin.effects("sendgrid", "mail.send")
        posts = await stack.admin.effects("slack", "chat.post")
        for v in views:
            sent = [m for m in mails if m["summary"]["custom_args"].get("mops_report") == v.report_id]
            assert sorted(a for m in sent for a in m["summary"]["to"]) == RECIPIENTS
            for m in sent:  # both parts, the plain text first, carrying the same report
                text, html = (c["value"] for c in m["summary"]["content"])
                assert m["summary"]["content_types"] == ["text/plain", "text/html"]
                assert text.startswith("Weekly marketing report: ") and "HTML version" in text
                assert "Weekly marketing report" in html
            assert [p for p in posts if p["key"] == f"{v.report_id}:chat:#leadership"] != []
            assert [(d.channel, d.recipient, d.status) for d in svc.store.distributions(v.report_id)] == [
                ("chat", "#leadership", "sent"),
                ("email", RECIPIENTS[0], "sent"),
                ("email", RECIPIENTS[1], "sent"),
            ]
            assert v.html_path and "Weekly marketing report" in Path(v.html_path).read_text()

        # Run again by hand for the last period: the same report, and nobody gets it twice.
        last = max(views, key=lambda v: v.period.start)
        again = await stack.client.execute_workflow(
            ExecutiveReportWorkflow.run,
            inp.model_copy(update={"as_of": last.period.end + timedelta(days=1)}),
            id=f"exec-report-again-{uuid.uuid4().hex[:6]}",
            task_queue=s.workflow_task_queue,
        )
        assert again.report_id == last.report_id
        mails = await stack.admin.effects("sendgrid", "mail.send")
        assert len([m for m in mails if m["summary"]["custom_args"].get("mops_report") == last.report_id]) == 2
    finally:
        await handle.delete()
