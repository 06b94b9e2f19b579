"""Record lead journeys that end at a journey goal and refuse a re-entry, for the replay test.

    .venv/bin/python -m tests.histories.record_lead_goals [--force]

A journey with a goal (a reply) and `reentry: never`, on the time-skipping server with the
real workers and the sandbox: a lead is welcomed, replies in the middle of a 30-day wait
(the `lead-goals-v1` marker, the exit at once, `lead-reentry-v1` and the finish recorded in
the contact ledger), then is captured again (the check at the start, the refusal, the run's
end). Writes `lead_journey_goal.json` and `lead_journey_reentry_refused.json` next to this
file, kept when they exist unless `--force`.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.leads import EventType
from domain.refusals import Refused
from mops.temporal import DATA_CONVERTER, client_interceptors
from sandbox.server import SandboxServer
from starter.service.leads import LeadService, build_capture, build_event
from starter.stack import register_search_attributes
from tests.conftest import binary, daytime_journeys, eventually, make_settings
from tests.histories.record_lead_sync import save_data_key
from workers.main import running_workers
from workflows.lead_journey import LeadJourneyWorkflow

HERE = Path(__file__).parent
GOAL, REFUSED = HERE / "lead_journey_goal.json", HERE / "lead_journey_reentry_refused.json"
JOURNEY = """
id: goal-once
version: 1
name: Goal, once
from_email: marketing@mops.example
unsubscribe_group_id: 4242
scoring: default
handoff: {sla: 1d}
reentry: never
goals:
  - {id: replied, event_seen: reply}
steps:
  - {id: welcome, type: send_email, template: nurture-welcome, subject: Welcome}
  - {id: long-wait, type: wait, duration: 30d}
  - {id: done, type: goal, outcome: nurture_complete}
"""


async def main() -> None:
    if GOAL.exists() and REFUSED.exists() and "--force" not in sys.argv:
        print("the goal and re-entry histories exist (--force to record them again)")
        return
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
        interceptors=client_interceptors(),
    )
    try:
        await register_search_attributes(env.client)
        with tempfile.TemporaryDirectory() as tmp:
            journeys = Path(tmp) / "journeys"
            shutil.copytree(daytime_journeys(), journeys)
            (journeys / "goal-once.yaml").write_text(JOURNEY)
            async with SandboxServer() as sandbox:
                settings = make_settings(
                    sandbox.url, env.client.service_client.config.target_host, journeys_dir=journeys
                )
                leads = LeadService(env.client, settings)
                email = f"recorded.{uuid.uuid4().hex[:8]}@goals.example"

                def capture():
                    return build_capture(settings, email=email, source="web_form", consent=True, journey_id="goal-once")

                async with running_workers(env.client, settings):
                    res = await leads.capture(capture())
                    handle = env.client.get_workflow_handle_for(LeadJourneyWorkflow.run, res.workflow_id)

                    async def waiting():
                        return (await leads.state(email=email)).next_step == "long-wait"

                    await eventually(waiting, timeout=60, what="the 30-day wait")
                    await env.sleep(timedelta(days=2))
                    await leads.record_event(
                        build_event(type=EventType.REPLY, at=await env.get_current_time()), email=email
                    )
                    print("first entry:", (await handle.result()).outcome)
                    GOAL.write_text((await handle.fetch_history()).to_json())
                    try:
                        await leads.capture(capture())
                        raise AssertionError("the second capture was not refused")
                    except Refused as refused:
                        print("second entry:", refused.message)
                    REFUSED.write_text(
                        (await env.client.get_workflow_handle(res.workflow_id).fetch_history()).to_json()
                    )
                    print(f"recorded {GOAL.name}, {REFUSED.name}")
                    save_data_key(res.lead_id)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
