"""Real workers, real templates: a journey email whose template is missing or uses an
undefined name parks its step with the reason (file:line) in the timeline and the
current details, and nothing reaches the email platform in its place."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from starter.service.leads import LeadService, build_capture
from tests.conftest import daytime_journeys, eventually, make_settings
from workers.main import running_workers


def break_welcome(journeys: Path, how: str) -> str:
    """Break the welcome email; return the reason the send must park with."""
    templates = journeys / "templates"
    if how == "missing":
        (templates / "nurture-welcome.html").unlink()
        return f"{templates / 'nurture-welcome.html'}: template does not exist"
    text = templates / "nurture-welcome.txt"
    source = text.read_text()
    line = source[: source.index('first_name | default("there")')].count("\n") + 1
    text.write_text(source.replace('first_name | default("there")', "frist_name", 1))
    return f"{text}:{line}: 'frist_name' is undefined (no message has it; known: "


@pytest.mark.parametrize("how", ["missing", "undefined"])
async def test_broken_template_parks_the_send(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path, how: str
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(daytime_journeys(), journeys)
    why = break_welcome(journeys, how)
    settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host, journeys_dir=journeys)
    email = f"lead.{uuid.uuid4().hex[:10]}@analytical.example"
    leads = LeadService(dev_env.client, settings)
    async with SandboxAdmin(sandbox.url) as admin, running_workers(dev_env.client, settings):
        result = await leads.capture(
            build_capture(settings, email=email, source="web_form", consent=True, first_name="Ada", journey_id="demo")
        )

        async def parked():
            st = await leads.state(email=email)
            return any("email parked" in t.what for t in st.timeline) and st

        st = await eventually(parked, what="the welcome parked")
        [note] = [t.what for t in st.timeline if "email parked" in t.what]
        assert note.startswith(f"step welcome: email parked, not sent ({why}") and note.endswith(
            "; retrying every 1:00:00"
        )
        assert st.emails_sent == 0 and st.next_step == "welcome"
        handle = dev_env.client.get_workflow_handle(result.workflow_id)
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert f"**Parked:** step welcome: {why}" in metadata.current_details
        assert not [e for e in await admin.effects("sendgrid", "mail.send") if email in e["summary"]["to"]]
        await handle.terminate()
