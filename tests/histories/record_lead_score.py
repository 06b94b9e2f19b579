"""Record a lead journey whose score decays, for the replay test.

    .venv/bin/python -m tests.histories.record_lead_score [--force]

One lead on the default journey, on the time-skipping server with the real workers and
the sandbox: the welcome, then a form (the score gets engagement: the `lead-current-score-v1`
patch, the CRM's `mops_score`), then time skipped past the moment the score leaves its
band (the wait's timer moves to that moment, the score is refreshed and written to the CRM
again, the same wait goes on), then an unsubscribe. Writes `lead_journey_current_score.json`
next to this file, kept when it exists unless `--force` (`--name STEM` writes `STEM.json`).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.leads import EventType
from domain.scoring import next_crossing
from mops.temporal import DATA_CONVERTER, client_interceptors
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from starter.service.leads import LeadService, build_capture, build_event
from starter.stack import register_search_attributes
from tests.conftest import binary, eventually, make_settings
from tests.histories.record_lead_sync import save_data_key
from workers.main import running_workers
from workflows.lead_journey import LeadJourneyWorkflow

HERE = Path(__file__).parent
NAME = "lead_journey_current_score"


async def main() -> None:
    # `--name STEM`: the same scenario recorded again beside the kept one, when the code it
    # records changed (the kept file stays: it is the older runs the replay test protects).
    name = sys.argv[sys.argv.index("--name") + 1] if "--name" in sys.argv else NAME
    path = HERE / f"{name}.json"
    if path.exists() and "--force" not in sys.argv:
        print(f"{path.name} exists (--force to record it again)")
        return
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
        interceptors=client_interceptors(),
    )
    try:
        await register_search_attributes(env.client)
        async with SandboxServer() as sandbox:
            settings = make_settings(sandbox.url, env.client.service_client.config.target_host)
            leads = LeadService(env.client, settings)
            email = f"recorded.{uuid.uuid4().hex[:8]}@smallshop.example"
            async with SandboxAdmin(sandbox.url) as admin, running_workers(env.client, settings):
                res = await leads.capture(build_capture(settings, email=email, source="web_form", consent=True))

                async def waiting_after_welcome():
                    st = await leads.state(email=email)
                    return st.emails_sent == 1 and st.next_step == "settle-in" and st

                await eventually(waiting_after_welcome, timeout=60, what="the welcome email")
                form = build_event(type=EventType.FORM, at=await env.get_current_time())
                await leads.record_event(form, email=email)

                async def written(times: int):
                    updates = [
                        u
                        for u in await admin.effects("hubspot", "contact.update")
                        if "mops_score" in u["summary"]["properties"]
                    ]
                    return len(updates) >= times and updates

                await eventually(lambda: written(1), timeout=60, what="the score's first CRM write")
                st = await leads.state(email=email)
                assert st.score is not None
                due = next_crossing(
                    fit=st.score.fit, engagement=15, now=form.at, half_life_days=14, band_width=10, cap=80
                )
                assert due is not None and due < st.next_step_at, (due, st.next_step_at)
                await env.sleep(due - await env.get_current_time() + timedelta(minutes=10))
                updates = await eventually(lambda: written(2), timeout=60, what="the CRM write at the crossing")
                print("CRM writes:", [u["summary"]["properties"] for u in updates])
                await leads.unsubscribe(email=email, source="recording")
                await env.client.get_workflow_handle_for(LeadJourneyWorkflow.run, res.workflow_id).result()
                history = await env.client.get_workflow_handle(res.workflow_id).fetch_history()
                path.write_text(history.to_json())
                print(f"recorded {path.name}")
                save_data_key(res.lead_id)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
