"""Analytics collection and the executive report under the time-skipping server, with
stand-in activities registered under the real names: a platform that is down is marked
stale and retried within the collection window (and reported stale when it never
recovers); the report covers the week before its day, is mailed and posted once per
recipient with keys derived from the period, and records what went to whom."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import contracts as act
from activities.contracts import ErrorType
from activities.models import (
    BuildReportInput,
    BuildReportResult,
    CollectInput,
    CollectResult,
    JourneysInput,
    JourneysResult,
    NotifyInput,
    NotifyResult,
    RecordDistributionInput,
    ReportEmailInput,
    ReportEmailResult,
)
from mops.queues import AnalyticsQueues
from workflows.analytics import AnalyticsCollectionWorkflow, ExecutiveReportWorkflow
from workflows.analytics_models import (
    CollectionInput,
    CollectionStatus,
    ReportInput,
    ReportStatus,
    SourceState,
)


@dataclass
class FakeAnalytics:
    """Collection that fails for `down` sources until `up_at` (virtual time), and the report steps."""

    down: set[str] = field(default_factory=set)
    up_at: datetime | None = None
    calls: list[tuple[str, datetime, object]] = field(default_factory=list)
    rejected_recipients: set[str] = field(default_factory=set)

    def _now(self) -> datetime:
        return activity.info().current_attempt_scheduled_time

    @activity.defn(name=act.ANALYTICS_COLLECT.name)
    async def collect(self, inp: CollectInput) -> CollectResult:
        self.calls.append(("collect", self._now(), inp))
        if inp.source in self.down and (self.up_at is None or self._now() < self.up_at):
            raise ApplicationError(f"{inp.source} 503 server_error: down", type=ErrorType.PLATFORM_UNAVAILABLE)
        days = (inp.until - inp.since).days + 1
        return CollectResult(source=inp.source, days=days, rows=2 * days, attempt=activity.info().attempt)

    @activity.defn(name=act.ANALYTICS_COLLECT_JOURNEYS.name)
    async def collect_journeys(self, inp: JourneysInput) -> JourneysResult:
        self.calls.append(("journeys", self._now(), inp))
        return JourneysResult(journeys=3, touches=7)

    @activity.defn(name=act.ANALYTICS_BUILD_REPORT.name)
    async def build_report(self, inp: BuildReportInput) -> BuildReportResult:
        self.calls.append(("build", self._now(), inp))
        return BuildReportResult(
            report_id=inp.report_id,
            subject=f"{inp.title}: {inp.since} to {inp.until}",
            html="<html>report</html>",
            html_path=f"/tmp/{inp.report_id}.html",
            text="headline",
        )

    @activity.defn(name=act.REPORTS_SEND_EMAIL.name)
    async def send_email(self, inp: ReportEmailInput) -> ReportEmailResult:
        self.calls.append(("email", self._now(), inp))
        if inp.to_email in self.rejected_recipients:
            raise ApplicationError(
                "sendgrid 400 bad_request: invalid address",
                "bad_request",
                type=ErrorType.PLATFORM_REJECTED,
                non_retryable=True,
            )
        return ReportEmailResult(message_id=f"m-{inp.to_email}")

    @activity.defn(name=act.CHAT_NOTIFY.name)
    async def notify(self, inp: NotifyInput) -> NotifyResult:
        self.calls.append(("chat", self._now(), inp))
        return NotifyResult(ts="1700000000.000100", channel="C123")

    @activity.defn(name=act.ANALYTICS_RECORD_DISTRIBUTION.name)
    async def record_distribution(self, inp: RecordDistributionInput) -> None:
        self.calls.append(("record", self._now(), inp))

    def of(self, name: str) -> list:
        return [c for c in self.calls if c[0] == name]


def new_queues() -> AnalyticsQueues:
    s = uuid.uuid4().hex[:6]
    return AnalyticsQueues(workflows=f"wf-{s}", reports=f"rep-{s}", email=f"em-{s}", chat=f"chat-{s}")


@asynccontextmanager
async def running(env: WorkflowEnvironment, fake: FakeAnalytics, q: AnalyticsQueues) -> AsyncIterator[None]:
    workers = [
        Worker(env.client, task_queue=q.workflows, workflows=[AnalyticsCollectionWorkflow, ExecutiveReportWorkflow]),
        Worker(
            env.client,
            task_queue=q.reports,
            activities=[fake.collect, fake.collect_journeys, fake.build_report, fake.record_distribution],
        ),
        Worker(env.client, task_queue=q.email, activities=[fake.send_email]),
        Worker(env.client, task_queue=q.chat, activities=[fake.notify]),
    ]
    async with AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        yield


async def collect(env: WorkflowEnvironment, q: AnalyticsQueues, **kw):
    inp = CollectionInput(since=date(2026, 3, 2), until=date(2026, 3, 8), queues=q, **kw)
    handle = await env.client.start_workflow(
        AnalyticsCollectionWorkflow.run, inp, id=f"analytics-collect-{uuid.uuid4().hex[:6]}", task_queue=q.workflows
    )
    return await handle.result()


async def test_a_platform_that_is_down_is_stale_then_retried_until_it_recovers(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeAnalytics(down={"hubspot"}), new_queues()
    start = await time_env.get_current_time()
    fake.up_at = start + timedelta(minutes=50)
    async with running(time_env, fake, q):
        view = await collect(time_env, q, retry_within=timedelta(hours=6), retry_every=timedelta(minutes=30))

    assert view.status == CollectionStatus.DONE and view.stale == {}
    states = {s.source: s for s in view.sources}
    assert all(s.state == SourceState.FRESH for s in view.sources) and set(states) == {
        "meta",
        "google_ads",
        "sendgrid",
        "ga4",
        "hubspot",
        "journeys",
    }
    # Fresh sources were collected once; hubspot was tried in three rounds (now, +30m, +60m).
    assert len([c for c in fake.of("collect") if c[2].source == "meta"]) == 1
    assert states["hubspot"].tries == 3 and states["meta"].tries == 1
    rounds = sorted(
        {round((c[1] - start).total_seconds() / 60) // 30 for c in fake.of("collect") if c[2].source == "hubspot"}
    )
    assert rounds == [0, 1, 2]
    # Each round retried the failing activity three times before calling it stale.
    assert len([c for c in fake.of("collect") if c[2].source == "hubspot"]) == 3 + 3 + 1
    assert any("hubspot stale: hubspot 503 server_error" in what for _, what in view.timeline)
    assert len(fake.of("journeys")) == 1


async def test_a_platform_down_for_the_whole_window_is_reported_stale(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeAnalytics(down={"ga4", "meta"}), new_queues()
    async with running(time_env, fake, q):
        view = await collect(time_env, q, retry_within=timedelta(hours=2), retry_every=timedelta(minutes=30))

    assert view.status == CollectionStatus.DONE
    assert set(view.stale) == {"ga4", "meta"} and "503 server_error" in view.stale["ga4"]
    states = {s.source: s for s in view.sources}
    # Now, then 30 minutes after each round (whose retries take a few seconds) while within 2 hours.
    assert states["ga4"].tries == 4
    assert states["sendgrid"].state == SourceState.FRESH and states["sendgrid"].result.rows == 14


async def test_the_report_covers_the_week_before_and_records_what_was_sent(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeAnalytics(down={"ga4"}, rejected_recipients={"bounce@acme.example"}), new_queues()
    inp = ReportInput(
        as_of=date(2026, 3, 9),
        timezone="Europe/Berlin",
        queues=q,
        chat_channel="#leadership",
        recipients=["ceo@acme.example", "cmo@acme.example", "bounce@acme.example"],
        retry_within=timedelta(minutes=45),
        retry_every=timedelta(minutes=30),
    )
    async with running(time_env, fake, q):
        handle = await time_env.client.start_workflow(
            ExecutiveReportWorkflow.run, inp, id=f"exec-report-{uuid.uuid4().hex[:6]}", task_queue=q.workflows
        )
        view = await handle.result()

    # 2026-03-09 is a Monday: the report covers Monday 2 to Sunday 8 March, and collects the
    # week before it too (for the changes).
    assert (view.period.start, view.period.end) == (date(2026, 3, 2), date(2026, 3, 8))
    assert view.report_id == "report-2026-03-02-2026-03-08" and view.status == ReportStatus.DONE
    collected = {c[2].since for c in fake.of("collect")} | {c[2].until for c in fake.of("collect")}
    assert collected == {date(2026, 2, 23), date(2026, 3, 8)}
    # ga4 stayed down: the report was still built and sent, and says which source is stale.
    [build] = fake.of("build")
    assert set(build[2].stale) == {"ga4"} and build[2].timezone == "Europe/Berlin"
    assert view.stale == build[2].stale
    # One e-mail per recipient, keyed by the period; the refused one is recorded as failed.
    keys = [c[2].idempotency_key for c in fake.of("email")]
    assert keys == [f"report-2026-03-02-2026-03-08:email:{r}" for r in inp.recipients]
    assert [(s.channel, s.recipient, s.status, s.ref) for s in view.sent] == [
        ("email", "ceo@acme.example", "sent", "m-ceo@acme.example"),
        ("email", "cmo@acme.example", "sent", "m-cmo@acme.example"),
        ("email", "bounce@acme.example", "failed", "bad_request"),
        ("chat", "#leadership", "sent", "1700000000.000100"),
    ]
    [chat] = fake.of("chat")
    assert chat[2].channel == "#leadership" and chat[2].text.startswith("headline")
    [record] = fake.of("record")
    assert record[2].report_id == view.report_id and record[2].entries == view.sent
