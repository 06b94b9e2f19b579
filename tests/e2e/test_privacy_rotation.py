"""Key rotation on the real dev server: a workflow written under master key k1 goes on
under a worker configured `k2,k1`: the fresh worker replays (decodes) the k1 history,
and everything written from then on is under k2. A worker without k1 can no longer
replay it, which is why old keys stay configured until nothing needs them."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.models import AssignOwnerInput, AssignOwnerResult
from domain.routing import OwnerSlot
from mops.codec import key_id_of
from mops.master_keys import new_master_key
from mops.settings import Settings
from mops.temporal import data_converter
from workflows.owner_router import OwnerRouterWorkflow

OWNERS = [OwnerSlot(owner_id="101"), OwnerSlot(owner_id="102")]


def payload_keys(history) -> list[str]:
    """The key id of every payload in the history, in order."""
    keys = []

    def walk(message) -> None:
        for field, value in message.ListFields():
            if field.message_type is None:
                continue
            if hasattr(value, "ListFields"):
                items = [value]
            elif hasattr(value, "values") and callable(value.values):  # a map<string, Payload>
                items = list(value.values())
            else:
                items = list(value)
            for item in items:
                if field.message_type.full_name == "temporal.api.common.v1.Payload":
                    keys.append(key_id_of(item) or "plain")
                elif hasattr(item, "ListFields"):
                    walk(item)

    for event in history.events:
        walk(event)
    return keys


async def test_old_histories_decode_new_writes_use_the_new_key(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    k1, k2 = new_master_key("k1"), new_master_key("k2")
    target = dev_env.client.service_client.config.target_host
    before = Settings(data_dir=tmp_path, codec_keys=k1, key_cache_seconds=0)
    after = Settings(data_dir=tmp_path, codec_keys=f"{k2},{k1}", key_cache_seconds=0)
    queue, router_id = f"rot-{uuid.uuid4().hex[:6]}", f"router-rot-{uuid.uuid4().hex[:6]}"

    async def assign(client: Client, request_id: str) -> str:
        start = WithStartWorkflowOperation(
            OwnerRouterWorkflow.run,
            None,
            id=router_id,
            task_queue=queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        result = await client.execute_update_with_start_workflow(
            OwnerRouterWorkflow.assign,
            AssignOwnerInput(request_id=request_id, owners=OWNERS),
            start_workflow_operation=start,
            id=request_id,
            result_type=AssignOwnerResult,
        )
        return result.owner_id

    old_client = await Client.connect(target, data_converter=data_converter(before))
    async with Worker(old_client, task_queue=queue, workflows=[OwnerRouterWorkflow]):
        first = await assign(old_client, "r1")
    new_client = await Client.connect(target, data_converter=data_converter(after))
    # A new worker process: no cache, it replays the k1 history before it can answer.
    async with Worker(new_client, task_queue=queue, workflows=[OwnerRouterWorkflow], max_cached_workflows=0):
        second = await assign(new_client, "r2")
        again = await assign(new_client, "r1")  # the first request's answer, read back from k1-era state
    assert {first, second} == {"101", "102"} and again == first

    history = await new_client.get_workflow_handle(router_id).fetch_history()
    keys = payload_keys(history)
    assert "plain" not in keys and keys[0] == "k1"
    switch = keys.index("k2")
    assert set(keys[:switch]) == {"k1"} and set(keys[switch:]) == {"k2"}, keys

    assert (
        await Replayer(workflows=[OwnerRouterWorkflow], data_converter=data_converter(after)).replay_workflow(
            history, raise_on_replay_failure=False
        )
    ).replay_failure is None
    only_new = Settings(data_dir=tmp_path, codec_keys=k2, key_cache_seconds=0)
    result = await Replayer(workflows=[OwnerRouterWorkflow], data_converter=data_converter(only_new)).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is not None, "k1 must stay configured while k1 histories are kept"
    await new_client.get_workflow_handle(router_id).terminate("test finished")
