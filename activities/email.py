"""Email activities (SendGrid v3). Hosted on the email task queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import EMAIL_CANCEL_LIST_SEND, EMAIL_SEND, EMAIL_SEND_TO_LISTS, EMAIL_SUPPRESS, ErrorType
from activities.email_once import EmailOnce
from activities.email_templates import (
    EmailTemplates,
    MessageFacts,
    RenderedEmail,
    TemplateProblem,
    campaign_facts,
    lead_context,
)
from activities.errors import platform_errors
from activities.list_audience import send_within_budget
from activities.models import (
    CancelListSendInput,
    CancelListSendResult,
    ListSendInput,
    ListSendResult,
    SendEmailInput,
    SendEmailResult,
    SuppressInput,
)
from domain.brand import BrandRules, Severity
from domain.contact_budget import BudgetFacts, SendSource, SkipReason
from domain.schedule import frequency_cap_release
from integrations.errors import PlatformError
from integrations.sendgrid import SendGridClient
from mops.contact_ledger import ContactLedger, LedgerSend

SINGLE_SEND_UNSUBSCRIBE = "{{{unsubscribe}}}"


def _unsendable(template: str, reason: str) -> ApplicationError:
    # The reason names files, lines and rules, never a lead's data: it goes to the timeline.
    return ApplicationError(
        f"template {template}: {reason}", reason, type=ErrorType.EMAIL_UNSENDABLE, non_retryable=True
    )


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
        *,
        postal_address: str,
        preferences_url: str,
        campaign_templates_dir: Path,
        brand_rules: BrandRules | None = None,
        ledger: ContactLedger,
        lead_id_secret: str,
        once: EmailOnce,
    ) -> None:
        if unsubscribe_link is None:
            raise ValueError("unsubscribe_link: every marketing email carries a one-click unsubscribe link")
        self._sendgrid = sendgrid
        self._templates = EmailTemplates(templates_dir, postal_address=postal_address, preferences_url=preferences_url)
        # Campaign templates extend the layout beside the journeys: one footer for every email.
        self._campaign_templates = EmailTemplates(
            campaign_templates_dir,
            shared=(Path(templates_dir),),
            postal_address=postal_address,
            preferences_url=preferences_url,
        )
        self._sender_id = sender_id
        # lead id -> one-click unsubscribe URL (RFC 8058), served by the gateway.
        self._unsubscribe_link = unsubscribe_link
        self._brand_rules = brand_rules
        # Every send is recorded per lead; list sends and journey sends share one budget.
        self._ledger = ledger
        self._lead_id_secret = lead_id_secret
        # SendGrid keeps no idempotency: a retried send looks in its Email Activity feed first.
        self._once = once

    def _render(self, inp: SendEmailInput) -> tuple[RenderedEmail, list[str]]:
        """The whole message and its non-blocking brand findings; a message that cannot
        render or has a blocking finding raises the non-retryable ErrorType.EMAIL_UNSENDABLE."""
        lead = lead_context(inp.lead.model_dump() if inp.lead is not None else {"first_name": inp.first_name})
        facts = MessageFacts(
            journey_id=inp.journey_id,
            step_id=inp.step_id,
            subject=inp.subject,
            unsubscribe_url=self._unsubscribe_link(inp.lead_id),
            lead=lead,
        )
        return self._checked(self._templates, inp.template, facts)

    def _checked(
        self, templates: EmailTemplates, template: str, facts: MessageFacts
    ) -> tuple[RenderedEmail, list[str]]:
        try:
            message = templates.render(template, facts)
        except TemplateProblem as err:
            raise _unsendable(template, str(err)) from None
        warnings: list[str] = []
        if self._brand_rules is not None:
            for finding in templates.brand_findings(self._brand_rules, message):
                line = f"brand {finding.severity.value}: {finding.rule}: {finding.message}"
                if finding.severity == Severity.BLOCKING:
                    raise _unsendable(template, line)
                warnings.append(line)
        return message, warnings

    def _list_message(self, inp: ListSendInput) -> tuple[str, str | None]:
        """(HTML, text) of a list send: a campaign email rendered from its template, or the
        HTML as given (content list emails, campaigns launched before templates)."""
        email = inp.email
        if email is None:
            return inp.html, None
        facts = MessageFacts(
            journey_id=email.campaign_id,
            step_id="email",
            subject=inp.subject,
            # Marketing Campaigns puts each recipient's own unsubscribe link in for this tag.
            unsubscribe_url=SINGLE_SEND_UNSUBSCRIBE,
            lead={},
            utm_campaign=email.campaign_id,
            campaign=campaign_facts(email.campaign_name, email.body_markdown, email.landing_url),
        )
        message, _ = self._checked(self._campaign_templates, email.template, facts)
        return message.html, message.text

    def _list_unsubscribe(self, lead_id: str) -> dict[str, str]:
        return {
            "List-Unsubscribe": f"<{self._unsubscribe_link(lead_id)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    @activity.defn(name=EMAIL_SEND.name)
    @platform_errors
    async def send(self, inp: SendEmailInput) -> SendEmailResult:
        """Send one journey email; an address suppressed at send time gets nothing.

        The platform is the last gate: SendGrid drops mail to an address suppressed
        globally or in the message's unsubscribe group (`asm`), whatever channel the
        opt-out came by and even if the workflow has not heard of it yet. The
        suppression lookup runs alongside the send (one round trip, not three) and
        tells the workflow so it stops the journey: a suppressed address answers
        `suppressed`, not `sent`. The message is rendered from its template first (never a
        stand-in body): one that cannot render, or that breaks a blocking brand rule, fails
        with ErrorType.EMAIL_UNSENDABLE and nothing is sent.

        One email per idempotency key although SendGrid keeps no idempotency: a retry
        first looks for an earlier attempt's email in SendGrid's Email Activity feed, and
        answers `sent` with it when found (`activities/email_once.py`; meanwhile
        ErrorType.EMAIL_SEND_UNSETTLED, retried). That comes before the cap check: an
        email already out is not deferred.
        """
        attempt = self._once.attempt()
        earlier = await attempt.sent_earlier(inp.idempotency_key)
        if earlier is not None:
            self._record(inp, earlier)
            return SendEmailResult(sent=True, message_id=earlier, warnings=["sent by an earlier attempt"])
        deferred = self._cap_used_elsewhere(inp)
        if deferred is not None:
            return SendEmailResult(sent=False, deferred_until=deferred)
        message, warnings = self._render(inp)
        lookup = asyncio.create_task(self._sendgrid.is_suppressed(inp.to_email, inp.unsubscribe_group_id))
        try:
            message_id = await attempt.send(
                lambda: self._sendgrid.send_mail(
                    to_email=inp.to_email,
                    from_email=inp.from_email,
                    subject=message.subject,
                    text=message.text,
                    html=message.html,
                    asm_group_id=inp.unsubscribe_group_id,
                    categories=["mops", inp.journey_id],
                    custom_args={"mops_lead_id": inp.lead_id, "mops_step": inp.step_id},
                    idempotency_key=inp.idempotency_key,
                    headers=self._list_unsubscribe(inp.lead_id),
                )
            )
        except BaseException:
            lookup.cancel()
            raise
        try:
            suppressed = await lookup
        except PlatformError as err:
            # The email is with the platform, which drops it if the address is suppressed:
            # failing now would only make the retry look it up in the feed, later.
            # Said in the result (the journey's timeline); the next send looks again.
            suppressed = False
            warnings.append(f"suppression lookup failed ({err.code}); the platform still drops suppressed mail")
        if suppressed:
            return SendEmailResult(sent=False, suppressed=True)
        emails_sent().add(1, {"kind": "journey"})
        self._record(inp, message_id)
        return SendEmailResult(sent=True, message_id=message_id, warnings=warnings)

    def _record(self, inp: SendEmailInput, message_id: str) -> None:
        """The send in the contact ledger (one row per key: a retry records it once)."""
        if inp.budget is None:
            return
        self._ledger.set_facts(inp.lead_id, inp.budget)
        at = inp.at or datetime.now(UTC)
        self._ledger.record_sends([LedgerSend(inp.lead_id, at, SendSource.JOURNEY, inp.idempotency_key, message_id)])

    def _cap_used_elsewhere(self, inp: SendEmailInput) -> datetime | None:
        """When the lead's cap is reached counting every source's sends (campaigns, content
        list sends, its own journey's), the instant one more fits; None when it fits now.
        The journey checked its own sends already; this adds what it cannot see."""
        cap = inp.budget.frequency_cap if inp.budget is not None else None
        if cap is None:
            return None
        now = inp.at or datetime.now(UTC)
        sends = self._ledger.sends_since([inp.lead_id], now - cap.per).get(inp.lead_id, [])
        release = frequency_cap_release([s.at for s in sends if s.source_id != inp.idempotency_key], cap, now)
        return release if release > now else None

    @activity.defn(name=EMAIL_SUPPRESS.name)
    @platform_errors
    async def suppress(self, inp: SuppressInput) -> None:
        """Record an opt-out in the unsubscribe group (idempotent on the platform)."""
        await self._sendgrid.add_suppression(inp.group_id, inp.email)
        if inp.lead_id is not None:
            self._ledger.set_facts(inp.lead_id, BudgetFacts(may_email=False, why_not=SkipReason.UNSUBSCRIBED))

    @activity.defn(name=EMAIL_SEND_TO_LISTS.name)
    @platform_errors
    async def send_to_lists(self, inp: ListSendInput) -> ListSendResult:
        """A Marketing Campaigns single send to the lists' members whose contact budget allows
        a message now (`activities.list_audience`), scheduled now; the result says who was
        left out and why."""
        html, text = self._list_message(inp)
        result = await send_within_budget(
            self._sendgrid,
            self._ledger,
            inp,
            html=html,
            text=text,
            sender_id=self._sender_id,
            lead_id_secret=self._lead_id_secret,
        )
        if result.single_send_id is not None:
            emails_sent().add(1, {"kind": "list_send"})
        return result

    @activity.defn(name=EMAIL_CANCEL_LIST_SEND.name)
    @platform_errors
    async def cancel_list_send(self, inp: CancelListSendInput) -> CancelListSendResult:
        """Retract: unschedule (an email already delivered cannot be recalled)."""
        return CancelListSendResult(recalled=await self._sendgrid.cancel_single_send(inp.single_send_id))
