"""Time-skipping hygiene: a workflow left running by a failed test (a timer with no
worker) stops the shared test server from skipping time for every later test, so
each test's workflows are terminated when it ends, pass or fail."""

from __future__ import annotations

import contextlib

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

STARTED: list[WorkflowHandle] = []


def track(handle: WorkflowHandle) -> WorkflowHandle:
    STARTED.append(handle)
    return handle


@pytest.fixture(autouse=True)
async def terminate_leftovers(request) -> None:
    yield
    if "time_env" not in request.fixturenames:
        return
    env: WorkflowEnvironment = request.getfixturevalue("time_env")
    while STARTED:
        handle = STARTED.pop()
        with contextlib.suppress(Exception):
            await env.client.get_workflow_handle(handle.id).terminate("test finished")
