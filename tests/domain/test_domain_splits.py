"""The split step: who gets which variant (a keyed hash, no randomness) and what the YAML may say."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from domain.journeys import SplitStep, load_journey
from domain.leads import lead_key
from domain.splits import HOLDOUT, bucket, choose
from tests.domain.test_domain_journeys import journey_error, mutated, write

SPLIT = {
    "id": "subject-test",
    "type": "split",
    "holdout": 10,
    "variants": [
        {"id": "a", "weight": 60, "goto": "pause"},
        {"id": "b", "weight": 30, "goto": "await"},
    ],
}


def with_split(**changes) -> dict:
    split = {**SPLIT, **changes}
    return mutated(lambda d: d["steps"].insert(1, split))


def population(n: int, seed: int) -> list[str]:
    """Lead ids as the service makes them (keyed hashes of addresses), from a seeded generator."""
    rng = random.Random(seed)
    return [lead_key(f"person-{rng.getrandbits(64):x}@example.com", "test-secret") for _ in range(n)]


def test_weights_are_respected_over_a_population(tmp_path: Path) -> None:
    write(tmp_path, with_split())
    split = load_journey(tmp_path, "bad").step("subject-test")
    assert isinstance(split, SplitStep)
    n = 20_000
    got = Counter(split.assign("bad", lead) for lead in population(n, seed=7))
    # Binomial standard deviation at n=20000 is at most 0.35 points: 1.5 points is > 4 sigma.
    for arm, share in ((HOLDOUT, 10), ("a", 60), ("b", 30)):
        assert abs(got[arm] / n * 100 - share) < 1.5, (arm, got)
    assert set(got) == {HOLDOUT, "a", "b"}


def test_assignment_is_a_function_of_journey_split_and_lead() -> None:
    leads = population(2_000, seed=11)
    arms = [("a", 50.0), ("b", 50.0)]
    first = [choose(bucket("j", "s", lead), 0, arms) for lead in leads]
    assert first == [choose(bucket("j", "s", lead), 0, arms) for lead in leads], "the same lead, the same arm"
    # Another split (or the same split id in another journey) sorts leads independently:
    # about half the leads land on the other arm, not all or none of them.
    for other in (bucket("j", "s2", lead) for lead in leads), (bucket("j2", "s", lead) for lead in leads):
        same = sum(a == choose(p, 0, arms) for a, p in zip(first, other, strict=True))
        assert 800 < same < 1200, same
    assert all(0 <= bucket("j", "s", lead) < 100 for lead in leads)


def test_holdout_takes_the_bottom_of_the_line() -> None:
    arms = [("a", 45.0), ("b", 45.0)]
    assert choose(0.0, 10, arms) == HOLDOUT and choose(9.999, 10, arms) == HOLDOUT
    assert choose(10.0, 10, arms) == "a" and choose(55.0, 10, arms) == "b" and choose(99.99, 10, arms) == "b"


def test_a_variant_without_goto_goes_on_to_the_next_step(tmp_path: Path) -> None:
    write(tmp_path, with_split(variants=[{"id": "a", "weight": 100}], holdout=0))
    spec = load_journey(tmp_path, "bad")
    split = spec.step("subject-test")
    assert isinstance(split, SplitStep)
    assert split.target("a") is None and spec.successors("subject-test") == ["pause"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"variants": [{"id": "a", "weight": 60, "goto": "pause"}, {"id": "b", "weight": 20}]},
            "steps.1.variants: weights (60 + 20) and holdout (10) sum to 90, not 100",
        ),
        (
            {"variants": [{"id": "a", "weight": 0}, {"id": "b", "weight": 90}]},
            "steps.1.variants.0.weight: Input should be greater than 0",
        ),
        (
            {"variants": [{"id": "a", "weight": -5}, {"id": "b", "weight": 95}]},
            "steps.1.variants.0.weight: Input should be greater than 0",
        ),
        (
            {"variants": [{"id": "a", "weight": 45}, {"id": "a", "weight": 45}]},
            "steps.1.variants.1.id: duplicate variant id 'a'",
        ),
        (
            {"variants": [{"id": "holdout", "weight": 90}]},
            "steps.1.variants.0.id: 'holdout' is reserved for the holdout share",
        ),
        ({"holdout": 100}, "steps.1.holdout: Input should be less than 100"),
        ({"variants": []}, "steps.1.variants: List should have at least 1 item after validation, not 0"),
        (
            {"variants": [{"id": "a", "weight": 90, "goto": "pase"}]},
            "steps.1.variants.0.goto: no step with id 'pase' (did you mean 'pause'?)",
        ),
        (
            {"variants": [{"id": "a", "weight": 90, "goto": "hello"}]},
            "steps: loop without a wait would never pause: hello -> subject-test -> hello",
        ),
    ],
)
def test_bad_split_names_the_field(tmp_path: Path, changes: dict, expected: str) -> None:
    path = write(tmp_path, with_split(**changes))
    assert str(journey_error(tmp_path)) == f"{path}: {expected}"


def test_split_round_trips_through_json(tmp_path: Path) -> None:
    write(tmp_path, with_split())
    spec = load_journey(tmp_path, "bad")
    assert type(spec).model_validate_json(spec.model_dump_json()) == spec
