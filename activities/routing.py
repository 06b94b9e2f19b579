"""Owner assignment: asks the single `owner-router` workflow, which keeps the
weighted round-robin state durably (update-with-start, so it exists on first use)."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from activities.contracts import ROUTING_ASSIGN_OWNER, ErrorType
from activities.models import AssignOwnerInput, AssignOwnerResult

ROUTER_WORKFLOW_ID = "owner-router"
ROUTER_WORKFLOW_TYPE = "OwnerRouter"


class RoutingActivities:
    def __init__(self, client: Client, task_queue: str, router_id: str = ROUTER_WORKFLOW_ID) -> None:
        self._client = client
        self._task_queue = task_queue
        self._router_id = router_id

    @activity.defn(name=ROUTING_ASSIGN_OWNER.name)
    async def assign_owner(self, inp: AssignOwnerInput) -> AssignOwnerResult:
        start = WithStartWorkflowOperation(
            ROUTER_WORKFLOW_TYPE,
            None,
            id=self._router_id,
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary="Sales owner router (weighted round-robin)",
            result_type=type(None),
        )
        # The update id is the request id: a retried activity gets the same answer.
        try:
            return await self._client.execute_update_with_start_workflow(
                "assign",
                inp,
                start_workflow_operation=start,
                id=inp.request_id,
                result_type=AssignOwnerResult,
            )
        except WorkflowUpdateFailedError as err:
            # The router's validator refused: nobody eligible. The lead workflow
            # falls back to the manager, so this must not be retried.
            raise ApplicationError(str(err.cause), type=ErrorType.NO_OWNER_AVAILABLE, non_retryable=True) from None
