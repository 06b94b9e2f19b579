"""Experiments inside journeys: what is measured, when a winner is called, and the arithmetic.

An `experiment` step (`domain/journeys.py` `ExperimentStep`) splits entrants evenly between
its variants, counts who converts on a metric within a window, and calls a winner by the
rule written in the YAML:

- `bayesian` (the default): each variant's conversion rate has a Beta(1 + conversions,
  1 + n - conversions) posterior (a uniform prior). By default (`looks: once`) the rule is
  a fixed horizon: it is evaluated once, when each variant's first `sample` (default 1000)
  entrants are all past their window, and the variant whose probability of being the best
  is at least 1 - (1 - `probability`) / k (k variants; 0.975 for two at the default 0.95)
  wins, else the experiment ends without a winner. The correction keeps the chance of
  calling a winner between equal variants near 1 - `probability`: with two, P(best) past
  0.975 for either is a two-sided test at 5 %. `looks: every_report` is the opt-in that
  looks after every report from `sample` leads on and stops at the first look past
  `probability` uncorrected: quicker, but between equal variants it calls a winner in about
  40 % of experiments (bench/experiment_error_rates.py). The probability is computed by numeric
  integration on a grid (no random draws), so the same counts give the same answer on
  every worker and every replay.
- `z_test`: a fixed horizon. Once every variant has `sample` leads whose window is over,
  the best rate is tested against each other variant with a two-sided pooled
  two-proportion z-test at `alpha` (Bonferroni-split across the comparisons); significant
  against all of them wins, else the experiment ends without a winner.

Only leads whose window is over count (n), with the conversions among them: a lead that
entered a minute ago has had no chance to convert, and counting it would favour no one
but shrink every rate.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, Field

from domain.fields import ConfigModel, Duration
from domain.leads import EventType

DEFAULT_PROBABILITY = 0.95
DEFAULT_SAMPLE = 1000  # per variant: 90+ % power for 10 % against 15 % (README)
GRID_POINTS = 4000  # integration points across where the posteriors have mass
_SPREAD = 12.0  # posterior standard deviations either side of the extreme means


class Metric(StrEnum):
    """What counts as converting: an engagement event of that type, or (`conversion`) the
    lead accepted by sales. A meeting is not an event mops receives, so it is not offered."""

    OPEN = "open"
    CLICK = "click"
    REPLY = "reply"
    FORM = "form"
    VISIT = "visit"
    CONVERSION = "conversion"

    @property
    def event(self) -> EventType | None:
        return None if self is Metric.CONVERSION else EventType(self.value)


class ExperimentMetric(ConfigModel):
    """`metric: {event: click, within: 7d}`: converted = that event within the window after entry."""

    event: Metric
    within: Duration


class BayesianRule(ConfigModel):
    rule: Literal["bayesian"] = "bayesian"
    probability: float = Field(default=DEFAULT_PROBABILITY, gt=0.5, lt=1)
    # `once`: leads per variant at the fixed horizon; `every_report`: before the first look
    sample: int = Field(default=DEFAULT_SAMPLE, ge=1)
    looks: Literal["once", "every_report"] = "once"

    @property
    def fixed_horizon(self) -> bool:
        return self.looks == "once"

    def threshold(self, variants: int) -> float:
        """The P(best) a winner needs: at one look, `probability` corrected for the k
        variants that could each cross it (Bonferroni), so equal variants are called
        different about 1 - `probability` of the time; looking at every report, uncorrected."""
        if not self.fixed_horizon:
            return self.probability
        return 1 - (1 - self.probability) / variants


class ZTestRule(ConfigModel):
    rule: Literal["z_test"] = "z_test"
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    sample: int = Field(ge=2)  # leads per variant at the fixed horizon
    fixed_horizon: ClassVar[bool] = True


def _bayesian_unless_named(value: object) -> object:
    # `decide: {sample: 500}` means the default rule with that setting.
    if isinstance(value, dict) and "rule" not in value:
        return {"rule": "bayesian", **value}
    return value


DecisionRule = Annotated[BayesianRule | ZTestRule, Field(discriminator="rule"), BeforeValidator(_bayesian_unless_named)]


class VariantFigures(BaseModel):
    variant: str
    n: int  # leads whose window is over
    conversions: int  # among them
    probability_best: float | None = None  # the Bayesian rule's


class Verdict(BaseModel):
    """A decision: the winner (None: the fixed horizon found no significant difference),
    the figures it was made on and why."""

    winner: str | None
    figures: list[VariantFigures]
    reason: str
    p_values: dict[str, float] = {}  # the z-test's, per variant compared with the winner


def experiment_workflow_id(journey_id: str, version: int, step_id: str) -> str:
    """One writer per experiment: the journey, its version and the step name it."""
    return f"experiment-{journey_id}-v{version}-{step_id}"


def matured(entered_at: datetime, window: timedelta, now: datetime) -> bool:
    return entered_at + window <= now


# ------------------------------------------------------------------ the arithmetic


def _log_beta_pdf(x: float, a: float, b: float) -> float:
    return (a - 1) * math.log(x) + (b - 1) * math.log1p(-x) - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))


def probability_best(counts: dict[str, tuple[int, int]]) -> dict[str, float]:
    """P(variant has the highest rate) under Beta(1 + c, 1 + n - c) posteriors, for
    `counts` = {variant: (n, conversions)}: the integral over x of the variant's density
    times every other variant's distribution function, on a midpoint grid spanning where
    the posteriors have mass."""
    params = {v: (1.0 + c, 1.0 + n - c) for v, (n, c) in counts.items()}
    means = {v: a / (a + b) for v, (a, b) in params.items()}
    sds = {v: math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))) for v, (a, b) in params.items()}
    lo = max(0.0, min(means[v] - _SPREAD * sds[v] for v in params))
    hi = min(1.0, max(means[v] + _SPREAD * sds[v] for v in params))
    step = (hi - lo) / GRID_POINTS
    xs = [lo + (i + 0.5) * step for i in range(GRID_POINTS)]
    pdfs: dict[str, list[float]] = {}
    cdfs: dict[str, list[float]] = {}
    for v, (a, b) in params.items():
        raw = [math.exp(_log_beta_pdf(x, a, b)) for x in xs]
        total = sum(raw)  # normalised on the grid, so the discretisation error cancels
        pdf = [p / total for p in raw]
        cdf, acc = [], 0.0
        for p in pdf:
            cdf.append(acc + p / 2)  # the distribution function at the cell's midpoint
            acc += p
        pdfs[v], cdfs[v] = pdf, cdf
    result = {}
    for v in params:
        others = [cdfs[o] for o in params if o != v]
        result[v] = sum(p * math.prod(c[i] for c in others) for i, p in enumerate(pdfs[v]))
    return result


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def z_test_p_value(n1: int, c1: int, n2: int, c2: int) -> float:
    """Two-sided pooled two-proportion z-test."""
    pooled = (c1 + c2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0  # both rates 0 or both 1: no evidence of a difference
    return 2 * _normal_sf(abs(c1 / n1 - c2 / n2) / se)


def evaluate(rule: BayesianRule | ZTestRule, counts: dict[str, tuple[int, int]]) -> Verdict | None:
    """The rule over {variant: (n matured, conversions among them)}; None = keep going.
    A fixed-horizon rule is given each variant's first `sample` entrants (the workflow cuts
    them) and answers once they are all in: a winner, or a verdict without one."""
    if isinstance(rule, BayesianRule):
        if min(n for n, _ in counts.values()) < rule.sample:
            return None
        probs = probability_best(counts)
        figures = [
            VariantFigures(variant=v, n=n, conversions=c, probability_best=probs[v]) for v, (n, c) in counts.items()
        ]
        best = max(probs, key=lambda v: (probs[v], v))
        threshold = rule.threshold(len(counts))
        if rule.fixed_horizon:
            corrected = f"{rule.probability:g} corrected for {len(counts)} variants"
            stated = f"{threshold:g} ({corrected}) at {rule.sample} per variant"
        else:
            stated = f"{threshold:g}, looked at every report from {rule.sample} per variant"
        if probs[best] >= threshold:
            return Verdict(winner=best, figures=figures, reason=f"P({best} is best) = {probs[best]:.3f} >= {stated}")
        if not rule.fixed_horizon:
            return None
        return Verdict(
            winner=None,
            figures=figures,
            reason=f"no variant probably best: P({best} is best) = {probs[best]:.3f} < {stated}",
        )
    if min(n for n, _ in counts.values()) < rule.sample:
        return None
    figures = [VariantFigures(variant=v, n=n, conversions=c) for v, (n, c) in counts.items()]
    best = max(counts, key=lambda v: (counts[v][1] / counts[v][0], v))
    n1, c1 = counts[best]
    p_values = {v: z_test_p_value(n1, c1, n, c) for v, (n, c) in counts.items() if v != best}
    level = rule.alpha / max(1, len(p_values))
    if all(p < level for p in p_values.values()):
        return Verdict(
            winner=best,
            figures=figures,
            reason=f"z-test at {rule.sample} per variant: p < {level:g} against every other variant",
            p_values=p_values,
        )
    return Verdict(
        winner=None,
        figures=figures,
        reason=f"z-test at {rule.sample} per variant: no significant difference at alpha {rule.alpha:g}",
        p_values=p_values,
    )
