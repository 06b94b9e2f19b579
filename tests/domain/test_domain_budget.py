import math
import random
from decimal import ROUND_HALF_UP, Decimal

import pytest
from pydantic import ValidationError

from domain.budget import ChannelPerformance, Move, Proposal, changed, propose
from domain.campaigns import ChannelKind, ReallocationRules

META, GOOGLE = ChannelKind.META_ADS, ChannelKind.GOOGLE_ADS
EMAIL, LINKEDIN, PAGE = ChannelKind.EMAIL, ChannelKind.LINKEDIN, ChannelKind.LANDING_PAGE
RULES = ReallocationRules()


def perf(channel, spend="240", clicks=300, conversions=6.0, revenue="0") -> ChannelPerformance:
    return ChannelPerformance(
        channel=channel, spend=Decimal(spend), clicks=clicks, conversions=conversions, revenue=Decimal(revenue)
    )


def run(current, performance, rules=RULES, metric="cpa", currency="EUR") -> Proposal:
    return propose(current, {p.channel: p for p in performance}, rules, metric=metric, currency=currency)


# CPA 20.00 on Meta, 40.00 on Google.
GOOD_META = perf(META, conversions=12)
POOR_GOOGLE = perf(GOOGLE, conversions=6)


def test_moves_the_step_from_the_worse_to_the_better_channel():
    p = run({META: 10000, GOOGLE: 10000}, [GOOD_META, POOR_GOOGLE])
    # Total 200.00 a day: step 20% = 40.00, floor 10% = 20.00, cap 80% = 160.00.
    assert p.proposed == {GOOGLE: 6000, META: 14000}
    assert p.moves == [Move(source=GOOGLE, target=META, amount_minor=4000)]
    assert (p.moved_minor, p.moved_pct, p.metric, p.action) == (4000, Decimal("20.00"), "cpa", "approval")
    assert changed(p) == {GOOGLE: 6000, META: 14000}
    assert p.reasons == [
        "CPA over the last 7 days, best first: meta_ads 20.00 EUR (12 conversions from 240.00 EUR), "
        "google_ads 40.00 EUR (6 conversions from 240.00 EUR)",
        "google_ads gets 40.00 EUR a day less (100.00 EUR -> 60.00 EUR): CPA 40.00 EUR, worse than meta_ads (20.00 EUR)",
        "meta_ads gets 40.00 EUR a day more (100.00 EUR -> 140.00 EUR): CPA 20.00 EUR, better than google_ads (40.00 EUR)",
        "the move is limited to 20% of the daily total per run (40.00 EUR)",
        "moves 40.00 EUR a day, 20.00% of the daily total of 200.00 EUR: needs approval "
        "(only changes up to 5% apply automatically)",
    ]


def test_small_moves_apply_automatically():
    p = run({META: 10000, GOOGLE: 10000}, [GOOD_META, POOR_GOOGLE], ReallocationRules(max_step_pct=Decimal(5)))
    assert (p.moved_minor, p.moved_pct, p.action) == (1000, Decimal("5.00"), "auto")  # 5% is "up to 5%"
    assert p.reasons[-1] == (
        "moves 10.00 EUR a day, 5.00% of the daily total of 200.00 EUR: applies automatically "
        "(changes up to 5% need no approval)"
    )
    just_over = run({META: 10000, GOOGLE: 10001}, [GOOD_META, POOR_GOOGLE], ReallocationRules(max_step_pct=Decimal(5)))
    # 5% of 200.01 is 10.0005 -> 10.00 moves, which is under 5%.
    assert (just_over.moved_minor, just_over.action) == (1000, "auto")
    raised = run(
        {META: 10000, GOOGLE: 10000}, [GOOD_META, POOR_GOOGLE], ReallocationRules(auto_apply_under_pct=Decimal(20))
    )
    assert (raised.moved_pct, raised.action) == (Decimal("20.00"), "auto")
    nineteen = run(
        {META: 10000, GOOGLE: 10000}, [GOOD_META, POOR_GOOGLE], ReallocationRules(auto_apply_under_pct=Decimal("19.99"))
    )
    assert nineteen.action == "approval"


def test_the_cap_limits_the_move():
    p = run({META: 15000, GOOGLE: 5000}, [GOOD_META, POOR_GOOGLE])
    assert p.proposed == {GOOGLE: 4000, META: 16000}  # meta stops at 80% of 200.00
    assert (p.moved_minor, p.moved_pct, p.action) == (1000, Decimal("5.00"), "auto")
    assert "meta_ads is at the cap of 80% (160.00 EUR a day)" in p.reasons


def test_the_floor_limits_the_move():
    p = run({META: 6000, GOOGLE: 4000}, [GOOD_META, POOR_GOOGLE], ReallocationRules(floor_pct=Decimal(30)))
    # Total 100.00: floor 30.00, so google gives 10.00 of the 20.00 step.
    assert p.proposed == {GOOGLE: 3000, META: 7000}
    assert "google_ads is at the floor of 30% (30.00 EUR a day)" in p.reasons
    assert not any(r.startswith("the move is limited") for r in p.reasons)


def test_channels_already_outside_floor_or_cap_are_not_pushed_further():
    over_cap = run({META: 17000, GOOGLE: 3000}, [GOOD_META, POOR_GOOGLE])
    assert (over_cap.action, over_cap.proposed) == ("none", {GOOGLE: 3000, META: 17000})
    assert over_cap.reasons[-1] == "nothing moves: meta_ads is at the cap of 80% (160.00 EUR a day)"
    under_floor = run({META: 10000, GOOGLE: 800, LINKEDIN: 9200}, [GOOD_META, POOR_GOOGLE, perf(LINKEDIN, clicks=5)])
    assert (under_floor.action, under_floor.moved_minor) == ("none", 0)
    assert under_floor.reasons[-1] == "nothing moves: google_ads is at the floor of 10% (20.00 EUR a day)"
    # The worse channel is over the cap: moving budget away from it is fine (and brings it back in).
    back = run({META: 1000, GOOGLE: 19000}, [GOOD_META, POOR_GOOGLE])
    assert back.proposed == {GOOGLE: 15000, META: 5000}


def test_the_step_rounds_down_to_the_minor_unit():
    p = run({META: 500, GOOGLE: 499}, [GOOD_META, POOR_GOOGLE], ReallocationRules(floor_pct=Decimal(0)))
    assert p.moved_minor == 199  # 20% of 9.99 EUR = 1.998
    jpy = run({META: 5000, GOOGLE: 4999}, [GOOD_META, POOR_GOOGLE], currency="JPY")
    assert jpy.moved_minor == 1999 and "moves 1,999 JPY a day" in jpy.reasons[-1]


@pytest.mark.parametrize(
    ("google", "reason"),
    [
        (perf(GOOGLE, clicks=12), "not enough data: google_ads has 12 clicks, needs 100"),
        (perf(GOOGLE, spend="49.99"), "not enough data: google_ads has 49.99 EUR spend, needs 50.00 EUR"),
        (perf(GOOGLE, conversions=4.5), "not enough data: google_ads has 4.5 conversions, needs 5"),
        (
            perf(GOOGLE, spend="20", clicks=12),
            "not enough data: google_ads has 20.00 EUR spend, needs 50.00 EUR; 12 clicks, needs 100",
        ),
        (perf(GOOGLE, spend="0", conversions=0), "not enough data: google_ads has no spend; 0 conversions, needs 5"),
        (None, "not enough data: google_ads has no figures yet"),
    ],
)
def test_no_action_on_thin_data(google, reason):
    p = run({META: 10000, GOOGLE: 10000}, [GOOD_META] + ([google] if google else []))
    assert (p.action, p.proposed, p.moves, p.moved_minor) == ("none", {GOOGLE: 10000, META: 10000}, [], 0)
    assert p.reasons == [reason, "nothing moves: only meta_ads has enough data, and it takes two channels to compare"]
    assert changed(p) == {}


def test_channels_with_thin_data_keep_their_budget_while_others_move():
    p = run({META: 10000, GOOGLE: 10000, LINKEDIN: 10000}, [GOOD_META, POOR_GOOGLE, perf(LINKEDIN, clicks=5)])
    assert p.proposed[LINKEDIN] == 10000 and p.proposed[META] > 10000
    assert "not enough data: linkedin has 5 clicks, needs 100" in p.reasons


def test_no_action_when_the_improvement_is_too_small():
    p = run({META: 10000, GOOGLE: 10000}, [perf(META, spend="228", conversions=6), POOR_GOOGLE])  # 38 vs 40: 5%
    assert (p.action, p.moved_minor) == ("none", 0)
    assert p.reasons[-1] == (
        "nothing moves: meta_ads's CPA (38.00 EUR) is only 5.0% better than google_ads's (40.00 EUR); "
        "the rules ask for 10%"
    )
    assert (
        run(
            {META: 10000, GOOGLE: 10000},
            [perf(META, spend="228", conversions=6), POOR_GOOGLE],
            ReallocationRules(min_improvement_pct=Decimal(5)),
        ).action
        == "approval"
    )


def test_roas_moves_toward_the_higher_return():
    meta = perf(META, revenue="480")  # ROAS 2.00
    google = perf(GOOGLE, revenue="960")  # ROAS 4.00
    p = run({META: 10000, GOOGLE: 10000}, [meta, google], metric="roas")
    assert p.proposed == {GOOGLE: 14000, META: 6000} and p.metric == "roas"
    assert p.reasons[0] == (
        "ROAS over the last 7 days, best first: google_ads 4.00 (960.00 EUR revenue from 240.00 EUR), "
        "meta_ads 2.00 (480.00 EUR revenue from 240.00 EUR)"
    )
    # ROAS needs revenue, not conversions.
    no_revenue = run({META: 10000, GOOGLE: 10000}, [meta, perf(GOOGLE, conversions=0)], metric="roas")
    assert no_revenue.action == "none"
    assert no_revenue.reasons[0] == "not enough data: google_ads has no revenue to compute a ROAS from"
    few_conversions = run(
        {META: 10000, GOOGLE: 10000}, [meta, perf(GOOGLE, conversions=1, revenue="960")], metric="roas"
    )
    assert few_conversions.proposed == {GOOGLE: 14000, META: 6000}


def test_three_channels_worst_gives_first_then_the_next_worse():
    current = {META: 10000, GOOGLE: 10000, LINKEDIN: 10000}
    performance = [
        perf(META, conversions=24),
        perf(GOOGLE, conversions=12),
        perf(LINKEDIN, conversions=6),
    ]  # 10, 20, 40
    p = run(current, performance)
    assert p.proposed == {GOOGLE: 10000, LINKEDIN: 4000, META: 16000}  # the whole step (60.00) from the worst
    floor = run(current, performance, ReallocationRules(floor_pct=Decimal(25)))
    # Floor 75.00: linkedin gives 25.00, then google (still 50% worse than meta) gives 25.00; 10.00 of the step is left.
    assert floor.proposed == {GOOGLE: 7500, LINKEDIN: 7500, META: 15000}
    assert floor.moves == [
        Move(source=LINKEDIN, target=META, amount_minor=2500),
        Move(source=GOOGLE, target=META, amount_minor=2500),
    ]
    assert floor.moved_minor == 5000 and floor.moved_pct == Decimal("16.67")


def test_ties_are_broken_by_channel_name():
    current = {META: 10000, GOOGLE: 10000, LINKEDIN: 10000}
    performance = [perf(META, conversions=24), perf(GOOGLE, conversions=6), perf(LINKEDIN, conversions=6)]
    p = run(current, performance, ReallocationRules(max_step_pct=Decimal(5)))
    # google_ads and linkedin tie at 40.00: linkedin sorts last, so it is the "worst" and gives first.
    assert p.moves == [Move(source=LINKEDIN, target=META, amount_minor=1500)]


def test_no_budget_to_move():
    p = run({META: 0, GOOGLE: 0}, [GOOD_META, POOR_GOOGLE])
    assert p.action == "none" and p.reasons[-1] == "nothing moves: there is no daily budget to move"


def test_same_inputs_same_output():
    performance = [GOOD_META, POOR_GOOGLE, perf(LINKEDIN, conversions=9)]
    first = run({META: 10000, GOOGLE: 12345, LINKEDIN: 777}, performance)
    again = run({LINKEDIN: 777, GOOGLE: 12345, META: 10000}, list(reversed(performance)))
    assert first == again
    assert first.model_dump_json() == again.model_dump_json()
    assert Proposal.model_validate_json(first.model_dump_json()) == first


def test_a_proposal_must_keep_the_total():
    with pytest.raises(ValidationError, match="must add up to the same total"):
        Proposal(
            current={META: 100, GOOGLE: 100}, proposed={META: 150, GOOGLE: 51}, metric="cpa", reasons=[], action="auto"
        )
    with pytest.raises(ValidationError, match="same channels"):
        Proposal(current={META: 100}, proposed={GOOGLE: 100}, metric="cpa", reasons=[], action="auto")


# --- properties over many random inputs -------------------------------------------------------


def _eligible(p: ChannelPerformance | None, rules: ReallocationRules, metric: str) -> bool:
    if p is None or p.spend < rules.min_spend or p.spend <= 0 or p.clicks < rules.min_clicks:
        return False
    if metric == "cpa":
        return p.conversions >= max(rules.min_conversions, 1e-9)
    return p.revenue > 0


def _value(p: ChannelPerformance, metric: str) -> Decimal:
    return p.spend / Decimal(str(p.conversions)) if metric == "cpa" else p.revenue / p.spend


def test_invariants_over_random_inputs():
    rng = random.Random(20270301)
    kinds = list(ChannelKind)
    acted = 0
    for _ in range(1500):
        channels = rng.sample(kinds, rng.randint(1, len(kinds)))
        current = {c: rng.choice([0, rng.randint(1, 100), rng.randint(100, 60000)]) for c in channels}
        performance = {}
        for c in channels:
            if rng.random() < 0.85:
                performance[c] = perf(
                    c,
                    spend=str(Decimal(rng.randint(0, 200000)) / 100),
                    clicks=rng.randint(0, 2000),
                    conversions=rng.choice([0, rng.randint(0, 60), rng.randint(0, 600) / 10]),
                    revenue=str(Decimal(rng.choice([0, rng.randint(0, 900000)])) / 100),
                )
        floor = Decimal(rng.randint(0, 40))
        rules = ReallocationRules(
            floor_pct=floor,
            cap_pct=Decimal(rng.randint(int(floor) + 1, 100)),
            max_step_pct=Decimal(rng.randint(1, 100)),
            min_improvement_pct=Decimal(rng.choice([0, 5, 10, 30])),
            auto_apply_under_pct=Decimal(rng.choice([0, 5, 10, 50])),
            min_spend=Decimal(rng.choice([0, 50, 500])),
            min_clicks=rng.choice([0, 100, 500]),
            min_conversions=rng.choice([0, 5, 20]),
        )
        metric = rng.choice(["cpa", "roas"])
        p = propose(current, performance, rules, metric=metric, currency="EUR")
        total = sum(current.values())

        assert set(p.proposed) == set(current)
        assert sum(p.proposed.values()) == total  # exactly, in minor units
        assert all(v >= 0 for v in p.proposed.values())
        step = math.floor(Decimal(total) * rules.max_step_pct / 100)
        floor_minor = math.ceil(Decimal(total) * rules.floor_pct / 100)
        cap_minor = math.floor(Decimal(total) * rules.cap_pct / 100)
        assert p.moved_minor == sum(m.amount_minor for m in p.moves) <= step
        assert p.moved_minor == sum(max(0, p.proposed[c] - current[c]) for c in current)
        for c in current:
            if p.proposed[c] < current[c]:
                assert p.proposed[c] >= floor_minor  # never taken under the floor
            if p.proposed[c] > current[c]:
                assert p.proposed[c] <= cap_minor  # never pushed over the cap
            if p.proposed[c] != current[c]:
                assert _eligible(performance.get(c), rules, metric)  # thin data keeps its budget
        for move in p.moves:
            better, worse = _value(performance[move.target], metric), _value(performance[move.source], metric)
            assert better < worse if metric == "cpa" else better > worse
        if p.moved_minor == 0:
            assert p.action == "none" and p.moves == []
        else:
            acted += 1
            auto = p.moved_minor * 100 <= rules.auto_apply_under_pct * total
            assert p.action == ("auto" if auto else "approval")
            assert p.moved_pct == (Decimal(p.moved_minor) * 100 / total).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert p.reasons and all("\n" not in r for r in p.reasons)
        reordered = dict(reversed(list(current.items())))
        assert propose(reordered, performance, rules, metric=metric, currency="EUR") == p
    assert acted > 100  # the loop exercised real moves, not only refusals
