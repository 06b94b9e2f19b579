"""Analytics collection and the executive report.

`AnalyticsCollection` (id `analytics-collect-<since>-<until>` when started by the CLI, a
child `<report id>-collect` of a report): loads every source's days since..until into
the analytics store, one activity per source in parallel (each resumes from its
heartbeated cursor when retried), then reads the lead journeys' touch paths. A source
that keeps failing does not fail the collection: it is marked stale with the reason, and
retried every `retry_every` until `retry_within` after the start; what is still stale
then is reported as such. When its input's conversions plan has `deal_won` (behind the
`analytics-deal-won-v1` patch), each round that loaded the CRM fresh then sends the won
deals of mops leads to the ad platforms, once per deal and platform, and records them
in the store (`workflows.deal_conversions`; shown in the view's `deal_conversions`).

`ExecutiveReport` (started by the `exec-report` Schedule, or by hand): the period is the
`period_days` days before the run's scheduled day in the report's time zone (a Monday
08:00 run covers Monday to Sunday before it), so a backfilled or late run reports the
period it was scheduled for. It collects the period and the one before (for the
changes), builds the report (headline KPIs and changes, top/bottom campaigns, budget
moves, automation KPIs, charts, stale sources), and sends it by e-mail to each
recipient and to the chat channel, recording every send (or failure) in its state and in
the store. Sends carry keys derived from the period, so a second run for the same period
never mails anyone twice.

Queries: `state()` on both.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.contracts import ErrorType
    from activities.models import (
        BuildReportInput,
        BuildReportResult,
        CollectInput,
        DistributionEntry,
        JourneysInput,
        NotifyInput,
        RecordDistributionInput,
        ReportEmailInput,
    )
    from activities.policies import INTERNAL_RETRY, INTERNAL_TIMEOUT
    from domain.analytics import Period, Source, period_before
    from domain.fields import zone
    from workflows.analytics_models import (
        JOURNEYS,
        CollectionInput,
        CollectionStatus,
        CollectionView,
        ReportInput,
        ReportStatus,
        ReportView,
        SourceState,
        SourceStatus,
    )
    from workflows.common import call, is_type, reason, with_note
    from workflows.deal_conversions import DEAL_WON_PATCH, send_deal_conversions

# A source still failing after three tries in a row waits for the next round.
COLLECT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=[ErrorType.PLATFORM_REJECTED],
)
COLLECT_TIMEOUT = timedelta(minutes=30)
BUILD_TIMEOUT = timedelta(minutes=5)
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


def _why(err: ActivityError) -> str:
    cause = err.cause
    if is_type(err, ErrorType.PLATFORM_REJECTED):
        return f"rejected by the platform ({reason(err)})"
    while isinstance(cause, FailureError) and not isinstance(cause, ApplicationError) and cause.cause is not None:
        cause = cause.cause
    return (getattr(cause, "message", None) or str(cause or err))[:300]


@workflow.defn(name="AnalyticsCollection")
class AnalyticsCollectionWorkflow:
    @workflow.init
    def __init__(self, inp: CollectionInput) -> None:
        names = list(dict.fromkeys(inp.sources)) + ([JOURNEYS] if inp.journeys else [])
        self._inp = inp
        self._v = CollectionView(since=inp.since, until=inp.until, sources=[SourceStatus(source=s) for s in names])

    @workflow.run
    async def run(self, inp: CollectionInput) -> CollectionView:
        v = self._v
        v.retry_until = workflow.now() + inp.retry_within
        self._publish()
        await self._round([s for s in v.sources])
        while (
            stale := [s for s in v.sources if s.state == SourceState.STALE]
        ) and workflow.now() + inp.retry_every <= v.retry_until:
            v.status = CollectionStatus.RETRYING
            names = ", ".join(s.source for s in stale)
            self._note(f"stale: {names}; retrying in {inp.retry_every}")
            self._publish()
            await workflow.sleep(inp.retry_every, summary=f"retry stale sources: {names}")
            v.status = CollectionStatus.COLLECTING
            await self._round(stale)
        v.status = CollectionStatus.DONE
        still = v.stale
        self._note("done" + (f"; still stale: {', '.join(still)}" if still else ": every source fresh"))
        self._publish()
        return v

    @workflow.query(name="state")
    def state(self) -> CollectionView:
        return self._v

    async def _round(self, statuses: list[SourceStatus]) -> None:
        platforms = [s for s in statuses if s.source != JOURNEYS]
        await asyncio.gather(*(self._collect(s) for s in platforms))
        if any(s.source == Source.HUBSPOT.value and s.state == SourceState.FRESH for s in platforms):
            await self._deal_conversions()
        journeys = next((s for s in statuses if s.source == JOURNEYS), None)
        if journeys is not None:
            await self._journeys(journeys)

    async def _collect(self, status: SourceStatus) -> None:
        inp = self._inp
        status.tries += 1
        status.last_try = workflow.now()
        try:
            result = await call(
                act.ANALYTICS_COLLECT,
                CollectInput(
                    source=status.source, since=inp.since, until=inp.until, currency=inp.currency, timezone=inp.timezone
                ),
                queue=inp.queues.reports,
                summary=f"collect {status.source} {inp.since}..{inp.until}",
                retry=COLLECT_RETRY,
                timeout=COLLECT_TIMEOUT,
                heartbeat=inp.heartbeat_timeout,
            )
        except ActivityError as err:
            status.state, status.error = SourceState.STALE, _why(err)
            self._note(f"{status.source} stale: {status.error}")
            return
        status.state, status.error, status.result = SourceState.FRESH, None, result
        self._note(
            f"{status.source}: {result.days} day(s), {result.rows} row(s)"
            + (f", {result.violations} refused" if result.violations else "")
        )
        self._publish()

    async def _deal_conversions(self) -> None:
        plan = self._inp.conversions
        if plan is None or not plan.deal_won or not workflow.patched(DEAL_WON_PATCH):
            return
        try:
            sent = await send_deal_conversions(plan, self._inp.queues, self._note)
        except ActivityError as err:
            # The store could not say what is due: the next round or collection asks again.
            self._note(f"won deals not sent: {_why(err)}")
            return
        self._v.deal_conversions += sent
        self._publish()

    async def _journeys(self, status: SourceStatus) -> None:
        inp = self._inp
        start, end = Period(start=inp.since, end=inp.until).bounds(inp.timezone)
        status.tries += 1
        status.last_try = workflow.now()
        try:
            result = await call(
                act.ANALYTICS_COLLECT_JOURNEYS,
                JourneysInput(since=start, until=end, task_queue=inp.queues.workflows),
                queue=inp.queues.reports,
                summary="read the lead journeys' touch paths",
                retry=COLLECT_RETRY,
                timeout=COLLECT_TIMEOUT,
                heartbeat=inp.heartbeat_timeout,
            )
        except ActivityError as err:
            status.state, status.error = SourceState.STALE, _why(err)
            self._note(f"journeys stale: {status.error}")
            return
        status.state, status.error, status.result = SourceState.FRESH, None, result
        self._note(
            f"journeys: {result.journeys} read, {result.touches} touches"
            + (f", {result.skipped} unreadable" if result.skipped else "")
        )
        self._publish()

    def _note(self, what: str) -> None:
        v = self._v
        v.timeline = with_note(v.timeline, what)

    def _publish(self) -> None:
        v = self._v
        states = " · ".join(f"{s.source} {s.state.value}" for s in v.sources)
        workflow.set_current_details(
            f"**Days:** {v.since} to {v.until}  ·  **Status:** {v.status.value}\n\n**Sources:** {states}"
        )


@workflow.defn(name="ExecutiveReport")
class ExecutiveReportWorkflow:
    @workflow.init
    def __init__(self, inp: ReportInput) -> None:
        self._inp = inp
        self._v = ReportView()

    @workflow.run
    async def run(self, inp: ReportInput) -> ReportView:
        v = self._v
        period = period_before(self._as_of(), inp.period_days)
        v.period = period
        v.report_id = f"report-{period.start.isoformat()}-{period.end.isoformat()}"
        self._note(f"period {period.label()} ({inp.timezone})")
        self._publish()
        if inp.collect:
            previous = period.previous()
            collection: CollectionView = await workflow.execute_child_workflow(
                "AnalyticsCollection",
                CollectionInput(
                    since=previous.start,
                    until=period.end,
                    sources=inp.sources,
                    currency=inp.currency,
                    timezone=inp.timezone,
                    queues=inp.queues,
                    retry_within=inp.retry_within,
                    retry_every=inp.retry_every,
                    heartbeat_timeout=inp.heartbeat_timeout,
                    conversions=inp.conversions,
                ),
                id=f"{workflow.info().workflow_id}-collect",
                result_type=CollectionView,
                static_summary=f"collection for {v.report_id}",
            )
            v.stale = collection.stale
            if v.stale:
                self._note("stale: " + "; ".join(f"{k} ({w})" for k, w in v.stale.items()))
        v.status = ReportStatus.BUILDING
        self._publish()
        built = await call(
            act.ANALYTICS_BUILD_REPORT,
            BuildReportInput(
                report_id=v.report_id,
                title=inp.title,
                since=period.start,
                until=period.end,
                currency=inp.currency,
                timezone=inp.timezone,
                task_queue=inp.queues.workflows,
                stale=v.stale,
                model=inp.model,
                half_life_days=inp.half_life_days,
                lookback_days=inp.lookback_days,
            ),
            queue=inp.queues.reports,
            summary=f"build {v.report_id}",
            timeout=BUILD_TIMEOUT,
        )
        v.subject, v.html_path = built.subject, built.html_path
        v.status = ReportStatus.DISTRIBUTING
        self._publish()
        for recipient in inp.recipients:
            await self._email(recipient, built)
        if inp.chat_channel:
            await self._chat(inp.chat_channel, built)
        await call(
            act.ANALYTICS_RECORD_DISTRIBUTION,
            RecordDistributionInput(report_id=v.report_id, entries=v.sent),
            queue=inp.queues.reports,
            summary="record who got the report",
            retry=INTERNAL_RETRY,
            timeout=INTERNAL_TIMEOUT,
        )
        v.status = ReportStatus.DONE
        sent = sum(1 for s in v.sent if s.status == "sent")
        self._note(f"sent {sent} of {len(v.sent)}")
        self._publish()
        return v

    @workflow.query(name="state")
    def state(self) -> ReportView:
        return self._v

    def _as_of(self) -> date:
        inp = self._inp
        if inp.as_of is not None:
            return inp.as_of
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
        return (scheduled or workflow.now()).astimezone(zone(inp.timezone)).date()

    async def _email(self, recipient: str, built: BuildReportResult) -> None:
        v, inp = self._v, self._inp
        try:
            res = await call(
                act.REPORTS_SEND_EMAIL,
                ReportEmailInput(
                    idempotency_key=f"{v.report_id}:email:{recipient}",
                    to_email=recipient,
                    from_email=inp.email_from,
                    subject=built.subject,
                    html=built.html,
                    text=built.email_text or None,
                    report_id=v.report_id,
                ),
                queue=inp.queues.email,
                summary="e-mail the report",
            )
        except ActivityError as err:
            if not is_type(err, ErrorType.PLATFORM_REJECTED):
                raise
            v.sent.append(
                DistributionEntry(
                    channel="email", recipient=recipient, status="failed", ref=reason(err), at=workflow.now()
                )
            )
            self._note(f"e-mail refused by the platform ({reason(err)})")
            return
        v.sent.append(
            DistributionEntry(
                channel="email", recipient=recipient, status="sent", ref=res.message_id, at=workflow.now()
            )
        )

    async def _chat(self, channel: str, built: BuildReportResult) -> None:
        v = self._v
        text = built.text + f"\nFull report: {built.subject} (sent by e-mail; file {built.html_path})"
        try:
            res = await call(
                act.CHAT_NOTIFY,
                NotifyInput(idempotency_key=f"{v.report_id}:chat:{channel}", text=text, channel=channel),
                queue=self._inp.queues.chat,
                summary=f"post the report to {channel}",
            )
        except ActivityError as err:
            if not is_type(err, ErrorType.PLATFORM_REJECTED):
                raise
            v.sent.append(
                DistributionEntry(
                    channel="chat", recipient=channel, status="failed", ref=reason(err), at=workflow.now()
                )
            )
            self._note(f"chat post to {channel} refused ({reason(err)})")
            return
        v.sent.append(
            DistributionEntry(channel="chat", recipient=channel, status="sent", ref=res.ts, at=workflow.now())
        )

    def _note(self, what: str) -> None:
        v = self._v
        v.timeline = with_note(v.timeline, what)

    def _publish(self) -> None:
        v = self._v
        lines = [f"**Report:** {v.report_id or '-'}  ·  **Status:** {v.status.value}"]
        if v.stale:
            lines.append(f"**Stale sources:** {', '.join(v.stale)}")
        if v.sent:
            lines.append(f"**Sent:** {sum(1 for s in v.sent if s.status == 'sent')} of {len(v.sent)}")
        workflow.set_current_details("\n\n".join(lines))
