"""What a lead journey and its experiment's workflow say to each other, through the
`experiments.enter` and `experiments.report` activities (`workers/experiments.py`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from domain.experiments import experiment_workflow_id
from domain.journeys import ExperimentStep


class ExperimentRef(BaseModel):
    """Which experiment, and what it needs to start: the journey's step as the lead has it."""

    journey_id: str
    version: int
    step: ExperimentStep
    task_queue: str  # the workflow queue the experiment runs on (the lead's)

    @property
    def workflow_id(self) -> str:
        return experiment_workflow_id(self.journey_id, self.version, self.step.id)


class ExperimentEnter(BaseModel):
    lead_id: str
    proposed: str  # the lead's variant by the keyed hash, taken while the experiment runs


class ExperimentEntered(BaseModel):
    variant: str  # the variant the lead goes to
    counted: bool  # in the experiment's figures (False: routed to the winner, or after a stop)


class ExperimentConversion(BaseModel):
    lead_id: str
    at: datetime  # when the lead converted (its journey's clock)


class EnterExperimentInput(BaseModel):
    experiment: ExperimentRef
    enter: ExperimentEnter


class ReportConversionInput(BaseModel):
    experiment: ExperimentRef
    conversion: ExperimentConversion
