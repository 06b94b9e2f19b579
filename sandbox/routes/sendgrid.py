"""SendGrid v3 endpoints: mail send, unsubscribe-group / global suppressions, Single Sends
(search: `POST /v3/marketing/singlesends/search`, by a part of the name and by status; a
triggered send is delivered to its lists' members, see `sendgrid_lists`).

None of them is idempotent, as on SendGrid: an `Idempotency-Key` header changes nothing
(the sandbox honours it on no platform, `sandbox.middleware`). What was sent is found afterwards in the Email
Activity feed (`sendgrid_activity`)."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Body, Depends, Response

from sandbox.platforms import SandboxError
from sandbox.routes.sendgrid_lists import deliver
from sandbox.state import get_store
from sandbox.store import SingleSend, Store, email_hash, now_iso

router = APIRouter(prefix="/v3")


def _addresses(items: Any, field: str) -> list[str]:
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) and i.get("email") for i in items):
        raise SandboxError(
            400,
            field,
            "The to array is required for all personalization objects, "
            "and must have at least one email object with a valid email address.",
        )
    return [str(i["email"]) for i in items]


def _emails(body: dict) -> list[str]:
    emails = body.get("recipient_emails")
    if not isinstance(emails, list) or not emails or not all(isinstance(e, str) and "@" in e for e in emails):
        raise SandboxError(400, "recipient_emails", "recipient_emails must be a non-empty list of addresses")
    return emails


@router.post("/mail/send", status_code=202)
async def send(body: dict = Body(...), store: Store = Depends(get_store)) -> Response:
    """Accept a message (202 with `X-Message-Id`). SendGrid has no idempotency: the same
    request sent twice is two messages, whatever `Idempotency-Key` it carries."""
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        raise SandboxError(
            400,
            "personalizations",
            "The personalizations field is required and must have at least one personalization.",
        )
    sender = (body.get("from") or {}).get("email") if isinstance(body.get("from"), dict) else None
    if not sender:
        raise SandboxError(400, "from.email", "The from email does not contain a valid address.")
    template_id = body.get("template_id")
    if not template_id and not body.get("subject") and not all(p.get("subject") for p in personalizations):
        raise SandboxError(
            400,
            "subject",
            "The subject is required. You can get around this requirement if you use "
            "a template with a subject defined or if every personalization has a subject defined.",
        )
    if not template_id and not body.get("content"):
        raise SandboxError(400, "content", "Unless a valid template_id is provided, the content parameter is required.")
    content = _content(body.get("content") or [])
    headers = body.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise SandboxError(400, "headers", "The headers parameter must be an object of string values.")
    for i, p in enumerate(personalizations):
        args = {**(body.get("custom_args") or {}), **(p.get("custom_args") or {})}
        if not all(isinstance(v, str) for v in args.values()):
            raise SandboxError(400, f"personalizations.{i}.custom_args", "Custom arg values must be strings.")

    group_id = (body.get("asm") or {}).get("group_id")
    message_id = secrets.token_urlsafe(16)[:22]
    recipients = [_addresses(p.get("to"), f"personalizations.{i}.to") for i, p in enumerate(personalizations)]
    for p, to in zip(personalizations, recipients, strict=False):
        dropped = [a for a in to if _suppressed(store, a, group_id)]
        store.record(
            "sendgrid",
            "mail.send",
            message_id,
            {
                "to": to,
                "from": sender,
                "subject": p.get("subject") or body.get("subject"),
                "template_id": template_id,
                "categories": body.get("categories", []),
                "custom_args": {**body.get("custom_args", {}), **p.get("custom_args", {})},
                "asm_group_id": group_id,
                "content_types": [c["type"] for c in content],
                # The whole message as the recipient gets it, so tests read what a lead received.
                "content": content,
                "message_id": message_id,
                "headers": headers,
                "dropped": dropped,  # SendGrid accepts, then drops suppressed recipients
            },
        )
    return Response(status_code=202, headers={"X-Message-Id": message_id})


def _content(parts: Any) -> list[dict[str, str]]:
    """The `content` array as SendGrid checks it: each part a type and a non-empty value,
    each type once, and text/plain (when present) first, then text/html."""
    if not isinstance(parts, list):
        raise SandboxError(400, "content", "The content parameter must be an array.")
    seen: list[str] = []
    for i, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        value = part.get("value") if isinstance(part, dict) else None
        if not isinstance(kind, str) or not kind or any(c in kind for c in ";\r\n"):
            raise SandboxError(400, f"content.{i}.type", "The content type must be a string without ';' or CRLF.")
        if not isinstance(value, str) or not value:
            message = "The content value must be a string at least one character in length."
            raise SandboxError(400, f"content.{i}.value", message)
        if kind in seen:
            raise SandboxError(400, f"content.{i}.type", f"The {kind} content type may only be provided once.")
        seen.append(kind)
    if "text/plain" in seen and seen[0] != "text/plain":
        message = "If present, text/plain content must be first, followed by text/html."
        raise SandboxError(400, "content.0.type", message)
    if "text/html" in seen and seen.index("text/html") != (1 if "text/plain" in seen else 0):
        message = "If present, text/html content must follow text/plain, before any other type."
        raise SandboxError(400, "content", message)
    return [{"type": p["type"], "value": p["value"]} for p in parts]


@router.get("/asm/suppressions/global/{email}")
async def global_suppression(email: str, store: Store = Depends(get_store)) -> dict:
    return {"recipient_email": email} if email.lower() in store.global_suppressions else {}


@router.post("/asm/suppressions/global", status_code=201)
async def add_global_suppressions(body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    emails = _emails(body)
    for email in emails:
        if email.lower() in store.global_suppressions:
            store.count_replay("sendgrid")
            continue
        store.global_suppressions.add(email.lower())
        store.record("sendgrid", "suppression.add", f"global:{email_hash(email)}", {"group_id": None, "email": email})
    return {"recipient_emails": emails}


@router.get("/asm/suppressions/{email}")
async def groups_for_address(email: str, store: Store = Depends(get_store)) -> dict:
    address = email.lower()
    return {
        "suppressions": [
            {
                "id": group_id,
                "name": f"Group {group_id}",
                "description": "",
                "is_default": False,
                "suppressed": address in members,
            }
            for group_id, members in sorted(store.group_suppressions.items())
        ]
    }


@router.get("/asm/groups/{group_id}/suppressions")
async def group_members(group_id: int, store: Store = Depends(get_store)) -> list[str]:
    return sorted(store.group_suppressions.get(group_id, set()))


@router.post("/asm/groups/{group_id}/suppressions", status_code=201)
async def add_to_group(group_id: int, body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    emails = _emails(body)
    members = store.group_suppressions[group_id]
    for email in emails:
        if email.lower() in members:
            store.count_replay("sendgrid")
            continue
        members.add(email.lower())
        store.record(
            "sendgrid", "suppression.add", f"{group_id}:{email_hash(email)}", {"group_id": group_id, "email": email}
        )
    return {"recipient_emails": emails}


def _suppressed(store: Store, email: str, group_id: Any) -> bool:
    address = email.lower()
    return address in store.global_suppressions or address in store.group_suppressions.get(group_id, set())


@router.post("/asm/groups/{group_id}/suppressions/search")
async def search_group(group_id: int, body: dict = Body(...), store: Store = Depends(get_store)) -> list[str]:
    """The given addresses that are suppressed in the group."""
    members = store.group_suppressions.get(group_id, set())
    return [email for email in _emails(body) if email.lower() in members]


# Statistics: `/v3/stats` per day from the `mail.send` effects received (the sandbox sees
# no opens or clicks: those would come from recipients, so they stay 0).

STAT_METRICS = (
    "blocks",
    "bounce_drops",
    "bounces",
    "clicks",
    "deferred",
    "delivered",
    "invalid_emails",
    "opens",
    "processed",
    "requests",
    "spam_report_drops",
    "spam_reports",
    "unique_clicks",
    "unique_opens",
    "unsubscribe_drops",
    "unsubscribes",
)


@router.get("/stats")
async def stats(
    start_date: str | None = None,
    end_date: str | None = None,
    aggregated_by: str = "day",
    limit: int = 500,
    offset: int = 0,
    store: Store = Depends(get_store),
) -> list[dict]:
    try:
        start = date.fromisoformat(start_date or "")
        end = date.fromisoformat(end_date) if end_date else datetime.now(UTC).date()
    except ValueError:
        raise SandboxError(400, "start_date", "start_date and end_date must be dates as YYYY-MM-DD") from None
    if aggregated_by != "day":
        raise SandboxError(400, "aggregated_by", "the sandbox aggregates by day only")
    if end < start:
        raise SandboxError(400, "end_date", "end_date must not be before start_date")
    if not 1 <= limit <= 500 or offset < 0:
        raise SandboxError(400, "limit", "limit must be 1 to 500 and offset not negative")
    counts: dict[date, dict[str, int]] = {}
    for effect in store.effects:
        if effect.kind != "mail.send":
            continue
        day = datetime.fromisoformat(effect.at.replace("Z", "+00:00")).date()
        if start <= day <= end:
            metrics = counts.setdefault(day, dict.fromkeys(STAT_METRICS, 0))
            sent, dropped = len(effect.summary["to"]), len(effect.summary.get("dropped") or [])
            metrics["requests"] += sent
            metrics["processed"] += sent - dropped
            metrics["delivered"] += sent - dropped
            metrics["unsubscribe_drops"] += dropped
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return [
        {"date": d.isoformat(), "stats": [{"metrics": counts.get(d, dict.fromkeys(STAT_METRICS, 0))}]}
        for d in days[offset : offset + limit]
    ]


# Marketing Campaigns: Single Sends. "now" is sent at once (status `triggered`); a
# later `send_at` stays `scheduled` until unscheduled. Cancelling a triggered send is
# recorded (effect `singlesend.cancel`, `cancelled: false`) but cannot recall it.


def single_send_view(single: SingleSend) -> dict[str, Any]:
    return {
        "id": single.id,
        "name": single.name,
        "status": single.status,
        "categories": [],
        "send_at": single.send_at,
        "send_to": single.send_to,
        "email_config": single.email_config,
        "created_at": single.created_at,
        "updated_at": single.updated_at,
    }


def _single_send(store: Store, single_send_id: str) -> SingleSend:
    single = store.single_sends.get(single_send_id)
    if single is None:
        raise SandboxError(404, None, "resource not found")
    return single


def _send_to(value: Any) -> dict[str, Any]:
    value = value if isinstance(value, dict) else {}
    lists, segments = value.get("list_ids", []), value.get("segment_ids", [])
    if not all(isinstance(v, list) and all(isinstance(i, str) and i for i in v) for v in (lists, segments)):
        raise SandboxError(400, "send_to", "list_ids and segment_ids must be lists of ids")
    return {"list_ids": lists, "segment_ids": segments, "all": bool(value.get("all", False))}


def _email_config(value: Any) -> dict[str, Any]:
    value = value if isinstance(value, dict) else {}
    for name in ("sender_id", "suppression_group_id"):
        if value.get(name) is not None and (not isinstance(value[name], int) or value[name] < 1):
            raise SandboxError(400, f"email_config.{name}", f"{name} must be a positive integer")
    return {
        "subject": value.get("subject"),
        "html_content": value.get("html_content"),
        "plain_content": value.get("plain_content"),
        "generate_plain_content": value.get("generate_plain_content", True),
        "editor": value.get("editor", "code"),
        "suppression_group_id": value.get("suppression_group_id"),
        "custom_unsubscribe_url": value.get("custom_unsubscribe_url"),
        "sender_id": value.get("sender_id"),
        "ip_pool": value.get("ip_pool"),
    }


@router.post("/marketing/singlesends", status_code=201)
async def create_single_send(body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    """A new draft, every time: a create sent twice leaves two drafts (no idempotency)."""
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise SandboxError(400, "name", "name is required and must be 1 to 100 characters")
    stamp = now_iso()
    single = SingleSend(
        id=str(uuid.uuid4()),
        name=name,
        status="draft",
        send_to=_send_to(body.get("send_to")),
        email_config=_email_config(body.get("email_config")),
        send_at=None,
        created_at=stamp,
        updated_at=stamp,
    )
    store.single_sends[single.id] = single
    config = single.email_config
    store.record(
        "sendgrid",
        "singlesend.create",
        single.id,
        {
            "id": single.id,
            "name": name,
            "list_ids": single.send_to["list_ids"],
            "subject": config["subject"],
            "sender_id": config["sender_id"],
            "suppression_group_id": config["suppression_group_id"],
        },
    )
    return single_send_view(single)


@router.post("/marketing/singlesends/search")
async def search_single_sends(body: dict = Body(...), page_size: int = 100, store: Store = Depends(get_store)) -> dict:
    if not 1 <= page_size <= 100:
        raise SandboxError(400, "page_size", "page_size must be between 1 and 100")
    name, statuses = body.get("name"), body.get("status")
    if name is not None and not isinstance(name, str):
        raise SandboxError(400, "name", "name must be a string")
    found = [
        single_send_view(s)
        for s in store.single_sends.values()
        if (name is None or name in s.name) and (not statuses or s.status in statuses)
    ]
    return {"result": found[:page_size], "_metadata": {"count": len(found)}}


@router.get("/marketing/singlesends/{single_send_id}")
async def get_single_send(single_send_id: str, store: Store = Depends(get_store)) -> dict:
    return single_send_view(_single_send(store, single_send_id))


@router.put("/marketing/singlesends/{single_send_id}/schedule", status_code=201)
async def schedule_single_send(single_send_id: str, body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    single = _single_send(store, single_send_id)
    if single.status == "triggered":
        raise SandboxError(400, "send_at", "This Single Send has already been sent and cannot be rescheduled.")
    config, send_to = single.email_config, single.send_to
    missing = [
        field
        for field, ok in (
            ("email_config.sender_id", config["sender_id"]),
            ("email_config.suppression_group_id", config["suppression_group_id"] or config["custom_unsubscribe_url"]),
            ("email_config.subject", config["subject"]),
            ("email_config.html_content", config["html_content"] or config["plain_content"]),
            ("send_to", send_to["list_ids"] or send_to["segment_ids"] or send_to["all"]),
        )
        if not ok
    ]
    if missing:
        raise SandboxError(400, missing[0], f"{missing[0]} is required to schedule a Single Send")
    send_at = body.get("send_at")
    now = datetime.now(UTC)
    if send_at == "now":
        when, status = now, "triggered"
    else:
        try:
            when = datetime.fromisoformat(str(send_at).replace("Z", "+00:00"))
        except ValueError:
            raise SandboxError(400, "send_at", 'send_at must be "now" or an ISO 8601 date-time') from None
        if when.tzinfo is None or when <= now:
            raise SandboxError(400, "send_at", "send_at must be in the future, with a time zone")
        status = "scheduled"
    single.send_at = when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    single.status, single.updated_at = status, now_iso()
    delivered = deliver(store, single) if status == "triggered" else 0
    store.record(
        "sendgrid",
        "singlesend.schedule",
        single.id,
        {
            "id": single.id,
            "send_at": single.send_at,
            "status": status,
            "list_ids": send_to["list_ids"],
            "delivered": delivered,
        },
    )
    return {"send_at": single.send_at, "status": "scheduled"}


@router.delete("/marketing/singlesends/{single_send_id}/schedule")
async def unschedule_single_send(single_send_id: str, store: Store = Depends(get_store)) -> dict:
    single = _single_send(store, single_send_id)
    if single.status == "draft":
        raise SandboxError(404, None, "This Single Send is not scheduled.")
    cancelled = single.status == "scheduled"
    if cancelled:
        single.status, single.send_at, single.updated_at = "draft", None, now_iso()
    store.record(
        "sendgrid",
        "singlesend.cancel",
        single.id,
        {"id": single.id, "cancelled": cancelled, "status": single.status},
    )
    return single_send_view(single)
