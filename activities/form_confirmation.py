"""The confirmation email of a double opt-in form (`forms.send_confirmation`), on the email
queue. Not a marketing email: the person has not confirmed yet, so no contact budget,
frequency cap or unsubscribe group applies; it is sent once per pending confirmation, a
retry looking for an earlier attempt's email first (`activities/email_once.py`)."""

from __future__ import annotations

from temporalio import activity

from activities.contracts import FORMS_SEND_CONFIRMATION
from activities.email_once import EmailOnce
from activities.errors import platform_errors
from activities.models import ConfirmationEmailInput, ConfirmationEmailResult
from integrations.sendgrid import SendGridClient


class FormConfirmationActivities:
    def __init__(self, sendgrid: SendGridClient, *, once: EmailOnce) -> None:
        self._sendgrid = sendgrid
        self._once = once

    @activity.defn(name=FORMS_SEND_CONFIRMATION.name)
    @platform_errors
    async def send_confirmation(self, inp: ConfirmationEmailInput) -> ConfirmationEmailResult:
        message_id = await self._once.attempt().once(
            inp.idempotency_key,
            lambda: self._sendgrid.send_mail(
                to_email=inp.to_email,
                from_email=inp.from_email,
                subject=inp.subject,
                text=inp.text,
                html=inp.html,
                asm_group_id=None,
                categories=["mops", "form-confirmation"],
                custom_args={"mops_form": inp.form_id},
                idempotency_key=inp.idempotency_key,
            ),
        )
        return ConfirmationEmailResult(message_id=message_id or None)
