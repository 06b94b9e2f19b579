"""A workflow that runs one activity by name, for the kill -9 tests of `post_once`: the
test drives the activity worker (a separate process it kills), not a whole campaign. In
a module of its own: the workflow sandbox re-imports the module a workflow is defined
in, and this one imports nothing but the SDK."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy


@workflow.defn(name="PostOnceProbe")
class PostOnceProbe:
    @workflow.run
    async def run(self, activity: str, task_queue: str, arg: dict[str, Any]) -> dict[str, Any]:
        # A short attempt timeout: the killed attempt is given up on (and retried on the
        # new worker) within seconds rather than the production timeout.
        return await workflow.execute_activity(
            activity,
            arg,
            task_queue=task_queue,
            start_to_close_timeout=timedelta(seconds=8),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=10),
            result_type=dict,
        )
