"""SendGrid v3 endpoints: mail send and unsubscribe-group / global suppressions."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from sandbox.platforms import SandboxError
from sandbox.store import Store, email_hash
from sandbox.state import get_store

router = APIRouter(prefix="/v3")


def _addresses(items: Any, field: str) -> list[str]:
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) and i.get("email") for i in items):
        raise SandboxError(400, field, "The to array is required for all personalization objects, "
                                       "and must have at least one email object with a valid email address.")
    return [str(i["email"]) for i in items]


def _emails(body: dict) -> list[str]:
    emails = body.get("recipient_emails")
    if not isinstance(emails, list) or not emails or not all(isinstance(e, str) and "@" in e for e in emails):
        raise SandboxError(400, "recipient_emails", "recipient_emails must be a non-empty list of addresses")
    return emails


@router.post("/mail/send", status_code=202)
async def send(request: Request, body: dict = Body(...), store: Store = Depends(get_store)) -> Response:
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        raise SandboxError(400, "personalizations",
                           "The personalizations field is required and must have at least one personalization.")
    sender = (body.get("from") or {}).get("email") if isinstance(body.get("from"), dict) else None
    if not sender:
        raise SandboxError(400, "from.email", "The from email does not contain a valid address.")
    template_id = body.get("template_id")
    if not template_id and not body.get("subject") and not all(p.get("subject") for p in personalizations):
        raise SandboxError(400, "subject", "The subject is required. You can get around this requirement if you use "
                           "a template with a subject defined or if every personalization has a subject defined.")
    if not template_id and not body.get("content"):
        raise SandboxError(400, "content", "Unless a valid template_id is provided, the content parameter is required.")

    group_id = (body.get("asm") or {}).get("group_id")
    message_id = secrets.token_urlsafe(16)[:22]
    recipients = [_addresses(p.get("to"), f"personalizations.{i}.to") for i, p in enumerate(personalizations)]
    for p, to in zip(personalizations, recipients, strict=False):
        dropped = [a for a in to if _suppressed(store, a, group_id)]
        store.record("sendgrid", "mail.send", request.headers.get("idempotency-key"), {
            "to": to,
            "from": sender,
            "subject": p.get("subject") or body.get("subject"),
            "template_id": template_id,
            "categories": body.get("categories", []),
            "custom_args": {**body.get("custom_args", {}), **p.get("custom_args", {})},
            "asm_group_id": group_id,
            "content_types": [c.get("type") for c in body.get("content", [])],
            "message_id": message_id,
            "dropped": dropped,  # SendGrid accepts, then drops suppressed recipients
        })
    return Response(status_code=202, headers={"X-Message-Id": message_id})


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
    return {"suppressions": [
        {"id": group_id, "name": f"Group {group_id}", "description": "", "is_default": False,
         "suppressed": address in members}
        for group_id, members in sorted(store.group_suppressions.items())
    ]}


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
        store.record("sendgrid", "suppression.add", f"{group_id}:{email_hash(email)}",
                     {"group_id": group_id, "email": email})
    return {"recipient_emails": emails}


def _suppressed(store: Store, email: str, group_id: Any) -> bool:
    address = email.lower()
    return address in store.global_suppressions or address in store.group_suppressions.get(group_id, set())


@router.post("/asm/groups/{group_id}/suppressions/search")
async def search_group(group_id: int, body: dict = Body(...), store: Store = Depends(get_store)) -> list[str]:
    """The given addresses that are suppressed in the group."""
    members = store.group_suppressions.get(group_id, set())
    return [email for email in _emails(body) if email.lower() in members]
