"""Endpoints the data-protection features use, next to each platform's others:

- HubSpot: `POST /crm/v3/objects/contacts/batch/read` (by `email` or id) and
  `POST /crm/v3/objects/contacts/gdpr-delete` (permanent delete; 404 when none).
- SendGrid Marketing Contacts: `PUT /v3/marketing/contacts` (upsert by email, 202 with a
  job id), `POST /v3/marketing/contacts/search/emails` (404 when none found),
  `DELETE /v3/marketing/contacts?ids=`; and `DELETE /v3/asm/suppressions/global/{email}`.
- Meta Custom Audiences: `POST` / `DELETE /{version}/{audience id}/users` with
  `payload={"schema": "EMAIL_SHA256", "data": [...]}`.
- Admin: `GET /_sandbox/privacy`: marketing contacts, Braze users, audience members and
  global suppressions, for tests and the demo.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Body, Depends, Request, Response

from sandbox.platforms import SandboxError
from sandbox.routes import meta  # noqa: F401  (registers the graph_version path convertor)
from sandbox.state import get_store
from sandbox.store import Store, email_hash, now_iso

hubspot = APIRouter(prefix="/crm/v3/objects/contacts")
sendgrid = APIRouter(prefix="/v3")
audiences = APIRouter(prefix="/{version:graph_version}")
admin = APIRouter(prefix="/_sandbox", tags=["admin"])

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MARKETING_FIELDS = ("first_name", "last_name", "country", "city", "postal_code", "phone_number")


# ---------------------------------------------------------------- HubSpot


@hubspot.post("/batch/read")
async def batch_read(body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
        raise SandboxError(400, "VALIDATION_ERROR", "inputs must hold between 1 and 100 objects")
    id_property = body.get("idProperty") or "hs_object_id"
    names = body.get("properties") or ["email", "firstname", "lastname"]
    results, errors = [], []
    for item in inputs:
        value = str((item or {}).get("id") or "")
        obj = (
            store.objects["contacts"].get(value)
            if id_property == "hs_object_id"
            else store.find("contacts", id_property, value)
        )
        if obj is None:
            errors.append(value)
        else:
            results.append(obj.view(names))
    page: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now_iso(), "completedAt": now_iso()}
    if errors:
        page["numErrors"] = len(errors)
        page["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some CONTACT objects, they may be deleted or not exist.",
                "context": {"ids": errors},
            }
        ]
    return page


@hubspot.post("/gdpr-delete", status_code=204)
async def gdpr_delete(body: dict = Body(...), store: Store = Depends(get_store)) -> Response:
    object_id, id_property = str(body.get("objectId") or ""), body.get("idProperty") or "hs_object_id"
    obj = (
        store.objects["contacts"].get(object_id)
        if id_property == "hs_object_id"
        else store.find("contacts", id_property, object_id)
    )
    if obj is None:
        raise SandboxError(404, "OBJECT_NOT_FOUND", "resource not found")
    del store.objects["contacts"][obj.id]
    for key in [k for k, v in store.unique.items() if k[0] == "contacts" and v == obj.id]:
        del store.unique[key]
    store.associations = {a for a in store.associations if ("contacts", obj.id) not in ((a[0], a[1]), (a[2], a[3]))}
    store.record("hubspot", "contact.delete", email_hash(obj.properties.get("email") or obj.id), {"id": obj.id})
    return Response(status_code=204)


# ---------------------------------------------------------------- SendGrid


@sendgrid.put("/marketing/contacts", status_code=202)
async def upsert_contacts(body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    contacts = body.get("contacts")
    if not isinstance(contacts, list) or not 1 <= len(contacts) <= 30_000:
        raise SandboxError(400, "contacts", "contacts must hold between 1 and 30000 contacts")
    if not all(isinstance(c, dict) and isinstance(c.get("email"), str) and "@" in c["email"] for c in contacts):
        raise SandboxError(400, "contacts", "each contact needs a valid email")
    list_ids = body.get("list_ids", [])
    if not isinstance(list_ids, list) or not all(isinstance(i, str) for i in list_ids):
        raise SandboxError(400, "list_ids", "list_ids must be an array of list ids")
    for list_id in list_ids:
        if list_id not in store.marketing_lists:
            raise SandboxError(404, "list_ids", f"list {list_id} does not exist")
    for contact in contacts:
        email = contact["email"].strip().lower()
        current = store.marketing_contacts.get(email)
        fields = {k: contact[k] for k in MARKETING_FIELDS if k in contact}
        if current is None:
            current = store.marketing_contacts[email] = {
                "id": str(uuid.uuid4()),
                "email": email,
                "created_at": now_iso(),
                "updated_at": now_iso(),
            }
        changed = {k: v for k, v in fields.items() if current.get(k, "") != v}
        if changed:
            current.update(changed, updated_at=now_iso())
            store.record(
                "sendgrid", "mcontact.upsert", email_hash(email), {"id": current["id"], "fields": sorted(changed)}
            )
        else:
            store.count_replay("sendgrid")
    # An import is a job: list memberships land when it completes (see sendgrid_lists).
    job_id = str(uuid.uuid4())
    store.contact_jobs[job_id] = {
        "id": job_id,
        "status": "pending",
        "job_type": "upsert_contacts",
        "list_ids": list(list_ids),
        "emails": [c["email"].strip().lower() for c in contacts],
        "reads": 0,
        "started_at": now_iso(),
        "finished_at": None,
    }
    return {"job_id": job_id}


@sendgrid.post("/marketing/contacts/search/emails")
async def search_contacts(body: dict = Body(...), store: Store = Depends(get_store)) -> Any:
    emails = body.get("emails")
    if not isinstance(emails, list) or not 1 <= len(emails) <= 100:
        raise SandboxError(400, "emails", "emails must hold between 1 and 100 addresses")
    found = {
        e: {"contact": store.marketing_contacts[e.strip().lower()]}
        for e in emails
        if isinstance(e, str) and e.strip().lower() in store.marketing_contacts
    }
    if not found:
        raise SandboxError(404, None, "No contacts found")
    return {"result": found}


@sendgrid.delete("/marketing/contacts", status_code=202)
async def delete_contacts(ids: str = "", store: Store = Depends(get_store)) -> dict:
    wanted = {i for i in ids.split(",") if i}
    if not wanted:
        raise SandboxError(400, "ids", "ids is required (comma-separated contact ids)")
    for email, contact in list(store.marketing_contacts.items()):
        if contact["id"] in wanted:
            del store.marketing_contacts[email]
            for members in store.list_members.values():
                members.discard(email)
            store.record("sendgrid", "mcontact.delete", email_hash(email), {"id": contact["id"]})
    return {"job_id": str(uuid.uuid4())}


@sendgrid.delete("/asm/suppressions/global/{email}", status_code=204)
async def remove_global_suppression(email: str, store: Store = Depends(get_store)) -> Response:
    address = email.lower()
    if address in store.global_suppressions:
        store.global_suppressions.discard(address)
        store.record("sendgrid", "suppression.remove", f"global:{email_hash(address)}", {"group_id": None})
    return Response(status_code=204)


# ---------------------------------------------------------------- Meta Custom Audiences


async def _audience_payload(request: Request) -> list[str]:
    raw = await request.body()
    body: Any = {}
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = dict(parse_qsl(raw.decode("utf-8", "replace")))
    payload = body.get("payload") if isinstance(body, dict) else None
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            payload = None
    if not isinstance(payload, dict) or payload.get("schema") not in ("EMAIL_SHA256", ["EMAIL_SHA256"]):
        raise SandboxError(400, "100", "(#100) Invalid parameter: payload needs schema EMAIL_SHA256 and data")
    data = payload.get("data")
    if not isinstance(data, list) or not data:
        raise SandboxError(400, "100", "(#100) Invalid parameter: payload.data must be a non-empty list")
    return [d[0] if isinstance(d, list) and d else d for d in data]


@audiences.post("/{audience_id}/users")
async def add_users(audience_id: str, request: Request, store: Store = Depends(get_store)) -> dict:
    return _apply_users(store, audience_id, await _audience_payload(request), add=True)


@audiences.delete("/{audience_id}/users")
async def remove_users(audience_id: str, request: Request, store: Store = Depends(get_store)) -> dict:
    return _apply_users(store, audience_id, await _audience_payload(request), add=False)


def _apply_users(store: Store, audience_id: str, hashes: list[Any], *, add: bool) -> dict:
    if not audience_id.isdigit():
        raise SandboxError(400, "100", f"(#100) Unsupported request: object '{audience_id}' is not an audience")
    valid = [h for h in hashes if isinstance(h, str) and _SHA256.fullmatch(h)]
    members = store.audiences[audience_id]
    changed = [h for h in valid if (h not in members) == add]
    if add:
        members.update(changed)
    else:
        members.difference_update(changed)
    if changed:
        store.record(
            "meta",
            "audience.add" if add else "audience.remove",
            audience_id,
            {"audience_id": audience_id, "count": len(changed)},
        )
    else:
        store.count_replay("meta")
    return {
        "audience_id": audience_id,
        "session_id": str(uuid.uuid4().int % 10**16),
        "num_received": len(hashes),
        "num_invalid_entries": len(hashes) - len(valid),
        "invalid_entry_samples": {},
    }


# ---------------------------------------------------------------- admin


@admin.get("/privacy")
async def privacy_state(store: Store = Depends(get_store)) -> dict:
    return {
        "marketing_contacts": store.marketing_contacts,
        "braze_users": store.braze_users,
        "audiences": {k: sorted(v) for k, v in store.audiences.items()},
        "global_suppressions": sorted(store.global_suppressions),
    }
