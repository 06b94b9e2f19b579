"""Budget reallocation: move daily budget from the paid channels that convert worse to the
ones that convert better, within the campaign's rules (domain.campaigns.ReallocationRules).

Pure and deterministic: integer minor units, the total is kept to the unit, ties are broken
by channel name. Whether a proposal applies on its own or waits for approval is decided
here too (`action`).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from domain.campaigns import ChannelKind, ReallocationRules
from domain.money import show

Metric = Literal["cpa", "roas"]


class ChannelPerformance(BaseModel):
    """A channel's figures over the lookback window."""

    channel: ChannelKind
    spend: Decimal
    clicks: int
    conversions: float
    revenue: Decimal


class Move(BaseModel):
    source: ChannelKind
    target: ChannelKind
    amount_minor: int = Field(gt=0)


class Proposal(BaseModel):
    """New daily budgets for the paid channels. A reallocation moves budget between them (same
    total); a pacing change (domain.pacing) raises or lowers the daily total to stay on plan."""

    current: dict[ChannelKind, int]  # daily budgets, minor units
    proposed: dict[ChannelKind, int]  # same channels; same total for a reallocation
    moves: list[Move] = []
    moved_minor: int = 0
    moved_pct: Decimal = Decimal(0)  # of the total daily budget, 2 decimals
    metric: Metric
    reasons: list[str]  # for people: why each channel gets more or less, or why nothing moves
    action: Literal["none", "auto", "approval"]
    kind: Literal["reallocation", "pacing"] = "reallocation"

    @model_validator(mode="after")
    def _balanced(self) -> Proposal:
        if set(self.current) != set(self.proposed):
            raise ValueError("proposed: must have the same channels as current")
        if self.kind == "reallocation" and sum(self.current.values()) != sum(self.proposed.values()):
            raise ValueError("proposed: must add up to the same total as current")
        if any(v < 0 for v in self.proposed.values()):
            raise ValueError("proposed: a daily budget cannot be negative")
        return self


def changed(proposal: Proposal) -> dict[ChannelKind, int]:
    """The proposed daily budgets of the channels whose budget changes."""
    return {k: v for k, v in proposal.proposed.items() if v != proposal.current.get(k)}


def _dec(value: float | int | Decimal) -> Decimal:
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def _count(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _pct(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _share_of(total: int, pct: Decimal, rounding: str) -> int:
    return int((Decimal(total) * pct / 100).to_integral_value(rounding=rounding))


def _shortfall(perf: ChannelPerformance | None, rules: ReallocationRules, metric: Metric, currency: str) -> str | None:
    """What data the channel lacks to be compared, or None when it has enough."""
    if perf is None:
        return "no figures yet"
    missing: list[str] = []
    if perf.spend <= 0:
        missing.append("no spend")
    elif perf.spend < rules.min_spend:
        missing.append(f"{show(perf.spend, currency)} spend, needs {show(rules.min_spend, currency)}")
    if perf.clicks < rules.min_clicks:
        missing.append(f"{perf.clicks:,} clicks, needs {rules.min_clicks:,}")
    if metric == "cpa" and (perf.conversions < rules.min_conversions or perf.conversions <= 0):
        missing.append(f"{_count(perf.conversions)} conversions, needs {max(rules.min_conversions, 1):,}")
    if metric == "roas" and perf.revenue <= 0:
        missing.append("no revenue to compute a ROAS from")
    return "; ".join(missing) or None


def _value(perf: ChannelPerformance, metric: Metric) -> Decimal:
    if metric == "cpa":
        return perf.spend / _dec(perf.conversions)
    return perf.revenue / perf.spend


def _improvement(better: Decimal, worse: Decimal, metric: Metric) -> Decimal:
    """How much better `better` is than `worse`, in percent of `worse` (CPA: cheaper; ROAS: higher)."""
    if worse == 0:
        return Decimal(0)
    return (worse - better) / worse * 100 if metric == "cpa" else (better - worse) / worse * 100


def _describe(perf: ChannelPerformance, metric: Metric, currency: str) -> str:
    if metric == "cpa":
        value = show(_value(perf, metric), currency)
        return f"{perf.channel} {value} ({_count(perf.conversions)} conversions from {show(perf.spend, currency)})"
    roas = _value(perf, metric)
    return f"{perf.channel} {roas:.2f} ({show(perf.revenue, currency)} revenue from {show(perf.spend, currency)})"


def _shown(perf: ChannelPerformance, metric: Metric, currency: str) -> str:
    value = _value(perf, metric)
    return show(value, currency) if metric == "cpa" else f"{value:.2f}"


def propose(
    current: dict[ChannelKind, int],
    performance: dict[ChannelKind, ChannelPerformance],
    rules: ReallocationRules,
    *,
    metric: Metric,
    currency: str,
) -> Proposal:
    """Propose new daily budgets (minor units) for the channels in `current`.

    Only channels with enough data over the lookback take part (min_spend, min_clicks, and
    min_conversions for CPA or some revenue for ROAS); at least two are needed. Budget moves
    only when the best channel beats the worst by min_improvement_pct, from the worst
    channels to the best, at most max_step_pct of the total daily budget per run, never
    taking a channel under floor_pct or over cap_pct of the total (a channel already
    outside them is not pushed further). Moves up to auto_apply_under_pct apply on their own.
    """
    channels = sorted(current, key=lambda k: k.value)
    before = {k: int(current[k]) for k in channels}
    total = sum(before.values())
    name = metric.upper()
    reasons: list[str] = []

    def nothing(reason: str) -> Proposal:
        return Proposal(current=before, proposed=dict(before), metric=metric, reasons=[*reasons, reason], action="none")

    eligible: list[ChannelKind] = []
    for channel in channels:
        missing = _shortfall(performance.get(channel), rules, metric, currency)
        if missing:
            reasons.append(f"not enough data: {channel} has {missing}")
        else:
            eligible.append(channel)
    if total <= 0:
        return nothing("nothing moves: there is no daily budget to move")
    if len(eligible) < 2:
        have = f"only {eligible[0]} has" if eligible else "no channel has"
        return nothing(f"nothing moves: {have} enough data, and it takes two channels to compare")

    values = {c: _value(performance[c], metric) for c in eligible}
    ranked = sorted(eligible, key=lambda c: (values[c] if metric == "cpa" else -values[c], c.value))
    reasons.append(
        f"{name} over the last {rules.lookback_days} days, best first: "
        + ", ".join(_describe(performance[c], metric, currency) for c in ranked)
    )
    best, worst = ranked[0], ranked[-1]
    gain = _improvement(values[best], values[worst], metric)
    if gain < rules.min_improvement_pct:
        return nothing(
            f"nothing moves: {best}'s {name} ({_shown(performance[best], metric, currency)}) is only "
            f"{gain:.1f}% better than {worst}'s ({_shown(performance[worst], metric, currency)}); "
            f"the rules ask for {_pct(rules.min_improvement_pct)}%"
        )

    step = _share_of(total, rules.max_step_pct, ROUND_FLOOR)
    floor = _share_of(total, rules.floor_pct, ROUND_CEILING)
    cap = _share_of(total, rules.cap_pct, ROUND_FLOOR)
    after = dict(before)
    moves: list[Move] = []
    limits: list[str] = []
    remaining, i, j = step, 0, len(ranked) - 1
    while remaining > 0 and i < j:
        target, source = ranked[i], ranked[j]
        if _improvement(values[target], values[source], metric) < rules.min_improvement_pct:
            break  # every pair left is closer than this one
        room_in, room_out = cap - after[target], after[source] - floor
        if room_in <= 0:
            limits.append(f"{target} is at the cap of {_pct(rules.cap_pct)}% ({show(cap, currency, minor=True)} a day)")
            i += 1
            continue
        if room_out <= 0:
            limits.append(
                f"{source} is at the floor of {_pct(rules.floor_pct)}% ({show(floor, currency, minor=True)} a day)"
            )
            j -= 1
            continue
        amount = min(remaining, room_in, room_out)
        after[target] += amount
        after[source] -= amount
        remaining -= amount
        moves.append(Move(source=source, target=target, amount_minor=amount))

    moved = step - remaining
    if moved == 0:
        why = "; ".join(limits) or f"{_pct(rules.max_step_pct)}% of the daily total is less than the smallest amount"
        return nothing(f"nothing moves: {why}")

    for channel in channels:
        delta = after[channel] - before[channel]
        if not delta:
            continue
        if delta > 0:
            others = [m.source for m in moves if m.target == channel]
            more, compared = "more", "better"
        else:
            others = [m.target for m in moves if m.source == channel]
            more, compared = "less", "worse"
        versus = ", ".join(f"{o} ({_shown(performance[o], metric, currency)})" for o in others)
        reasons.append(
            f"{channel} gets {show(abs(delta), currency, minor=True)} a day {more} "
            f"({show(before[channel], currency, minor=True)} -> {show(after[channel], currency, minor=True)}): "
            f"{name} {_shown(performance[channel], metric, currency)}, {compared} than {versus}"
        )
    reasons.extend(limits)
    if moved == step:
        reasons.append(
            f"the move is limited to {_pct(rules.max_step_pct)}% of the daily total per run "
            f"({show(step, currency, minor=True)})"
        )

    moved_pct = (Decimal(moved) * 100 / total).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    # Decided on the exact share, not the rounded one shown.
    action: Literal["auto", "approval"] = "auto" if moved * 100 <= rules.auto_apply_under_pct * total else "approval"
    summary = (
        f"moves {show(moved, currency, minor=True)} a day, {moved_pct}% of the daily total of "
        f"{show(total, currency, minor=True)}: "
    )
    if action == "auto":
        summary += f"applies automatically (changes up to {_pct(rules.auto_apply_under_pct)}% need no approval)"
    else:
        summary += f"needs approval (only changes up to {_pct(rules.auto_apply_under_pct)}% apply automatically)"
    reasons.append(summary)
    return Proposal(
        current=before,
        proposed=after,
        moves=moves,
        moved_minor=moved,
        moved_pct=moved_pct,
        metric=metric,
        reasons=reasons,
        action=action,
    )
