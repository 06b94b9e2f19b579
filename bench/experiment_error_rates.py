"""How often an experiment step's rule calls a winner when there is none (A/A), and how
often it finds a real one, by simulation. The figures in the README's experiment section
come from this script.

    .venv/bin/python -m bench.experiment_error_rates [--runs 150] [--seed 1]

Two variants, each lead converting with probability `BASE` (A/A) or `BASE` and `BASE * LIFT`
(A/B). The rule is `domain.experiments.evaluate` with its defaults (Bayesian, P(best) >= 0.95,
at least 100 per variant), looked at every `LOOK_EVERY` leads per variant up to `MAX_N`, as the
workflow looks after each report; the z-test is looked at once, at its horizon.
"""

from __future__ import annotations

import argparse
import random

from domain.experiments import BayesianRule, ZTestRule, evaluate

BASE = 0.10
LIFT = 1.5
MAX_N = 1000  # leads per variant
LOOK_EVERY = 25


def run_bayesian(rng: random.Random, rates: tuple[float, float]) -> str | None:
    rule = BayesianRule()
    conv = [0, 0]
    for n in range(1, MAX_N + 1):
        for i, rate in enumerate(rates):
            conv[i] += rng.random() < rate
        if n % LOOK_EVERY == 0 and (v := evaluate(rule, {"a": (n, conv[0]), "b": (n, conv[1])})) is not None:
            return v.winner
    return None


def run_z(rng: random.Random, rates: tuple[float, float], sample: int) -> str | None:
    conv = [sum(rng.random() < rate for _ in range(sample)) for rate in rates]
    verdict = evaluate(ZTestRule(sample=sample), {"a": (sample, conv[0]), "b": (sample, conv[1])})
    return verdict.winner if verdict else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for name, rates in (("A/A", (BASE, BASE)), (f"A/B (+{LIFT - 1:.0%})", (BASE, BASE * LIFT))):
        results = [run_bayesian(rng, rates) for _ in range(args.runs)]
        wins = {w: results.count(w) / args.runs for w in ("a", "b", None)}
        print(f"bayesian {name}, up to {MAX_N}/variant, look every {LOOK_EVERY}: {wins}")
        z = [run_z(rng, rates, 1000) for _ in range(args.runs * 3)]
        print(f"z-test {name}, 1000/variant: { {w: z.count(w) / len(z) for w in ('a', 'b', None)} }")


if __name__ == "__main__":
    main()
