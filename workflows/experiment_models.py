"""The JourneyExperiment workflow's input, state and requests (`workflows/experiment.py`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from domain.experiments import BayesianRule, DecisionRule, ExperimentMetric, VariantFigures
from domain.journeys import ExperimentStep


class ExperimentStatus(StrEnum):
    RUNNING = "running"
    DECIDED = "decided"  # a winner (by the rule or an operator), or a fixed-horizon rule's "no winner"
    STOPPED = "stopped"  # by an operator, without a winner


class ExperimentEntry(BaseModel):
    variant: str
    at: datetime
    converted_at: datetime | None = None


class ExperimentDecision(BaseModel):
    """How the experiment ended: the winner (None: stopped, or no significant difference),
    who decided (`rule` or the operator), when, why and on which figures."""

    kind: Literal["winner", "no_winner", "stopped"]
    winner: str | None = None
    by: str
    at: datetime
    reason: str
    figures: list[VariantFigures]
    p_values: dict[str, float] = {}


class JourneyExperimentState(BaseModel):
    # lead id -> its entry, in the order they entered (the z-test's horizon takes the first ones)
    entries: dict[str, ExperimentEntry] = {}
    decision: ExperimentDecision | None = None

    @property
    def status(self) -> ExperimentStatus:
        if self.decision is None:
            return ExperimentStatus.RUNNING
        return ExperimentStatus.STOPPED if self.decision.kind == "stopped" else ExperimentStatus.DECIDED


class JourneyExperimentInput(BaseModel):
    journey_id: str
    version: int
    step: ExperimentStep
    state: JourneyExperimentState | None = None
    continue_as_new_after_events: int = 10_000


class PromoteRequest(BaseModel):
    variant: str = Field(min_length=1)
    by: str = Field(min_length=1)
    reason: str = ""


class StopRequest(BaseModel):
    by: str = Field(min_length=1)
    reason: str = ""


class ExperimentView(BaseModel):
    """The `state` query: the rule, the figures now and the decision, if any."""

    workflow_id: str
    journey_id: str
    version: int
    step_id: str
    variants: list[str]
    metric: ExperimentMetric
    rule: DecisionRule = BayesianRule()
    status: ExperimentStatus
    figures: list[VariantFigures]
    entered: dict[str, int]  # every entrant counted, whatever its window
    converted: dict[str, int]  # every conversion reported, whatever its entrant's window
    decision: ExperimentDecision | None = None
