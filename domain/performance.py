"""Campaign performance: daily figures per channel, KPIs, budget pacing and anomalies.

Pure: figures come from the ad platforms (via activities), time is passed in. Money is
`Decimal` in the campaign currency's major units; KPIs in money are rounded to 0.01.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from domain.campaigns import ChannelKind, Guardrails, KpiTargets
from domain.money import show

CENT = Decimal("0.01")
MIN_IMPRESSIONS_FOR_CTR = 1000  # fewer impressions say nothing about the click-through rate


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _dec(value: float | int | Decimal) -> Decimal:
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


class DayFigures(BaseModel):
    """One channel's figures for one day (the platform's reporting day)."""

    day: date
    spend: Decimal = Field(ge=0)
    impressions: int = Field(ge=0)
    clicks: int = Field(ge=0)
    conversions: float = Field(ge=0)  # platforms report fractional (modelled) conversions
    revenue: Decimal  # conversion value


class Kpis(BaseModel):
    ctr: float | None  # clicks / impressions
    cpc: Decimal | None  # spend / clicks
    cpa: Decimal | None  # spend / conversions
    roas: float | None  # revenue / spend
    conversion_rate: float | None  # conversions / clicks


def kpis(*, spend: Decimal, impressions: int, clicks: int, conversions: float, revenue: Decimal) -> Kpis:
    """The KPIs of a set of figures; each is None when its denominator is 0."""
    return Kpis(
        ctr=clicks / impressions if impressions else None,
        cpc=_cents(Decimal(spend) / clicks) if clicks else None,
        cpa=_cents(Decimal(spend) / _dec(conversions)) if conversions else None,
        roas=float(Decimal(revenue) / Decimal(spend)) if spend else None,
        conversion_rate=conversions / clicks if clicks else None,
    )


class ChannelFigures(BaseModel):
    """A channel's daily figures, in day order (one row per day)."""

    channel: ChannelKind
    days: list[DayFigures] = []

    @field_validator("days")
    @classmethod
    def _one_row_per_day(cls, days: list[DayFigures]) -> list[DayFigures]:
        ordered = sorted(days, key=lambda d: d.day)
        for before, after in zip(ordered, ordered[1:], strict=False):
            if before.day == after.day:
                raise ValueError(f"{after.day.isoformat()} is listed twice")
        return ordered

    @property
    def spend(self) -> Decimal:
        return sum((d.spend for d in self.days), Decimal(0))

    @property
    def impressions(self) -> int:
        return sum(d.impressions for d in self.days)

    @property
    def clicks(self) -> int:
        return sum(d.clicks for d in self.days)

    @property
    def conversions(self) -> float:
        return float(sum((_dec(d.conversions) for d in self.days), Decimal(0)))

    @property
    def revenue(self) -> Decimal:
        return sum((d.revenue for d in self.days), Decimal(0))

    def since(self, day: date) -> ChannelFigures:
        """The figures from `day` on (inclusive)."""
        return ChannelFigures(channel=self.channel, days=[d for d in self.days if d.day >= day])

    def through(self, day: date) -> ChannelFigures:
        """The figures up to `day` (inclusive)."""
        return ChannelFigures(channel=self.channel, days=[d for d in self.days if d.day <= day])

    def kpis(self) -> Kpis:
        return kpis(
            spend=self.spend,
            impressions=self.impressions,
            clicks=self.clicks,
            conversions=self.conversions,
            revenue=self.revenue,
        )


# --- pacing ------------------------------------------------------------------------------


class Pacing(BaseModel):
    planned_to_date: Decimal  # what a linear plan would have spent by now
    spent_to_date: Decimal
    ratio: float | None  # spent / planned; None before anything was planned
    projected_total: Decimal  # the total at the end if spending goes on at this rate
    status: Literal["not_started", "under", "on_track", "over"]


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def pacing(
    *, total_budget: Decimal, start: datetime, end: datetime, spent: Decimal, now: datetime, tolerance: float = 0.10
) -> Pacing:
    """Spend against a linear plan over [start, end): `over`/`under` when off by more than `tolerance`."""
    start, end, now = _aware(start, "start"), _aware(end, "end"), _aware(now, "now")
    spent = Decimal(spent)
    if now <= start:
        return Pacing(
            planned_to_date=Decimal("0.00"),
            spent_to_date=spent,
            ratio=None,
            projected_total=_cents(spent),
            status="not_started",
        )
    micro = timedelta(microseconds=1)
    duration = max(end - start, micro)
    fraction = Decimal((min(now, end) - start) // micro) / Decimal(duration // micro)
    planned = Decimal(total_budget) * fraction
    ratio = float(spent / planned) if planned else None
    if ratio is None:
        status: Literal["under", "on_track", "over"] = "over" if spent else "on_track"
    elif ratio > 1 + tolerance:
        status = "over"
    elif ratio < 1 - tolerance:
        status = "under"
    else:
        status = "on_track"
    return Pacing(
        planned_to_date=_cents(planned),
        spent_to_date=spent,
        ratio=ratio,
        projected_total=_cents(spent / fraction),
        status=status,
    )


# --- anomalies ---------------------------------------------------------------------------

AnomalyKind = Literal["spend_spike", "zero_delivery", "cpa_over_target", "cpa_over_max", "ctr_under_min"]


class Anomaly(BaseModel):
    channel: ChannelKind
    kind: AnomalyKind
    day: date | None = None  # None: over all the complete days given
    detail: str  # one line for people (chat alerts, the Web UI)
    hard: bool = False  # a hard rule: the channel is paused, not only reported

    @property
    def key(self) -> str:
        """Identifies the anomaly across checks, so it is told once."""
        return f"{self.channel.value}:{self.kind}:{self.day.isoformat() if self.day else '-'}"


def _money(amount: Decimal, currency: str | None) -> str:
    return show(amount, currency) if currency else f"{_cents(Decimal(amount)):,.2f}"


def _count(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _plural(value: float, word: str) -> str:
    return f"{_count(value)} {word}{'' if value == 1 else 's'}"


def _zero_delivery(figures: ChannelFigures, days: int) -> Anomaly | None:
    last = figures.days[-days:]
    if len(last) < days or any(d.impressions for d in last):
        return None
    when = last[0].day.isoformat() if days == 1 else f"{days} days ({last[0].day} to {last[-1].day})"
    return Anomaly(
        channel=figures.channel,
        kind="zero_delivery",
        day=last[-1].day,
        detail=f"{figures.channel} had no impressions on {when} while live",
    )


def _cpa_anomalies(
    figures: ChannelFigures, kpi_targets: KpiTargets, guardrails: Guardrails, currency: str | None
) -> list[Anomaly]:
    channel, spend, conversions = figures.channel, figures.spend, figures.conversions
    enough = conversions >= guardrails.min_conversions_for_cpa
    cpa = figures.kpis().cpa
    spent = f"{_plural(conversions, 'conversion')} from {_money(spend, currency)}"
    limit = guardrails.max_cpa
    if limit is not None:
        if enough and cpa is not None and cpa > limit:
            detail = f"{channel} CPA {_money(cpa, currency)} ({spent}) is over the maximum of {_money(limit, currency)}"
            return [Anomaly(channel=channel, kind="cpa_over_max", detail=detail, hard=True)]
        if conversions == 0 and spend >= 2 * limit:
            detail = (
                f"{channel} spent {_money(spend, currency)} without a conversion, at least twice the maximum CPA "
                f"of {_money(limit, currency)}"
            )
            return [Anomaly(channel=channel, kind="cpa_over_max", detail=detail, hard=True)]
    target = kpi_targets.target_cpa
    if target is not None and enough and cpa is not None and cpa > target:
        detail = f"{channel} CPA {_money(cpa, currency)} ({spent}) is over the target of {_money(target, currency)}"
        return [Anomaly(channel=channel, kind="cpa_over_target", detail=detail)]
    return []


def anomalies(
    *,
    figures: list[ChannelFigures],
    daily_budgets: dict[ChannelKind, Decimal],
    kpis: KpiTargets,
    guardrails: Guardrails,
    live: set[ChannelKind],
    complete_through: date,
    currency: str | None = None,
) -> list[Anomaly]:
    """What is wrong with the channels' complete days (<= complete_through); ordered by channel, kind, day.

    - spend_spike: a day's spend above spend_spike_factor x the channel's daily budget
      (hard when pause_on_spend_spike);
    - zero_delivery: a live channel's last zero_delivery_days rows all without impressions
      (days without a row do not count: give zero rows for live days the platform left out);
    - cpa_over_max (hard): CPA over max_cpa with at least min_conversions_for_cpa
      conversions, or no conversion at all for a spend of at least twice max_cpa;
    - cpa_over_target: CPA over target_cpa with enough conversions (not reported with cpa_over_max);
    - ctr_under_min: click-through rate under min_ctr over at least 1,000 impressions.

    `currency` (optional) names the money in `detail`.
    """
    found: list[Anomaly] = []
    for channel_figures in figures:
        complete = channel_figures.through(complete_through)
        channel = complete.channel
        budget = daily_budgets.get(channel)
        if budget is not None and budget > 0:
            factor = Decimal(str(guardrails.spend_spike_factor))
            for day in complete.days:
                if day.spend > factor * budget:
                    found.append(
                        Anomaly(
                            channel=channel,
                            kind="spend_spike",
                            day=day.day,
                            detail=(
                                f"{channel} spent {_money(day.spend, currency)} on {day.day}, "
                                f"{day.spend / budget:.2f}x its daily budget of {_money(budget, currency)} "
                                f"(alert above {guardrails.spend_spike_factor:g}x)"
                            ),
                            hard=guardrails.pause_on_spend_spike,
                        )
                    )
        if channel in live and (zero := _zero_delivery(complete, guardrails.zero_delivery_days)):
            found.append(zero)
        found.extend(_cpa_anomalies(complete, kpis, guardrails, currency))
        ctr, minimum = complete.kpis().ctr, kpis.min_ctr
        enough = complete.impressions >= MIN_IMPRESSIONS_FOR_CTR
        if minimum is not None and ctr is not None and enough and ctr < minimum:
            found.append(
                Anomaly(
                    channel=channel,
                    kind="ctr_under_min",
                    detail=(
                        f"{channel} CTR {ctr:.2%} ({_plural(complete.clicks, 'click')} from "
                        f"{complete.impressions:,} impressions) is under the minimum of {minimum:.2%}"
                    ),
                )
            )
    return sorted(found, key=lambda a: (a.channel.value, a.kind, a.day or date.min))
