"""A split under the time-skipping server: the lead keeps its variant on every visit, across
continue-as-new, and its histories replay (the real workflow, stand-in platforms)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType as EventType_
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.journeys import SplitStep, load_journey
from tests.conftest import eventually
from tests.workflows.fakes import FakePlatforms
from tests.workflows.test_lead_journey_timers import JOURNEYS, new_queues, running, start_lead
from workers.main import WORKFLOWS
from workflows.lead_journey import LeadJourneyWorkflow

# A weekly loop through a 50/50 split: every pass sends the variant's email, so each run of a
# continue-as-new chain shows which variant it took.
LOOP = """
id: split-loop
version: 1
name: Split loop
from_email: marketing@mops.example
unsubscribe_group_id: 1
scoring: default
handoff: {sla: 1d}
steps:
  - {id: hello, type: send_email, template: hello, subject: Hello}
  - id: subject-test
    type: split
    variants:
      - {id: a, weight: 50, goto: email-a}
      - {id: b, weight: 50, goto: email-b}
  - {id: email-a, type: send_email, template: t-a, subject: Variant A, next: pause}
  - {id: email-b, type: send_email, template: t-b, subject: Variant B, next: pause}
  - {id: pause, type: wait, duration: 7d, next: subject-test}
"""


async def test_the_variant_holds_across_continue_as_new_and_replay(time_env: WorkflowEnvironment, tmp_path: Path):
    shutil.copytree(JOURNEYS / "scoring", tmp_path / "scoring")
    (tmp_path / "split-loop.yaml").write_text(LOOP)
    split = load_journey(tmp_path, "split-loop").step("subject-test")
    assert isinstance(split, SplitStep)
    fake, queues = FakePlatforms(), new_queues()
    async with running(time_env, fake, queues, journeys=tmp_path):
        # A low history limit: a pass is about a dozen events, so the chain continues every few weeks.
        handle = await start_lead(time_env, queues, journey="split-loop", can_after=40, keys_per_entry=True)
        first_run = (await handle.describe()).run_id
        expected = split.assign("split-loop", (await handle.query(LeadJourneyWorkflow.state)).lead_id)

        async def settled():
            """Six passes, at least two runs, and the latest run waiting on its timer."""
            runs, run = [first_run], first_run
            while True:
                events = [
                    e async for e in time_env.client.get_workflow_handle(handle.id, run_id=run).fetch_history_events()
                ]
                last = events[-1]
                if last.event_type != EventType_.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                    break
                run = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                runs.append(run)
            # Waiting: the run's latest timer has started and not fired (a search-attribute
            # upsert may follow the timer's start in the same task).
            timers = [
                e.event_type
                for e in events
                if e.event_type in (EventType_.EVENT_TYPE_TIMER_STARTED, EventType_.EVENT_TYPE_TIMER_FIRED)
            ]
            waiting = bool(timers) and timers[-1] == EventType_.EVENT_TYPE_TIMER_STARTED
            passes = [c for c in fake.of("email.send") if c.arg.step_id != "hello"]
            return len(runs) >= 3 and len(passes) >= 6 and waiting and runs

        async def skip_a_week():
            await time_env.sleep(timedelta(days=7))
            return await settled()

        runs = await eventually(skip_a_week, timeout=120, what="six passes over three runs")
        latest = time_env.client.get_workflow_handle(handle.id, run_id=runs[-1])
        state = await latest.query(LeadJourneyWorkflow.state, rpc_timeout=timedelta(seconds=10))
        histories = [
            await time_env.client.get_workflow_handle(handle.id, run_id=run).fetch_history() for run in runs[:-1]
        ]
        await latest.terminate()
        histories.append(await latest.fetch_history())

    steps = [c.arg.step_id for c in fake.of("email.send")]
    assert steps[0] == "hello" and set(steps[1:]) == {f"email-{expected}"}, steps
    assert state.variants == {"subject-test": expected}
    # The entry's keys hold through continue-as-new: its first run's id, in every run.
    keys = [c.arg.idempotency_key for c in fake.of("email.send")]
    assert state.key_prefix == f"{handle.id}:{first_run[:8]}" and all(
        k.startswith(state.key_prefix + ":") for k in keys
    )
    assert len(set(keys)) == len(keys), "each pass its own key"
    replayer = Replayer(workflows=WORKFLOWS, data_converter=time_env.client.data_converter)
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure
