"""The activities a lead journey reaches its experiment's workflow through.

- `experiments.enter` (local, on the workflow worker): update-with-start the step's
  `JourneyExperiment` (one per journey, version and step) with the lead's entry; its answer,
  the variant to take, is recorded in the lead's history as the activity's result, so a
  replay never asks again.
- `experiments.report` (local): signal-with-start the lead's conversion.

They sit in the worker room, as `lead_start.py` does, because they start a workflow by its
typed definition, which activities/ may not import.
"""

from __future__ import annotations

from typing import cast

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from activities.contracts import EXPERIMENTS_ENTER, EXPERIMENTS_REPORT
from activities.experiment_models import (
    EnterExperimentInput,
    ExperimentEntered,
    ExperimentRef,
    ReportConversionInput,
)
from workflows.experiment import JourneyExperimentWorkflow
from workflows.experiment_models import JourneyExperimentInput


def _start_input(ref: ExperimentRef) -> JourneyExperimentInput:
    return JourneyExperimentInput(journey_id=ref.journey_id, version=ref.version, step=ref.step)


def _summary(ref: ExperimentRef) -> str:
    return f"Experiment `{ref.step.id}` of journey `{ref.journey_id}` v{ref.version}"


class ExperimentActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name=EXPERIMENTS_ENTER.name)
    async def enter(self, inp: EnterExperimentInput) -> ExperimentEntered:
        ref = inp.experiment
        start = WithStartWorkflowOperation(
            JourneyExperimentWorkflow.run,
            _start_input(ref),
            id=ref.workflow_id,
            task_queue=ref.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=_summary(ref),
        )
        # The update id makes a retried entry the same update; the workflow keeps one entry
        # per lead besides, so a later run of the same lead is answered as recorded too.
        return cast(
            ExperimentEntered,
            await self._client.execute_update_with_start_workflow(
                JourneyExperimentWorkflow.enter,
                inp.enter,
                start_workflow_operation=start,
                id=f"enter-{inp.enter.lead_id}",
            ),
        )

    @activity.defn(name=EXPERIMENTS_REPORT.name)
    async def report(self, inp: ReportConversionInput) -> None:
        ref = inp.experiment
        await self._client.start_workflow(
            JourneyExperimentWorkflow.run,
            _start_input(ref),
            id=ref.workflow_id,
            task_queue=ref.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=_summary(ref),
            start_signal="convert",
            start_signal_args=[inp.conversion],
        )
