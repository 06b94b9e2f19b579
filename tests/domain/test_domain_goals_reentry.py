"""Journey goals and the re-entry policy as the YAML states them, and the re-entry rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.journeys import load_journey
from domain.leads import EventType
from domain.reentry import ReentryPolicy
from tests.domain.test_domain_journeys import journey_error, mutated, write

FINISHED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
GOALS = [
    {"id": "booked", "event_seen": "form"},
    {"id": "hot", "when": [{"field": "score", "op": "gte", "value": 70}]},
]


def test_goals_and_reentry_load(tmp_path: Path) -> None:
    write(tmp_path, mutated(lambda d: d.update(goals=GOALS, reentry={"after": "30d"})))
    spec = load_journey(tmp_path, "bad")
    assert spec.reentry == ReentryPolicy(mode="after", after=timedelta(days=30))
    assert spec.first_goal_met({"score": 10}, [EventType.CLICK]) is None
    assert spec.first_goal_met({"score": 10}, [EventType.FORM]) == "booked"
    assert spec.first_goal_met({"score": 75}, []) == "hot"
    # A decaying score crossing a goal's score test is looked at on time (as the MQL threshold is).
    assert 70.0 in spec.score_thresholds() and spec.scoring.mql_threshold in spec.score_thresholds()
    assert type(spec).model_validate_json(spec.model_dump_json()) == spec


def test_default_reentry_is_always(tmp_path: Path) -> None:
    write(tmp_path, mutated(lambda d: None))
    spec = load_journey(tmp_path, "bad")
    assert spec.reentry.mode == "always" and not spec.reentry.checked and spec.goals == []


@pytest.mark.parametrize(
    ("policy", "finished_at", "now", "refused"),
    [
        ("always", FINISHED, FINISHED, False),
        ("never", None, FINISHED, False),
        ("never", FINISHED, FINISHED + timedelta(days=3650), True),
        ({"after": "30d"}, FINISHED, FINISHED + timedelta(days=29, hours=23), True),
        ({"after": "30d"}, FINISHED, FINISHED + timedelta(days=30), False),
    ],
)
def test_reentry_rule(policy, finished_at, now, refused: bool) -> None:
    why = ReentryPolicy.model_validate(policy).refusal("welcome", finished_at, now)
    assert (why is not None) == refused, why


def test_reentry_refusal_says_when() -> None:
    policy = ReentryPolicy.model_validate({"after": "30d"})
    assert policy.refusal("welcome", FINISHED, FINISHED) == (
        "'welcome' takes a lead again 30d after it finished (at 2026-03-02 09:30 UTC): not before 2026-04-01 09:30 UTC"
    )
    assert ReentryPolicy.model_validate("never").refusal("welcome", FINISHED, FINISHED) == (
        "'welcome' takes a lead once, and this one finished it at 2026-03-02 09:30 UTC"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"reentry": "sometimes"},
            "reentry: unknown policy 'sometimes': use always, never, or {after: <duration>} (e.g. {after: 30d})",
        ),
        (
            {"reentry": {"after": "30d", "or": "never"}},
            "reentry: unknown policy {'after': '30d', 'or': 'never'}: use always, never, or {after: <duration>}",
        ),
        ({"reentry": {"after": "soon"}}, "reentry.after: invalid duration 'soon'"),
        ({"goals": [{"id": "x"}]}, "goals.0: a goal needs `when` conditions or `event_seen`"),
        (
            {"goals": [{"id": "x", "event_seen": "form"}, {"id": "x", "event_seen": "reply"}]},
            "goals.1.id: duplicate goal id 'x' (first used at goals.0)",
        ),
        (
            {"goals": [{"id": "x", "when": [{"field": "salary", "op": "gte", "value": 1}]}]},
            "goals.0.when.0.field: unknown field 'salary'",
        ),
    ],
)
def test_bad_goals_and_reentry_name_the_field(tmp_path: Path, change: dict, expected: str) -> None:
    path = write(tmp_path, mutated(lambda d: d.update(change)))
    assert str(journey_error(tmp_path)).startswith(f"{path}: {expected}")


def test_deal_keys_of_both_shapes_name_their_lead() -> None:
    from domain.leads import DealKey, parse_deal_key

    lead = "lead-" + "a" * 24
    assert parse_deal_key(f"{lead}:c2:deal") == DealKey(workflow_id=lead, cycle=2)
    assert parse_deal_key(f"{lead}:1f2e3d4c:c0:deal") == DealKey(workflow_id=lead, entry="1f2e3d4c", cycle=0)
    assert parse_deal_key("someone-else:c0:deal") is None and parse_deal_key(None) is None
