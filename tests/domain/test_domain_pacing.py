"""The pacing rule (domain/pacing.py) with exact numbers: a 3,000.00 EUR campaign over 30
days (one day's spend is 100.00 EUR), Meta at 60.00 and Google at 40.00 EUR a day."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.campaigns import ChannelKind, PacingRules, ReallocationRules
from domain.pacing import day_weights, decide, planned_through

META, GOOGLE = ChannelKind.META_ADS, ChannelKind.GOOGLE_ADS
FIRST = date(2030, 1, 1)
BUDGETS = {META: 6000, GOOGLE: 4000}
MINIMUMS = {META: 100, GOOGLE: 100}
RULES = ReallocationRules(auto_apply_under_pct=Decimal(5))


def on_day(number: int, spent: int, *, pacing: PacingRules | None = None, **more):
    args: dict[str, Any] = dict(
        total_minor=300_000,
        first_day=FIRST,
        days=30,
        today=FIRST + timedelta(days=number - 1),
        spent_minor=spent,
        last_day_minor=0,
        current=BUDGETS,
        minimums=MINIMUMS,
        pacing=pacing,
        reallocation=RULES,
        currency="EUR",
    )
    args.update(more)
    return decide(**args)


def test_the_curves():
    assert day_weights(3, "even") == [1, 1, 1]
    assert day_weights(3, "front_loaded") == [5, 4, 3]
    weights = day_weights(30, "front_loaded")
    assert (weights[0], weights[-1], sum(weights)) == (59, 30, 1335)
    assert planned_through(300_000, 30, "even", 10) == 100_000
    # The first half of a front-loaded flight plans 780 of 1,335 parts: 58.43%.
    assert planned_through(300_000, 30, "front_loaded", 15) == 175_280
    assert planned_through(300_000, 30, "front_loaded", 30) == 300_000
    with pytest.raises(ValueError, match="at least one day"):
        day_weights(0, "even")


def test_on_plan_without_a_pacing_section_only_watches_the_total():
    d = on_day(10, 100_000)
    assert (d.action, d.planned_minor, d.variance_minor, d.remaining_minor) == ("none", 100_000, 0, 200_000)
    assert (d.day_number, d.days_left, d.day_allowance_minor, d.proposed) == (10, 20, 10_000, BUDGETS)
    assert d.reason == (
        "day 10 of 30: spent 1,000.00 EUR of 3,000.00 EUR, planned 1,000.00 EUR by today (+0.00 EUR); "
        "budgets are not paced (no pacing section)"
    )


def test_running_hot_lowers_the_daily_total_and_needs_approval_above_the_threshold():
    d = on_day(10, 120_000, pacing=PacingRules())
    # 1,800.00 EUR left over 20 days: 90.00 a day, 10% less than today's 100.00.
    assert (d.target_daily_minor, d.proposed) == (9_000, {META: 5_400, GOOGLE: 3_600})
    assert (d.change_minor, d.change_pct, d.action, d.variance_minor) == (-1_000, Decimal("10.00"), "approval", 20_000)
    assert d.reason.endswith(
        "the plan asks for 90.00 EUR a day: 100.00 EUR -> 90.00 EUR a day from tomorrow (-10.00%); "
        "needs approval (only changes up to 5% apply automatically)"
    )


def test_a_small_change_applies_on_its_own_and_a_smaller_one_not_at_all():
    assert on_day(10, 104_000, pacing=PacingRules()).action == "none"  # 98.00 a day is within 5%
    d = on_day(10, 104_000, pacing=PacingRules(tolerance_pct=Decimal(1)))
    assert (d.target_daily_minor, d.proposed, d.change_pct, d.action) == (
        9_800,
        {META: 5_880, GOOGLE: 3_920},
        Decimal("2.00"),
        "auto",
    )
    assert "applies automatically (changes up to 5% need no approval)" in d.reason
    # Running cold raises the budgets the same way.
    up = on_day(10, 80_000, pacing=PacingRules(tolerance_pct=Decimal(1)))
    assert (up.target_daily_minor, up.proposed, up.action) == (11_000, {META: 6_600, GOOGLE: 4_400}, "approval")


def test_the_step_is_limited_per_day():
    d = on_day(10, 150_000, pacing=PacingRules())
    assert (d.target_daily_minor, d.proposed, d.change_pct) == (7_500, {META: 4_800, GOOGLE: 3_200}, Decimal("20.00"))
    assert "the plan asks for 75.00 EUR a day, limited to 20% a day: 100.00 EUR -> 80.00 EUR" in d.reason


def test_the_split_keeps_each_channel_at_its_platform_minimum():
    d = on_day(
        10,
        6_600,
        total_minor=9_000,
        current={META: 200, GOOGLE: 100},
        pacing=PacingRules(max_step_pct=Decimal(50)),
    )
    # 24.00 EUR left over 20 days asks for 1.20 a day; the step allows 1.50, split 1.00 / 0.50,
    # and Google cannot go below 1.00.
    assert (d.target_daily_minor, d.proposed, d.change_minor) == (120, {META: 100, GOOGLE: 100}, -100)
    assert "google_ads at the platform minimum" in d.reason and d.action == "approval"


def test_front_loaded_plans_less_for_each_later_day():
    planned = planned_through(300_000, 30, "front_loaded", 1)
    assert planned == 13_258  # 59 of 1,335 parts
    d = on_day(1, planned, current={META: 7_955, GOOGLE: 5_303}, pacing=PacingRules(curve="front_loaded"))
    # 2,867.42 EUR left over the 1,276 parts of days 2-30; day 2 has 58 of them.
    assert (d.planned_minor, d.target_daily_minor, d.action) == (13_258, 13_033, "none")


def test_stop_when_one_more_day_would_overrun_the_total_by_more_than_a_day():
    # On the last day (no minimum to keep): 3,100.00 after one more day still holds, a cent more does not.
    assert on_day(30, 300_000, pacing=PacingRules()).action == "none"
    d = on_day(30, 300_001, pacing=PacingRules())
    assert (d.action, d.remaining_minor, d.proposed) == ("stop", -1, BUDGETS)
    assert d.reason.endswith(
        "stop: one more day at the current 100.00 EUR a day makes 3,100.01 EUR, over the total by more than "
        "one day's spend (100.00 EUR)"
    )
    # A day that spent more than its budget counts as the next one.
    hot = on_day(20, 290_000, last_day_minor=25_000)
    assert hot.action == "stop" and "one more day at today's spend of 250.00 EUR makes 3,150.00 EUR" in hot.reason


def test_stop_when_what_is_left_is_below_the_platform_minimums():
    d = on_day(20, 299_850, pacing=PacingRules())
    assert d.action == "stop" and d.reason.endswith(
        "stop: 1.50 EUR left is below the platforms' minimum daily budgets (2.00 EUR a day)"
    )
    # On the last day nothing is left to pace, and nothing to stop for.
    last = on_day(30, 300_000, pacing=PacingRules())
    assert (last.action, last.days_left) == ("none", 0) and last.reason.endswith("the last day: nothing left to pace")
