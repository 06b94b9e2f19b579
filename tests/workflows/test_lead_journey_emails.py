"""A journey email that cannot go out as it is parks its step (time-skipping server):
nothing is sent in its place, the reason is in the timeline and the current details,
and the send is tried again hourly until the template is fixed."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from domain.leads import LeadStage
from tests.conftest import eventually, signal_taken
from tests.workflows.fakes import FakePlatforms
from tests.workflows.test_lead_journey_timers import HOT, new_queues, running, start_lead
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.lead_models import UnsubscribeRequest

REASON = "templates/nurture-case-study.txt:3: 'frist_name' is undefined"


async def current_details(handle) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def test_unrenderable_email_parks_the_step_until_the_template_is_fixed(time_env: WorkflowEnvironment) -> None:
    fake, queues = FakePlatforms(), new_queues()
    fake.unsendable = {"nurture-case-study": 30}  # fixed before the 31st try, a day or more later
    async with running(time_env, fake, queues):
        handle = await start_lead(time_env, queues)
        # The case study is due 2 days in, at 09:30 local: 3 days in, it is parked.
        await time_env.sleep(timedelta(days=3))

        async def parked():
            st = await handle.query(LeadJourneyWorkflow.state)
            return st.next_step == "case-study" and len(fake.of("email.send")) >= 2 and st

        st = await eventually(parked, what="the case study parked")
        assert st.emails_sent == 1 and st.stage == LeadStage.NURTURING
        assert any(
            f"step case-study: email parked, not sent ({REASON}); retrying every 1:00:00" == t.what for t in st.timeline
        )
        assert f"**Parked:** step case-study: {REASON}" in await current_details(handle)
        result = await handle.result()
        state = await handle.query(LeadJourneyWorkflow.state)

    assert result.stage == LeadStage.COMPLETED
    tries = [c for c in fake.of("email.send") if c.arg.step_id == "case-study"]
    assert len(tries) == 31 and all(b.at - a.at >= timedelta(hours=1) for a, b in zip(tries, tries[1:], strict=False))
    assert result.emails_sent == 7, "the parked email went out once fixed; nothing went out in its place"
    notes = [t.what for t in state.timeline]
    assert sum("email parked" in n for n in notes) == 1, "noted once, not on every hourly try"
    assert "step case-study: email no longer parked (the message renders and passes the brand rules)" in notes


async def test_parked_email_yields_to_an_unsubscribe(time_env: WorkflowEnvironment) -> None:
    fake, queues = FakePlatforms(), new_queues()
    fake.unsendable = {"nurture-welcome": 1000}
    async with running(time_env, fake, queues):
        handle = await start_lead(time_env, queues)
        await eventually(lambda: _parked_once(fake), what="the welcome parked")
        # Three hourly retries, then the opt-out half-way between two of them: the test
        # server wedges a run whose timer fires while the task cancelling it is in flight.
        await time_env.sleep(timedelta(hours=3, minutes=30))
        await signal_taken(handle, LeadJourneyWorkflow.unsubscribe, UnsubscribeRequest(source="test"))
        result = await handle.result()
    assert result.stage == LeadStage.UNSUBSCRIBED and result.emails_sent == 0


async def _parked_once(fake: FakePlatforms) -> bool:
    return len(fake.of("email.send")) >= 1


async def test_the_send_carries_what_the_email_is_personalised_with(time_env: WorkflowEnvironment) -> None:
    fake, queues = FakePlatforms(firmographics=HOT), new_queues()
    async with running(time_env, fake, queues):
        handle = await start_lead(time_env, queues)
        await eventually(lambda: _parked_once(fake), what="the welcome")
        await handle.terminate()
    lead = fake.of("email.send")[0].arg.lead
    assert (lead.company, lead.industry, lead.employees, lead.job_title) == ("Acme", "software", 5000, HOT.job_title)
    assert lead.segment and lead.score is not None and lead.owner_name is None
