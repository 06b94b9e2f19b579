"""Analytics: one canonical model of marketing figures across platforms, the KPI maths
(ROI, ROAS, CPA, CAC, ...), periods and their comparison, and automation KPIs.

Pure: no I/O, no clock (periods are computed from dates passed in).

The canonical measures. Every source maps onto these and leaves out what it does not know;
one row (`Fact`) is one source's figures for one day, channel and campaign.

- **spend** — what an ad platform charged (Meta, Google Ads), in major units of the
  reporting currency. 0 for every other source.
- **impressions** — ads shown (Meta, Google Ads); for email, messages delivered (SendGrid).
- **clicks** — clicks on ads; clicks on links in emails (SendGrid `clicks`).
- **sessions** — website sessions (GA4).
- **conversions** — what the platform itself counts as a conversion: Meta `lead` actions,
  Google Ads `metrics.conversions`, GA4 key events. Platform-reported (often modelled), so
  conversions of different platforms may overlap and are not added up across them in CPA.
- **customers** — deals closed won in the CRM (HubSpot `dealstage = closedwon`, by close date).
- **revenue** — on ad rows the conversion value the platform reports; on CRM rows the
  amount of the deals closed won ("booked" revenue). ROAS uses the former, ROI the latter.

**Leads** are not a platform figure: they are the lead journeys mops runs, and per channel
they come from attribution over each lead's touches (domain/attribution.py), as do the
customers and booked revenue a channel is credited with.

KPIs (each None when its denominator is 0; the cost ones also on channels without spend):
CTR = clicks / impressions; CPC = spend / clicks; CPA = spend / conversions; ROAS =
reported revenue / spend; CAC = spend / customers; ROI = (booked revenue - spend) / spend.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator

from domain.fields import zone
from domain.journey_stats import Funnel
from domain.money import check_currency

CENT = Decimal("0.01")
NO_CAMPAIGN = "(none)"
# What attribution credited each (channel, campaign): (conversions, customers, booked revenue).
Credits = dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]]
_MOPS_NAME = re.compile(r"\[mops:([a-z0-9][a-z0-9-]{1,62}):[a-z_]+\]")


class Source(StrEnum):
    META = "meta"
    GOOGLE_ADS = "google_ads"
    SENDGRID = "sendgrid"
    GA4 = "ga4"
    HUBSPOT = "hubspot"


# The channel each source's rows belong to (channel names are domain.campaigns.ChannelKind values).
SOURCE_CHANNEL: dict[Source, str] = {
    Source.META: "meta_ads",
    Source.GOOGLE_ADS: "google_ads",
    Source.SENDGRID: "email",
    Source.GA4: "landing_page",
    Source.HUBSPOT: "crm",
}


def campaign_key(name: str | None) -> str:
    """The campaign a platform object belongs to: the mops campaign id in names mops gave
    (`Spring [mops:spring-2027:meta_ads]` -> `spring-2027`), else the name as it is."""
    if not name or not name.strip():
        return NO_CAMPAIGN
    match = _MOPS_NAME.search(name)
    return match.group(1) if match else " ".join(name.split())[:200]


def cents(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _dec(value: float | int | Decimal) -> Decimal:
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


# --- the canonical row --------------------------------------------------------------------


class Fact(BaseModel):
    """One source's figures for one day, channel and campaign, in canonical measures."""

    model_config = {"frozen": True}

    source: Source
    day: date
    channel: str = Field(min_length=1, max_length=64)
    campaign: str = NO_CAMPAIGN
    currency: str
    spend: Decimal = Field(default=Decimal(0), ge=0)
    impressions: int = Field(default=0, ge=0)
    clicks: int = Field(default=0, ge=0)
    sessions: int = Field(default=0, ge=0)
    conversions: float = Field(default=0.0, ge=0)
    customers: int = Field(default=0, ge=0)
    revenue: Decimal = Field(default=Decimal(0), ge=0)

    @field_validator("campaign")
    @classmethod
    def _campaign(cls, value: str) -> str:
        return " ".join(value.split())[:200] or NO_CAMPAIGN

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("spend", "revenue")
    @classmethod
    def _finite_money(cls, value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError("must be a finite amount")
        return value

    @field_validator("conversions")
    @classmethod
    def _finite_count(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @property
    def key(self) -> tuple[str, str]:
        return (self.channel, self.campaign)


class Violation(BaseModel):
    """A row a source sent that breaks the canonical schema: counted, reported, not loaded."""

    row: int  # position in what the source sent for that day
    reason: str  # one line, no personal data


def _reason(err: ValidationError) -> str:
    first = err.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def to_facts(
    source: Source, day: date, rows: Iterable[Mapping[str, object]], *, currency: str
) -> tuple[list[Fact], list[Violation]]:
    """Validate one day of a source's rows (dicts in canonical measure names) into facts.

    A row is refused (and reported) when a measure is missing or negative, its currency is
    not the reporting currency, or it belongs to another day. Rows with the same channel
    and campaign are added up, so the result has one fact per (channel, campaign), sorted.
    """
    currency = check_currency(currency)
    merged: dict[tuple[str, str], Fact] = {}
    violations: list[Violation] = []
    for i, raw in enumerate(rows):
        data = {"channel": SOURCE_CHANNEL[source], "currency": currency, **raw, "source": source}
        missing = sorted(k for k, v in data.items() if v is None)
        if missing:
            violations.append(Violation(row=i, reason=f"{missing[0]}: missing"))
            continue
        row_day = data.get("day", day)
        if str(row_day) != day.isoformat():
            violations.append(Violation(row=i, reason=f"day: {row_day} is not the day loaded ({day.isoformat()})"))
            continue
        data["day"] = day
        try:
            fact = Fact.model_validate(data)
        except ValidationError as err:
            violations.append(Violation(row=i, reason=_reason(err)))
            continue
        if fact.currency != currency:
            violations.append(
                Violation(
                    row=i,
                    reason=f"currency: {fact.currency} is not the reporting currency "
                    f"{currency} (no exchange rates are applied)",
                )
            )
            continue
        before = merged.get(fact.key)
        merged[fact.key] = fact if before is None else add(before, fact)
    return [merged[k] for k in sorted(merged)], violations


def add(a: Fact, b: Fact) -> Fact:
    """Two facts of the same source, day, channel and campaign added up."""
    return a.model_copy(
        update={
            "spend": a.spend + b.spend,
            "impressions": a.impressions + b.impressions,
            "clicks": a.clicks + b.clicks,
            "sessions": a.sessions + b.sessions,
            "conversions": float(_dec(a.conversions) + _dec(b.conversions)),
            "customers": a.customers + b.customers,
            "revenue": a.revenue + b.revenue,
        }
    )


# --- totals and KPIs ----------------------------------------------------------------------


class Totals(BaseModel):
    """Measures summed over facts, plus what attribution credits (conversions, customers, booked revenue)."""

    spend: Decimal = Decimal(0)
    impressions: int = 0
    clicks: int = 0
    sessions: int = 0
    conversions: float = 0.0
    reported_revenue: Decimal = Decimal(0)  # platform conversion value (ads)
    customers: int = 0  # CRM deals won (by close date)
    booked_revenue: Decimal = Decimal(0)  # CRM closed-won amounts
    attributed_conversions: Decimal = Decimal(0)  # converted lead journeys credited by attribution
    attributed_customers: Decimal = Decimal(0)
    attributed_revenue: Decimal = Decimal(0)


def totals(facts: Iterable[Fact]) -> Totals:
    t = Totals()
    conversions = Decimal(0)
    for f in facts:
        t.spend += f.spend
        t.impressions += f.impressions
        t.clicks += f.clicks
        t.sessions += f.sessions
        conversions += _dec(f.conversions)
        if f.source == Source.HUBSPOT:
            t.customers += f.customers
            t.booked_revenue += f.revenue
        else:
            t.reported_revenue += f.revenue
    t.conversions = float(conversions)
    return t


class KpiSet(BaseModel):
    ctr: float | None = None
    cpc: Decimal | None = None
    cpa: Decimal | None = None
    roas: float | None = None
    cac: Decimal | None = None
    roi: float | None = None


def kpis(t: Totals, *, booked: Decimal | None = None, customers: Decimal | None = None) -> KpiSet:
    """The KPIs of a set of totals. ROI and CAC use what attribution credited (`booked`
    revenue, `customers`), defaulting to the totals' attributed figures."""
    booked = t.attributed_revenue if booked is None else booked
    customers = t.attributed_customers if customers is None else customers
    spend = Decimal(t.spend)
    return KpiSet(
        ctr=t.clicks / t.impressions if t.impressions else None,
        cpc=cents(spend / t.clicks) if t.clicks and spend else None,
        cpa=cents(spend / _dec(t.conversions)) if t.conversions and spend else None,
        roas=float(t.reported_revenue / spend) if spend else None,
        cac=cents(spend / customers) if customers and spend else None,
        roi=float((booked - spend) / spend) if spend else None,
    )


def roi(revenue: Decimal, spend: Decimal) -> float | None:
    """(revenue - spend) / spend: 0.5 is a 50% return, -1 is everything lost."""
    return float((Decimal(revenue) - Decimal(spend)) / Decimal(spend)) if spend else None


def change(current: float | Decimal | None, previous: float | Decimal | None) -> float | None:
    """Relative change from `previous` to `current` (0.25 = +25%); None when there is no base."""
    if current is None or previous is None or previous == 0:
        return None
    return float((_dec(current) - _dec(previous)) / _dec(previous))


class Breakdown(BaseModel):
    """One row of a report table: a channel, or a campaign on a channel."""

    channel: str
    campaign: str | None = None
    totals: Totals
    kpis: KpiSet


def breakdown(
    facts: Iterable[Fact],
    *,
    by: Literal["channel", "campaign"],
    credits: Credits | None = None,
) -> list[Breakdown]:
    """Totals and KPIs per channel (or per channel and campaign), with the attributed
    (conversions, customers, revenue) of `credits` keyed by (channel, campaign). CRM rows are
    kept out: their customers and revenue reach channels only through attribution.
    Sorted by spend, then reported revenue (highest first), then name."""
    groups: dict[tuple[str, str | None], list[Fact]] = defaultdict(list)
    for f in facts:
        if f.source == Source.HUBSPOT:
            continue
        groups[(f.channel, f.campaign if by == "campaign" else None)].append(f)
    credited: dict[tuple[str, str | None], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for (channel, campaign), values in (credits or {}).items():
        key = (channel, campaign if by == "campaign" else None)
        credited[key] = [a + b for a, b in zip(credited[key], values, strict=True)]
        groups.setdefault(key, [])
    rows = []
    for key, group in groups.items():
        t = totals(group)
        t.attributed_conversions, t.attributed_customers, t.attributed_revenue = credited.get(key, [Decimal(0)] * 3)
        rows.append(Breakdown(channel=key[0], campaign=key[1], totals=t, kpis=kpis(t)))
    return sorted(rows, key=lambda r: (-r.totals.spend, -r.totals.reported_revenue, r.channel, r.campaign or ""))


def daily(facts: Iterable[Fact]) -> dict[date, Totals]:
    """Totals per day, in day order."""
    days: dict[date, list[Fact]] = defaultdict(list)
    for f in facts:
        days[f.day].append(f)
    return {d: totals(days[d]) for d in sorted(days)}


# --- periods ------------------------------------------------------------------------------


class Period(BaseModel):
    """Calendar days `start` to `end`, both included (in the report's time zone)."""

    start: date
    end: date

    @field_validator("end")
    @classmethod
    def _ordered(cls, end: date, info: ValidationInfo) -> date:
        start = info.data.get("start")
        if start is not None and end < start:
            raise ValueError(f"from {start.isoformat()} is after to {end.isoformat()}")
        return end

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def label(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """[first midnight, the midnight after the last day) in `timezone`, as aware UTC."""
        tz = zone(timezone)
        start = datetime.combine(self.start, time(0), tz).astimezone(UTC)
        end = datetime.combine(self.end + timedelta(days=1), time(0), tz).astimezone(UTC)
        return start, end


def period_before(day: date, days: int) -> Period:
    """The `days` complete days before `day` (a weekly report run on a Monday covers the
    Monday to Sunday before it)."""
    if days < 1:
        raise ValueError("a period has at least one day")
    return Period(start=day - timedelta(days=days), end=day - timedelta(days=1))


# --- automation KPIs ----------------------------------------------------------------------


class Family(StrEnum):
    LEADS = "leads"
    CONTENT = "content"
    CAMPAIGNS = "campaigns"
    BUDGET = "budget"
    REPORTS = "reports"


# Workflow types of each process family.
FAMILY_TYPES: dict[Family, tuple[str, ...]] = {
    Family.LEADS: ("LeadJourney",),
    Family.CONTENT: ("Content",),
    Family.CAMPAIGNS: ("Campaign",),
    Family.BUDGET: ("BudgetReallocation",),
    Family.REPORTS: ("AnalyticsCollection", "ExecutiveReport"),
}
# Updates and signals that are a person acting on a run (a manual intervention): approval
# decisions, revisions, retractions, stops and sales decisions. Lead engagement events and
# unsubscribes come from the lead, not from staff, and do not count.
HUMAN_MESSAGES = frozenset({"decide", "revise", "retract", "stop", "sales_decision"})
# Activities that only tell people something (reminders): they do not end a wait for people.
NOTIFY_ACTIVITIES = frozenset({"chat.notify"})

RunStatus = Literal["running", "completed", "failed", "terminated", "timed_out", "canceled"]
FAILED: frozenset[str] = frozenset({"failed", "terminated", "timed_out", "canceled"})


class ActivitySpan(BaseModel):
    name: str
    scheduled: datetime
    closed: datetime | None = None  # None: still running
    attempts: int = 1
    failed: bool = False


class RunFacts(BaseModel):
    """One workflow run as the automation KPIs see it."""

    family: Family
    workflow_id: str
    status: RunStatus
    started: datetime
    closed: datetime | None = None
    human_messages: int = 0
    activities: int = 0
    retries: int = 0  # activity attempts beyond the first
    activity_failures: int = 0
    work_seconds: float = 0.0  # some activity running
    people_seconds: float = 0.0  # waiting for a person's decision

    @property
    def cycle_seconds(self) -> float | None:
        return (self.closed - self.started).total_seconds() if self.closed else None


def _union_seconds(spans: list[tuple[datetime, datetime]]) -> float:
    total, end = 0.0, None
    for start, stop in sorted(spans):
        if end is None or start > end:
            total += (stop - start).total_seconds()
            end = stop
        elif stop > end:
            total += (stop - end).total_seconds()
            end = stop
    return total


def time_split(
    started: datetime, until: datetime, spans: list[ActivitySpan], human_at: list[datetime]
) -> tuple[float, float]:
    """(working, waiting for people) seconds of a run from `started` to `until`.

    Working is the time some activity was running. Waiting for people is, for each
    person's message, the time since the run last did real work (the end of the last
    activity other than a notification, the previous message, or the start), minus any
    working time inside that gap: the ask went out, reminders may have followed, then
    someone decided.
    """
    intervals = [(s.scheduled, min(s.closed or until, until)) for s in spans if s.scheduled < until]
    work = _union_seconds([(a, b) for a, b in intervals if b > a])
    people = 0.0
    previous = started
    for at in sorted(h for h in human_at if started <= h <= until):
        real_ends = [
            min(s.closed, at)
            for s in spans
            if s.name not in NOTIFY_ACTIVITIES and s.closed is not None and s.closed <= at
        ]
        gap_start = max([previous, *real_ends])
        busy = _union_seconds([(max(a, gap_start), min(b, at)) for a, b in intervals if min(b, at) > max(a, gap_start)])
        people += max((at - gap_start).total_seconds() - busy, 0.0)
        previous = at
    return work, people


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class FamilyKpis(BaseModel):
    family: Family
    runs: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    no_touch_share: float | None = None  # completed runs with no manual intervention / completed runs
    error_rate: float | None = None  # failed / closed runs
    retry_rate: float | None = None  # activity retries / activities
    median_cycle_seconds: float | None = None  # closed runs
    p95_cycle_seconds: float | None = None
    work_seconds: float = 0.0
    people_seconds: float = 0.0
    other_seconds: float = 0.0  # timers and everything else (nurture waits, scheduled starts)

    @property
    def people_share(self) -> float | None:
        """Of the time runs were not idle on timers: the share spent waiting for people."""
        busy = self.work_seconds + self.people_seconds
        return self.people_seconds / busy if busy else None


def automation_kpis(runs: Iterable[RunFacts], *, now: datetime) -> list[FamilyKpis]:
    """Per process family (every family listed, even without runs): runs, the share of
    completed runs nobody had to touch, error and retry rates, median and p95 cycle time
    of closed runs, and where the time went (working, waiting for people, other)."""
    by_family: dict[Family, list[RunFacts]] = {f: [] for f in Family}
    for r in runs:
        by_family[r.family].append(r)
    out = []
    for family, group in by_family.items():
        k = FamilyKpis(family=family, runs=len(group))
        closed = [r for r in group if r.status != "running"]
        completed = [r for r in group if r.status == "completed"]
        k.running = len(group) - len(closed)
        k.completed, k.failed = len(completed), sum(1 for r in closed if r.status in FAILED)
        if completed:
            k.no_touch_share = sum(1 for r in completed if r.human_messages == 0) / len(completed)
        if closed:
            k.error_rate = k.failed / len(closed)
        activities = sum(r.activities for r in group)
        if activities:
            k.retry_rate = sum(r.retries for r in group) / activities
        cycles = [c for r in closed if (c := r.cycle_seconds) is not None]
        k.median_cycle_seconds, k.p95_cycle_seconds = percentile(cycles, 50), percentile(cycles, 95)
        for r in group:
            elapsed = ((r.closed or now) - r.started).total_seconds()
            k.work_seconds += r.work_seconds
            k.people_seconds += r.people_seconds
            k.other_seconds += max(elapsed - r.work_seconds - r.people_seconds, 0.0)
        out.append(k)
    return out


def duration_text(seconds: float | None) -> str:
    """`45s`, `12m`, `3.5h`, `2.1d` (or `-`)."""
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


# --- report data ---------------------------------------------------------------------------


class DayPoint(BaseModel):
    day: date
    spend: Decimal = Decimal(0)
    clicks: int = 0
    conversions: float = 0.0
    reported_revenue: Decimal = Decimal(0)
    booked_revenue: Decimal = Decimal(0)
    sessions: int = 0


class SourceFreshness(BaseModel):
    """Whether a source's data for the period is in the store."""

    source: str
    state: Literal["fresh", "stale", "missing"]
    days_loaded: int = 0
    days: int = 0
    violations: int = 0
    detail: str | None = None  # why it is stale, or the first schema violations


class BudgetMove(BaseModel):
    """A budget reallocation applied during the period."""

    at: datetime
    campaign_id: str
    workflow_id: str
    detail: str  # "meta_ads 80.00 EUR -> 70.00 EUR a day, ..."
    decided_by: list[str] = []


class AttributionRow(BaseModel):
    channel: str
    conversions: dict[str, Decimal] = {}  # model -> credited conversions
    revenue: dict[str, Decimal] = {}  # model -> credited booked revenue


HeadlineKind = Literal["money", "count", "ratio", "percent"]
Better = Literal["up", "down"]  # which way of the figure is good news


class Headline(BaseModel):
    name: str
    current: float | None
    previous: float | None
    change: float | None
    kind: HeadlineKind
    better: Better = "up"


class ReportData(BaseModel):
    """Everything a dashboard or an executive report shows, computed from the store."""

    title: str
    period: Period
    previous: Period
    currency: str
    timezone: str
    generated_at: datetime
    totals: Totals
    previous_totals: Totals
    kpis: KpiSet
    previous_kpis: KpiSet
    channels: list[Breakdown] = []
    campaigns: list[Breakdown] = []
    daily: list[DayPoint] = []
    attribution_model: str = "w_shaped"  # the model behind the channel table's conversions, customers, ROI
    attribution_models: list[str] = []
    attribution: list[AttributionRow] = []
    attributed_conversions: int = 0
    unattributed: int = 0
    leads: int = 0  # lead journeys created in the period
    automation: list[FamilyKpis] = []
    budget_moves: list[BudgetMove] = []
    sources: list[SourceFreshness] = []
    funnels: list[Funnel] = []  # per journey version, its steps (every lead collected, not only the period's)

    def headlines(self) -> list[Headline]:
        t, p, k, pk = self.totals, self.previous_totals, self.kpis, self.previous_kpis

        def h(
            name: str,
            cur: float | Decimal | None,
            prev: float | Decimal | None,
            kind: HeadlineKind,
            better: Better = "up",
        ) -> Headline:
            now = None if cur is None else float(cur)
            before = None if prev is None else float(prev)
            return Headline(
                name=name, current=now, previous=before, change=change(now, before), kind=kind, better=better
            )

        return [
            h("Spend", t.spend, p.spend, "money", "down"),
            h("Clicks", t.clicks, p.clicks, "count"),
            h("Conversions", t.conversions, p.conversions, "count"),
            h("CPA", k.cpa, pk.cpa, "money", "down"),
            h("ROAS", k.roas, pk.roas, "ratio"),
            h("Won deals", t.customers, p.customers, "count"),
            h("Booked revenue", t.booked_revenue, p.booked_revenue, "money"),
            h("ROI", k.roi, pk.roi, "percent"),
        ]

    def ranked_campaigns(self) -> list[Breakdown]:
        """Campaigns with spend, best ROAS first (no revenue counts as 0; ties by name)."""
        spent = [c for c in self.campaigns if c.totals.spend > 0]
        return sorted(spent, key=lambda c: (-(c.kpis.roas or 0.0), c.channel, c.campaign or ""))

    def top_campaigns(self, n: int = 3) -> list[Breakdown]:
        """The best `n` (at most the better half, so no campaign is both top and bottom)."""
        ranked = self.ranked_campaigns()
        return ranked[: min(n, (len(ranked) + 1) // 2)]

    def bottom_campaigns(self, n: int = 3) -> list[Breakdown]:
        """The worst `n` of those not in the top, worst first."""
        ranked = self.ranked_campaigns()
        rest = ranked[len(self.top_campaigns(n)) :]
        return list(reversed(rest[-n:])) if rest else []


def freshness(
    sources: Iterable[str],
    period: Period,
    loaded: dict[str, set[date]],
    violations: dict[str, int],
    stale: dict[str, str],
) -> list[SourceFreshness]:
    """Per source: stale (the last collection failed; `stale` says why), missing days, or fresh."""
    out = []
    for source in sources:
        days = loaded.get(source, set())
        have = sum(1 for d in period.dates() if d in days)
        state: Literal["fresh", "stale", "missing"] = "fresh"
        detail = None
        if source in stale:
            state, detail = "stale", stale[source]
        elif have < period.days:
            state, detail = "missing", f"{period.days - have} of {period.days} days not collected"
        out.append(
            SourceFreshness(
                source=source,
                state=state,
                days_loaded=have,
                days=period.days,
                violations=violations.get(source, 0),
                detail=detail,
            )
        )
    return out


def report_data(
    *,
    title: str,
    period: Period,
    currency: str,
    timezone: str,
    generated_at: datetime,
    facts: list[Fact],
    previous_facts: list[Fact],
    credits: Credits | None = None,
    previous_credits: Credits | None = None,
    attribution_model: str = "w_shaped",
    attribution_models: list[str] | None = None,
    attribution: list[AttributionRow] | None = None,
    attributed_conversions: int = 0,
    unattributed: int = 0,
    leads: int = 0,
    automation: list[FamilyKpis] | None = None,
    budget_moves: list[BudgetMove] | None = None,
    sources: list[SourceFreshness] | None = None,
) -> ReportData:
    """Assemble report data from the period's facts (and the previous period's, for the
    changes) and what attribution credited (`credits`: (channel, campaign) -> (conversions,
    customers, booked revenue)). The overall ROI and CAC use the CRM's booked revenue and
    won deals; per channel they use what attribution credited the channel."""

    def with_credits(f: list[Fact], c: Credits | None) -> Totals:
        t = totals(f)
        for conv, customers, revenue in (c or {}).values():
            t.attributed_conversions += conv
            t.attributed_customers += customers
            t.attributed_revenue += revenue
        return t

    current, previous = with_credits(facts, credits), with_credits(previous_facts, previous_credits)
    points = []
    for day, t in daily(facts).items():
        points.append(
            DayPoint(
                day=day,
                spend=t.spend,
                clicks=t.clicks,
                conversions=t.conversions,
                reported_revenue=t.reported_revenue,
                booked_revenue=t.booked_revenue,
                sessions=t.sessions,
            )
        )
    seen = {p.day for p in points}
    points += [DayPoint(day=d) for d in period.dates() if d not in seen]
    return ReportData(
        title=title,
        period=period,
        previous=period.previous(),
        currency=currency,
        timezone=timezone,
        generated_at=generated_at,
        totals=current,
        previous_totals=previous,
        kpis=kpis(current, booked=current.booked_revenue, customers=Decimal(current.customers)),
        previous_kpis=kpis(previous, booked=previous.booked_revenue, customers=Decimal(previous.customers)),
        channels=breakdown(facts, by="channel", credits=credits),
        campaigns=breakdown(facts, by="campaign", credits=credits),
        daily=sorted(points, key=lambda p: p.day),
        attribution_model=attribution_model,
        attribution_models=attribution_models or [],
        attribution=attribution or [],
        attributed_conversions=attributed_conversions,
        unattributed=unattributed,
        leads=leads,
        automation=automation or [],
        budget_moves=budget_moves or [],
        sources=sources or [],
    )
