"""Budget pacing: keep a live campaign's spend on a plan over its flight, and stop it before
the total is overrun.

Pure and deterministic: integer minor units, the campaign day and the spend are passed in.
Spend to date is every reported day, today included (a platform reports the day so far); a
new daily budget takes effect from tomorrow, so the plan for the days left starts there.

One decision per look (`decide`), in this order:

1. stop, when spend to date + one more day at the current daily budgets (or at the last
   reported day's spend, when that ran higher: platforms may overspend a daily budget)
   would exceed the total by more than one day's spend (the plan's average day, total //
   days), or when
   days are left and the budget left is below the sum of the live channels' platform
   minimum daily budgets;
2. otherwise, when pacing adjusts budgets (the campaign file has `pacing:`): the daily
   total that spends what is left over the days left along the curve, the change from
   today's total bounded by max_step_pct, nothing while within tolerance_pct; split
   between the channels as they are split now (so reallocation's floors and caps hold as
   they did), each at least its platform minimum. Up to auto_apply_under_pct of the daily
   total applies on its own; more waits for approval.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel

from domain.campaigns import ChannelKind, PacingCurve, PacingRules, ReallocationRules
from domain.money import show

PacingAction = Literal["none", "auto", "approval", "stop"]


def day_weights(days: int, curve: PacingCurve) -> list[int]:
    """The parts of the total each campaign day plans: even 1 each; front_loaded 2N-1-i for day i."""
    if days < 1:
        raise ValueError(f"a campaign has at least one day, got {days}")
    if curve == "even":
        return [1] * days
    return [2 * days - 1 - i for i in range(days)]


def planned_through(total_minor: int, days: int, curve: PacingCurve, count: int) -> int:
    """What the plan spends over the first `count` days (rounded down)."""
    weights = day_weights(days, curve)
    return total_minor * sum(weights[: max(0, min(count, days))]) // sum(weights)


class PacingDecision(BaseModel):
    """One look at the campaign's spend against its plan, with what follows from it."""

    day: date  # today, in the campaign's timezone
    day_number: int  # 1 = the first campaign day
    days: int  # campaign days in all
    days_left: int  # after today
    curve: PacingCurve
    total_minor: int
    planned_minor: int  # what the plan spends through today
    spent_minor: int  # what was spent through today
    variance_minor: int  # spent - planned: above 0 runs ahead of plan
    remaining_minor: int  # total - spent (below 0: over the total)
    day_allowance_minor: int  # one day's spend: the plan's average day
    current: dict[ChannelKind, int]  # the live paid channels' daily budgets now
    target_daily_minor: int | None = None  # the daily total that lands on plan (None: not computed)
    proposed: dict[ChannelKind, int]  # daily budgets from tomorrow (= current when nothing changes)
    change_minor: int = 0  # proposed total - current total
    change_pct: Decimal = Decimal(0)  # |change| in % of the current daily total, 2 decimals
    action: PacingAction
    reason: str  # one line for people


def _pct(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _split(
    total: int, current: dict[ChannelKind, int], minimums: dict[ChannelKind, int]
) -> tuple[dict[ChannelKind, int], list[ChannelKind]]:
    """`total` split as `current` is (rounded down; the units left go to the largest first),
    each raised to its platform minimum; and the channels so raised."""
    whole = sum(current.values())
    out = {k: total * v // whole for k, v in current.items()}
    left = total - sum(out.values())
    for k in sorted(current, key=lambda c: (-current[c], c.value))[:left]:
        out[k] += 1
    raised = sorted((k for k, v in out.items() if v < minimums.get(k, 0)), key=lambda c: c.value)
    return {k: max(v, minimums.get(k, 0)) for k, v in out.items()}, raised


def decide(
    *,
    total_minor: int,
    first_day: date,
    days: int,
    today: date,
    spent_minor: int,
    last_day_minor: int,
    current: dict[ChannelKind, int],
    minimums: dict[ChannelKind, int],
    pacing: PacingRules | None,
    reallocation: ReallocationRules,
    currency: str,
) -> PacingDecision:
    """The pacing decision for `today` (see the module docstring for the rules).

    `spent_minor` is every reported day's spend, `last_day_minor` today's; `current` holds
    the live paid channels' daily budgets (minor units), `minimums` their platform minimums;
    `pacing` None checks only the stop rule (budgets are never changed).
    """
    curve: PacingCurve = pacing.curve if pacing is not None else "even"
    index = min(max((today - first_day).days, 0), days - 1)
    days_left = days - 1 - index
    planned = planned_through(total_minor, days, curve, index + 1)
    remaining = total_minor - spent_minor
    allowance = total_minor // days
    daily = sum(current.values())

    def money(minor: int) -> str:
        return show(minor, currency, minor=True)

    sign = "+" if spent_minor >= planned else "-"
    facts = (
        f"day {index + 1} of {days}: spent {money(spent_minor)} of {money(total_minor)}, "
        f"planned {money(planned)} by today ({sign}{money(abs(spent_minor - planned))})"
    )

    def result(action: PacingAction, reason: str, **more: object) -> PacingDecision:
        return PacingDecision.model_validate(
            {
                "day": today,
                "day_number": index + 1,
                "days": days,
                "days_left": days_left,
                "curve": curve,
                "total_minor": total_minor,
                "planned_minor": planned,
                "spent_minor": spent_minor,
                "variance_minor": spent_minor - planned,
                "remaining_minor": remaining,
                "day_allowance_minor": allowance,
                "current": dict(current),
                "proposed": dict(current),
                "action": action,
                "reason": f"{facts}; {reason}",
                **more,
            }
        )

    next_day = max(daily, last_day_minor)
    projected = spent_minor + next_day
    if projected > total_minor + allowance:
        at = f"the current {money(daily)} a day" if next_day == daily else f"today's spend of {money(next_day)}"
        return result(
            "stop",
            f"stop: one more day at {at} makes {money(projected)}, over the total "
            f"by more than one day's spend ({money(allowance)})",
        )
    floor = sum(minimums.get(k, 0) for k in current)
    if days_left > 0 and current and remaining < floor:
        return result(
            "stop",
            f"stop: {money(max(remaining, 0))} left is below the platforms' minimum daily budgets "
            f"({money(floor)} a day)",
        )
    if pacing is None:
        return result("none", "budgets are not paced (no pacing section)")
    if days_left == 0:
        return result("none", "the last day: nothing left to pace")
    if daily <= 0:
        return result("none", "no live paid channel has a daily budget")
    weights = day_weights(days, curve)
    target = remaining * weights[index + 1] // sum(weights[index + 1 :])
    more = {"target_daily_minor": target}
    gap = target - daily
    if abs(gap) * 100 <= pacing.tolerance_pct * daily:
        return result(
            "none",
            f"the plan asks for {money(target)} a day, within {_pct(pacing.tolerance_pct)}% of the current "
            f"{money(daily)}: no change",
            **more,
        )
    step = int((daily * pacing.max_step_pct / 100).to_integral_value(rounding=ROUND_FLOOR))
    bounded = max(daily - step, min(daily + step, target))
    proposed, raised = _split(bounded, current, minimums)
    change = sum(proposed.values()) - daily
    if change == 0:
        return result("none", f"the plan asks for {money(target)} a day, but the platform minimums hold", **more)
    pct = (Decimal(abs(change)) * 100 / daily).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    limited = f", limited to {_pct(pacing.max_step_pct)}% a day" if bounded != target else ""
    at_minimum = f"; {', '.join(k.value for k in raised)} at the platform minimum" if raised else ""
    action: PacingAction = "auto" if abs(change) * 100 <= reallocation.auto_apply_under_pct * daily else "approval"
    applies = (
        f"applies automatically (changes up to {_pct(reallocation.auto_apply_under_pct)}% need no approval)"
        if action == "auto"
        else f"needs approval (only changes up to {_pct(reallocation.auto_apply_under_pct)}% apply automatically)"
    )
    return result(
        action,
        f"the plan asks for {money(target)} a day{limited}: {money(daily)} -> {money(sum(proposed.values()))} "
        f"a day from tomorrow ({'+' if change > 0 else '-'}{pct}%){at_minimum}; {applies}",
        proposed=proposed,
        change_minor=change,
        change_pct=pct,
        **more,
    )
