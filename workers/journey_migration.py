"""The journey migration's activity, on the workflow queue.

It sits in the worker room, not activities/, because it sends each lead the lead journey's
typed `migrate` update, which activities/ may not import.

`migrations.batch`: the leads the migration's visibility query lists, by workflow id after
the cursor, the first `limit` of them, each asked to move in turn at `leads_per_second`. A
lead answers moved or refused (its validator's code); a lead that ended meanwhile is
skipped. The heartbeat carries the outcomes so far, so a retried batch resumes after the
last lead it recorded; a lead asked but not yet recorded when the worker died is asked
again, and if it had moved it now refuses (`other_version`, its detail naming the version it
runs), never moving twice.

SQL visibility has no ORDER BY: each batch lists every id after the cursor and sorts them,
so the cost per batch falls as the migration advances.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import MIGRATION_BATCH
from domain.journey_migration import LeadOutcome, MigrationBatchInput, MigrationBatchResult, Outcome
from domain.refusals import Refused
from workflows.lead_journey import LeadJourneyWorkflow

HEARTBEAT_EVERY = 2.0  # seconds, well inside the ref's heartbeat timeout
# A lead that does not answer in this time (its workflow task failing, no worker on its queue)
# is skipped and named in the report, rather than holding up every lead after it.
ANSWER_WITHIN = timedelta(seconds=30)


class MigrationActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name=MIGRATION_BATCH.name)
    async def batch(self, inp: MigrationBatchInput) -> MigrationBatchResult:
        details = activity.info().heartbeat_details
        done = MigrationBatchResult.model_validate(details[0]) if details else MigrationBatchResult(last_id=inp.after)
        ids = await self._listed(inp.query, after=done.last_id)
        todo = ids[: inp.limit - len(done.outcomes)]
        loop = asyncio.get_running_loop()
        interval = 1.0 / inp.leads_per_second
        next_at = loop.time()
        for lead_id in todo:
            # Paced here rather than by workflow timers: one timer per lead would cost the
            # migration's history three events a lead.
            while (wait := next_at - loop.time()) > 0:
                await asyncio.sleep(min(wait, HEARTBEAT_EVERY))
                activity.heartbeat(done.model_dump(mode="json"))
            next_at = max(next_at, loop.time() - interval) + interval
            done.outcomes.append(await self._ask(lead_id, inp))
            done.last_id = lead_id
            activity.heartbeat(done.model_dump(mode="json"))
        done.done = len(ids) <= len(todo)
        return done

    async def _listed(self, query: str, *, after: str) -> list[str]:
        """The listed leads' ids after `after`, sorted: SQL visibility has no ORDER BY, so the
        cursor is a filter on the id and the order is ours."""
        q = f"{query} AND WorkflowId > '{after}'" if after else query
        try:
            return sorted({w.id async for w in self._client.list_workflows(q)})
        except RPCError as err:
            if err.status == RPCStatusCode.INVALID_ARGUMENT:
                raise ApplicationError(
                    f"where: the server refused the query ({err.message})", non_retryable=True
                ) from None
            raise

    async def _ask(self, lead_id: str, inp: MigrationBatchInput) -> LeadOutcome:
        handle = self._client.get_workflow_handle_for(LeadJourneyWorkflow.run, lead_id)
        try:
            moved = await handle.execute_update(
                LeadJourneyWorkflow.migrate, inp.request, id=inp.request.update_id, rpc_timeout=ANSWER_WITHIN
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            why = (
                Refused.from_failure(cause.type, cause.details, cause.message)
                if isinstance(cause, ApplicationError)
                else Refused.from_failure(None, (), str(cause))
            )
            return LeadOutcome(lead_id=lead_id, outcome=Outcome.REFUSED, reason=why.code.value, detail=why.reason)
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            detail = f"no answer within {ANSWER_WITHIN.total_seconds():g}s (is a worker running its journey?)"
            return LeadOutcome(lead_id=lead_id, outcome=Outcome.SKIPPED, reason="no_answer", detail=detail)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            # Ended between the listing and its turn (completed, unsubscribed, converted).
            return LeadOutcome(lead_id=lead_id, outcome=Outcome.SKIPPED, reason="ended", detail=err.message)
        return LeadOutcome(lead_id=lead_id, outcome=Outcome.MOVED, from_step=moved.from_step, to_step=moved.to_step)
