from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.campaigns import ChannelKind, Guardrails, KpiTargets
from domain.performance import ChannelFigures, DayFigures, Kpis, anomalies, kpis, pacing

META, GOOGLE = ChannelKind.META_ADS, ChannelKind.GOOGLE_ADS
D1, D2, D3, D4 = date(2027, 3, 1), date(2027, 3, 2), date(2027, 3, 3), date(2027, 3, 4)


def day(when: date, spend="0", impressions=0, clicks=0, conversions=0.0, revenue="0") -> DayFigures:
    return DayFigures(
        day=when,
        spend=Decimal(spend),
        impressions=impressions,
        clicks=clicks,
        conversions=conversions,
        revenue=Decimal(revenue),
    )


# --- KPIs ------------------------------------------------------------------------------------


def test_kpis():
    k = kpis(spend=Decimal("100"), impressions=10_000, clicks=200, conversions=4, revenue=Decimal("350"))
    assert k == Kpis(ctr=0.02, cpc=Decimal("0.50"), cpa=Decimal("25.00"), roas=3.5, conversion_rate=0.02)
    assert str(k.cpa) == "25.00"


def test_kpis_are_none_where_the_denominator_is_zero():
    assert kpis(spend=Decimal(0), impressions=0, clicks=0, conversions=0, revenue=Decimal(0)) == Kpis(
        ctr=None, cpc=None, cpa=None, roas=None, conversion_rate=None
    )
    # Spend without clicks or conversions: no CPC, no CPA (not zero, not infinite); ROAS is 0.
    k = kpis(spend=Decimal("80"), impressions=5000, clicks=0, conversions=0, revenue=Decimal(0))
    assert (k.ctr, k.cpc, k.cpa, k.roas, k.conversion_rate) == (0.0, None, None, 0.0, None)


def test_money_kpis_are_rounded_half_up_to_cents():
    k = kpis(spend=Decimal("100"), impressions=1, clicks=3, conversions=2.5, revenue=Decimal(0))
    assert (k.cpc, k.cpa) == (Decimal("33.33"), Decimal("40.00"))
    assert kpis(spend=Decimal("0.125"), impressions=1, clicks=1, conversions=0, revenue=Decimal(0)).cpc == Decimal(
        "0.13"
    )
    assert kpis(spend=Decimal("2"), impressions=1, clicks=3, conversions=0, revenue=Decimal(0)).cpc == Decimal("0.67")


def test_channel_figures_totals_and_windows():
    figures = ChannelFigures(
        channel=META,
        days=[
            day(D3, "30.50", 3000, 30, 1.5, "90"),
            day(D1, "10.25", 1000, 10, 0.5, "0"),
            day(D2, "20", 2000, 20, 1, "60"),
        ],
    )
    assert [d.day for d in figures.days] == [D1, D2, D3]  # kept in day order
    assert (figures.spend, figures.impressions, figures.clicks, figures.conversions, figures.revenue) == (
        Decimal("60.75"),
        6000,
        60,
        3.0,
        Decimal("150"),
    )
    assert [d.day for d in figures.since(D2).days] == [D2, D3]
    assert [d.day for d in figures.through(D2).days] == [D1, D2]
    assert figures.since(D4).days == [] and figures.since(D4).spend == 0
    assert figures.kpis() == Kpis(
        ctr=0.01,
        cpc=Decimal("1.01"),
        cpa=Decimal("20.25"),
        roas=float(Decimal(150) / Decimal("60.75")),
        conversion_rate=0.05,
    )
    with pytest.raises(ValidationError, match="2027-03-01 is listed twice"):
        ChannelFigures(channel=META, days=[day(D1), day(D1)])
    with pytest.raises(ValidationError):
        day(D1, spend="-1")


# --- pacing ----------------------------------------------------------------------------------

START, END = datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 3, 11, tzinfo=UTC)  # 10 days


def pace(spent: str, now: datetime, **kwargs):
    return pacing(total_budget=Decimal("1000"), start=START, end=END, spent=Decimal(spent), now=now, **kwargs)


def test_pacing_before_the_start():
    p = pace("0", datetime(2027, 2, 28, tzinfo=UTC))
    assert (p.status, p.planned_to_date, p.ratio, p.projected_total) == (
        "not_started",
        Decimal("0.00"),
        None,
        Decimal("0.00"),
    )
    assert pace("0", START).status == "not_started"


@pytest.mark.parametrize(
    ("spent", "status", "ratio", "projected"),
    [
        ("500", "on_track", 1.0, "1000.00"),
        ("545", "on_track", 1.09, "1090.00"),  # within the 10% tolerance
        ("560", "over", 1.12, "1120.00"),
        ("455", "on_track", 0.91, "910.00"),
        ("400", "under", 0.8, "800.00"),
        ("0", "under", 0.0, "0.00"),
    ],
)
def test_pacing_half_way(spent, status, ratio, projected):
    p = pace(spent, datetime(2027, 3, 6, tzinfo=UTC))
    assert p.planned_to_date == Decimal("500.00") and p.spent_to_date == Decimal(spent)
    assert p.status == status and p.ratio == pytest.approx(ratio) and p.projected_total == Decimal(projected)


def test_pacing_a_quarter_of_an_hour_in_and_with_a_tighter_tolerance():
    p = pace("1.20", datetime(2027, 3, 1, 0, 15, tzinfo=UTC))
    # 15 minutes of 10 days = 1/960 of the budget: 1.0416... planned.
    assert p.planned_to_date == Decimal("1.04") and p.projected_total == Decimal("1152.00") and p.status == "over"
    assert pace("545", datetime(2027, 3, 6, tzinfo=UTC), tolerance=0.05).status == "over"


def test_pacing_after_the_end():
    p = pace("980", datetime(2027, 3, 20, tzinfo=UTC))
    assert (p.planned_to_date, p.status, p.projected_total) == (Decimal("1000.00"), "on_track", Decimal("980.00"))
    assert p.ratio == pytest.approx(0.98)
    assert pace("1200", datetime(2027, 3, 20, tzinfo=UTC)).status == "over"
    assert pace("700", END).status == "under"


def test_pacing_needs_aware_times():
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        pace("1", datetime(2027, 3, 2))


# --- anomalies -------------------------------------------------------------------------------


def check(figures, *, budgets=None, targets=None, guardrails=None, live=None, through=D3, currency="EUR"):
    found = anomalies(
        figures=figures,
        daily_budgets=budgets if budgets is not None else {META: Decimal("100"), GOOGLE: Decimal("100")},
        kpis=targets or KpiTargets(),
        guardrails=guardrails or Guardrails(),
        live=live if live is not None else {META, GOOGLE},
        complete_through=through,
        currency=currency,
    )
    for anomaly in found:
        assert "\n" not in anomaly.detail
    return found


def test_spend_spike():
    figures = [
        ChannelFigures(
            channel=META,
            days=[
                day(D1, "150", 1000),
                day(D2, "151", 1000),
                day(D3, "90", 1000),
                day(D4, "500", 1000),
            ],
        )
    ]
    [spike] = check(figures)  # 150 is not over 1.5 x 100; D4 is not complete yet
    assert (spike.channel, spike.kind, spike.day, spike.hard) == (META, "spend_spike", D2, False)
    assert (
        spike.detail
        == "meta_ads spent 151.00 EUR on 2027-03-02, 1.51x its daily budget of 100.00 EUR (alert above 1.5x)"
    )
    [hard] = check(figures, guardrails=Guardrails(pause_on_spend_spike=True))
    assert hard.hard
    assert check(figures, guardrails=Guardrails(spend_spike_factor=2)) == []
    assert check(figures, budgets={}) == []  # no budget known: nothing to compare with
    assert [a.day for a in check(figures, through=D4)] == [D2, D4]


def test_zero_delivery():
    figures = [ChannelFigures(channel=GOOGLE, days=[day(D1, "5", 100), day(D2), day(D3)])]
    [zero] = check(figures)
    assert (zero.channel, zero.kind, zero.day, zero.hard) == (GOOGLE, "zero_delivery", D3, False)
    assert zero.detail == "google_ads had no impressions on 2027-03-03 while live"
    two = check(figures, guardrails=Guardrails(zero_delivery_days=2))
    assert [(a.kind, a.day) for a in two] == [("zero_delivery", D3)]
    assert two[0].detail == "google_ads had no impressions on 2 days (2027-03-02 to 2027-03-03) while live"
    assert check(figures, guardrails=Guardrails(zero_delivery_days=3)) == []  # D1 delivered
    assert check(figures, live={META}) == []  # paused channels are expected to be quiet
    assert check(figures, through=D2, guardrails=Guardrails(zero_delivery_days=2)) == []  # D3 is not complete yet


def test_zero_delivery_needs_rows_not_just_an_empty_history():
    # A channel that has had no complete day yet (or whose rows are missing) is not reported.
    assert check([ChannelFigures(channel=META)]) == []
    assert check([ChannelFigures(channel=META, days=[day(D4)])]) == []
    assert check([ChannelFigures(channel=META, days=[day(D3)])], guardrails=Guardrails(zero_delivery_days=2)) == []


def test_cpa_over_max_is_hard_and_needs_enough_conversions():
    rules = Guardrails(max_cpa=Decimal("40"))
    over = [ChannelFigures(channel=META, days=[day(D1, "90", 5000, 60, 2), day(D2, "60", 5000, 60, 1)])]
    [anomaly] = check(over, guardrails=rules, budgets={})
    assert (anomaly.kind, anomaly.hard, anomaly.day) == ("cpa_over_max", True, None)
    assert anomaly.detail == "meta_ads CPA 50.00 EUR (3 conversions from 150.00 EUR) is over the maximum of 40.00 EUR"
    # Two conversions are too few to judge a CPA of 500.
    thin = [ChannelFigures(channel=META, days=[day(D1, "1000", 5000, 60, 2)])]
    assert check(thin, guardrails=rules, budgets={}) == []
    assert check(over, guardrails=Guardrails(max_cpa=Decimal("50")), budgets={}) == []  # equal is not over


def test_cpa_over_max_without_any_conversion():
    rules = Guardrails(max_cpa=Decimal("40"))
    almost = [ChannelFigures(channel=GOOGLE, days=[day(D1, "79.99", 5000, 60)])]
    assert check(almost, guardrails=rules, budgets={}) == []
    burnt = [ChannelFigures(channel=GOOGLE, days=[day(D1, "80", 5000, 60)])]
    [anomaly] = check(burnt, guardrails=rules, budgets={})
    assert (anomaly.kind, anomaly.hard) == ("cpa_over_max", True)
    assert anomaly.detail == (
        "google_ads spent 80.00 EUR without a conversion, at least twice the maximum CPA of 40.00 EUR"
    )


def test_cpa_over_target_is_soft_and_gives_way_to_the_maximum():
    figures = [ChannelFigures(channel=META, days=[day(D1, "120", 5000, 60, 3)])]  # CPA 40
    [anomaly] = check(figures, targets=KpiTargets(target_cpa=Decimal("30")), budgets={})
    assert (anomaly.kind, anomaly.hard) == ("cpa_over_target", False)
    assert anomaly.detail == "meta_ads CPA 40.00 EUR (3 conversions from 120.00 EUR) is over the target of 30.00 EUR"
    thin = [ChannelFigures(channel=META, days=[day(D1, "120", 5000, 60, 2)])]
    assert check(thin, targets=KpiTargets(target_cpa=Decimal("30")), budgets={}) == []
    both = check(
        figures, targets=KpiTargets(target_cpa=Decimal("30")), guardrails=Guardrails(max_cpa=Decimal("35")), budgets={}
    )
    assert [a.kind for a in both] == ["cpa_over_max"]
    # Without a currency the figures are still named.
    [plain] = check(figures, targets=KpiTargets(target_cpa=Decimal("30")), budgets={}, currency=None)
    assert plain.detail == "meta_ads CPA 40.00 (3 conversions from 120.00) is over the target of 30.00"


def test_ctr_under_min_needs_a_thousand_impressions():
    targets = KpiTargets(min_ctr=0.01)
    few = [ChannelFigures(channel=META, days=[day(D1, "10", 999, 0)])]
    assert check(few, targets=targets, budgets={}) == []
    low = [ChannelFigures(channel=META, days=[day(D1, "10", 600, 2), day(D2, "10", 400, 3)])]
    [anomaly] = check(low, targets=targets, budgets={})
    assert (anomaly.kind, anomaly.hard, anomaly.day) == ("ctr_under_min", False, None)
    assert anomaly.detail == "meta_ads CTR 0.50% (5 clicks from 1,000 impressions) is under the minimum of 1.00%"
    fine = [ChannelFigures(channel=META, days=[day(D1, "10", 1000, 10)])]
    assert check(fine, targets=targets, budgets={}) == []


def test_anomalies_are_ordered_by_channel_kind_and_day():
    figures = [
        ChannelFigures(channel=META, days=[day(D1, "200", 5000, 10), day(D2, "300", 0), day(D3, "0", 0)]),
        ChannelFigures(channel=GOOGLE, days=[day(D1, "250", 0), day(D2, "0", 0), day(D3, "0", 0)]),
    ]
    found = check(figures, targets=KpiTargets(min_ctr=0.01), guardrails=Guardrails(max_cpa=Decimal("100")))
    assert [(a.channel.value, a.kind, a.day) for a in found] == [
        ("google_ads", "cpa_over_max", None),
        ("google_ads", "spend_spike", D1),
        ("google_ads", "zero_delivery", D3),
        ("meta_ads", "cpa_over_max", None),
        ("meta_ads", "ctr_under_min", None),
        ("meta_ads", "spend_spike", D1),
        ("meta_ads", "spend_spike", D2),
        ("meta_ads", "zero_delivery", D3),
    ]
    assert found == check(
        list(reversed(figures)), targets=KpiTargets(min_ctr=0.01), guardrails=Guardrails(max_cpa=Decimal("100"))
    )
    assert len({a.key for a in found}) == len(found)
