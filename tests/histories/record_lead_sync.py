"""Record a lead journey and its contact sync for the replay test.

    .venv/bin/python -m tests.histories.record_lead_sync [--force] [--as NAME]

One lead on the demo journey, captured with its name, company and country: the welcome
email, a second capture (a touch), then an unsubscribe, so the history holds the capture
path, the contact-sync publishes (capture, touch, opt-out) and the opt-out. Runs on a
throwaway dev server and sandbox; writes `lead_journey_<NAME>.json` and
`contact_sync_<NAME>.json` (NAME `synced` unless `--as`) next to this file, keeping files
that exist unless `--force` (they are the old runs the replay test protects).

Recorded so far: `synced` by the code before the `lead-hot-path-v1` patch (the journey
spec loaded by an activity, `sync.publish` as an activity, the CRM written twice),
`hot_path` by the code that introduced it.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import sys
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.privacy import contact_sync_workflow_id
from mops.codec import shared_keyring
from mops.settings import load_settings
from mops.temporal import DATA_CONVERTER, client_interceptors
from sandbox.server import SandboxServer
from starter.service.leads import LeadService, build_capture
from tests.conftest import binary, eventually, make_settings
from workers.main import running_workers
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTE_KEYS

HERE = Path(__file__).parent


def save_data_key(lead_id: str) -> None:
    """The lead's payloads are encrypted under its own data key: keep that key (wrapped under
    the public development master key) beside the histories, or the replay test cannot read them."""
    stored = shared_keyring(load_settings()).store.current_for_lead(lead_id)
    assert stored is not None, f"no data key for lead {lead_id}"
    path = HERE / "keys" / "data_keys.json"
    entries = json.loads(path.read_text()) if path.exists() else []
    if all(e["key_id"] != stored.key_id for e in entries):
        entry = {**dataclasses.asdict(stored), "wrapped": base64.b64encode(stored.wrapped).decode()}
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps([*entries, entry], indent=2) + "\n")
        print(f"kept data key {stored.key_id}")


async def main() -> None:
    force = "--force" in sys.argv
    name = sys.argv[sys.argv.index("--as") + 1] if "--as" in sys.argv else "synced"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=DATA_CONVERTER,
        interceptors=client_interceptors(),
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
    )
    try:
        async with SandboxServer() as sandbox:
            settings = make_settings(sandbox.url, env.client.service_client.config.target_host)
            leads = LeadService(env.client, settings)
            email = f"recorded.{uuid.uuid4().hex[:8]}@acme.example"
            fields = dict(email=email, first_name="Ada", last_name="Lovelace", company="Acme", country="DE")
            async with running_workers(env.client, settings):
                res = await leads.capture(
                    build_capture(settings, **fields, source="web_form", consent=True, journey_id="demo")
                )

                async def waiting_after_welcome():
                    st = await leads.state(email=email)
                    return st.emails_sent == 1 and st.next_step == "settle-in"

                await eventually(waiting_after_welcome, timeout=60, what="the welcome email")
                await leads.capture(build_capture(settings, **fields, source="event", consent=True, journey_id="demo"))

                async def touched():
                    return (await leads.state(email=email)).touches == 2

                await eventually(touched, timeout=60, what="the second capture")
                await leads.unsubscribe(email=email, source="recording")
                await env.client.get_workflow_handle_for(LeadJourneyWorkflow.run, res.workflow_id).result()
                sync = env.client.get_workflow_handle(contact_sync_workflow_id(res.lead_id))

                async def synced():
                    return not (await sync.query("state"))["pending"]

                await eventually(synced, timeout=60, what="the contact sync to push the opt-out")
                for workflow_id, kind in ((res.workflow_id, "lead_journey"), (sync.id, "contact_sync")):
                    path = HERE / f"{kind}_{name}.json"
                    if path.exists() and not force:
                        continue
                    path.write_text((await env.client.get_workflow_handle(workflow_id).fetch_history()).to_json())
                    print(f"recorded {path.name}")
                save_data_key(res.lead_id)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
