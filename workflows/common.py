"""Helpers shared by mops workflows (deterministic; workflow code only)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.policies import PLATFORM_RETRY, PLATFORM_TIMEOUT

WaitResult = Literal["done", "timeout", "continue_as_new"]
REJECTED = "PlatformRejected"  # activities/errors.py: non-retryable 4xx
UNSENDABLE = "EmailUnsendable"  # activities/errors.py: a message that must not go out as it is
PARK_RETRY = timedelta(hours=1)  # after a platform rejection that needs a human fix


async def call(
    name: str,
    arg: Any,
    result_type: type,
    *,
    queue: str,
    summary: str,
    retry: RetryPolicy = PLATFORM_RETRY,
    timeout: timedelta = PLATFORM_TIMEOUT,
) -> Any:
    """Run an activity by name (workflows never import activity implementations)."""
    return await workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        task_queue=queue,
        start_to_close_timeout=timeout,
        retry_policy=retry,
        summary=summary,
    )


async def call_parked(
    name: str, arg: Any, result_type: type, *, queue: str, summary: str, note: Callable[[str], None]
) -> Any:
    """A platform call that never fails the workflow. Transient errors are retried by
    the activity's policy; a rejection that retrying cannot fix (a revoked token, a
    missing property) parks the workflow and tries again hourly, noted for people to
    see, until someone fixes the cause."""
    while True:
        try:
            return await call(name, arg, result_type, queue=queue, summary=summary)
        except ActivityError as err:
            if not is_type(err, REJECTED):
                raise
            note(f"{summary}: rejected by the platform ({reason(err)}); retrying in {PARK_RETRY}")
            await workflow.sleep(PARK_RETRY, summary=f"parked: {summary}")


def is_type(err: ActivityError, type_name: str) -> bool:
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.type == type_name


def reason(err: ActivityError) -> str:
    """The platform's error code (activities put it in the details; no personal data)."""
    cause = err.cause
    details = cause.details if isinstance(cause, ApplicationError) else ()
    return str(details[0]) if details else "rejected"


def continue_as_new_due(history_limit: int) -> bool:
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() >= history_limit


async def wait_until(until: datetime | None, done: Callable[[], bool], summary: str, history_limit: int) -> WaitResult:
    """Wait until `done()` or the deadline; give way to continue-as-new."""
    if done():
        return "done"
    timeout = None if until is None else until - workflow.now()
    if timeout is not None and timeout <= timedelta(0):
        return "timeout"
    try:
        await workflow.wait_condition(
            lambda: done() or continue_as_new_due(history_limit), timeout=timeout, timeout_summary=summary
        )
    except TimeoutError:
        return "timeout"
    return "done" if done() else "continue_as_new"
