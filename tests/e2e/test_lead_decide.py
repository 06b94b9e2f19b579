"""`mops lead decide` is a validated update: anyone but the assigned owner, or a lead not
waiting for sales, is refused with exit code 3 and the reason, and nothing changes."""

from __future__ import annotations

import json

from temporalio.api.enums.v1 import EventType as HistoryEventType

from domain.leads import EventType, LeadStage
from starter.service.leads import build_capture, build_event
from tests.conftest import eventually
from tests.e2e.conftest import Stack
from tests.e2e.test_cli import run_cli
from tests.e2e.test_lead_flow import unique_email, wait_for_stage, welcomed
from workflows.lead_journey import LeadJourneyWorkflow

UPDATE_EVENTS = {
    HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
}


async def updates_in_history(stack: Stack, wf_id: str) -> int:
    history = await stack.client.get_workflow_handle(wf_id).fetch_history()
    return sum(1 for e in history.events if e.event_type in UPDATE_EVENTS)


async def test_lead_decide_refuses_anyone_but_the_assigned_owner(stack: Stack) -> None:
    email = unique_email("acme.example")
    wf_id = (
        await stack.leads.capture(build_capture(stack.settings, email=email, source="web_form", consent=True))
    ).workflow_id
    await eventually(welcomed(stack, email), what="the welcome email")

    # Not handed to sales yet: refused, exit 3, the field named.
    early = await run_cli(stack, "lead", "decide", "--lead", wf_id, "--owner", "101", "--accept")
    assert early.exit_code == 3, early.output
    assert early.output.strip().startswith("error: refused: stage: not waiting for a sales decision (stage "), (
        early.output
    )

    for kind in (EventType.FORM, EventType.REPLY, EventType.CLICK):
        await stack.leads.record_event(build_event(type=kind), email=email)
    st = await wait_for_stage(stack, email, LeadStage.SALES_ASSIGNED)
    other = next(o for o in ("101", "102", "103", "104") if o != st.owner_id)
    updates = await updates_in_history(stack, wf_id)  # the capture's (update-with-start)

    wrong = await run_cli(stack, "lead", "decide", "--lead", wf_id, "--owner", other, "--accept")
    assert wrong.exit_code == 3, wrong.output
    assert wrong.output.strip() == (
        f"error: refused: owner: owner {other} is not the lead's assigned owner ({st.owner_id})"
    )
    after = await stack.leads.state(email=email)
    assert (after.stage, after.owner_id, after.deal_id) == (LeadStage.SALES_ASSIGNED, st.owner_id, st.deal_id)
    assert await updates_in_history(stack, wf_id) == updates, "a refused decision writes no history"

    right = await run_cli(stack, "lead", "decide", "--lead", wf_id, "--owner", st.owner_id, "--accept", "--json")
    assert right.exit_code == 0, right.output
    assert json.loads(right.output) == {"workflow_id": wf_id, "decision": "accepted", "owner_id": st.owner_id}
    final = await stack.client.get_workflow_handle_for(LeadJourneyWorkflow.run, wf_id).result()
    assert final.stage == LeadStage.CONVERTED
