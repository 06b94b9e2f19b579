"""A lead journey's state as per-step rows, and the sums per step and variant."""

from __future__ import annotations

from domain.journey_stats import StepEngagement, lead_step_rows, sum_steps, tallied


def state(**fields) -> dict:
    base = {"lead_id": "k", "journey_id": "j", "journey_version": 2, "stage": "nurturing", "variants": {}}
    return base | fields


def test_a_converted_lead_counts_at_every_step_it_entered_and_left_at_its_last() -> None:
    engagement = tallied(tallied({}, "welcome", "emails"), "welcome", "opens")
    rows = lead_step_rows(
        "lead-k",
        state(
            stage="converted",
            step_visits={"welcome": 1, "wait": 3},
            last_step="wait",
            variants={"s": "a"},
            step_engagement={k: v.model_dump() for k, v in engagement.items()},
        ),
    )
    by_step = {r.step_id: r for r in rows}
    assert by_step["welcome"].model_dump(include={"entered", "left", "converted", "emails", "opens"}) == {
        "entered": 1,
        "left": 0,
        "converted": 1,
        "emails": 1,
        "opens": 1,
    }
    assert (by_step["wait"].entered, by_step["wait"].left, by_step["wait"].goal) == (1, 1, 0)
    assert {r.variant for r in rows} == {"s:a"} and {r.version for r in rows} == {2}


def test_a_lead_still_nurtured_has_left_nowhere_and_a_goal_counts_where_it_left() -> None:
    waiting = lead_step_rows("lead-a", state(step_visits={"welcome": 1}, last_step="welcome"))
    assert [r.left for r in waiting] == [0]
    met = lead_step_rows(
        "lead-b", state(stage="completed", goal="replied", step_visits={"welcome": 1}, last_step="welcome")
    )
    assert [(r.left, r.goal) for r in met] == [(1, 1)]
    assert lead_step_rows("lead-c", state(journey_version=None)) == []
    [total] = sum_steps(waiting + met)
    assert (total.entered, total.left, total.goal) == (2, 1, 1)


def test_tallied_leaves_the_tally_it_was_given_alone() -> None:
    before = {"welcome": StepEngagement(emails=1)}
    after = tallied(before, "welcome", "clicks")
    assert before["welcome"].clicks == 0 and after["welcome"].clicks == 1 and after["welcome"].emails == 1


def test_the_stages_a_lead_leaves_by_are_the_journeys_terminal_ones() -> None:
    from domain.journey_stats import LEFT_STAGES
    from workflows.lead_journey import TERMINAL

    assert LEFT_STAGES == TERMINAL
