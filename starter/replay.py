"""Replay live runs against this checkout's workflow code (`mops replay`).

Before a deploy, point the new code at the server the old code runs on: each run's
history is fetched and replayed by the same workflow classes and data converter the
workers register, and the first command the new code would issue differently from the
recorded one is reported. Nothing is written to the server; the runs are not touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, WorkflowReplayResult

# The SDK core reports nondeterminism as a debug dump of its Failure; the message is
# what a person needs ("[TMPRL1100] Nondeterminism error: ... does not match ...").
_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class ReplayOutcome:
    workflow_id: str
    run_id: str | None
    workflow_type: str
    events: int
    failure: str | None  # None: the code replays the run as recorded

    @property
    def ok(self) -> bool:
        return self.failure is None


def failure_text(error: BaseException) -> str:
    text = str(error)
    found = _CORE_MESSAGE.search(text)
    return found.group(1).replace('\\"', '"') if found else text


def _outcome(history: WorkflowHistory, run_id: str | None, result: WorkflowReplayResult) -> ReplayOutcome:
    first = history.events[0].workflow_execution_started_event_attributes
    failure = result.replay_failure
    return ReplayOutcome(
        workflow_id=history.workflow_id,
        run_id=run_id,
        workflow_type=first.workflow_type.name,
        events=len(history.events),
        failure=None if failure is None else failure_text(failure),
    )


def replayer(client: Client) -> Replayer:
    from workers.main import WORKFLOWS  # the classes the workers register, nothing else

    return Replayer(workflows=WORKFLOWS, data_converter=client.data_converter)


async def replay_one(client: Client, workflow_id: str, run_id: str | None = None) -> ReplayOutcome:
    """Replay one run (the latest when no run id); a missing workflow raises the SDK's RPCError."""
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    result = await replayer(client).replay_workflow(history, raise_on_replay_failure=False)
    return _outcome(history, run_id, result)


async def replay_matching(client: Client, query: str, limit: int) -> list[ReplayOutcome]:
    """Replay up to `limit` runs that a visibility query selects, e.g. the running journeys."""
    outcomes: list[ReplayOutcome] = []
    runs = client.list_workflows(query, limit=limit)
    rep = replayer(client)
    async for run in runs:
        history = await client.get_workflow_handle(run.id, run_id=run.run_id).fetch_history()
        result = await rep.replay_workflow(history, raise_on_replay_failure=False)
        outcomes.append(_outcome(history, run.run_id, result))
    return outcomes
