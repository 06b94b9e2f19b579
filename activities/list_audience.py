"""A list send within every recipient's contact budget (the work of `email.send_to_lists`).

The lists' members are read from SendGrid (a contacts export), each one's budget is
checked against the contact ledger (`domain.contact_budget.verdict`: consent, unsubscribe,
frequency cap over every source's sends, quiet hours), and the Single Send goes to a list
of this send's own holding only the allowed members. All of it happens in one activity:
a bulk send never becomes one workflow task per recipient.

Retries are safe although SendGrid has no idempotency: the audience list and the Single
Send have names derived from the idempotency key and are looked up before they are
created (a create whose answer was lost left a draft, which the retry finds and
schedules); a Single Send already scheduled is not scheduled again; the ledger keeps one row per lead and send, and this
send's own rows are not counted against its recipients' caps.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio import activity

from activities.models import ListSendInput, ListSendResult
from domain.contact_budget import SkipReason, summarise, verdict
from domain.leads import lead_key
from integrations.errors import PlatformRejected
from integrations.sendgrid import SendGridClient
from mops.contact_ledger import ContactLedger, LedgerSend

_NAME_MAX = 100  # SendGrid's bound on list and Single Send names


def _tag(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def single_send_name(inp: ListSendInput) -> str:
    """The Single Send's name: the given one, made unique to this send."""
    suffix = f" #{_tag(inp.idempotency_key)}"
    return inp.name[: _NAME_MAX - len(suffix)] + suffix


def audience_list_name(inp: ListSendInput) -> str:
    return f"mops audience #{_tag(inp.idempotency_key)}"


@dataclass
class Audience:
    members: int
    allowed: list[tuple[str, str]]  # (address, lead id)
    skips: list[tuple[str, SkipReason]]  # (lead id, why)


def choose(members: list[str], *, secret: str, ledger: ContactLedger, own_key: str, now: datetime) -> Audience:
    """Split the members into the allowed and the skipped, by each one's contact budget."""
    ids: dict[str, str] = {}
    skips: list[tuple[str, SkipReason]] = []
    for email in members:
        try:
            ids[email] = lead_key(email, secret)
        except ValueError:
            skips.append(("-", SkipReason.INVALID_ADDRESS))  # no lead id for what is not an address
    lead_ids = list(ids.values())
    facts = ledger.facts(lead_ids)
    longest = max((f.frequency_cap.per for f in facts.values() if f.frequency_cap is not None), default=timedelta(0))
    sends = ledger.sends_since(lead_ids, now - longest) if longest else {}
    allowed: list[tuple[str, str]] = []
    for email, lead_id in ids.items():
        sent = [s.at for s in sends.get(lead_id, ()) if s.source_id != own_key]
        decided = verdict(facts.get(lead_id), sent, now)
        if decided.allowed:
            allowed.append((email, lead_id))
        else:
            assert decided.reason is not None, "a skipped verdict names its reason"
            skips.append((lead_id, decided.reason))
    return Audience(len(members), allowed, skips)


async def _audience_list(sendgrid: SendGridClient, name: str) -> str:
    found = await sendgrid.find_list(name)
    if found is not None:
        return found
    try:
        return await sendgrid.create_list(name)
    except PlatformRejected:
        # Another attempt of this send created it first (names are unique on SendGrid).
        found = await sendgrid.find_list(name)
        if found is None:
            raise
        return found


async def send_within_budget(
    sendgrid: SendGridClient,
    ledger: ContactLedger,
    inp: ListSendInput,
    *,
    html: str,
    text: str | None,
    sender_id: int,
    lead_id_secret: str,
) -> ListSendResult:
    now = datetime.now(UTC)
    members = await sendgrid.list_members(inp.list_ids, beat=activity.heartbeat)
    audience = choose(members, secret=lead_id_secret, ledger=ledger, own_key=inp.idempotency_key, now=now)
    summary = summarise(audience.members, len(audience.allowed), audience.skips)
    if not audience.allowed:
        return ListSendResult(single_send_id=None, audience=summary)
    list_id = await _audience_list(sendgrid, audience_list_name(inp))
    await sendgrid.add_to_list(list_id, [email for email, _ in audience.allowed], beat=activity.heartbeat)
    name = single_send_name(inp)
    existing = await sendgrid.find_single_send(name)
    if existing is None:
        single_send_id = await sendgrid.draft_single_send(
            name=name,
            subject=inp.subject,
            html=html,
            text=text,
            list_ids=[list_id],
            sender_id=sender_id,
            suppression_group_id=inp.suppression_group_id,
        )
        status = "draft"
    else:
        single_send_id, status = existing
    if status == "draft":
        await sendgrid.schedule_single_send_now(single_send_id)
    # Recorded as sent when the platform took it (not when the audience was chosen): a
    # journey's cap window counts from the moment the campaign went out.
    sent_at = datetime.now(UTC)
    ledger.record_sends(
        LedgerSend(lead_id, sent_at, inp.source, inp.idempotency_key, single_send_id) for _, lead_id in audience.allowed
    )
    return ListSendResult(single_send_id=single_send_id, audience=summary)
