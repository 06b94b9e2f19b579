"""The experiment step: what the YAML may say, and the decision rule's arithmetic (exact where
a closed form exists, the same answer for the same counts every time)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from domain.experiments import (
    BayesianRule,
    Metric,
    ZTestRule,
    evaluate,
    experiment_workflow_id,
    probability_best,
    z_test_p_value,
)
from domain.journeys import ExperimentStep, load_journey
from tests.domain.test_domain_journeys import journey_error, mutated, write
from tests.domain.test_domain_splits import population

AA_SEED = 1  # found by trying seeds from 0: the first where the two rules disagree

EXPERIMENT = {
    "id": "subject-test",
    "type": "experiment",
    "variants": [{"id": "a", "goto": "pause"}, {"id": "b", "goto": "await"}],
    "metric": {"event": "click", "within": "7d"},
}


def with_experiment(**changes) -> dict:
    step = {**EXPERIMENT, **changes}
    return mutated(lambda d: d["steps"].insert(1, step))


def test_defaults_and_an_even_split(tmp_path: Path) -> None:
    write(tmp_path, with_experiment())
    spec = load_journey(tmp_path, "bad")
    step = spec.step("subject-test")
    assert isinstance(step, ExperimentStep)
    assert step.decide == BayesianRule(probability=0.95, sample=1000, looks="once")
    assert (step.metric.event, step.metric.within) == (Metric.CLICK, timedelta(days=7))
    assert spec.successors("subject-test") == ["await", "pause"]
    got = Counter(step.assign("bad", lead) for lead in population(10_000, seed=3))
    assert abs(got["a"] - 5_000) < 250, got  # 5 sigma of a fair coin at n=10000
    assert type(spec).model_validate_json(spec.model_dump_json()) == spec
    assert experiment_workflow_id("bad", 3, "subject-test") == "experiment-bad-v3-subject-test"


def test_a_rule_is_named_or_the_default_with_its_settings(tmp_path: Path) -> None:
    write(tmp_path, with_experiment(decide={"sample": 50}))
    assert load_journey(tmp_path, "bad").step("subject-test").decide == BayesianRule(sample=50)  # type: ignore[union-attr]
    write(tmp_path, with_experiment(decide={"looks": "every_report", "sample": 100}))
    assert load_journey(tmp_path, "bad").step("subject-test").decide == BayesianRule(sample=100, looks="every_report")  # type: ignore[union-attr]
    write(tmp_path, with_experiment(decide={"rule": "z_test", "sample": 400, "alpha": 0.01}))
    assert load_journey(tmp_path, "bad").step("subject-test").decide == ZTestRule(sample=400, alpha=0.01)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"variants": [{"id": "a"}]}, "steps.1.variants: List should have at least 2 items after validation, not 1"),
        ({"variants": [{"id": "a"}, {"id": "a"}]}, "steps.1.variants.1.id: duplicate variant id 'a'"),
        ({"variants": [{"id": "a"}, {"id": "holdout"}]}, "steps.1.variants.1.id: 'holdout' is reserved"),
        (
            {"metric": {"event": "meeting", "within": "7d"}},
            "steps.1.metric.event: Input should be 'open', 'click', 'reply', 'form', 'visit' or 'conversion'",
        ),
        ({"metric": {"event": "click"}}, "steps.1.metric.within: Field required"),
        ({"decide": {"rule": "z_test"}}, "steps.1.decide.z_test.sample: Field required"),
        ({"decide": {"probability": 0.4}}, "steps.1.decide.bayesian.probability: Input should be greater than 0.5"),
        ({"decide": {"looks": "always"}}, "steps.1.decide.bayesian.looks: Input should be 'once' or 'every_report'"),
        (
            {"decide": {"min_sample": 100}},
            "steps.1.decide.bayesian: unknown key 'min_sample' (allowed: rule, probability, sample, looks)",
        ),
        ({"decide": {"rule": "vibes"}}, "steps.1.decide: Input tag 'vibes' found using 'rule' does not match"),
        (
            {"variants": [{"id": "a", "goto": "pase"}, {"id": "b"}]},
            "steps.1.variants.0.goto: no step with id 'pase' (did you mean 'pause'?)",
        ),
    ],
)
def test_bad_experiment_names_the_field(tmp_path: Path, changes: dict, expected: str) -> None:
    path = write(tmp_path, with_experiment(**changes))
    assert str(journey_error(tmp_path)).startswith(f"{path}: {expected}")


def test_probability_best_matches_closed_forms() -> None:
    # Beta(2,1) against Beta(1,1): P(X > Y) = 2/3. Three arms, one Beta(6,1): 6/8.
    assert probability_best({"a": (0, 0), "b": (1, 1)})["b"] == pytest.approx(2 / 3, abs=1e-4)
    assert probability_best({"a": (0, 0), "b": (0, 0), "c": (5, 5)})["c"] == pytest.approx(0.75, abs=1e-4)
    even = probability_best({"a": (500, 50), "b": (500, 50)})
    assert even["a"] == pytest.approx(0.5, abs=1e-6) and sum(even.values()) == pytest.approx(1, abs=1e-6)
    counts = {"a": (1000, 100), "b": (1000, 130)}
    assert probability_best(counts) == probability_best(counts), "the same counts, the same answer"
    # The normal approximation: the difference is 0.03 with sd 0.0142, so P(b best) = Phi(2.11) = 0.983.
    assert probability_best(counts)["b"] == pytest.approx(0.983, abs=0.003)


def test_bayesian_default_answers_once_at_its_horizon_with_a_corrected_threshold() -> None:
    rule = BayesianRule(sample=100)
    assert (rule.threshold(2), rule.threshold(4)) == (pytest.approx(0.975), pytest.approx(0.9875))
    assert evaluate(rule, {"a": (99, 5), "b": (100, 50)}) is None, "a variant short of the horizon"
    won = evaluate(rule, {"a": (100, 10), "b": (100, 30)})
    assert won is not None and won.winner == "b"
    assert {f.variant: (f.n, f.conversions) for f in won.figures} == {"a": (100, 10), "b": (100, 30)}
    assert won.figures[1].probability_best is not None and won.figures[1].probability_best > 0.99
    assert won.reason.endswith(">= 0.975 (0.95 corrected for 2 variants) at 100 per variant")
    # 10 against 19 of 100: P(b best) = 0.963, a winner if looked at uncorrected, not at the horizon.
    counts = {"a": (100, 10), "b": (100, 19)}
    assert 0.95 < probability_best(counts)["b"] < 0.975
    none = evaluate(rule, counts)
    assert none is not None and none.winner is None and none.reason.startswith("no variant probably best")


def test_bayesian_every_report_is_uncorrected_and_keeps_going() -> None:
    rule = BayesianRule(sample=100, looks="every_report")
    assert rule.threshold(2) == 0.95
    assert evaluate(rule, {"a": (99, 5), "b": (400, 200)}) is None, "a variant under the minimum sample"
    assert evaluate(rule, {"a": (100, 10), "b": (100, 11)}) is None, "no variant probably best: look again later"
    verdict = evaluate(rule, {"a": (100, 10), "b": (100, 19)})
    assert verdict is not None and verdict.winner == "b"


def _aa_looks(seed: int, looks: int = 36, every: int = 25, rate: float = 0.1) -> list[dict[str, tuple[int, int]]]:
    """The counts at each look of an A/A test, 100 to 975 leads per variant, one seeded draw."""
    rng, conv, out = random.Random(seed), [0, 0], []
    for n in range(1, 100 + looks * every):
        conv = [c + (rng.random() < rate) for c in conv]
        if n >= 100 and n % every == 0:
            out.append({"a": (n, conv[0]), "b": (n, conv[1])})
    return out


def test_equal_variants_where_peeking_calls_a_winner_get_none_at_the_default() -> None:
    # A seeded A/A run: looking at every report the opt-in calls a winner, at one look of its
    # planned sample the default calls none (the simulation's 47 % and 5 %, one run of each).
    looks = _aa_looks(AA_SEED)
    peeking = BayesianRule(sample=100, looks="every_report")
    called = next(v for counts in looks if (v := evaluate(peeking, counts)) is not None)
    assert called.winner in ("a", "b")
    horizon = looks[-1]
    default = evaluate(BayesianRule(sample=horizon["a"][0]), horizon)
    assert default is not None and default.winner is None, default.reason


def test_z_test_at_its_horizon() -> None:
    # 10/100 against 25/100: pooled p = 0.175, z = 2.79, two-sided p = 0.0052.
    assert z_test_p_value(100, 10, 100, 25) == pytest.approx(0.00527, abs=1e-4)
    assert z_test_p_value(100, 0, 100, 0) == 1.0
    rule = ZTestRule(sample=100)
    assert evaluate(rule, {"a": (99, 10), "b": (100, 25)}) is None, "before the horizon"
    won = evaluate(rule, {"a": (100, 10), "b": (100, 25)})
    assert won is not None and won.winner == "b" and won.p_values == {"a": pytest.approx(0.00527, abs=1e-4)}
    tie = evaluate(rule, {"a": (100, 10), "b": (100, 12)})
    assert tie is not None and tie.winner is None and "no significant difference" in tie.reason
    # Three variants: Bonferroni, alpha / 2 for each comparison (p = 0.035 is not enough).
    three = evaluate(rule, {"a": (100, 10), "b": (100, 21), "c": (100, 5)})
    assert three is not None and three.winner is None
