"""The sales owner router: one long-lived workflow (`owner-router`) that owns the
weighted round-robin state, so assignments are fair across every worker process
and survive restarts (state is in Temporal, not in a worker's memory).

Workflow type `OwnerRouter`, id `owner-router` (started on first use by
update-with-start from the `routing.assign_owner` activity).

Updates
- `assign(AssignOwnerInput) -> AssignOwnerResult`: picks the next owner among the
  offered slots. Idempotent per `request_id` (a retried request gets the same owner).
  The validator rejects requests with no eligible owner (no history is written).

Queries
- `state() -> RouterState`.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.models import AssignOwnerInput, AssignOwnerResult
    from domain.routing import NoOwnerAvailable, pick_owner
    from workflows.lead_models import RouterState

MAX_RECENT = 2000
CONTINUE_AS_NEW_AFTER_EVENTS = 5000


@workflow.defn(name="OwnerRouter")
class OwnerRouterWorkflow:
    @workflow.init
    def __init__(self, state: RouterState | None = None) -> None:
        self._s = state or RouterState()

    @workflow.run
    async def run(self, state: RouterState | None = None) -> None:
        await workflow.wait_condition(
            lambda: (
                workflow.info().is_continue_as_new_suggested()
                or workflow.info().get_current_history_length() >= CONTINUE_AS_NEW_AFTER_EVENTS
            )
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._s)

    @workflow.update(name="assign")
    def assign(self, req: AssignOwnerInput) -> AssignOwnerResult:
        s = self._s
        if req.request_id in s.recent:
            return AssignOwnerResult(owner_id=s.recent[req.request_id])
        owner_id, s.rr = pick_owner(s.rr, req.owners, frozenset(req.exclude))
        s.recent[req.request_id] = owner_id
        if len(s.recent) > MAX_RECENT:
            s.recent.pop(next(iter(s.recent)))
        s.assigned[owner_id] = s.assigned.get(owner_id, 0) + 1
        workflow.set_current_details(
            "**Assignments:** " + ", ".join(f"{o}: {n}" for o, n in sorted(s.assigned.items()))
        )
        return AssignOwnerResult(owner_id=owner_id)

    @assign.validator
    def _validate_assign(self, req: AssignOwnerInput) -> None:
        if req.request_id in self._s.recent:
            return
        try:
            pick_owner(self._s.rr, req.owners, frozenset(req.exclude))
        except NoOwnerAvailable as err:
            raise ValueError(f"NoOwnerAvailable: {err}") from None

    @workflow.query(name="state")
    def state(self) -> RouterState:
        return self._s
