"""Per-step journey analytics end to end on the real dev server: leads driven through a small
journey with a split (emails through the SendGrid sandbox, engagement events naming the step
that sent the email, as the SendGrid webhook sends them), the journeys read by the analytics
collection into the store, and `mops journeys stats --json` matching a hand count in every
cell; a second collection gives the same counts (keyed rows, never doubled)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.analytics import Period
from domain.journeys import SplitStep, load_journey
from domain.leads import EngagementEvent, EventType, LeadStage
from sandbox.server import SandboxServer
from starter.service.leads import LeadService, build_capture
from starter.service.reports import ReportService
from tests.conftest import daytime_journeys, eventually, make_settings
from tests.e2e.test_analytics_flow import run_cli
from workers.main import running_workers

STATS_JOURNEY = """
id: stats-e2e
version: 1
name: Step analytics
from_email: marketing@mops.example
unsubscribe_group_id: 4242
scoring: default
handoff: {sla: 1d}
goals:
  - {id: replied, event_seen: reply}
steps:
  - {id: welcome, type: send_email, template: nurture-welcome, subject: Welcome}
  - id: offer
    type: split
    variants:
      - {id: roi, weight: 50, goto: mail-roi}
      - {id: guide, weight: 50, goto: mail-guide}
  - {id: mail-roi, type: send_email, template: nurture-roi-calculator, subject: Build the case, next: await-click}
  - {id: mail-guide, type: send_email, template: nurture-buyers-guide, subject: The guide}
  - {id: await-click, type: wait_for_event, events: [click], timeout: 30d, on_event: done, on_timeout: done}
  - {id: done, type: goal, outcome: clicked}
"""
COLUMNS = ("entered", "left", "goal", "converted", "emails", "opens", "clicks", "replies")


async def test_step_stats_match_a_hand_count(dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path):
    journeys = tmp_path / "journeys"
    shutil.copytree(daytime_journeys(), journeys)
    (journeys / "stats-e2e.yaml").write_text(STATS_JOURNEY)
    spec = load_journey(journeys, "stats-e2e")
    split = spec.step("offer")
    assert isinstance(split, SplitStep)
    settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host, journeys_dir=journeys)
    leads = LeadService(dev_env.client, settings)
    # What each lead does: A clicks (the journey's goal step), B replies (the journey goal
    # `replied`), C opens twice (the second delivered twice) and waits on, D unsubscribes.
    plan = ("clicks", "replies", "opens", "unsubscribes")
    emails = {who: f"stats.{who}.{uuid.uuid4().hex[:8]}@stats.example" for who in plan}
    variant = {
        who: split.assign(spec.id, leads.workflow_id(email=e).removeprefix("lead-")) for who, e in emails.items()
    }
    mail = {who: f"mail-{v}" for who, v in variant.items()}

    def event(kind: EventType, step: str, event_id: str | None = None) -> EngagementEvent:
        return EngagementEvent(
            event_id=event_id or f"sg:{uuid.uuid4().hex[:12]}", type=kind, at=datetime.now(UTC), detail=step
        )

    async with running_workers(dev_env.client, settings):
        for e in emails.values():
            await leads.capture(build_capture(settings, email=e, source="web_form", consent=True, journey_id=spec.id))

        async def waiting(email: str) -> bool:
            st = await leads.state(email=email)
            return st.next_step == "await-click" and st.emails_sent == 2

        for e in emails.values():
            await eventually(lambda e=e: waiting(e), what="the lead waiting for a click after its two emails")

        await leads.record_event(event(EventType.OPEN, "welcome"), email=emails["clicks"])
        await leads.record_event(event(EventType.CLICK, mail["clicks"]), email=emails["clicks"])
        await leads.record_event(event(EventType.REPLY, mail["replies"]), email=emails["replies"])
        await leads.record_event(event(EventType.OPEN, mail["opens"]), email=emails["opens"])
        twice = f"sg:{uuid.uuid4().hex[:12]}"
        await leads.record_event(event(EventType.OPEN, mail["opens"], twice), email=emails["opens"])
        await leads.record_event(event(EventType.OPEN, mail["opens"], twice), email=emails["opens"])
        await leads.unsubscribe(email=emails["unsubscribes"])

        async def settled() -> bool:
            done = [await leads.state(email=emails[w]) for w in ("clicks", "replies", "unsubscribes")]
            opener = await leads.state(email=emails["opens"])
            return all(st.stage in (LeadStage.COMPLETED, LeadStage.UNSUBSCRIBED) for st in done) and (
                opener.events_recorded == 2
            )

        await eventually(settled, what="three leads gone, the opener's two opens recorded")

        today = datetime.now(UTC).date()
        reports = ReportService(dev_env.client, settings)
        inp_days = Period(start=today - timedelta(days=1), end=today + timedelta(days=1))
        inp = reports.collection_input(inp_days)
        inp = inp.model_copy(update={"sources": [], "journeys": True})
        _, view = await reports.collect(inp)
        assert view is not None and not view.stale, view.stale

        # The hand count: (step, variant) -> counts.
        expected: dict[tuple[str, str], Counter[str]] = {}

        def add(step: str, who: str, **counts: int) -> None:
            cell = expected.setdefault((step, f"offer:{variant[who]}"), Counter())
            cell.update({"entered": 1, **counts})

        for who in plan:
            add("welcome", who, emails=1, opens=int(who == "clicks"))
            add("offer", who)
            add(
                mail[who],
                who,
                emails=1,
                clicks=int(who == "clicks"),
                replies=int(who == "replies"),
                opens=2 if who == "opens" else 0,
            )
            add(
                "await-click",
                who,
                left=int(who in ("replies", "unsubscribes")),
                goal=int(who == "replies"),
            )
        add("done", "clicks", left=1)

        async def stats() -> dict[tuple[str, str], dict[str, int]]:
            result = await run_cli(settings, "journeys", "stats", spec.id, "--version", "1", "--json")
            assert result.exit_code == 0, result.output
            body = json.loads(result.output)
            assert body["journey_id"] == spec.id and body["version"] == 1
            assert all(s["version"] == 1 for s in body["steps"])
            return {(s["step_id"], s["variant"]): {c: s[c] for c in COLUMNS} for s in body["steps"]}

        want = {k: {c: v[c] for c in COLUMNS} for k, v in expected.items()}
        assert await stats() == want
        # Listed in the journey's order.
        result = await run_cli(settings, "journeys", "stats", spec.id, "--json")
        order = [s["step_id"] for s in json.loads(result.output)["steps"]]
        positions = [spec.position(step) for step in order]
        assert positions == sorted(positions)

        # Collected again: replaced, not added to.
        _, again = await reports.collect(inp.model_copy(update={"until": today + timedelta(days=2)}))
        assert again is not None and not again.stale
        assert await stats() == want

        # The dashboard's funnel: the same counts, variants added up, widest step first.
        path, data = await reports.dashboard(inp_days, tmp_path / "dashboard.html")
        [funnel] = [f for f in data.funnels if f.journey_id == spec.id]
        per_step: Counter[str] = Counter()
        for (step, _), cell in expected.items():
            per_step[step] += cell["entered"]
        assert {s.step_id: s.entered for s in funnel.steps} == dict(per_step)
        assert [s.entered for s in funnel.steps] == sorted(per_step.values(), reverse=True)
        page = path.read_text()
        assert f'data-journey-id="{spec.id}" data-version="1"' in page and 'data-step-id="await-click"' in page

        refused = await run_cli(settings, "journeys", "stats", "Not A Journey")
        assert refused.exit_code == 2 and "journey:" in refused.output, refused.output
        unknown = await run_cli(settings, "journeys", "stats", "no-such-journey")
        assert unknown.exit_code != 0 and "journey: no journey 'no-such-journey'" in unknown.output, unknown.output
        refused = await run_cli(settings, "journeys", "stats", spec.id, "--version", "x")
        assert refused.exit_code == 2 and "version:" in refused.output, refused.output
