"""Analytics activities: collect every platform's daily figures into the analytics store,
read the lead journeys' touch paths, build the executive report, record what was sent.

Hosted on the reports task queue (they read and write the store: with the embedded
DuckDB file, run that queue on the machine that holds the file; a warehouse behind
`AnalyticsStore` lifts that). The report e-mail (`reports.send_email`) is on the e-mail
queue, under SendGrid's rate limit.

Collection (`analytics.collect`): one source, a range of days, one day at a time. Each
day is fetched completely (every page), validated into canonical facts
(`domain.analytics.to_facts`: rows that break the schema are counted and reported, not
loaded) and written with `replace_day` (delete + insert in one transaction), then the
day is heartbeated as the cursor. A retried attempt — after a crash of the worker, a
timeout or a platform error — starts after the cursor; a day loaded again (a crash
between the commit and the heartbeat) replaces itself, so nothing is ever doubled.

Touch paths (`analytics.collect_journeys`): the lead journeys hold them, so they are
read where they are: Temporal visibility lists the `LeadJourney` workflows of the
deployment's workflow queue that ran in the window, and each one's `state` query gives
its touch path and stage timeline, and its counts per step (`domain.journey_stats`: one
keyed row per lead and step, replaced with each reading, so counts never double).
Nothing is copied into the journeys ahead of time; the store keeps the last reading per
lead, so a journey that closed before it was last read is not queried again (a closed
journey answers a query by replaying its history).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from activities.contracts import (
    ANALYTICS_BUILD_REPORT,
    ANALYTICS_COLLECT,
    ANALYTICS_COLLECT_JOURNEYS,
    ANALYTICS_RECORD_DISTRIBUTION,
    REPORTS_SEND_EMAIL,
)
from activities.email_once import EmailOnce
from activities.errors import platform_errors
from activities.models import (
    BuildReportInput,
    BuildReportResult,
    CollectInput,
    CollectResult,
    JourneysInput,
    JourneysResult,
    RecordDistributionInput,
    ReportEmailInput,
    ReportEmailResult,
)
from domain.analytics import (
    FAMILY_TYPES,
    HUMAN_MESSAGES,
    NO_CAMPAIGN,
    ActivitySpan,
    AttributionRow,
    BudgetMove,
    Family,
    FamilyKpis,
    Period,
    ReportData,
    RunFacts,
    Source,
    automation_kpis,
    campaign_key,
    freshness,
    report_data,
    time_split,
    to_facts,
)
from domain.attribution import (
    DEFAULT_HALF_LIFE,
    DEFAULT_LOOKBACK,
    MODELS,
    Journey,
    attribute,
    compare,
    parse_model,
    path_touch,
    stage_times,
)
from domain.fields import zone
from domain.journey_stats import LeadStepRow, funnels, lead_step_rows
from domain.leads import LeadStage, Touch, parse_deal_key
from domain.money import show
from domain.report_render import executive_email_text, executive_html, executive_text
from integrations.analytics_store import AnalyticsStore, Deal, Distribution
from integrations.ga4 import GA4Client
from integrations.google_ads import GoogleAdsClient
from integrations.hubspot import HubSpotClient
from integrations.meta_ads import MetaAdsClient
from integrations.sendgrid import SendGridClient

MICROS = Decimal(1_000_000)
QUERY_TIMEOUT = timedelta(seconds=10)
JOURNEY_BATCH = 100
MAX_RUNS_PER_TYPE = 2000  # automation KPIs look at the most recent runs of a type in the window
STATUS = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.CANCELED: "canceled",
}


def visibility_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _closed_at(value: Any) -> datetime | None:
    text = str(value or "").strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- reading journeys -------------------------------------------------------------------


def journey_from_state(state: dict[str, Any]) -> Journey:
    """A lead journey's `state` query answer (LeadState as JSON) as an attribution journey."""
    touches = [Touch.model_validate(t) for t in state.get("touch_path") or []]
    timeline = []
    for entry in state.get("timeline") or []:
        at = datetime.fromisoformat(str(entry["at"]).replace("Z", "+00:00"))
        timeline.append((at, str(entry.get("what", ""))))
    reached = stage_times(timeline)
    captures = [t.at for t in touches if t.kind.startswith("capture:")]
    created = min(captures) if captures else (min(at for at, _ in timeline) if timeline else None)
    stage = state.get("stage")
    converted = reached.get(LeadStage.CONVERTED)
    if converted is None and stage == LeadStage.CONVERTED.value and timeline:
        converted = max(at for at, _ in timeline)  # the note was trimmed: the last thing it did
    return Journey(
        lead_id=str(state["lead_id"]),
        touches=[path_touch(t) for t in touches],
        stage=stage,
        created_at=created,
        mql_at=reached.get(LeadStage.MQL),
        opportunity_at=reached.get(LeadStage.SALES_ASSIGNED),
        converted_at=converted,
    )


# --- automation KPIs from visibility and histories ----------------------------------------


class _ClosesActivity(Protocol):
    """What the events that close an activity share: the id of the event that scheduled it."""

    scheduled_event_id: int


async def run_facts(client: Client, family: Family, execution: Any, now: datetime) -> RunFacts:
    """One run's facts from its visibility record and its event history."""
    handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
    scheduled: dict[int, ActivitySpan] = {}
    human: list[datetime] = []
    async for event in handle.fetch_history_events():
        kind, at = event.event_type, event.event_time.ToDatetime(UTC)
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = ActivitySpan(name=name, scheduled=at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            task = event.activity_task_started_event_attributes
            if (span := scheduled.get(task.scheduled_event_id)) is not None:
                span.attempts = max(span.attempts, task.attempt)
        elif kind in (
            EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
            EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
        ):
            closing: dict[EventType.ValueType, _ClosesActivity] = {
                EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: event.activity_task_completed_event_attributes,
                EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: event.activity_task_failed_event_attributes,
                EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: event.activity_task_timed_out_event_attributes,
                EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: event.activity_task_canceled_event_attributes,
            }
            if (span := scheduled.get(closing[kind].scheduled_event_id)) is not None:
                span.closed = at
                span.failed = kind != EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            if event.workflow_execution_signaled_event_attributes.signal_name in HUMAN_MESSAGES:
                human.append(at)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            name = event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            if name in HUMAN_MESSAGES:
                human.append(at)
    started = execution.start_time.astimezone(UTC)
    closed = execution.close_time.astimezone(UTC) if execution.close_time else None
    spans = list(scheduled.values())
    work, people = time_split(started, closed or now, spans, human)
    return RunFacts(
        family=family,
        workflow_id=execution.id,
        status=STATUS.get(execution.status, "running"),
        started=started,
        closed=closed,
        human_messages=len(human),
        activities=len(spans),
        retries=sum(s.attempts - 1 for s in spans),
        activity_failures=sum(1 for s in spans if s.failed),
        work_seconds=work,
        people_seconds=people,
    )


async def automation_runs(
    client: Client, task_queue: str, since: datetime, until: datetime, *, now: datetime | None = None
) -> list[RunFacts]:
    """The runs of every process family started in [since, until) on `task_queue`
    (continued-as-new runs are left out: their successor stands for the process)."""
    now = now or datetime.now(UTC)
    runs: list[RunFacts] = []
    for family, types in FAMILY_TYPES.items():
        for workflow_type in types:
            query = (
                f"WorkflowType = '{workflow_type}' AND TaskQueue = '{task_queue}' "
                f"AND StartTime >= '{visibility_time(since)}' AND StartTime < '{visibility_time(until)}'"
            )
            count = 0
            async for execution in client.list_workflows(query, page_size=500):
                if execution.status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
                    continue
                runs.append(await run_facts(client, family, execution, now))
                count += 1
                if count >= MAX_RUNS_PER_TYPE:
                    break
    return runs


async def budget_moves(client: Client, task_queue: str, since: datetime, until: datetime) -> list[BudgetMove]:
    """Budget reallocations that applied new budgets, closing in [since, until)."""
    query = (
        f"WorkflowType = 'BudgetReallocation' AND TaskQueue = '{task_queue}' AND ExecutionStatus = 'Completed' "
        f"AND CloseTime >= '{visibility_time(since)}' AND CloseTime < '{visibility_time(until)}'"
    )
    moves = []
    async for execution in client.list_workflows(query, page_size=200):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id, result_type=dict)
        try:
            view = await handle.result(rpc_timeout=QUERY_TIMEOUT)
        except Exception:  # noqa: BLE001 - an unreadable run is left out of the list, not the report
            continue
        if not isinstance(view, dict) or view.get("status") != "applied" or execution.close_time is None:
            continue
        currency = view.get("currency") or "EUR"
        detail = ", ".join(
            f"{c['channel']} {show(c['before'], currency, minor=True)} → {show(c['after'], currency, minor=True)}"
            for c in view.get("changes") or []
        )
        decided = sorted({d["approver"] for d in ((view.get("approval") or {}).get("decisions") or [])})
        moves.append(
            BudgetMove(
                at=execution.close_time.astimezone(UTC),
                campaign_id=str(view.get("campaign_id")),
                workflow_id=execution.id,
                detail=f"{detail} a day",
                decided_by=decided,
            )
        )
    return sorted(moves, key=lambda m: m.at)


# --- assembling report data ----------------------------------------------------------------


def assemble_report(
    store: AnalyticsStore,
    *,
    title: str,
    period: Period,
    currency: str,
    timezone: str,
    now: datetime,
    model: str = "w_shaped",
    half_life: timedelta = DEFAULT_HALF_LIFE,
    lookback: timedelta = DEFAULT_LOOKBACK,
    automation: list[FamilyKpis] | None = None,
    moves: list[BudgetMove] | None = None,
    stale: dict[str, str] | None = None,
) -> ReportData:
    """Report data for `period` (and the one before it) from the store (blocking: call in a thread)."""
    chosen = parse_model(model)
    previous = period.previous()
    facts = store.facts(period.start, period.end)
    previous_facts = store.facts(previous.start, previous.end)
    journeys = store.journeys()
    start, end = period.bounds(timezone)
    prev_start, prev_end = previous.bounds(timezone)
    comparison = compare(
        journeys,
        [chosen, *[m for m in MODELS if m != chosen]],
        start=start,
        end=end,
        half_life=half_life,
        lookback=lookback,
    )
    result = comparison.results[chosen]
    prev_result = attribute(journeys, chosen, start=prev_start, end=prev_end, half_life=half_life, lookback=lookback)
    loads = store.loads(period.start, period.end)
    loaded: dict[str, set[date]] = {}
    violations: dict[str, int] = {}
    for load in loads:
        loaded.setdefault(load.source.value, set()).add(load.day)
        violations[load.source.value] = violations.get(load.source.value, 0) + load.violations
    data = report_data(
        title=title,
        period=period,
        currency=currency,
        timezone=timezone,
        generated_at=now,
        facts=facts,
        previous_facts=previous_facts,
        credits=result.table(),
        previous_credits=prev_result.table(),
        attribution_model=chosen.value,
        attribution_models=[m.value for m in comparison.models],
        attribution=[
            AttributionRow(
                channel=r.channel,
                conversions={m.value: v for m, v in r.conversions.items()},
                revenue={m.value: v for m, v in r.revenue.items()},
            )
            for r in comparison.rows
        ],
        attributed_conversions=result.conversions,
        unattributed=result.unattributed,
        leads=sum(1 for j in journeys if j.created_at is not None and start <= j.created_at < end),
        automation=automation,
        budget_moves=moves,
        sources=freshness([s.value for s in Source], period, loaded, violations, stale or {}),
    )
    return data.model_copy(update={"funnels": funnels(store.journey_steps(None))})


# --- the activities -------------------------------------------------------------------------


class AnalyticsCollectActivities:
    def __init__(
        self,
        store: AnalyticsStore,
        *,
        meta: MetaAdsClient,
        google_ads: GoogleAdsClient,
        sendgrid: SendGridClient,
        ga4: GA4Client,
        hubspot: HubSpotClient,
        client: Client,
        reports_dir: Path,
    ) -> None:
        self._store = store
        self._meta, self._google, self._sendgrid, self._ga4, self._hubspot = meta, google_ads, sendgrid, ga4, hubspot
        self._client = client
        self._reports_dir = Path(reports_dir)

    @activity.defn(name=ANALYTICS_COLLECT.name)
    @platform_errors
    async def collect(self, inp: CollectInput) -> CollectResult:
        """Load the source's days since..until; resumes after the heartbeated cursor."""
        source = Source(inp.source)
        info = activity.info()
        details = info.heartbeat_details
        cursor = date.fromisoformat(details[0]) if details and details[0] else None
        day = max(inp.since, cursor + timedelta(days=1)) if cursor else inp.since
        result = CollectResult(source=source.value, attempt=info.attempt, resumed_from=day if cursor else None)
        activity.heartbeat(cursor.isoformat() if cursor else "")
        while day <= inp.until:
            rows, deals = await self._fetch(source, day, inp)
            facts, bad = to_facts(source, day, rows, currency=inp.currency)
            record = await asyncio.to_thread(self._store.replace_day, source, day, facts, bad, deals)
            result.days += 1
            result.rows += record.rows
            result.violations += record.violations
            result.reasons += [f"{day.isoformat()} {r}" for r in record.reasons][: max(0, 20 - len(result.reasons))]
            activity.heartbeat(day.isoformat())  # the cursor: this day is in the store
            day += timedelta(days=1)
        return result

    async def _fetch(self, source: Source, day: date, inp: CollectInput) -> tuple[list[dict], list[Deal] | None]:
        """One complete day of a source as canonical row dicts (and, for the CRM, its won deals)."""
        if source == Source.META:
            currency = (await self._meta.account()).currency
            return [
                {
                    "day": r.day.isoformat(),
                    "campaign": campaign_key(r.campaign_name),
                    "currency": currency,
                    "spend": r.spend,
                    "impressions": r.impressions,
                    "clicks": r.clicks,
                    "conversions": r.conversions,
                    "revenue": r.conversion_value,
                }
                for r in await self._meta.account_insights(since=day, until=day)
            ], None
        if source == Source.GOOGLE_ADS:
            currency = (await self._google.customer()).currency_code
            return [
                {
                    "day": r.day.isoformat(),
                    "campaign": campaign_key(r.campaign_name),
                    "currency": currency,
                    "spend": Decimal(r.cost_micros) / MICROS,
                    "impressions": r.impressions,
                    "clicks": r.clicks,
                    "conversions": r.conversions,
                    "revenue": Decimal(str(r.conversions_value)),
                }
                for r in await self._google.campaign_days(since=day, until=day)
            ], None
        if source == Source.SENDGRID:
            return [
                {
                    "day": d.isoformat(),
                    "campaign": NO_CAMPAIGN,
                    "impressions": m.get("delivered"),
                    "clicks": m.get("clicks"),
                }
                for d, m in await self._sendgrid.stats(day, day)
            ], None
        if source == Source.GA4:
            rows = await self._ga4.report_rows(
                start_date=day.isoformat(),
                end_date=day.isoformat(),
                dimensions=["date", "pagePath"],
                metrics=["sessions", "conversions"],
            )
            return [
                {
                    "day": f"{r['date'][:4]}-{r['date'][4:6]}-{r['date'][6:]}",
                    "campaign": NO_CAMPAIGN,
                    "sessions": _count(r.get("sessions")),
                    "conversions": _count(r.get("conversions")),
                }
                for r in rows
            ], None
        return await self._won_deals(day, inp)

    async def _won_deals(self, day: date, inp: CollectInput) -> tuple[list[dict], list[Deal]]:
        tz = zone(inp.timezone)
        start = datetime.combine(day, time(0), tz)
        end = datetime.combine(day + timedelta(days=1), time(0), tz)
        found = await self._hubspot.search_deals(
            [
                {"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"},
                {
                    "propertyName": "closedate",
                    "operator": "BETWEEN",
                    "value": str(_epoch_ms(start)),
                    "highValue": str(_epoch_ms(end) - 1),
                },
            ],
            ["amount", "closedate", "deal_currency_code", "mops_key", "dealstage"],
        )
        rows, deals = [], []
        for deal in found:
            props = deal.properties
            amount, closed = _money(props.get("amount")), _closed_at(props.get("closedate"))
            currency = (props.get("deal_currency_code") or inp.currency).strip().upper()
            rows.append({"campaign": NO_CAMPAIGN, "customers": 1, "revenue": amount, "currency": currency})
            if amount is not None and amount >= 0 and closed is not None and currency == inp.currency:
                key = parse_deal_key(props.get("mops_key"))
                deals.append(
                    Deal(
                        deal_id=deal.id,
                        lead_workflow_id=key.workflow_id if key else None,
                        amount=amount,
                        currency=currency,
                        closed_at=closed,
                    )
                )
        return rows, deals

    @activity.defn(name=ANALYTICS_COLLECT_JOURNEYS.name)
    async def collect_journeys(self, inp: JourneysInput) -> JourneysResult:
        """Read the touch paths of the lead journeys that ran in the window into the store."""
        query = (
            f"WorkflowType = 'LeadJourney' AND TaskQueue = '{inp.task_queue}' "
            f"AND StartTime < '{visibility_time(inp.until)}' "
            f"AND (ExecutionStatus = 'Running' OR CloseTime >= '{visibility_time(inp.since)}')"
        )
        result = JourneysResult()
        known = await asyncio.to_thread(self._store.collected)
        seen: set[str] = set()
        batch: list[tuple[str, Journey]] = []
        steps: dict[str, list[LeadStepRow]] = {}
        async for execution in self._client.list_workflows(query, page_size=200):
            if execution.id in seen:
                continue
            seen.add(execution.id)
            read_at = known.get(execution.id)
            if execution.close_time is not None and read_at is not None and read_at >= execution.close_time:
                result.unchanged += 1  # closed since it was last read: nothing new, no replay needed
                continue
            try:
                state = await self._client.get_workflow_handle(execution.id).query(
                    "state", result_type=dict, rpc_timeout=QUERY_TIMEOUT
                )
                journey = journey_from_state(state)
                step_rows = lead_step_rows(execution.id, state)
            except (RPCError, ValueError, KeyError) as err:
                activity.logger.warning("journey %s unreadable: %s", execution.id, type(err).__name__)
                result.skipped += 1
                continue
            except Exception as err:  # noqa: BLE001 - a query the workflow failed (WorkflowQueryFailedError)
                activity.logger.warning("journey %s query failed: %s", execution.id, type(err).__name__)
                result.skipped += 1
                continue
            batch.append((execution.id, journey))
            steps[execution.id] = step_rows
            result.journeys += 1
            result.touches += len(journey.touches)
            activity.heartbeat(result.journeys)
            if len(batch) >= JOURNEY_BATCH:
                await asyncio.to_thread(self._store.replace_journeys, batch, steps)
                batch, steps = [], {}
        if batch:
            await asyncio.to_thread(self._store.replace_journeys, batch, steps)
        return result

    @activity.defn(name=ANALYTICS_BUILD_REPORT.name)
    async def build_report(self, inp: BuildReportInput) -> BuildReportResult:
        """Compute the executive report from the store and visibility, render it, keep the file."""
        period = Period(start=inp.since, end=inp.until)
        start, end = period.bounds(inp.timezone)
        now = datetime.now(UTC)
        runs = await automation_runs(self._client, inp.task_queue, start, end, now=now)
        moves = await budget_moves(self._client, inp.task_queue, start, end)
        data = await asyncio.to_thread(
            assemble_report,
            self._store,
            title=inp.title,
            period=period,
            currency=inp.currency,
            timezone=inp.timezone,
            now=now,
            model=inp.model,
            half_life=timedelta(days=inp.half_life_days),
            lookback=timedelta(days=inp.lookback_days),
            automation=automation_kpis(runs, now=now),
            moves=moves,
            stale=inp.stale,
        )
        html = executive_html(data)
        path = self._reports_dir / f"{inp.report_id}.html"
        await asyncio.to_thread(_write, path, html)
        return BuildReportResult(
            report_id=inp.report_id,
            subject=f"{inp.title}: {period.label()}",
            html=html,
            html_path=str(path),
            text=executive_text(data),
            email_text=executive_email_text(data),
        )

    @activity.defn(name=ANALYTICS_RECORD_DISTRIBUTION.name)
    async def record_distribution(self, inp: RecordDistributionInput) -> None:
        entries = [
            Distribution(
                report_id=inp.report_id,
                channel=e.channel,
                recipient=e.recipient,
                status=e.status,
                ref=e.ref,
                sent_at=e.at,
            )
            for e in inp.entries
        ]
        await asyncio.to_thread(self._store.record_distribution, entries)


def _count(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class ReportMailActivities:
    """The executive report by e-mail (SendGrid v3 mail send). Hosted on the e-mail queue."""

    def __init__(self, sendgrid: SendGridClient, *, once: EmailOnce, store: AnalyticsStore) -> None:
        self._sendgrid = sendgrid
        self._once = once
        self._store = store

    @activity.defn(name=REPORTS_SEND_EMAIL.name)
    @platform_errors
    async def send_email(self, inp: ReportEmailInput) -> ReportEmailResult:
        """One report email per recipient and report: a report run again (by hand, or a
        schedule's backfill) finds the earlier run's email in the store's distributions, which
        SendGrid, having no idempotency key, cannot tell; a retry looks for an earlier
        attempt's email in SendGrid's Email Activity feed first (`activities/email_once.py`)."""
        recorded = await asyncio.to_thread(self._store.distributions, inp.report_id)
        done = next(
            (d for d in recorded if d.channel == "email" and d.recipient == inp.to_email and d.status == "sent"), None
        )
        if done is not None:
            return ReportEmailResult(message_id=done.ref)
        message_id = await self._once.attempt().once(
            inp.idempotency_key,
            lambda: self._sendgrid.send_mail(
                to_email=inp.to_email,
                from_email=inp.from_email,
                subject=inp.subject,
                text=inp.text,
                html=inp.html,
                asm_group_id=None,
                categories=["mops", "report"],
                custom_args={"mops_report": inp.report_id},
                idempotency_key=inp.idempotency_key,
            ),
        )
        return ReportEmailResult(message_id=message_id or None)


def sources(names: Iterable[str] | None) -> list[Source]:
    """Source names to sources (all when none), or ValueError naming the unknown one."""
    out = []
    for name in names or [s.value for s in Source]:
        try:
            source = Source(str(name).strip().lower())
        except ValueError:
            expected = ", ".join(s.value for s in Source)
            raise ValueError(f"source: unknown source {name!r} (expected one of: {expected})") from None
        if source not in out:
            out.append(source)
    return out
