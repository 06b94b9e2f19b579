"""Double opt-in for public forms: a post to a form with `double_opt_in` starts a pending
confirmation (workflow `FormConfirmation`, `workflows/form_confirmation.py`) that emails the
person a signed link, and following the link confirms it, which starts their journey.

The gateway signs the link (it holds the form secret) and checks it before it asks here;
this service pins the journey and conversion plan as a direct capture would, renders the
email (`domain/templates/forms/confirm_email.html`) and starts or updates the workflow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from activities.models import ConfirmationEmailInput
from domain.forms import FormSpec, confirmation_id
from domain.leads import LeadCapture, lead_key
from domain.templating import environment, render
from mops.settings import Settings
from starter.service.conversion_plans import conversion_plan
from starter.service.errors import NotFound
from starter.service.leads import journey_spec
from starter.service.updates import execute_update
from workflows.form_confirmation import FormConfirmationWorkflow
from workflows.form_confirmation_models import ConfirmationState, ConfirmRequest, FormConfirmationInput

_templates = environment("domain")


class ConfirmationNotFound(NotFound):
    code = "confirmation_not_found"


class FormConfirmationService:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    def _key(self, email: str) -> str:
        return lead_key(email, self._settings.lead_id_secret.get_secret_value())

    async def request(self, spec: FormSpec, capture: LeadCapture, *, link: Callable[[str, int], str]) -> str:
        """Start the pending confirmation of `capture` (or find the one pending for this
        form and person, which sends nothing again); `link(lead_key, until)` is the signed
        URL the email carries. Returns the workflow id."""
        if spec.double_opt_in is None:
            raise ValueError(f"form {spec.id!r} has no double_opt_in")
        key = self._key(capture.email)
        expires_at = (capture.captured_at + timedelta(hours=spec.double_opt_in.within_hours)).replace(microsecond=0)
        url = link(key, int(expires_at.timestamp()))
        journey = journey_spec(self._settings, capture.journey_id)
        until = f"{expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        wf_id = confirmation_id(spec.id, key)
        email = ConfirmationEmailInput(
            idempotency_key=f"{wf_id}-{int(expires_at.timestamp())}",
            form_id=spec.id,
            to_email=capture.email,
            from_email=journey.from_email,
            subject=spec.double_opt_in.subject,
            html=render(_templates, "forms/confirm_email.html", form=spec, link=url, until=until),
            text=_text(spec, url, until),
        )
        await self._client.start_workflow(
            FormConfirmationWorkflow.run,
            FormConfirmationInput(
                form_id=spec.id,
                lead_key=key,
                capture=capture,
                journey=journey,
                conversions=conversion_plan(self._settings, capture),
                email=email,
                expires_at=expires_at,
                email_queue=self._settings.email_task_queue,
                workflow_queue=self._settings.workflow_task_queue,
            ),
            id=wf_id,
            task_queue=self._settings.workflow_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Double opt-in · form `{spec.id}` · journey `{capture.journey_id}`",
        )
        return wf_id

    async def confirm(self, form_id: str, key: str) -> ConfirmationState:
        """Confirm the pending confirmation (its journey has started when this returns).
        Raises `Refused` (`confirmation_expired`) after its window, `ConfirmationNotFound`
        when none is pending."""
        handle = self._client.get_workflow_handle(confirmation_id(form_id, key))
        state: ConfirmationState = await execute_update(
            handle,
            FormConfirmationWorkflow.confirm,
            ConfirmRequest(),
            not_found=ConfirmationNotFound("link: no confirmation is pending for it (expired, or never sent)"),
        )
        return state


def _text(spec: FormSpec, url: str, until: str) -> str:
    """The email's plain-text part (plain text: nothing to escape, so not an HTML template)."""
    assert spec.consent is not None  # double_opt_in requires it (domain/forms.py)
    return (
        f"Please confirm that you want to receive {spec.title}.\n\n{spec.consent.text}\n\n"
        f"Confirm: {url}\n\nThe link works until {until}. If you did not fill in this form, "
        "ignore this email: nothing will be sent to you.\n"
    )
