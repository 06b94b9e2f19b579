"""Attribution models against hand-computed paths: one touch, ties, the window and the
lookback, W-shaped milestones, exact splits, determinism, models side by side."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.attribution import (
    MODELS,
    AttributionError,
    Journey,
    Model,
    PathTouch,
    attribute,
    compare,
    parse_model,
    parse_models,
    split,
    stage_times,
    touch_channel,
    weights,
)
from domain.leads import LeadStage, Touch, Utm

D = Decimal


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


WINDOW = dict(start=at(1), end=at(31))


def touch(day: int, channel: str, campaign: str = "spring", hour: int = 0) -> PathTouch:
    return PathTouch(at=at(day, hour), channel=channel, campaign=campaign)


# meta (day 1) → email (3) → MQL (4) → google (5) → deal created (6) → email (7) → accepted (8)
PATH = Journey(
    lead_id="a",
    touches=[touch(1, "meta_ads"), touch(3, "email"), touch(5, "google_ads"), touch(7, "email")],
    mql_at=at(4),
    opportunity_at=at(6),
    converted_at=at(8),
    won_at=at(9),
    revenue=D("1000.00"),
)


def credited(model: Model, journeys=(PATH,), **kw) -> dict[str, tuple[Decimal, Decimal]]:
    result = attribute(list(journeys), model, **{**WINDOW, **kw})
    return {ch: (c.conversions, c.revenue) for ch, c in result.by_channel().items()}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (Model.FIRST_TOUCH, {"meta_ads": ("1", "1000.00")}),
        (Model.LAST_TOUCH, {"email": ("1", "1000.00")}),
        # 1/4 each; email has two touches
        (Model.LINEAR, {"meta_ads": ("0.25", "250.00"), "email": ("0.5", "500.00"), "google_ads": ("0.25", "250.00")}),
        # 40 first, 40 last, 20 shared by the two in between
        (Model.U_SHAPED, {"meta_ads": ("0.4", "400.00"), "email": ("0.5", "500.00"), "google_ads": ("0.1", "100.00")}),
        # first (meta) 30, lead creation = last touch before MQL on day 4 (email, day 3) 30,
        # opportunity = last touch before the deal on day 6 (google) 30, the rest (email, day 7) 10
        (Model.W_SHAPED, {"meta_ads": ("0.3", "300.00"), "email": ("0.4", "400.00"), "google_ads": ("0.3", "300.00")}),
    ],
)
def test_each_model_on_a_hand_computed_path(model: Model, expected: dict) -> None:
    assert credited(model) == {ch: (D(c), D(r)) for ch, (c, r) in expected.items()}


def test_time_decay_halves_per_half_life() -> None:
    # Ages at the conversion (day 8): 7, 5, 3, 1 days; half-life 2 days -> 2^-3.5, 2^-2.5, 2^-1.5, 2^-0.5
    raw = [2**-3.5, 2**-2.5, 2**-1.5, 2**-0.5]
    expected = [w / sum(raw) for w in raw]
    got = weights(Model.TIME_DECAY, PATH.touches, conversion_at=at(8), half_life=timedelta(days=2))
    assert [float(w) for w in got] == pytest.approx(expected, abs=1e-12)
    assert sum(got) == pytest.approx(D(1), abs=D("1e-20"))
    # The default (7 days) spreads the credit more evenly than a 2-day half-life.
    wide = weights(Model.TIME_DECAY, PATH.touches, conversion_at=at(8))
    assert wide[0] > got[0] and wide[-1] < got[-1]
    result = credited(Model.TIME_DECAY, half_life=timedelta(days=2))
    assert sum(c for c, _ in result.values()) == D(1) and sum(r for _, r in result.values()) == D("1000.00")


def test_a_one_touch_path_gets_everything_under_every_model() -> None:
    one = Journey(lead_id="b", touches=[touch(2, "webinar")], converted_at=at(2, 5), revenue=D("50"))
    for model in MODELS:
        assert credited(model, [one]) == {"webinar": (D(1), D("50.00"))}, model


def test_ties_keep_the_recorded_order_and_split_evenly() -> None:
    # Two touches at the same instant: the one recorded first is "first", the other "last".
    tied = Journey(lead_id="c", touches=[touch(2, "email", hour=9), touch(2, "linkedin", hour=9)], converted_at=at(3))
    assert credited(Model.FIRST_TOUCH, [tied]) == {"email": (D(1), D(0))}
    assert credited(Model.LAST_TOUCH, [tied]) == {"linkedin": (D(1), D(0))}
    decay = credited(Model.TIME_DECAY, [tied])
    assert decay["email"][0] == decay["linkedin"][0] == D("0.5")
    # A third that cannot split evenly: the leftover goes to the first of the equal shares.
    three = Journey(
        lead_id="d", touches=[touch(1, "a"), touch(2, "b"), touch(3, "c")], converted_at=at(4), revenue=D("100.00")
    )
    got = credited(Model.LINEAR, [three])
    assert got == {"a": (D("0.333334"), D("33.34")), "b": (D("0.333333"), D("33.33")), "c": (D("0.333333"), D("33.33"))}


def test_touches_out_of_order_are_attributed_in_time_order() -> None:
    shuffled = PATH.model_copy(update={"touches": [PATH.touches[2], PATH.touches[0], PATH.touches[3], PATH.touches[1]]})
    for model in MODELS:
        assert credited(model, [shuffled]) == credited(model), model


def test_paths_outside_the_window_and_the_lookback() -> None:
    before = PATH.model_copy(update={"lead_id": "early", "converted_at": at(1) - timedelta(seconds=1)})
    at_end = PATH.model_copy(update={"lead_id": "edge", "converted_at": at(31)})  # the end is excluded
    open_lead = PATH.model_copy(update={"lead_id": "open", "converted_at": None, "won_at": None})
    result = attribute([before, at_end, open_lead], Model.LINEAR, **WINDOW)
    assert result.conversions == 0 and result.credits == []

    # A touch after the conversion and one older than the lookback do not count.
    late = Journey(
        lead_id="late", touches=[touch(1, "old"), touch(10, "meta_ads"), touch(20, "after")], converted_at=at(12)
    )
    assert credited(Model.LINEAR, [late], lookback=timedelta(days=5)) == {"meta_ads": (D(1), D(0))}
    assert credited(Model.LINEAR, [late]) == {"old": (D("0.5"), D(0)), "meta_ads": (D("0.5"), D(0))}

    # A conversion whose touches are all too old is counted, and reported unattributed.
    stale = Journey(lead_id="stale", touches=[touch(1, "old")], converted_at=at(25))
    result = attribute([stale], Model.LINEAR, **WINDOW, lookback=timedelta(days=7))
    assert (result.conversions, result.unattributed, result.credits) == (1, 1, [])


def test_w_shaped_milestones_that_coincide_or_are_missing() -> None:
    # The first touch also made the lead an MQL: it holds two milestones (60%).
    same = PATH.model_copy(update={"mql_at": at(2)})
    assert credited(Model.W_SHAPED, [same]) == {
        "meta_ads": (D("0.6"), D("600.00")),
        "google_ads": (D("0.3"), D("300.00")),
        "email": (D("0.1"), D("100.00")),
    }
    # No opportunity known: the two milestones share 90%, the others 10%.
    no_deal = PATH.model_copy(update={"opportunity_at": None})
    assert credited(Model.W_SHAPED, [no_deal]) == {
        "meta_ads": (D("0.45"), D("450.00")),
        "email": (D("0.5"), D("500.00")),
        "google_ads": (D("0.05"), D("50.00")),
    }
    # Every touch is a milestone: nothing is left for "the others", the milestones share it all.
    three = Journey(
        lead_id="w",
        touches=[touch(1, "a"), touch(3, "b"), touch(5, "c")],
        mql_at=at(3),
        opportunity_at=at(5),
        converted_at=at(6),
    )
    assert credited(Model.W_SHAPED, [three]) == {
        "a": (D("0.333334"), D(0)),
        "b": (D("0.333333"), D(0)),
        "c": (D("0.333333"), D(0)),
    }


def test_u_shaped_two_touches_and_many() -> None:
    two = weights(Model.U_SHAPED, PATH.touches[:2], conversion_at=at(8))
    assert two == [D("0.5"), D("0.5")]
    six = [touch(i, f"c{i}") for i in range(1, 7)]
    w = weights(Model.U_SHAPED, six, conversion_at=at(8))
    assert w[0] == w[-1] == D("0.4") and all(x == D("0.05") for x in w[1:-1]) and sum(w) == 1


def test_same_inputs_same_outputs_whatever_the_order() -> None:
    journeys = [
        PATH.model_copy(update={"lead_id": f"l{i}", "converted_at": at(8 + i % 5), "revenue": D(i * 37)})
        for i in range(40)
    ]
    first = {m: attribute(journeys, m, **WINDOW) for m in MODELS}
    for seed in range(3):
        shuffled = journeys[:]
        random.Random(seed).shuffle(shuffled)
        for m in MODELS:
            assert attribute(shuffled, m, **WINDOW) == first[m], m
    total = first[Model.TIME_DECAY]
    assert sum(c.conversions for c in total.credits) == 40
    assert sum(c.revenue for c in total.credits) == total.revenue == sum(D(i * 37) for i in range(40))


def test_customers_and_won_deals_without_an_acceptance() -> None:
    won_only = Journey(lead_id="won", touches=[touch(2, "email")], won_at=at(10), revenue=D("70"))
    result = attribute(
        [won_only, PATH.model_copy(update={"won_at": None, "revenue": D(0)})], Model.LAST_TOUCH, **WINDOW
    )
    assert (result.conversions, result.customers, result.revenue) == (2, 1, D("70"))
    assert {c.channel: c.customers for c in result.credits} == {"email": D(1)}


def test_models_side_by_side() -> None:
    comparison = compare([PATH], [Model.FIRST_TOUCH, Model.LAST_TOUCH, Model.W_SHAPED], **WINDOW)
    rows = {r.channel: r for r in comparison.rows}
    assert comparison.models == [Model.FIRST_TOUCH, Model.LAST_TOUCH, Model.W_SHAPED]
    assert rows["meta_ads"].conversions == {Model.FIRST_TOUCH: D(1), Model.LAST_TOUCH: D(0), Model.W_SHAPED: D("0.3")}
    assert rows["email"].revenue[Model.LAST_TOUCH] == D("1000.00")
    assert comparison.rows[0].channel == "meta_ads"  # ordered by the first model's credit


def test_model_names_and_bad_input() -> None:
    assert parse_model("W-Shaped") == Model.W_SHAPED
    assert parse_models(["all"]) == list(MODELS)
    assert parse_models(["linear", "first_touch", "linear"]) == [Model.LINEAR, Model.FIRST_TOUCH]
    with pytest.raises(AttributionError, match=r"^model: unknown model 'markov' \(expected one of: first_touch"):
        parse_model("markov")
    with pytest.raises(AttributionError, match="^from: .* is after to"):
        attribute([PATH], Model.LINEAR, start=at(10), end=at(5))
    with pytest.raises(AttributionError, match="half_life"):
        attribute([PATH], Model.TIME_DECAY, **WINDOW, half_life=timedelta(0))


def test_exact_splits() -> None:
    assert split(D("10.00"), [D(1) / 3] * 3, D("0.01")) == [D("3.34"), D("3.33"), D("3.33")]
    assert split(D(0), [D("0.5"), D("0.5")], D("0.01")) == [D("0.00"), D("0.00")]


def test_channel_of_a_touch_and_stages_from_the_timeline() -> None:
    def t(kind: str, **utm) -> Touch:
        return Touch(at=at(1), kind=kind, utm=Utm(**utm) if utm else None)

    assert touch_channel(t("click", content="meta_ads", campaign="spring")) == ("meta_ads", "spring")
    assert touch_channel(t("click", medium="cpc", source="google")) == ("google_ads", "(none)")
    assert touch_channel(t("capture:webinar")) == ("webinar", "(none)")
    assert touch_channel(t("visit", source="Newsletter-X")) == ("newsletter-x", "(none)")
    timeline = [
        (at(1), "stage → qualifying"),
        (at(2), "stage → mql"),
        (at(3), "touch from event"),
        (at(4), "stage → sales_assigned"),
        (at(5), "stage → recycled"),
        (at(6), "stage → mql"),
    ]
    reached = stage_times(timeline)
    assert reached[LeadStage.MQL] == at(2) and reached[LeadStage.SALES_ASSIGNED] == at(4)
    assert LeadStage.CONVERTED not in reached
