import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from domain.journeys import load_journey
from domain.leads import EngagementEvent, EventType, LeadProfile, LeadSource
from domain.scoring import Score, ScoringModel, assign_segment, band, decayed, next_crossing, raw_engagement, score_lead

JOURNEYS = Path(__file__).resolve().parents[2] / "journeys"
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    return load_journey(JOURNEYS, "default-nurture").scoring


def profile(**overrides) -> LeadProfile:
    data = dict(email_domain="acme.example", source=LeadSource.WEB_FORM)
    data.update(overrides)
    return LeadProfile(**data)


def events(event_type: EventType, count: int, age: timedelta = timedelta(0)) -> list[EngagementEvent]:
    at = NOW - age
    return [
        EngagementEvent(event_id=f"{event_type}-{int(at.timestamp())}-{i}", type=event_type, at=at)
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("overrides", "rule", "points"),
    [
        ({"employees": 1000}, "fit:enterprise-size", 25),
        ({"employees": 200}, "fit:mid-market-size", 15),
        ({"employees": 999}, "fit:mid-market-size", 15),
        ({"industry": "Healthcare"}, "fit:target-industry", 10),
        ({"job_title": "Director of Demand Gen"}, "fit:senior-title", 15),
        ({"job_title": "VP Marketing"}, "fit:senior-title", 15),
        ({"source": LeadSource.REFERRAL}, "fit:referral-source", 5),
        ({"source": LeadSource.WEBINAR}, "fit:webinar-source", 10),
    ],
)
def test_each_fit_rule(model, overrides, rule, points):
    score = score_lead(model, profile(**overrides), [], NOW)
    assert [(r.rule, r.points) for r in score.reasons] == [(rule, points)]
    assert score.fit == score.total == points
    assert not score.disqualified


def test_no_fit_rule_matches_small_unknown_lead(model):
    score = score_lead(model, profile(employees=12, industry="Retail", job_title="Analyst"), [], NOW)
    assert (score.fit, score.engagement, score.total, score.reasons) == (0, 0, 0, [])


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"email_domain": "competitor.example"}, "Email domain belongs to a competitor"),
        ({"country": "KP"}, "Country is under trade embargo"),
    ],
)
def test_disqualify_blocks_mql_even_with_high_score(model, overrides, reason):
    lead = profile(employees=5000, industry="software", job_title="VP Sales", source=LeadSource.WEBINAR, **overrides)
    score = score_lead(model, lead, events(EventType.REPLY, 3), NOW)
    assert score.total >= model.mql_threshold
    assert score.disqualified and score.disqualify_reasons == [reason]
    assert score.mql is False


def test_decay_halves_at_half_life():
    assert decayed(10, timedelta(days=14), 14) == pytest.approx(5)
    assert decayed(10, timedelta(days=28), 14) == pytest.approx(2.5)
    assert decayed(10, timedelta(0), 14) == 10
    assert decayed(10, timedelta(days=-3), 14) == 10  # clock skew: a future event counts as fresh


def test_engagement_decays_and_is_explained_per_type(model):
    history = events(EventType.CLICK, 2) + events(EventType.CLICK, 1, timedelta(days=14)) + events(EventType.OPEN, 1)
    # Same event id twice (webhook redelivery) counts once.
    history.append(history[0])
    score = score_lead(model, profile(), history, NOW)
    assert score.engagement == pytest.approx(6 + 6 + 3 + 2)
    by_rule = {r.rule: r for r in score.reasons}
    assert list(by_rule) == ["engagement:open", "engagement:click"]  # enum order, not arrival order
    assert by_rule["engagement:click"].points == 15
    assert by_rule["engagement:click"].detail == "3 click(s), decayed"


def test_negative_and_zero_points(model):
    score = score_lead(model, profile(), events(EventType.BOUNCE, 1) + events(EventType.UNSUBSCRIBE, 1), NOW)
    assert score.engagement == -5
    assert [r.rule for r in score.reasons] == ["engagement:bounce"]


def test_engagement_is_capped_and_cap_is_explained(model):
    score = score_lead(model, profile(), events(EventType.FORM, 10), NOW)
    assert score.engagement == 80
    assert score.reasons[-1].rule == "engagement:cap"
    assert score.reasons[-1].points == pytest.approx(80 - 150)


def test_reasons_add_up_to_total_and_mql_flag(model):
    lead = profile(employees=1500, industry="software", job_title="Head of Marketing", source=LeadSource.WEBINAR)
    score = score_lead(model, lead, events(EventType.CLICK, 1, timedelta(days=3)), NOW)
    assert score.fit == 60
    assert score.total == pytest.approx(sum(r.points for r in score.reasons), abs=0.01)
    assert score.mql is True
    below = score_lead(model, profile(employees=1500, industry="software"), events(EventType.CLICK, 1), NOW)
    assert below.total == 41 and below.mql is False


def test_score_is_deterministic(model):
    lead = profile(employees=300, job_title="VP")
    history = events(EventType.VISIT, 3, timedelta(hours=5)) + events(EventType.CLICK, 2)
    assert score_lead(model, lead, history, NOW) == score_lead(model, lead, list(reversed(history)), NOW)


def _score(total: float) -> Score:
    return Score(fit=total, engagement=0, total=total, reasons=[], mql=False)


@pytest.mark.parametrize(
    ("employees", "total", "segment"),
    [
        (5000, 50, "hot"),  # hot is listed first, so it wins over enterprise
        (5000, 10, "enterprise"),
        (1000, 0, "enterprise"),
        (200, 44.99, "mid_market"),
        (199, 0, "smb"),
        (None, 0, "smb"),
    ],
)
def test_segment_first_match_wins(model, employees, total, segment):
    assert assign_segment(model, profile(employees=employees), _score(total)) == segment


# --- bands and the next crossing ---------------------------------------------------------


def replies(count: int) -> list[EngagementEvent]:
    return events(EventType.REPLY, count)


def test_bands_are_half_open_and_go_below_zero():
    assert [band(t, 10) for t in (0, 9.99, 10, 59.99, 60, -0.01, -10, -10.01)] == [0, 0, 1, 5, 6, -1, -1, -2]
    assert band(7.5, 2.5) == 3


def test_the_default_model_has_bands_of_ten(model):
    assert model.band_width == 10
    assert model.mql_threshold % model.band_width == 0


@pytest.mark.parametrize("width", [0, -5, float("inf")])
def test_band_width_must_be_a_positive_number(model, width):
    with pytest.raises(ValidationError) as err:
        ScoringModel.model_validate({**model.model_dump(), "band_width": width})
    assert err.value.errors()[0]["loc"] == ("band_width",)


def test_an_mql_decays_below_the_threshold_at_the_exact_second(model):
    # Fit 25 (enterprise) + two fresh replies (40) = 65. Reported to two decimals, the score
    # is below 60 once the engagement is below 34.995: 14 · log2(40 / 34.995) = 2.69992 days.
    lead = profile(employees=5000)
    assert score_lead(model, lead, replies(2), NOW).total == 65
    at = next_crossing(fit=25, engagement=40, now=NOW, half_life_days=14, band_width=10, cap=80, thresholds=[60])
    assert at == datetime(2026, 3, 23, 4, 47, 53, tzinfo=UTC)
    assert (at - NOW) / timedelta(days=1) == pytest.approx(14 * math.log2(40 / 34.995), abs=1 / 86400)
    before, after = (
        score_lead(model, lead, replies(2), at - timedelta(seconds=1)),
        score_lead(model, lead, replies(2), at),
    )
    assert (before.total, before.mql) == (60, True)
    assert (after.total, after.mql) == (59.99, False)


def test_a_score_on_a_boundary_leaves_its_band_within_minutes():
    # 40 fresh is the floor of band 4: below 40 once under 39.995, 14 · log2(40 / 39.995) days.
    at = next_crossing(fit=0, engagement=40, now=NOW, half_life_days=14, band_width=10)
    assert at == datetime(2026, 3, 20, 12, 3, 39, tzinfo=UTC)


def test_the_cap_holds_the_score_until_the_engagement_falls_under_it():
    # 50 + min(80, 100) = 130 until 100 decays under 79.995: 14 · log2(100 / 79.995) = 4.5071 days.
    at = next_crossing(fit=50, engagement=100, now=NOW, half_life_days=14, band_width=10, cap=80)
    assert at == datetime(2026, 3, 25, 0, 11, 54, tzinfo=UTC)


def test_negative_engagement_rises_to_the_next_band():
    # A bounce: 10 − 5 = 5 rises towards 10, reported as 10 once the bounce is above −0.005:
    # 14 · log2(5 / 0.005) = 139.52 days.
    at = next_crossing(fit=10, engagement=-5, now=NOW, half_life_days=14, band_width=10)
    assert at == datetime(2026, 8, 7, 0, 30, 13, tzinfo=UTC)
    assert (at - NOW) / timedelta(days=1) == pytest.approx(14 * math.log2(1000), abs=1 / 86400)


def test_a_threshold_inside_a_band_is_a_crossing_too():
    # 68 is in band 6 (60-70); a threshold at 65 is met first: 14 · log2(18 / 14.995) days.
    at = next_crossing(fit=50, engagement=18, now=NOW, half_life_days=14, band_width=10, thresholds=[65])
    assert at == datetime(2026, 3, 24, 4, 32, 29, tzinfo=UTC)
    assert (at - NOW) / timedelta(days=1) == pytest.approx(14 * math.log2(18 / 14.995), abs=1 / 86400)


@pytest.mark.parametrize(
    ("fit", "engagement"),
    [(0, 0), (25, 0), (0, 5), (60, 0.004), (10, -0.004)],
    ids=["nothing", "fit only", "tends to its own band floor", "less than a rounding step", "rising, too little"],
)
def test_no_crossing_when_the_score_stays_in_its_band(fit, engagement):
    assert next_crossing(fit=fit, engagement=engagement, now=NOW, half_life_days=14, band_width=10) is None


def test_one_wake_per_band_all_the_way_down(model):
    """Following the crossings from 80 (four forms, capped): each is the first second the
    real score is in the next band down, until it settles in the fit's band."""
    lead, history = profile(employees=200), events(EventType.FORM, 4)  # fit 15, engagement 60
    now, bands = NOW, []
    while (
        at := next_crossing(
            fit=15,
            engagement=raw_engagement(model, history, now),
            now=now,
            half_life_days=14,
            band_width=10,
            cap=80,
            thresholds=[60],
        )
    ) is not None:
        before, after = (
            score_lead(model, lead, history, at - timedelta(seconds=1)),
            score_lead(model, lead, history, at),
        )
        assert band(after.total, 10) == band(before.total, 10) - 1
        bands.append(band(after.total, 10))
        now = at
    assert bands == [6, 5, 4, 3, 2, 1]
    assert band(score_lead(model, lead, history, now + timedelta(days=3650)).total, 10) == 1


def test_raw_engagement_is_the_uncapped_decayed_sum(model):
    history = events(EventType.FORM, 10) + events(EventType.OPEN, 1, timedelta(days=14))
    assert raw_engagement(model, history, NOW) == pytest.approx(150 + 1)
    assert score_lead(model, profile(), history, NOW).engagement == 80


def test_the_mql_threshold_and_segment_score_tests_are_crossings(model):
    assert model.score_thresholds() == [45, 60]  # hot from 45; MQL at 60
    # 47 falling: the segment test at 45 comes before the band floor at 40.
    at = next_crossing(
        fit=0, engagement=47, now=NOW, half_life_days=14, band_width=10, thresholds=model.score_thresholds()
    )
    assert at == _ceil(NOW + timedelta(days=14 * math.log2(47 / 44.995)))
    lead = profile()
    history = events(EventType.REPLY, 1) + events(EventType.FORM, 1) + events(EventType.CLICK, 2)  # 20 + 15 + 12
    assert assign_segment(model, lead, score_lead(model, lead, history, at - timedelta(seconds=1))) == "hot"
    assert assign_segment(model, lead, score_lead(model, lead, history, at)) == "smb"


def _ceil(when: datetime) -> datetime:
    return when.replace(microsecond=0) + timedelta(seconds=1) if when.microsecond else when
