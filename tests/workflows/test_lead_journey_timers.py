"""Lead journey under the time-skipping server: weeks of timers in seconds.

Real workers and the real workflow; platform activities are stand-ins registered
under the real names (tests/workflows/fakes.py) that record when they ran.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType as EventType_
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from domain.leads import EngagementEvent, EventType, Firmographics, LeadCapture, LeadStage, lead_key, lead_workflow_id
from mops.queues import PlatformQueues
from tests.conftest import daytime_zone, eventually, signal_taken
from tests.workflows.fakes import FakePlatforms
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.lead_models import LeadJourneyInput, SalesDecision, SalesDecisionKind, UnsubscribeRequest

JOURNEYS = Path(__file__).resolve().parents[2] / "journeys"
HOT = Firmographics(company="Acme", industry="software", employees=5000, job_title="Director of Marketing")


def new_queues() -> PlatformQueues:
    s = uuid.uuid4().hex[:6]
    return PlatformQueues(workflows=f"wf-{s}", crm=f"crm-{s}", email=f"em-{s}", chat=f"chat-{s}")


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, fake: FakePlatforms, queues: PlatformQueues, journeys: Path = JOURNEYS
) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for w in fake.workers(env.client, queues, journeys):
            await stack.enter_async_context(w)
        yield


async def start_lead(
    env: WorkflowEnvironment,
    queues: PlatformQueues,
    *,
    journey: str = "default-nurture",
    tz: str | None = None,
    can_after: int = 10_000,
    keys_per_entry: bool = False,
    email: str | None = None,
) -> WorkflowHandle:
    tz = tz or await daytime_zone(env)
    email = email or f"lead-{uuid.uuid4().hex[:8]}@example.com"
    capture = LeadCapture(
        capture_id=str(uuid.uuid4()),
        email=email,
        source="web_form",
        consent=True,
        captured_at=datetime.now(UTC),
        journey_id=journey,
        timezone=tz,
    )
    key = lead_key(email, "test-secret")
    return await env.client.start_workflow(
        LeadJourneyWorkflow.run,
        LeadJourneyInput(
            lead_id=key,
            capture=capture,
            queues=queues,
            continue_as_new_after_events=can_after,
            keys_per_entry=keys_per_entry,
        ),
        id=lead_workflow_id(key),
        task_queue=queues.workflows,
    )


async def event(env: WorkflowEnvironment, kind: EventType) -> EngagementEvent:
    # Stamped with the server's (skipped) clock: engagement decays with age, and an
    # event stamped with the wall clock would look old once the test has skipped weeks.
    return EngagementEvent(event_id=str(uuid.uuid4()), type=kind, at=await env.get_current_time())


async def test_ninety_day_journey_runs_to_its_goal(time_env: WorkflowEnvironment) -> None:
    fake, queues = FakePlatforms(), new_queues()
    async with running(time_env, fake, queues):
        handle = await start_lead(time_env, queues, tz="America/New_York")
        result = await handle.result()

    assert result.stage == LeadStage.COMPLETED
    assert result.outcome == "nurture_complete"
    sends = fake.of("email.send")
    assert result.emails_sent == len(sends) == 7
    keys = [c.arg.idempotency_key for c in sends]
    assert len(set(keys)) == len(keys), "every send has its own idempotency key"
    assert all(k.startswith(handle.id + ":") for k in keys), "keys derive from the workflow id, not the run"
    assert sends[-1].at - sends[0].at > timedelta(days=60), "the journey really spans weeks"
    # Quiet hours (20:00-08:00 in the lead's zone) and the cap (2 per 7 days) hold.
    from zoneinfo import ZoneInfo

    for c in sends[1:]:  # the welcome goes out on capture
        local = c.at.astimezone(ZoneInfo("America/New_York")).time()
        assert local.hour >= 8 and local.hour < 20, f"sent in quiet hours: {local}"
    times = [c.at for c in sends]
    for i in range(len(times) - 2):
        assert times[i + 2] - times[i] >= timedelta(days=7) - timedelta(seconds=1), "frequency cap broken"
    # The morning-slot wait lands at 09:30 local before the case study.
    case_study = next(c for c in sends if c.arg.step_id == "case-study")
    local = case_study.at.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (9, 30)


async def test_unsubscribe_during_a_wait_sends_nothing_afterwards(time_env: WorkflowEnvironment) -> None:
    fake, queues = FakePlatforms(), new_queues()
    async with running(time_env, fake, queues):
        handle = await start_lead(time_env, queues)

        async def in_first_wait():
            st = await handle.query(LeadJourneyWorkflow.state)
            return st.emails_sent == 1 and st.next_step == "settle-in" and st

        await eventually(in_first_wait, what="the welcome email and the first wait")
        await time_env.sleep(timedelta(days=1))
        await signal_taken(handle, LeadJourneyWorkflow.unsubscribe, UnsubscribeRequest(source="test"))
        result = await handle.result()

    assert result.stage == LeadStage.UNSUBSCRIBED
    assert len(fake.of("email.send")) == 1, "no email after the opt-out"
    assert len(fake.of("email.suppress")) == 1, "the opt-out reaches the email platform"
    assert any(c.arg.properties.get("hs_email_optout") == "true" for c in fake.of("crm.update_contact"))


async def test_opt_out_on_the_platform_stops_the_next_send(time_env: WorkflowEnvironment) -> None:
    """The send step asks the platform at send time: a suppression recorded
    elsewhere (another channel) ends the journey without a send."""
    fake, queues = FakePlatforms(), new_queues()
    fake.suppressed = True
    async with running(time_env, fake, queues):
        result = await (await start_lead(time_env, queues)).result()
    assert result.stage == LeadStage.UNSUBSCRIBED
    assert result.emails_sent == 0


async def test_sla_breach_escalates_and_reassigns(time_env: WorkflowEnvironment) -> None:
    fake, queues = FakePlatforms(firmographics=HOT), new_queues()
    async with running(time_env, fake, queues):
        handle = await start_lead(time_env, queues)
        await handle.signal(LeadJourneyWorkflow.event, await event(time_env, EventType.FORM))

        async def assigned():
            st = await handle.query(LeadJourneyWorkflow.state)
            return st.stage == LeadStage.SALES_ASSIGNED and st

        first = await eventually(assigned, what="hand-off to the first owner")
        assert first.owner_id == "101"
        await time_env.sleep(timedelta(hours=25))  # the 24 h SLA passes

        async def reassigned():
            st = await handle.query(LeadJourneyWorkflow.state)
            return st.owner_id not in (None, "101") and st

        second = await eventually(reassigned, what="reassignment after the SLA")
        # A late decision from the first owner no longer counts.
        await handle.signal(
            LeadJourneyWorkflow.sales_decision, SalesDecision(decision=SalesDecisionKind.ACCEPTED, owner_id="101")
        )
        await signal_taken(
            handle,
            LeadJourneyWorkflow.sales_decision,
            SalesDecision(decision=SalesDecisionKind.ACCEPTED, owner_id=second.owner_id),
        )
        result = await handle.result()

    assert result.stage == LeadStage.CONVERTED
    assert result.owner_id == second.owner_id == "102"
    escalations = [c for c in fake.of("chat.notify") if "SLA breached" in c.arg.text]
    assert len(escalations) == 1 and escalations[0].arg.channel == "#sales-handoff"
    handoffs = fake.of("crm.upsert_handoff")
    assert [h.arg.owner_id for h in handoffs] == ["101", "102"]
    assert len({h.arg.key for h in handoffs}) == 1, "the reassignment updates the same deal, not a new one"
    assert escalations[0].at - handoffs[0].at >= timedelta(hours=24)


async def test_click_reaches_the_goal(time_env: WorkflowEnvironment, tmp_path: Path) -> None:
    shutil.copytree(JOURNEYS / "scoring", tmp_path / "scoring")
    (tmp_path / "goal-test.yaml").write_text(
        """
id: goal-test
version: 1
name: Goal test
from_email: marketing@mops.example
unsubscribe_group_id: 1
scoring: default
handoff: {sla: 1d}
steps:
  - {id: hello, type: send_email, template: hello, subject: Hello}
  - {id: await-click, type: wait_for_event, events: [click], timeout: 30d, on_event: clicked, on_timeout: gave-up}
  - {id: clicked, type: goal, outcome: clicked}
  - {id: gave-up, type: goal, outcome: no_click}
"""
    )
    fake, queues = FakePlatforms(), new_queues()
    async with running(time_env, fake, queues, journeys=tmp_path):
        handle = await start_lead(time_env, queues, journey="goal-test")

        async def waiting():
            return (await handle.query(LeadJourneyWorkflow.state)).next_step == "await-click"

        await eventually(waiting, what="the wait for a click")
        await time_env.sleep(timedelta(days=3))
        await signal_taken(handle, LeadJourneyWorkflow.event, await event(time_env, EventType.CLICK))
        result = await handle.result()
        timeout_result = await (await start_lead(time_env, queues, journey="goal-test")).result()

    assert (result.stage, result.outcome) == (LeadStage.COMPLETED, "clicked")
    assert (timeout_result.stage, timeout_result.outcome) == (LeadStage.COMPLETED, "no_click")


async def settled_run(env: WorkflowEnvironment, workflow_id: str, first_run: str, signals: int) -> str:
    """The run a continue-as-new chain has settled on; an AssertionError while it is still moving.

    Settled: every signal is in some run's history, and the latest run is open with no
    workflow task after its last one (waiting on its timer). Only then is it safe to query:
    the time-skipping test server never answers a query sent to a run that continues as new
    while the query is pending, and the stuck query stalls the shared server for every later
    test. With a low threshold and signals arriving one by one, a chain can continue twice.
    """
    run, seen = first_run, 0
    while True:
        events = [e async for e in env.client.get_workflow_handle(workflow_id, run_id=run).fetch_history_events()]
        seen += sum(e.event_type == EventType_.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED for e in events)
        last = events[-1]
        if last.event_type != EventType_.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            break
        run = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    waiting = last.event_type in (EventType_.EVENT_TYPE_TIMER_STARTED, EventType_.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    if run != first_run and seen == signals and waiting:
        return run
    # Say where the chain is, so a timeout shows what it was still waiting for.
    raise AssertionError(f"run {run[:8]}: {seen}/{signals} signals seen, last event {EventType_.Name(last.event_type)}")


async def signal_current_run(handle: WorkflowHandle, signal, arg) -> None:
    """Signal the workflow's current run. The time-skipping test server can answer
    "Completed workflow" to a signal that arrives while the run it resolved is continuing as
    new; only that answer is sent again, once the new run is running (the test counts the
    signals the runs recorded, so one sent twice would show)."""
    try:
        await handle.signal(signal, arg)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND or "Completed workflow" not in err.message:
            raise

        async def new_run_running():
            return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

        await eventually(new_run_running, what="the run continued as new")
        await handle.signal(signal, arg)


async def test_continue_as_new_keeps_every_signal_and_the_wait(time_env: WorkflowEnvironment) -> None:
    fake, queues = FakePlatforms(), new_queues()
    async with running(time_env, fake, queues):
        handle = await start_lead(time_env, queues, can_after=30)
        first_run = (await handle.describe()).run_id

        async def waiting():
            return (await handle.query(LeadJourneyWorkflow.state)).next_step == "settle-in"

        await eventually(waiting, what="the first wait")
        deadline = (await handle.query(LeadJourneyWorkflow.state)).next_step_at
        for _ in range(15):  # 15 opens: 30 points, under the MQL threshold for this lead
            await signal_current_run(handle, LeadJourneyWorkflow.event, await event(time_env, EventType.OPEN))

        # Fifteen signals are fifteen workflow tasks, then one or two continue-as-new: on a loaded
        # 2-CPU machine that takes well over the default 30 s.
        run = await eventually(
            lambda: settled_run(time_env, handle.id, first_run, 15), timeout=120, what="continue-as-new"
        )
        latest = time_env.client.get_workflow_handle(handle.id, run_id=run)
        state = await latest.query(LeadJourneyWorkflow.state, rpc_timeout=timedelta(seconds=10))
        assert state.events_recorded == 15, "no signal lost across continue-as-new"
        assert state.next_step == "settle-in" and state.next_step_at == deadline, "the wait resumes, not restarts"
        assert state.emails_sent == 1
    assert len(fake.of("email.send")) == 1, "the new run does not resend the welcome"


async def test_platform_rejections_never_fail_the_journey(time_env: WorkflowEnvironment) -> None:
    """A rejected email is skipped; a rejected CRM call parks the lead and retries
    (hourly) instead of failing the workflow and losing the lead."""
    fake, queues = FakePlatforms(), new_queues()
    fake.reject_once = {"email.send", "crm.upsert_lead"}
    async with running(time_env, fake, queues):
        handle = await start_lead(time_env, queues)
        result = await handle.result()
        state = await handle.query(LeadJourneyWorkflow.state)

    assert result.stage == LeadStage.COMPLETED
    upserts = fake.of("crm.upsert_lead")
    assert len(upserts) == 2 and upserts[1].at - upserts[0].at >= timedelta(hours=1)
    assert result.emails_sent == len(fake.of("email.send")) - 1 == 6, "only the rejected welcome is missing"
    notes = [t.what for t in state.timeline]
    assert any("email rejected by the platform (VALIDATION_ERROR); skipped" in n for n in notes), notes
