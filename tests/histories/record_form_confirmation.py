"""Record a public form's pending double opt-in, confirmed, expired and erased, for the replay test.

    .venv/bin/python -m tests.histories.record_form_confirmation [--force]

On the time-skipping server with the real workers and the sandbox: one person confirms
(the email, the update, the journey started, the run kept to the window's end), another
never does (the email, the window's end), a third is erased while pending (the email, the
`erase` signal). Writes `form_confirmation_<outcome>.json` next to this file; one that exists
is kept (so adding an outcome records only it), unless `--force`.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.leads import lead_key
from mops.temporal import DATA_CONVERTER, client_interceptors
from sandbox.server import SandboxServer
from starter.service.form_confirmations import FormConfirmationService
from starter.stack import register_search_attributes
from tests.conftest import binary, daytime_journeys, eventually, make_settings
from tests.histories.record_lead_sync import save_data_key
from tests.workflows.test_form_confirmation import SPEC, pending
from workers.main import running_workers
from workflows.form_confirmation import FormConfirmationWorkflow
from workflows.privacy_models import EraseRequest

HERE = Path(__file__).parent
OUTCOMES = ("confirmed", "expired", "erased")
FILES = {outcome: HERE / f"form_confirmation_{outcome}.json" for outcome in OUTCOMES}


async def main() -> None:
    wanted = [o for o in OUTCOMES if "--force" in sys.argv or not FILES[o].exists()]
    if not wanted:
        print("the form confirmation histories exist (--force to record them again)")
        return
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
        interceptors=client_interceptors(),
    )
    try:
        await register_search_attributes(env.client)
        async with SandboxServer() as sandbox:
            settings = make_settings(
                sandbox.url, env.client.service_client.config.target_host, journeys_dir=daytime_journeys()
            )
            confirmations = FormConfirmationService(env.client, settings)
            async with running_workers(env.client, settings):
                handles = {}
                for outcome in wanted:
                    email = f"recorded.{uuid.uuid4().hex[:8]}@optin.example"
                    capture, link = pending(settings, email)
                    wf_id = await confirmations.request(SPEC, capture, link=link)
                    handle = env.client.get_workflow_handle_for(FormConfirmationWorkflow.run, wf_id)

                    async def emailed(handle=handle):
                        return (await handle.query(FormConfirmationWorkflow.state)).email_sent

                    await eventually(emailed, timeout=60, what="the confirmation email")
                    key = lead_key(email, settings.lead_id_secret.get_secret_value())
                    if outcome == "confirmed":
                        print("confirmed:", (await confirmations.confirm(SPEC.id, key)).status)
                    elif outcome == "erased":
                        await handle.signal(FormConfirmationWorkflow.erase, EraseRequest(erasure_id="er-recorded"))
                    handles[outcome] = (handle, key)
                await env.sleep(timedelta(hours=25))
                for outcome, (handle, key) in handles.items():
                    print("result:", (await handle.result()).status)
                    FILES[outcome].write_text((await handle.fetch_history()).to_json())
                    save_data_key(key)
                    print(f"recorded {FILES[outcome].name}")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
