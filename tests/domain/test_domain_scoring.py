from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.journeys import load_journey
from domain.leads import EngagementEvent, EventType, LeadProfile, LeadSource
from domain.scoring import Score, ScoringModel, assign_segment, decayed, score_lead

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
