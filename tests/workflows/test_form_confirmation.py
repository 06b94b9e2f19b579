"""A public form's pending double opt-in (`FormConfirmation`) under the time-skipping server,
with the real workers against the sandbox: the link's window passing ends it with nothing
started, and a confirmation in the window starts the journey once and keeps the run until
the window ends (so a post in the window sends nothing again); and, on the dev server, an
erasure of the person ends a pending one."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.converter import WorkflowSerializationContext
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from domain.forms import FormSpec, confirm_link, confirmation_id
from domain.leads import lead_key
from mops.codec import KeyUnavailable
from mops.temporal import DATA_CONVERTER
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from starter.service.form_confirmations import ConfirmationNotFound, FormConfirmationService
from starter.service.leads import LeadInputError, LeadNotFound, LeadService, build_capture
from starter.service.privacy import PrivacyService
from tests.conftest import daytime_journeys, eventually, make_settings
from tests.privacy.stack import capture, marker_email, privacy_stack
from workers.main import running_workers
from workflows.form_confirmation import FormConfirmationWorkflow

SPEC = FormSpec.model_validate(
    {
        "id": "optin-test",
        "title": "Confirmed list",
        "journey": "default-nurture",
        "fields": [{"name": "email", "label": "Email", "maps": "email", "required": True}],
        "consent": {"text": "Yes, email me.", "version": "v-9", "required": True},
        "double_opt_in": {"within_hours": 24},
    }
)


def pending(settings, email: str):  # noqa: ANN201 - the capture and the link's secret
    capture = build_capture(
        settings,
        email=email,
        source="web_form",
        consent=True,
        journey_id=SPEC.journey,
        capture_id=f"form-{SPEC.id}-{uuid.uuid4().hex[:16]}",
        consent_source=SPEC.consent_source(ticked=True),
    )
    return (
        capture,
        lambda key, until: (
            "https://gw.example/f/optin-test/confirm?"
            + "&".join(f"{k}={v}" for k, v in confirm_link("s3cret", SPEC.id, key, until).items())
        ),
    )


@pytest.mark.parametrize("confirmed", [False, True])
async def test_the_window_ends_the_pending_confirmation(
    time_env: WorkflowEnvironment, sandbox: SandboxServer, confirmed: bool
) -> None:
    settings = make_settings(
        sandbox.url, time_env.client.service_client.config.target_host, journeys_dir=daytime_journeys()
    )
    email = f"optin.{uuid.uuid4().hex[:10]}@optin.example"
    confirmations, leads = FormConfirmationService(time_env.client, settings), LeadService(time_env.client, settings)
    key = lead_key(email, settings.lead_id_secret.get_secret_value())
    async with SandboxAdmin(sandbox.url) as admin, running_workers(time_env.client, settings):
        capture, link = pending(settings, email)
        wf_id = await confirmations.request(SPEC, capture, link=link)
        assert wf_id == confirmation_id(SPEC.id, key)
        handle = time_env.client.get_workflow_handle_for(FormConfirmationWorkflow.run, wf_id)

        async def emailed():
            return (await handle.query(FormConfirmationWorkflow.state)).email_sent

        await eventually(emailed, timeout=60, what="the confirmation email")
        if confirmed:
            state = await confirmations.confirm(SPEC.id, key)
            assert state.status == "confirmed" and state.lead_workflow_id == f"lead-{key}"
            run_id = (await handle.describe()).run_id
            await time_env.sleep(timedelta(hours=23))
            again, _ = pending(settings, email)
            assert await confirmations.request(SPEC, again, link=link) == wf_id
            assert (await handle.describe()).run_id == run_id, "a post in the window finds the same run"
        await time_env.sleep(timedelta(hours=25))  # past the window, whatever was slept before
        result = await handle.result()
        assert result.status == ("confirmed" if confirmed else "expired")
        with pytest.raises(ConfirmationNotFound):
            await confirmations.confirm(SPEC.id, key)
        mails = [m for m in await admin.effects("sendgrid", "mail.send") if email in m["summary"]["to"]]
        if confirmed:
            lead = await leads.state(email=email)
            record = lead.consents["email_marketing"]
            assert record.source == "capture:web_form:form optin-test, text v-9, double opt-in confirmed"
            assert record.at == result.confirmed_at
        else:
            with pytest.raises(LeadNotFound):
                await leads.state(email=email)
    confirmations_sent = [m for m in mails if m["summary"]["subject"] == SPEC.double_opt_in.subject]
    assert len(confirmations_sent) == 1


async def test_an_erasure_ends_a_pending_confirmation_before_it_starts_a_journey(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer
) -> None:
    """An erased person's pending double opt-in closes as `erased`: the link then confirms
    nothing and no journey starts, and the confirmation's history is shredded with the rest."""
    async with privacy_stack(dev_env, sandbox) as stack:
        email = marker_email("optin")
        key = lead_key(email, stack.settings.lead_id_secret.get_secret_value())
        confirmations = FormConfirmationService(stack.client, stack.settings)
        capture, link = pending(stack.settings, email)
        wf_id = await confirmations.request(SPEC, capture, link=link)
        handle = stack.client.get_workflow_handle_for(FormConfirmationWorkflow.run, wf_id)

        async def emailed():
            return (await handle.query(FormConfirmationWorkflow.state)).email_sent

        await eventually(emailed, timeout=60, what="the confirmation email")
        record = await stack.privacy.erase(email, requested_by="dpo@mops.example")
        assert record.steps[f"end:form-confirm-{SPEC.id}"] == "ended"
        assert record.steps["end:lead"] == "not_running"
        assert (await handle.describe()).status.name == "COMPLETED"
        with pytest.raises(ConfirmationNotFound):
            await confirmations.confirm(SPEC.id, key)
        with pytest.raises(LeadNotFound):
            await stack.leads.state(email=email)
        history = await handle.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes.input.payloads
        converter = DATA_CONVERTER.with_context(WorkflowSerializationContext("default", wf_id))
        with pytest.raises(KeyUnavailable):
            await converter.decode(started)


async def test_a_form_posted_while_the_erasure_runs_is_ended_with_it(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer
) -> None:
    """A double opt-in started after the erasure ended the lead's workflows (the person posts
    the form again while the platforms are being erased) is terminated once the data key is
    gone: nothing of the lead is left running, undecodable, behind the erasure."""
    async with privacy_stack(dev_env, sandbox) as stack:
        email = marker_email("optin-late")
        key = lead_key(email, stack.settings.lead_id_secret.get_secret_value())
        await capture(stack, email)
        journey = stack.client.get_workflow_handle(f"lead-{key}")
        # HubSpot's GDPR delete answers 429 until the test lets it through: the erasure waits there.
        await stack.admin.set_faults(
            "hubspot", rate_limit_next=1_000_000, retry_after_s=0.2, path_prefix="/crm/v3/objects/contacts/gdpr-delete"
        )
        try:
            erasing = asyncio.create_task(stack.privacy.erase(email, requested_by="dpo@mops.example"))

            async def journey_ended():
                return (await journey.describe()).status.name != "RUNNING"

            await eventually(journey_ended, timeout=60, what="the erasure ending the journey")
            confirmations = FormConfirmationService(stack.client, stack.settings)
            late, link = pending(stack.settings, email)
            wf_id = await confirmations.request(SPEC, late, link=link)
            confirmation = stack.client.get_workflow_handle(wf_id)
            assert (await confirmation.describe()).status.name == "RUNNING"
            assert not erasing.done()
        finally:
            await stack.admin.clear_faults()
        record = await asyncio.wait_for(erasing, timeout=120)
        assert record.steps["erase:crm"] in ("deleted", "not_found"), record.steps  # through, not refused
        description = await confirmation.describe()
        assert description.status.name == "TERMINATED", description.status


async def test_an_erasure_starts_nothing_when_the_forms_file_does_not_load(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path
) -> None:
    """The forms file names the lead's double opt-ins; one that does not load is a one-line
    refusal before the erasure ends anything."""
    (tmp_path / "forms.yaml").write_text("forms:\n  - id: Not An Id\n")
    settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host, policies_dir=tmp_path)
    email = marker_email("optin-badforms")
    with pytest.raises(LeadInputError) as refused:
        await PrivacyService(dev_env.client, settings).erase(email, requested_by="dpo@mops.example")
    assert str(refused.value).startswith(str(tmp_path / "forms.yaml")), refused.value
    assert "double opt-ins" in str(refused.value) and "\n" not in str(refused.value)
    lead = lead_key(email, settings.lead_id_secret.get_secret_value())
    with pytest.raises(RPCError) as missing:
        await dev_env.client.get_workflow_handle(f"erasure-{lead}").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
