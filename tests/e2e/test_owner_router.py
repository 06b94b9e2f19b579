"""The owner router on the real server: weighted round-robin kept durably in one
workflow, idempotent per request id, refusing when nobody is eligible."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from temporalio.exceptions import ApplicationError

from activities.models import AssignOwnerInput
from activities.routing import RoutingActivities
from domain.routing import OwnerSlot
from tests.e2e.conftest import Stack
from workflows.owner_router import OwnerRouterWorkflow

SLOTS = [OwnerSlot(owner_id="101", weight=3), OwnerSlot(owner_id="102", weight=1)]


async def test_router_is_weighted_durable_and_idempotent(stack: Stack) -> None:
    router_id = f"owner-router-{uuid.uuid4().hex[:6]}"
    routing = RoutingActivities(stack.client, stack.settings.workflow_task_queue, router_id=router_id)

    picks = [
        (await routing.assign_owner(AssignOwnerInput(request_id=f"r{i}", owners=SLOTS))).owner_id for i in range(8)
    ]
    assert Counter(picks) == {"101": 6, "102": 2}
    assert picks[:4].count("102") == 1, f"smoothly interleaved, not 101 x3 in a row: {picks}"

    again = await routing.assign_owner(AssignOwnerInput(request_id="r3", owners=SLOTS))
    assert again.owner_id == picks[3], "a retried request gets the same owner"
    state = await stack.client.get_workflow_handle(router_id).query(OwnerRouterWorkflow.state)
    assert state.assigned == {"101": 6, "102": 2}, "and is not counted twice"

    with pytest.raises(ApplicationError) as err:
        await routing.assign_owner(AssignOwnerInput(request_id="r-none", owners=SLOTS, exclude=["101", "102"]))
    assert err.value.type == "NoOwnerAvailable" and err.value.non_retryable
    state = await stack.client.get_workflow_handle(router_id).query(OwnerRouterWorkflow.state)
    assert sum(state.assigned.values()) == 8, "a refused request leaves no trace"
    await stack.client.get_workflow_handle(router_id).terminate("test done")
