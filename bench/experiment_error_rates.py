"""How often an experiment step's rule calls a winner when there is none (A/A), and how
often it finds a real one (A/B), by simulation. The figures in the README's experiment
section come from this script.

    .venv/bin/python -m bench.experiment_error_rates [--runs 1000] [--peek-runs 150] [--seed 1]

Two variants, each lead converting with probability `BASE` (A/A) or `BASE` and `BASE * LIFT`
(A/B). Each rule is `domain.experiments.evaluate`, given what the JourneyExperiment workflow
gives it:

- `bayesian` (the default, `looks: once`): evaluated once, on each variant's first `sample`
  (1000) leads, P(best) against 0.95 corrected for two variants (0.975);
- `z_test`, `sample: 1000`, `alpha: 0.05`: evaluated once, at its horizon;
- `bayesian`, `looks: every_report` (the opt-in): looked at every `LOOK_EVERY` leads per
  variant from `sample` (100) up to `MAX_N`, stopping at the first look past 0.95, as the
  workflow looks after each report (every 25 rather than every lead, to keep the run short:
  looking more often only calls more false winners).
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable

from domain.experiments import BayesianRule, ZTestRule, evaluate

BASE = 0.10
LIFT = 1.5
HORIZON = 1000  # leads per variant, the fixed-horizon rules' sample
MAX_N = 1000  # leads per variant the peeking rule may look at
LOOK_EVERY = 25


def fixed_horizon(rule: BayesianRule | ZTestRule) -> Callable[[random.Random, tuple[float, float]], str | None]:
    def run(rng: random.Random, rates: tuple[float, float]) -> str | None:
        conv = [sum(rng.random() < rate for _ in range(rule.sample)) for rate in rates]
        verdict = evaluate(rule, {"a": (rule.sample, conv[0]), "b": (rule.sample, conv[1])})
        assert verdict is not None, "a fixed-horizon rule answers at its horizon"
        return verdict.winner

    return run


def peeking(rng: random.Random, rates: tuple[float, float]) -> str | None:
    rule = BayesianRule(sample=100, looks="every_report")
    conv = [0, 0]
    for n in range(1, MAX_N + 1):
        for i, rate in enumerate(rates):
            conv[i] += rng.random() < rate
        if n % LOOK_EVERY == 0 and (v := evaluate(rule, {"a": (n, conv[0]), "b": (n, conv[1])})) is not None:
            return v.winner
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000, help="runs per case of each fixed-horizon rule")
    parser.add_argument("--peek-runs", type=int, default=150, help="runs per case of the peeking rule (slow)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rules = (
        ("bayesian (default: once, 1000/variant, P(best) >= 0.975)", fixed_horizon(BayesianRule()), args.runs),
        ("z_test (1000/variant, alpha 0.05)", fixed_horizon(ZTestRule(sample=HORIZON)), args.runs),
        (f"bayesian every_report (from 100, every {LOOK_EVERY} to {MAX_N})", peeking, args.peek_runs),
    )
    for name, run, runs in rules:
        for case, rates in (("A/A", (BASE, BASE)), (f"A/B +{LIFT - 1:.0%}", (BASE, BASE * LIFT))):
            results = [run(rng, rates) for _ in range(runs)]
            share = {w: results.count(w) / runs for w in ("a", "b", None)}
            called = 1 - share[None] if case == "A/A" else share["b"]
            se = math.sqrt(called * (1 - called) / runs)
            print(f"{name} {case}: {share} (a winner / b: {called:.1%} +- {se:.1%}, {runs} runs)", flush=True)


if __name__ == "__main__":
    main()
