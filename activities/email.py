"""Email activities (SendGrid v3). Hosted on the email task queue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from string import Template

from temporalio import activity

from activities.contracts import EMAIL_CANCEL_LIST_SEND, EMAIL_SEND, EMAIL_SEND_TO_LISTS, EMAIL_SUPPRESS
from activities.errors import platform_errors
from activities.models import (
    CancelListSendInput,
    CancelListSendResult,
    ListSendInput,
    ListSendResult,
    SendEmailInput,
    SendEmailResult,
    SuppressInput,
)
from integrations.sendgrid import SendGridClient

_FALLBACK = Template("<p>Hi $first_name,</p><p>$subject</p>")


def emails_sent():
    """`mops_emails_sent_total`, on the worker's metrics (a no-op meter when none is exported)."""
    return activity.metric_meter().create_counter("mops_emails_sent", "Emails handed to the email platform", "{email}")


class EmailActivities:
    def __init__(
        self,
        sendgrid: SendGridClient,
        templates_dir: Path,
        sender_id: int = 1,
        unsubscribe_link: Callable[[str], str] | None = None,
    ) -> None:
        self._sendgrid = sendgrid
        self._templates_dir = templates_dir
        self._sender_id = sender_id
        # lead id -> one-click unsubscribe URL (RFC 8058), served by the gateway.
        self._unsubscribe_link = unsubscribe_link

    def _render(self, inp: SendEmailInput) -> str:
        path = self._templates_dir / f"{inp.template}.html"
        template = Template(path.read_text()) if path.is_file() else _FALLBACK
        return template.safe_substitute(first_name=inp.first_name or "there", subject=inp.subject)

    def _list_unsubscribe(self, lead_id: str) -> dict[str, str] | None:
        if self._unsubscribe_link is None:
            return None
        return {
            "List-Unsubscribe": f"<{self._unsubscribe_link(lead_id)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    @activity.defn(name=EMAIL_SEND.name)
    @platform_errors
    async def send(self, inp: SendEmailInput) -> SendEmailResult:
        """Send one journey email, unless the address is suppressed at send time.

        The suppression check here is the last gate: an opt-out recorded on the
        platform by any channel stops the send even if the workflow has not heard
        of it yet. The idempotency key makes a retried send a no-op.
        """
        if await self._sendgrid.is_suppressed(inp.to_email, inp.unsubscribe_group_id):
            return SendEmailResult(sent=False, suppressed=True)
        message_id = await self._sendgrid.send_mail(
            to_email=inp.to_email,
            from_email=inp.from_email,
            subject=inp.subject,
            html=self._render(inp),
            asm_group_id=inp.unsubscribe_group_id,
            categories=["mops", inp.journey_id],
            custom_args={"mops_lead_id": inp.lead_id, "mops_step": inp.step_id},
            idempotency_key=inp.idempotency_key,
            headers=self._list_unsubscribe(inp.lead_id),
        )
        emails_sent().add(1, {"kind": "journey"})
        return SendEmailResult(sent=True, message_id=message_id)

    @activity.defn(name=EMAIL_SUPPRESS.name)
    @platform_errors
    async def suppress(self, inp: SuppressInput) -> None:
        """Record an opt-out in the unsubscribe group (idempotent on the platform)."""
        await self._sendgrid.add_suppression(inp.group_id, inp.email)

    @activity.defn(name=EMAIL_SEND_TO_LISTS.name)
    @platform_errors
    async def send_to_lists(self, inp: ListSendInput) -> ListSendResult:
        """A Marketing Campaigns single send to contact lists, scheduled now."""
        single_send_id = await self._sendgrid.create_single_send(
            name=inp.name,
            subject=inp.subject,
            html=inp.html,
            list_ids=inp.list_ids,
            sender_id=self._sender_id,
            suppression_group_id=inp.suppression_group_id,
            idempotency_key=inp.idempotency_key,
        )
        emails_sent().add(1, {"kind": "list_send"})
        return ListSendResult(single_send_id=single_send_id)

    @activity.defn(name=EMAIL_CANCEL_LIST_SEND.name)
    @platform_errors
    async def cancel_list_send(self, inp: CancelListSendInput) -> CancelListSendResult:
        """Retract: unschedule (an email already delivered cannot be recalled)."""
        return CancelListSendResult(recalled=await self._sendgrid.cancel_single_send(inp.single_send_id))
