"""Helpers shared by mops workflows (deterministic; workflow code only): calling
activities through their typed refs, the timeline every workflow keeps, and the
search-attribute upsert."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import ActivityRef, ErrorType, Nothing
    from activities.policies import PLATFORM_RETRY, PLATFORM_TIMEOUT
    from workflows.search_attributes import Updates

In = TypeVar("In")
Out = TypeVar("Out")
E = TypeVar("E")

WaitResult = Literal["done", "timeout", "continue_as_new"]
PARK_RETRY = timedelta(hours=1)  # after a platform rejection that needs a human fix
# A workflow's timeline is what people read in its state query and the Web UI: the
# recent story. It lives in workflow state (and so in every continue-as-new input),
# hence the cap.
MAX_TIMELINE = 100
# The SendGrid unsubscribe group every marketing email (content and campaign list
# sends) carries, so that one opt-out covers them all; the journeys' YAML names the
# same group (`unsubscribe_group_id`) for the nurture emails.
EMAIL_SUPPRESSION_GROUP = 4242


async def call(
    ref: ActivityRef[In, Out],
    arg: In,
    *,
    queue: str,
    summary: str,
    retry: RetryPolicy = PLATFORM_RETRY,
    timeout: timedelta | None = None,
    heartbeat: timedelta | None = None,
) -> Out:
    """Run an activity by its ref (workflows never import activity implementations);
    the result comes back as the ref's result type. Timeouts: the caller's, else the
    ref's own, else a platform call's."""
    result: Out = await workflow.execute_activity(
        ref.name,
        args=[] if ref.input is Nothing else [arg],
        result_type=ref.result,
        task_queue=queue,
        start_to_close_timeout=timeout or ref.timeout or PLATFORM_TIMEOUT,
        heartbeat_timeout=heartbeat or ref.heartbeat,
        retry_policy=retry,
        summary=summary,
    )
    return result


async def call_local(
    ref: ActivityRef[In, Out],
    arg: In,
    *,
    summary: str,
    retry: RetryPolicy,
    timeout: timedelta,
) -> Out:
    """`call` as a local activity: run by this workflow's worker inside the workflow task,
    recorded as one marker (no activity task, no extra workflow task). Only for calls
    that are neither a platform's (its task queue holds the rate limit and the
    degraded-platform hold) nor long; the activity must be on the workflow worker."""
    result: Out = await workflow.execute_local_activity(
        ref.name,
        args=[] if ref.input is Nothing else [arg],
        result_type=ref.result,
        start_to_close_timeout=timeout,
        retry_policy=retry,
        summary=summary,
    )
    return result


async def call_parked(
    ref: ActivityRef[In, Out], arg: In, *, queue: str, summary: str, note: Callable[[str], None]
) -> Out:
    """A platform call that never fails the workflow. Transient errors are retried by
    the activity's policy; a rejection that retrying cannot fix (a revoked token, a
    missing property) parks the workflow and tries again hourly, noted for people to
    see, until someone fixes the cause."""
    while True:
        try:
            return await call(ref, arg, queue=queue, summary=summary)
        except ActivityError as err:
            if not is_type(err, ErrorType.PLATFORM_REJECTED):
                raise
            note(f"{summary}: rejected by the platform ({reason(err)}); retrying in {PARK_RETRY}")
            await workflow.sleep(PARK_RETRY, summary=f"parked: {summary}")


def is_type(err: ActivityError, error_type: ErrorType) -> bool:
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.type == error_type


def reason(err: ActivityError) -> str:
    """The platform's error code (activities put it in the details; no personal data)."""
    cause = err.cause
    details = cause.details if isinstance(cause, ApplicationError) else ()
    return str(details[0]) if details else "rejected"


def with_entry(timeline: list[E], entry: E) -> list[E]:
    """The timeline with `entry` added last, capped at MAX_TIMELINE (oldest dropped)."""
    return [*timeline, entry][-MAX_TIMELINE:]


def with_note(timeline: list[tuple[datetime, str]], what: str) -> list[tuple[datetime, str]]:
    """`with_entry` for the (when, what) timelines, stamped with workflow time."""
    return with_entry(timeline, (workflow.now(), what))


class SearchAttributes:
    """Upserts a workflow's search attributes only when they changed: every upsert is a
    history event, and some (a lead's score) move with every signal. The last values
    are kept in memory, so a replay makes the same choices."""

    def __init__(self) -> None:
        self._published = ""

    def upsert(self, updates: Updates) -> None:
        fingerprint = repr([(u.key.name, u.value) for u in updates])
        if fingerprint != self._published:
            self._published = fingerprint
            workflow.upsert_search_attributes(updates)


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
