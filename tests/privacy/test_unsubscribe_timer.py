"""Unsubscribe race, timer side (time-skipping server, real workflow, stand-in platform
activities): an opt-out recorded one second before the next send's timer fires means
no send at all after it; the opt-out reaches the email platform and the CRM."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.consent import Purpose
from domain.leads import LeadCapture, LeadStage, lead_key, lead_workflow_id
from mops.queues import PlatformQueues
from tests.conftest import daytime_zone, eventually, signal_taken
from tests.workflows.fakes import FakePlatforms
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.lead_models import LeadJourneyInput, UnsubscribeRequest

JOURNEYS = Path(__file__).resolve().parents[2] / "journeys"


async def test_opt_out_one_second_before_the_send_timer_fires(time_env: WorkflowEnvironment) -> None:
    fake, s = FakePlatforms(), uuid.uuid4().hex[:6]
    queues = PlatformQueues(workflows=f"wf-{s}", crm=f"crm-{s}", email=f"em-{s}", chat=f"chat-{s}")
    email = f"race-{s}@example.com"
    capture = LeadCapture(
        capture_id=str(uuid.uuid4()),
        email=email,
        source="web_form",
        consent=True,
        captured_at=datetime.now(UTC),
        timezone=await daytime_zone(time_env),
    )
    key = lead_key(email, "test-secret")
    async with AsyncExitStack() as stack:
        for w in fake.workers(time_env.client, queues, JOURNEYS):
            await stack.enter_async_context(w)
        handle = await time_env.client.start_workflow(
            LeadJourneyWorkflow.run,
            LeadJourneyInput(lead_id=key, capture=capture, queues=queues),
            id=lead_workflow_id(key),
            task_queue=queues.workflows,
        )

        async def waiting():
            st = await handle.query(LeadJourneyWorkflow.state)
            return st.next_step == "settle-in" and st.next_step_at and st

        st = await eventually(waiting, what="the wait before the second email")
        now = await time_env.get_current_time()
        # A minute before the timer: the test server's clock runs in real time between
        # skips, and it wedges a run whose timer fires while the task cancelling it is in
        # flight, so the opt-out must be taken well before the timer is due.
        await time_env.sleep(st.next_step_at - now - timedelta(minutes=1))
        opted_at = await time_env.get_current_time()
        assert timedelta(seconds=0) < st.next_step_at - opted_at <= timedelta(minutes=1, seconds=5)
        await signal_taken(handle, LeadJourneyWorkflow.unsubscribe, UnsubscribeRequest(source="one-click", at=opted_at))
        result = await handle.result()
        state = await handle.query(LeadJourneyWorkflow.state)

    assert result.stage == LeadStage.UNSUBSCRIBED and result.emails_sent == 1
    sends = fake.of("email.send")
    assert [c.arg.step_id for c in sends] == ["welcome"] and all(c.at < opted_at for c in sends)
    assert len(fake.of("email.suppress")) == 1
    assert any(c.arg.properties.get("hs_email_optout") == "true" for c in fake.of("crm.update_contact"))
    # Consent per purpose: the opt-out withdrew both marketing purposes, with its source and time.
    withdrawn = {p: r for p, r in state.consents.items() if not r.granted}
    assert set(withdrawn) == {Purpose.EMAIL_MARKETING, Purpose.AD_AUDIENCES}
    assert {r.source for r in withdrawn.values()} == {"one-click"}
