"""Availability counting: minutes per UTC day, missed checks split across days, the budget
and the burn rate against the objective."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain import availability as av

MINUTE = timedelta(minutes=1)
T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def test_a_late_check_is_not_a_miss_until_half_an_interval_late() -> None:
    assert av.missed_checks(T0, T0 + timedelta(seconds=89), MINUTE) == 0
    assert av.missed_checks(T0, T0 + timedelta(seconds=91), MINUTE) == 1
    assert av.missed_checks(T0, T0 + timedelta(minutes=10), MINUTE) == 9


def test_a_week_without_workers_is_counted_day_by_day() -> None:
    ledger = av.AvailabilityLedger()
    start = datetime(2026, 11, 10, 23, 0, tzinfo=UTC)
    missed = av.count_gap(ledger, start, start + timedelta(days=7, minutes=1), MINUTE)
    assert missed == 7 * 1440
    bad = {day: t[av.WORKERS].bad for day, t in ledger.days.items()}
    assert bad["2026-11-10"] == 59 and bad["2026-11-17"] == 1381 and sum(bad.values()) == missed
    assert all(bad[f"2026-11-{d}"] == 1440 for d in range(11, 17))


def test_budget_and_burn_against_the_objective() -> None:
    ledger = av.AvailabilityLedger()
    for i in range(1000):
        av.count(ledger, "hubspot", T0 + i * MINUTE, bad=1 if i == 999 else 0, total=1)
    now = T0 + 999 * MINUTE
    a = av.availability(ledger, "hubspot", now=now, window_days=30, objective=0.999)
    assert (a.minutes, a.bad_minutes, a.availability) == (1000, 1, 0.999) and a.met
    assert a.budget_minutes == 1.0 and a.budget_left_minutes == 0.0 and a.budget_left == 0.0
    # One bad minute in the last 60: 1/60 of the minutes, 16.7 times the 0.1 % allowed.
    assert a.burn_rate is not None and round(a.burn_rate, 1) == 16.7 and a.burn_rate >= av.FAST_BURN
    later = av.availability(ledger, "hubspot", now=now + timedelta(hours=2), window_days=30, objective=0.999)
    assert later.burn_rate is None, "nothing measured in the last hour"


def test_old_days_leave_the_window_and_the_ledger() -> None:
    ledger = av.AvailabilityLedger()
    av.count(ledger, "meta", T0 - timedelta(days=40), bad=1, total=1)
    av.count(ledger, "meta", T0, bad=0, total=1)
    assert av.availability(ledger, "meta", now=T0, window_days=30, objective=0.999).minutes == 1
    av.prune(ledger, T0.date())
    assert list(ledger.days) == ["2026-11-10"]
    assert av.components(ledger) == ["meta"]
