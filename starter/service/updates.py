"""Sending an update to a workflow: the one place a validator's refusal becomes `Refused`."""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.refusals import Refused


def refused(err: WorkflowUpdateFailedError) -> Refused:
    """An update's refusal read back into its code and reason (domain/refusals.py)."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return Refused.from_failure(cause.type, cause.details, cause.message)
    return Refused.from_failure(None, (), getattr(cause, "message", None) or str(cause))


async def execute_update(handle: WorkflowHandle, update: Any, arg: Any, *, not_found: Exception) -> Any:
    """Run `update` and wait for its result; a refusal raises `Refused`, a workflow that
    does not exist (or no longer runs) raises `not_found`."""
    try:
        return await handle.execute_update(update, arg)
    except WorkflowUpdateFailedError as err:
        raise refused(err) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise not_found from None
        raise
