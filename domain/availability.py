"""Availability per component and day, and the error budget left against an objective.

A component is a platform mops calls, the gateway, or mops' own workers. Each health check
(one a minute) counts one minute for every component it probed: good when the probe found no
problem, bad otherwise. The workers are measured by the checks themselves: a check runs only
when a worker runs it, so every check interval that passed without one is a bad minute for
`workers` (which also covers a Temporal server that was down). Days are UTC dates.

The budget: an objective of 99.9 % allows 0.1 % of the measured minutes to be bad. It burns
fast when the last hour's bad share is at least `FAST_BURN` times that allowance: 14.4 times
spends 2 % of a 30-day budget in one hour, the page threshold of the multiwindow burn-rate
alerts in Google's SRE workbook.

Pure: times are passed in.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel

WORKERS = "workers"
GATEWAY = "gateway"
FAST_BURN = 14.4
BURN_WINDOW = timedelta(hours=1)
KEEP_DAYS = 35


class Tally(BaseModel):
    good: int = 0
    bad: int = 0


class Minutes(BaseModel):
    """What one check (or one gap between checks) counted for a component."""

    at: datetime
    bad: int
    total: int


class AvailabilityLedger(BaseModel):
    days: dict[str, dict[str, Tally]] = {}  # "YYYY-MM-DD" -> component -> minutes
    recent: dict[str, list[Minutes]] = {}  # component -> the last hour's counts, for the burn rate
    burning: list[str] = []  # components whose fast-burn alert is out (one per episode)


class DayAvailability(BaseModel):
    day: str
    minutes: int
    bad_minutes: int
    availability: float | None


class ComponentAvailability(BaseModel):
    component: str
    window_days: int
    minutes: int
    bad_minutes: int
    availability: float | None  # None: nothing measured in the window
    objective: float
    budget_minutes: float  # bad minutes the objective allows over the measured ones
    budget_left_minutes: float
    budget_left: float | None  # share of the budget left (negative: overspent)
    burn_rate: float | None  # over the last hour, in multiples of the allowed rate
    met: bool
    days: list[DayAvailability]


def count(ledger: AvailabilityLedger, component: str, at: datetime, *, bad: int, total: int) -> None:
    """Count `total` minutes of `component` at `at`, `bad` of them bad."""
    tally = ledger.days.setdefault(at.date().isoformat(), {}).setdefault(component, Tally())
    tally.good += total - bad
    tally.bad += bad
    recent = ledger.recent.get(component, []) + [Minutes(at=at, bad=bad, total=total)]
    ledger.recent[component] = [m for m in recent if m.at > at - BURN_WINDOW]


def missed_checks(last: datetime, now: datetime, interval: timedelta) -> int:
    """Check intervals that passed between two checks without one (a late check is not a miss
    until it is half an interval late)."""
    return max(0, round((now - last) / interval) - 1)


def count_gap(ledger: AvailabilityLedger, last: datetime, now: datetime, interval: timedelta) -> int:
    """Count the checks missed between `last` and `now` as bad `workers` minutes, each on its
    own day; the number missed."""
    missed = missed_checks(last, now, interval)
    per_day: dict[date, int] = {}
    # Day by day, not minute by minute: a worker that was off for a week is 10,080 minutes.
    at, left = last + interval, missed
    while left > 0:
        day_end = datetime.combine(at.date() + timedelta(days=1), datetime.min.time(), tzinfo=at.tzinfo)
        n = min(left, max(1, -(-(day_end - at) // interval)))
        per_day[at.date()] = per_day.get(at.date(), 0) + n
        at, left = at + n * interval, left - n
    minutes = interval / timedelta(minutes=1)
    for day, n in per_day.items():
        tally = ledger.days.setdefault(day.isoformat(), {}).setdefault(WORKERS, Tally())
        tally.bad += round(n * minutes)
    if missed:
        recent_missed = min(missed, round(BURN_WINDOW / interval))
        ledger.recent[WORKERS] = [m for m in ledger.recent.get(WORKERS, []) if m.at > now - BURN_WINDOW] + [
            Minutes(at=now, bad=round(recent_missed * minutes), total=round(recent_missed * minutes))
        ]
    return missed


def prune(ledger: AvailabilityLedger, today: date, keep_days: int = KEEP_DAYS) -> None:
    oldest = (today - timedelta(days=keep_days)).isoformat()
    ledger.days = {d: v for d, v in ledger.days.items() if d > oldest}


def burn_rate(ledger: AvailabilityLedger, component: str, now: datetime, objective: float) -> float | None:
    """The last hour's bad share in multiples of what the objective allows; None when unmeasured."""
    recent = [m for m in ledger.recent.get(component, []) if m.at > now - BURN_WINDOW]
    total = sum(m.total for m in recent)
    if not total:
        return None
    return (sum(m.bad for m in recent) / total) / (1 - objective)


def availability(
    ledger: AvailabilityLedger, component: str, *, now: datetime, window_days: int, objective: float
) -> ComponentAvailability:
    """The component over the last `window_days` UTC days, today included."""
    first = (now.date() - timedelta(days=window_days - 1)).isoformat()
    days = []
    for day in sorted(d for d in ledger.days if d >= first):
        tally = ledger.days[day].get(component)
        if tally is None:
            continue
        minutes = tally.good + tally.bad
        days.append(
            DayAvailability(
                day=day,
                minutes=minutes,
                bad_minutes=tally.bad,
                availability=tally.good / minutes if minutes else None,
            )
        )
    minutes = sum(d.minutes for d in days)
    bad = sum(d.bad_minutes for d in days)
    budget = (1 - objective) * minutes
    return ComponentAvailability(
        component=component,
        window_days=window_days,
        minutes=minutes,
        bad_minutes=bad,
        availability=(minutes - bad) / minutes if minutes else None,
        objective=objective,
        budget_minutes=round(budget, 2),
        budget_left_minutes=round(budget - bad, 2),
        budget_left=round((budget - bad) / budget, 4) if budget else None,
        burn_rate=burn_rate(ledger, component, now, objective),
        met=not minutes or (minutes - bad) / minutes >= objective,
        days=days,
    )


def components(ledger: AvailabilityLedger) -> list[str]:
    """Every component measured in the ledger, mops' own first."""
    seen = {c for tallies in ledger.days.values() for c in tallies}
    own = [c for c in (WORKERS, GATEWAY) if c in seen]
    return own + sorted(seen - set(own))
