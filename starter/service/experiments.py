"""Experiments inside journeys, for operators: read one, stop it, or force its winner.

An experiment is named by its journey and step; the version is the one a new lead pins
(`leads.journey_spec`: the latest published, else the file) unless given. A journey without
that experiment step is `ExperimentInputError` (one line, exit 2); an experiment no lead has
reached yet is `ExperimentNotFound`; a refused stop or promote is `Refused` (`unknown_variant`,
`experiment_over`).
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from domain.experiments import experiment_workflow_id
from domain.journeys import ExperimentStep
from mops.settings import Settings
from starter.service.errors import InputError, NotFound
from starter.service.leads import journey_spec
from starter.service.updates import execute_update
from workflows.experiment import JourneyExperimentWorkflow
from workflows.experiment_models import ExperimentDecision, ExperimentView, PromoteRequest, StopRequest


class ExperimentInputError(InputError):
    pass


class ExperimentNotFound(NotFound):
    code = "experiment_not_found"


class ExperimentService:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client, self._settings = client, settings

    def workflow_id(self, journey_id: str, step_id: str, version: int | None = None) -> str:
        spec = journey_spec(self._settings, journey_id)
        step = next((s for s in spec.steps if s.id == step_id), None)
        if not isinstance(step, ExperimentStep):
            names = [s.id for s in spec.steps if isinstance(s, ExperimentStep)]
            raise ExperimentInputError(
                f"step: journey {journey_id!r} has no experiment step {step_id!r}"
                f" (experiments: {', '.join(names) or 'none'})"
            )
        return experiment_workflow_id(journey_id, version or spec.version, step_id)

    def _handle(self, workflow_id: str) -> WorkflowHandle:
        return self._client.get_workflow_handle_for(JourneyExperimentWorkflow.run, workflow_id)

    def _not_found(self, workflow_id: str) -> ExperimentNotFound:
        return ExperimentNotFound(f"experiment: {workflow_id} is not running (no lead has reached the step yet)")

    async def show(self, journey_id: str, step_id: str, version: int | None = None) -> ExperimentView:
        wf_id = self.workflow_id(journey_id, step_id, version)
        try:
            return await self._handle(wf_id).query(JourneyExperimentWorkflow.state)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise self._not_found(wf_id) from None
            raise

    async def stop(
        self, journey_id: str, step_id: str, *, by: str, reason: str = "", version: int | None = None
    ) -> ExperimentDecision:
        wf_id = self.workflow_id(journey_id, step_id, version)
        request = StopRequest(by=by, reason=reason)
        return await execute_update(
            self._handle(wf_id), JourneyExperimentWorkflow.stop, request, not_found=self._not_found(wf_id)
        )

    async def promote(
        self, journey_id: str, step_id: str, variant: str, *, by: str, reason: str = "", version: int | None = None
    ) -> ExperimentDecision:
        wf_id = self.workflow_id(journey_id, step_id, version)
        request = PromoteRequest(variant=variant, by=by, reason=reason)
        return await execute_update(
            self._handle(wf_id), JourneyExperimentWorkflow.promote, request, not_found=self._not_found(wf_id)
        )
