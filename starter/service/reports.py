"""Python API for analytics and reporting: collect (and backfill) into the analytics
store, render the dashboard, attribute conversions, schedule the executive report,
measure automation.

Input is validated before anything starts (`ReportInputError`, one line naming the
field): dates, a `from` after `to`, unknown models, sources and time zones.

Collection runs as an `AnalyticsCollection` workflow (id `analytics-collect-<from>-<to>`:
asking for the same days again while a run is busy joins it). The dashboard and
attribution read the store directly (a local DuckDB file, or whatever implements
`AnalyticsStore`); automation KPIs read Temporal visibility and histories.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from activities.analytics_collect import assemble_report, automation_runs, sources
from domain.analytics import FamilyKpis, Period, ReportData, automation_kpis
from domain.attribution import AttributionError, Comparison, compare, parse_models
from domain.conversions import ConversionPlan
from domain.fields import check_timezone, parse_duration
from domain.leads import normalise_email
from domain.report_render import dashboard_html
from integrations.analytics_store import DuckDBStore
from mops.queues import analytics_queues
from mops.settings import Settings
from starter.service.conversion_plans import counts_won_deals
from starter.service.errors import InputError
from workflows.analytics import AnalyticsCollectionWorkflow, ExecutiveReportWorkflow
from workflows.analytics_models import CollectionInput, CollectionView, ReportInput

WEEKDAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}  # Temporal's day_of_week
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ReportInputError(InputError):
    """Report input we refuse (one line naming the field)."""


def today(settings: Settings) -> date:
    from domain.fields import zone

    return datetime.now(UTC).astimezone(zone(settings.report_timezone)).date()


def parse_day(value: str | date | None, field: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ReportInputError(f"{field}: {value!r} is not a date (write it as YYYY-MM-DD)") from None


def period(since: str | date | None, until: str | date | None, *, default_days: int, end: date) -> Period:
    """The days `since`..`until` (both included); missing ends default to the `default_days`
    days up to `end` (a `since` after `end` alone means that one day)."""
    since_day, until_day = parse_day(since, "from"), parse_day(until, "to")
    if until_day is None:
        until_day = max(end, since_day) if since_day else end
    since_day = since_day or until_day - timedelta(days=default_days - 1)
    if since_day > until_day:
        raise ReportInputError(f"from: {since_day.isoformat()} is after to {until_day.isoformat()}")
    if (until_day - since_day).days > 3 * 366:
        raise ReportInputError("from: the range is longer than three years; backfill it in parts")
    return Period(start=since_day, end=until_day)


def duration(value: str, field: str) -> timedelta:
    try:
        got = parse_duration(value)
    except ValueError as err:
        raise ReportInputError(f"{field}: {err}") from None
    if got <= timedelta(0):
        raise ReportInputError(f"{field}: must be longer than zero")
    return got


def timezone(value: str | None, settings: Settings) -> str:
    try:
        return check_timezone(value or settings.report_timezone)
    except ValueError as err:
        raise ReportInputError(f"tz: {err}") from None


@dataclass(frozen=True)
class WeeklySpec:
    weekday: str
    hour: int
    minute: int
    timezone: str

    def describe(self) -> str:
        return f"every {self.weekday} at {self.hour:02d}:{self.minute:02d} {self.timezone}"


def weekly(day: str, at: str, tz: str | None, settings: Settings) -> WeeklySpec:
    key = day.strip().lower()[:3]
    if key not in WEEKDAYS or not day.strip().lower().startswith(key):
        raise ReportInputError(f"weekly: unknown day {day!r} (one of: {', '.join(WEEKDAYS)})")
    match = _TIME.fullmatch(at.strip())
    if match is None:
        raise ReportInputError(f"weekly: {at!r} is not a time of day (write it as HH:MM, e.g. 08:00)")
    return WeeklySpec(key, int(match[1]), int(match[2]), timezone(tz, settings))


def recipients(values: list[str] | None, settings: Settings) -> list[str]:
    raw = values if values else [v for v in settings.report_recipients.split(",") if v.strip()]
    out = []
    for value in raw:
        try:
            address = normalise_email(value)
        except ValueError as err:
            raise ReportInputError(f"to: {err}") from None
        if address not in out:
            out.append(address)
    return out


class ReportService:
    def __init__(self, client: Client | None, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self.store = DuckDBStore(settings.analytics_store_file)

    @property
    def _temporal(self) -> Client:
        # Made without a client for the local store's reports; every other call needs the server.
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} was made without a Temporal client, which this call needs")
        return self._client

    # ------------------------------------------------------------ collection

    def collection_input(
        self, days: Period, source_names: list[str] | None = None, retry_within: timedelta | None = None
    ) -> CollectionInput:
        s = self._settings
        try:
            chosen = [x.value for x in sources(source_names)]
        except ValueError as err:
            raise ReportInputError(str(err)) from None
        return CollectionInput(
            since=days.start,
            until=days.end,
            sources=chosen,
            currency=s.report_currency,
            timezone=s.report_timezone,
            queues=analytics_queues(s),
            retry_within=retry_within
            if retry_within is not None
            else timedelta(minutes=s.collection_retry_window_minutes),
            retry_every=timedelta(minutes=s.collection_retry_every_minutes),
            conversions=self._deal_won_plan(),
        )

    def _deal_won_plan(self) -> ConversionPlan | None:
        """The conversions plan when it counts won deals (the collection then sends them)."""
        return counts_won_deals(self._settings)

    async def collect(self, inp: CollectionInput, *, wait: bool = True) -> tuple[str, CollectionView | None]:
        """Start (or join) the collection of inp's days; with `wait`, its result."""
        wf_id = f"analytics-collect-{inp.since.isoformat()}-{inp.until.isoformat()}"
        handle = await self._temporal.start_workflow(
            AnalyticsCollectionWorkflow.run,
            inp,
            id=wf_id,
            task_queue=self._settings.workflow_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"analytics collection · {inp.since} to {inp.until}",
            static_details="Sources: " + ", ".join(inp.sources) + (" + lead journeys" if inp.journeys else ""),
        )
        return wf_id, (await handle.result() if wait else None)

    # ------------------------------------------------------------- reading

    def report(
        self,
        days: Period,
        *,
        title: str = "Marketing dashboard",
        model: str = "w_shaped",
        half_life: timedelta | None = None,
        lookback: timedelta | None = None,
        automation: list[FamilyKpis] | None = None,
    ) -> ReportData:
        s = self._settings
        try:
            parse_models([model])
            return assemble_report(
                self.store,
                title=title,
                period=days,
                currency=s.report_currency,
                timezone=s.report_timezone,
                now=datetime.now(UTC),
                model=model,
                half_life=half_life or timedelta(days=s.attribution_half_life_days),
                lookback=lookback or timedelta(days=s.attribution_lookback_days),
                automation=automation,
            )
        except AttributionError as err:
            raise ReportInputError(str(err)) from None

    async def dashboard(
        self, days: Period, out: Path | None = None, *, model: str = "w_shaped"
    ) -> tuple[Path, ReportData]:
        """Render the dashboard for `days` to `out` (default: reports dir); returns (path, data)."""
        data = await asyncio.to_thread(self.report, days, model=model)
        path = out or self._settings.reports_path / f"dashboard-{days.start.isoformat()}-{days.end.isoformat()}.html"
        await asyncio.to_thread(_write, path, dashboard_html(data))
        return path, data

    async def attribution(
        self, days: Period, models: list[str], *, half_life: timedelta | None = None, lookback: timedelta | None = None
    ) -> Comparison:
        s = self._settings
        try:
            chosen = parse_models(models)
        except AttributionError as err:
            raise ReportInputError(str(err)) from None
        start, end = days.bounds(s.report_timezone)
        journeys = await asyncio.to_thread(self.store.journeys)
        return compare(
            journeys,
            chosen,
            start=start,
            end=end,
            half_life=half_life or timedelta(days=s.attribution_half_life_days),
            lookback=lookback or timedelta(days=s.attribution_lookback_days),
        )

    async def automation(self, days: Period) -> list[FamilyKpis]:
        start, end = days.bounds(self._settings.report_timezone)
        now = datetime.now(UTC)
        runs = await automation_runs(self._temporal, self._settings.workflow_task_queue, start, end, now=now)
        return automation_kpis(runs, now=now)

    # ------------------------------------------------------------ schedule

    def report_input(
        self,
        *,
        tz: str,
        to: list[str],
        chat: str | None,
        title: str | None = None,
        as_of: date | None = None,
        retry_within: timedelta | None = None,
    ) -> ReportInput:
        s = self._settings
        return ReportInput(
            title=title or "Weekly marketing report",
            timezone=tz,
            currency=s.report_currency,
            recipients=to,
            chat_channel=chat,
            email_from=s.report_email_from,
            queues=analytics_queues(s),
            as_of=as_of,
            retry_within=retry_within
            if retry_within is not None
            else timedelta(minutes=min(s.collection_retry_window_minutes, 120)),
            retry_every=timedelta(minutes=s.collection_retry_every_minutes),
            half_life_days=s.attribution_half_life_days,
            lookback_days=s.attribution_lookback_days,
            conversions=self._deal_won_plan(),
        )

    def schedule_object(self, spec: WeeklySpec, inp: ReportInput) -> Schedule:
        return Schedule(
            action=ScheduleActionStartWorkflow(
                ExecutiveReportWorkflow.run,
                inp,
                id=self._settings.report_schedule_id,
                task_queue=self._settings.workflow_task_queue,
                static_summary=f"executive report · {spec.describe()}",
            ),
            spec=ScheduleSpec(
                calendars=[
                    ScheduleCalendarSpec(
                        day_of_week=[ScheduleRange(WEEKDAYS[spec.weekday])],
                        hour=[ScheduleRange(spec.hour)],
                        minute=[ScheduleRange(spec.minute)],
                        comment=spec.describe(),
                    )
                ],
                time_zone_name=spec.timezone,
            ),
            # One report per period: a run still going when the next is due makes that one
            # skip; a run missed while the server was down is caught up within a day.
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
        )

    async def schedule(self, spec: WeeklySpec, inp: ReportInput) -> str:
        """Create (or update) the executive report's Schedule; returns its id."""
        schedule_id = self._settings.report_schedule_id
        schedule = self.schedule_object(spec, inp)
        try:
            await self._temporal.create_schedule(schedule_id, schedule)
        except ScheduleAlreadyRunningError:
            await self._temporal.get_schedule_handle(schedule_id).update(lambda _: ScheduleUpdate(schedule=schedule))
        return schedule_id


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
