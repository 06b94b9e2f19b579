"""The lead journey's `migrate` update under the time-skipping server (the real workflow,
stand-in platforms): a waiting lead moved with `timers: keep` keeps its deadline at the new
step and a `restart` starts the new step's wait afresh; the validator refuses another version,
an unmapped step and a lead whose email is in flight, and a refusal changes nothing."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.journey_migration import MigrateRequest, Timers
from domain.journeys import JourneySpec, load_journey
from domain.leads import LeadStage
from tests.conftest import eventually
from tests.workflows.fakes import FakePlatforms
from tests.workflows.test_lead_journey_timers import JOURNEYS, new_queues, running, start_lead
from workflows.lead_journey import LeadJourneyWorkflow

V1 = """
id: move-me
version: 1
name: Move me
from_email: marketing@mops.example
unsubscribe_group_id: 1
scoring: default
handoff: {sla: 1d}
steps:
  - {id: hello, type: send_email, template: hello, subject: Hello}
  - {id: long, type: wait, duration: 10d}
  - {id: old-bye, type: send_email, template: old-bye, subject: Old bye}
"""

V2 = """
id: move-me
version: 2
name: Move me, corrected
from_email: marketing@mops.example
unsubscribe_group_id: 1
scoring: default
handoff: {sla: 1d}
steps:
  - {id: hello, type: send_email, template: hello, subject: Hello}
  - {id: pause, type: wait, duration: 20d}
  - {id: new-bye, type: send_email, template: new-bye, subject: New bye}
"""


def versions(tmp_path: Path) -> tuple[Path, JourneySpec]:
    """The v1 file for the workers (the journey a lead loads), and v2's spec."""
    for name, text in (("v1", V1), ("v2", V2)):
        shutil.copytree(JOURNEYS / "scoring", tmp_path / name / "scoring")
        (tmp_path / name / "move-me.yaml").write_text(text)
    return tmp_path / "v1", load_journey(tmp_path / "v2", "move-me")


def request(
    v2: JourneySpec, timers: Timers, *, mapping: dict[str, str] | None = None, start: int = 1
) -> MigrateRequest:
    return MigrateRequest(
        migration_id="m-test", from_version=start, journey=v2, mapping=mapping or {"long": "pause"}, timers=timers
    )


async def waiting(handle: WorkflowHandle, step: str):
    async def at():
        st = await handle.query(LeadJourneyWorkflow.state)
        return st.stage == LeadStage.NURTURING and st.next_step == step and st.next_step_at is not None and st

    return await eventually(at, what=f"the lead waiting at {step}")


async def _is(read, wanted) -> bool:
    return await read() == wanted


async def refusal(handle: WorkflowHandle, req: MigrateRequest) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(LeadJourneyWorkflow.migrate, req)
    return str(failed.value.cause.details[0])  # type: ignore[attr-defined]


async def test_keep_carries_the_deadline_and_restart_starts_the_wait_again(time_env: WorkflowEnvironment, tmp_path):
    journeys, v2 = versions(tmp_path)
    fake, queues = FakePlatforms(), new_queues()
    async with running(time_env, fake, queues, journeys=journeys):
        kept = await start_lead(time_env, queues, journey="move-me")
        restarted = await start_lead(time_env, queues, journey="move-me")
        before = await waiting(kept, "long")
        await waiting(restarted, "long")

        assert await refusal(kept, request(v2, Timers.KEEP, start=2)) == "other_version"
        assert await refusal(kept, request(v2, Timers.KEEP, mapping={"hello": "pause"})) == "step_not_mapped"
        assert (await kept.query(LeadJourneyWorkflow.state)).journey_version == 1  # a refusal changes nothing

        req = request(v2, Timers.KEEP)
        moved = await kept.execute_update(LeadJourneyWorkflow.migrate, req, id=req.update_id)
        assert (moved.from_step, moved.to_step, moved.wait_until) == ("long", "pause", before.next_step_at)
        # The migration asking again (its batch retried after a worker died): the first answer.
        assert await kept.execute_update(LeadJourneyWorkflow.migrate, req, id=req.update_id) == moved
        again = await restarted.execute_update(LeadJourneyWorkflow.migrate, request(v2, Timers.RESTART))
        assert again.wait_until is None
        assert await refusal(kept, request(v2, Timers.KEEP)) == "other_version"  # moved once, never twice

        st = await waiting(kept, "pause")
        assert (st.journey_version, st.next_step_at) == (2, before.next_step_at)
        now = await time_env.get_current_time()
        st = await waiting(restarted, "pause")
        assert st.journey_version == 2 and st.next_step_at is not None
        assert st.next_step_at - now > timedelta(days=19), "the new step's 20 days from the move"

        # Past the kept deadline: only the lead that kept it has had its v2 email.
        await time_env.sleep(timedelta(days=11))

        async def byes() -> dict[str, str]:
            return {c.arg.lead_id: c.arg.step_id for c in fake.of("email.send") if c.arg.step_id != "hello"}

        kept_id = (await kept.query(LeadJourneyWorkflow.state)).lead_id
        restarted_id = (await restarted.query(LeadJourneyWorkflow.state)).lead_id
        await eventually(lambda: _is(byes, {kept_id: "new-bye"}), what="the kept lead's v2 email after 10 days")
        await time_env.sleep(timedelta(days=10))
        await eventually(lambda: _is(byes, {kept_id: "new-bye", restarted_id: "new-bye"}), what="the other's after 20")
        assert (await kept.result()).outcome == (await restarted.result()).outcome == "journey_end"


async def test_a_lead_whose_email_is_in_flight_refuses(time_env: WorkflowEnvironment, tmp_path: Path) -> None:
    journeys, v2 = versions(tmp_path)
    fake, queues = FakePlatforms(send_gate=asyncio.Event()), new_queues()
    async with running(time_env, fake, queues, journeys=journeys):
        handle = await start_lead(time_env, queues, journey="move-me")

        async def in_flight() -> bool:
            return bool(fake.of("email.send"))

        await eventually(in_flight, what="the welcome in flight")
        assert await refusal(handle, request(v2, Timers.KEEP, mapping={"hello": "pause"})) == "mid_send"
        assert fake.send_gate is not None
        fake.send_gate.set()
        await waiting(handle, "long")
        await handle.terminate()
