"""SendGrid Marketing Campaigns lists, contact import jobs, contacts exports, Single Send search,
and the delivery of a triggered Single Send to the members of its lists.

- `POST /v3/marketing/lists` (201; a name already taken is refused, 400), `GET /v3/marketing/lists`
  (`page_size` 1..1000, `page_token`, `_metadata.next`), `GET /v3/marketing/lists/{id}`.
- `PUT /v3/marketing/contacts` with `list_ids` (in `privacy.py`) answers a job id; the job is
  `pending` the first time it is read and `completed` after, and only then are the contacts on
  the lists: a client that schedules a send without waiting for its import mails nobody new.
  `GET /v3/marketing/contacts/imports/{id}`.
- `POST /v3/marketing/contacts/exports` (`list_ids`, `file_type` csv|json, `max_file_size` MB)
  answers 202 with an export id; `GET /v3/marketing/contacts/exports/{id}` is `pending` on the
  first read, then `ready` with `urls`, files taken at that moment and split at
  `max_file_size`. The urls are signed download links outside the API (no API key, as the
  real ones are pre-signed storage links).
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from sandbox.platforms import SandboxError
from sandbox.state import get_store
from sandbox.store import SingleSend, Store, email_hash, now_iso

router = APIRouter(prefix="/v3/marketing")
downloads = APIRouter(prefix="/_downloads/sendgrid")

EXPORT_COLUMNS = ("EMAIL", "FIRST_NAME", "LAST_NAME", "COUNTRY", "CONTACT_ID", "CREATED_AT", "UPDATED_AT")
UNSUBSCRIBE_TAG = "{{{unsubscribe}}}"


def _list_view(store: Store, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "name": item["name"],
        "contact_count": len(store.list_members.get(item["id"], ())),
        "_metadata": {"self": f"https://api.sendgrid.com/v3/marketing/lists/{item['id']}"},
    }


@router.post("/lists", status_code=201)
async def create_list(body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise SandboxError(400, "name", "name is required and must be 1 to 100 characters")
    if any(item["name"] == name for item in store.marketing_lists.values()):
        raise SandboxError(400, "name", "list name already exists")
    list_id = str(uuid.uuid4())
    item = store.marketing_lists[list_id] = {"id": list_id, "name": name, "created_at": now_iso()}
    store.record("sendgrid", "list.create", list_id, {"id": list_id, "name": name})
    return _list_view(store, item)


@router.get("/lists")
async def all_lists(page_size: int = 100, page_token: str | None = None, store: Store = Depends(get_store)) -> dict:
    if not 1 <= page_size <= 1000:
        raise SandboxError(400, "page_size", "page_size must be between 1 and 1000")
    items = list(store.marketing_lists.values())
    try:
        start = int(page_token) if page_token else 0
    except ValueError:
        raise SandboxError(400, "page_token", "invalid page_token") from None
    page = items[start : start + page_size]
    metadata: dict[str, Any] = {"self": "https://api.sendgrid.com/v3/marketing/lists", "count": len(items)}
    if start + page_size < len(items):
        query = f"page_size={page_size}&page_token={start + page_size}"
        metadata["next"] = f"https://api.sendgrid.com/v3/marketing/lists?{query}"
    return {"result": [_list_view(store, i) for i in page], "_metadata": metadata}


@router.get("/lists/{list_id}")
async def get_list(list_id: str, store: Store = Depends(get_store)) -> dict:
    item = store.marketing_lists.get(list_id)
    if item is None:
        raise SandboxError(404, None, "resource not found")
    return _list_view(store, item)


@router.get("/contacts/imports/{job_id}")
async def import_status(job_id: str, store: Store = Depends(get_store)) -> dict:
    job = store.contact_jobs.get(job_id)
    if job is None:
        raise SandboxError(404, None, "resource not found")
    job["reads"] += 1
    if job["status"] == "pending" and job["reads"] > 1:
        for list_id in job["list_ids"]:
            members = store.list_members[list_id]
            added = [e for e in job["emails"] if e in store.marketing_contacts and e not in members]
            members.update(added)
            if added:
                store.record("sendgrid", "list.add", f"{job_id}:{list_id}", {"list_id": list_id, "count": len(added)})
        job["status"], job["finished_at"] = "completed", now_iso()
    count = len(job["emails"])
    return {
        "id": job["id"],
        "status": job["status"],
        "job_type": job["job_type"],
        "results": {
            "requested_count": count,
            "created_count": 0,
            "updated_count": count if job["status"] == "completed" else 0,
            "deleted_count": 0,
            "errored_count": 0,
        },
        "started_at": job["started_at"],
        "finished_at": job["finished_at"],
    }


@router.post("/contacts/exports", status_code=202)
async def create_export(request: Request, body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    list_ids = body.get("list_ids", [])
    if not isinstance(list_ids, list) or not all(isinstance(i, str) for i in list_ids):
        raise SandboxError(400, "list_ids", "list_ids must be an array of list ids")
    if body.get("segment_ids"):
        raise SandboxError(400, "segment_ids", "the sandbox has no segments")
    for list_id in list_ids:
        if list_id not in store.marketing_lists:
            raise SandboxError(404, "list_ids", f"list {list_id} does not exist")
    file_type = body.get("file_type", "csv")
    if file_type not in ("csv", "json"):
        raise SandboxError(400, "file_type", "file_type must be csv or json")
    max_file_size = body.get("max_file_size", 5000)
    if not isinstance(max_file_size, int) or max_file_size < 1:
        raise SandboxError(400, "max_file_size", "max_file_size must be a positive number of megabytes")
    export_id = str(uuid.uuid4())
    store.contact_exports[export_id] = {
        "id": export_id,
        "status": "pending",
        "list_ids": list_ids,
        "file_type": file_type,
        "max_bytes": max_file_size * 1_000_000,
        "reads": 0,
        "created_at": now_iso(),
        "completed_at": None,
        "files": [],
        "token": secrets.token_urlsafe(16),
        "base_url": str(request.base_url).rstrip("/"),
    }
    return {
        "id": export_id,
        "_metadata": {"self": f"https://api.sendgrid.com/v3/marketing/contacts/exports/{export_id}"},
    }


def _export_files(store: Store, export: dict[str, Any]) -> list[bytes]:
    emails = sorted(set().union(*(store.list_members.get(i, set()) for i in export["list_ids"])))
    rows = [store.marketing_contacts[e] for e in emails if e in store.marketing_contacts]
    files: list[bytes] = []
    if export["file_type"] == "json":
        lines = [json.dumps(r).encode() + b"\n" for r in rows]
        header = b""
    else:
        lines = []
        for r in rows:
            out = io.StringIO()
            values = (r["email"], r.get("first_name", ""), r.get("last_name", ""), r.get("country", ""))
            csv.writer(out).writerow((*values, r["id"], r["created_at"], r["updated_at"]))
            lines.append(out.getvalue().encode())
        header = (",".join(EXPORT_COLUMNS) + "\r\n").encode()
    current, size = [header], len(header)
    for line in lines:
        if size + len(line) > export["max_bytes"] and len(current) > 1:
            files.append(b"".join(current))
            current, size = [header], len(header)
        current.append(line)
        size += len(line)
    files.append(b"".join(current))
    return files


@router.get("/contacts/exports/{export_id}")
async def export_status(export_id: str, store: Store = Depends(get_store)) -> dict:
    export = store.contact_exports.get(export_id)
    if export is None:
        raise SandboxError(404, None, "resource not found")
    export["reads"] += 1
    if export["status"] == "pending" and export["reads"] > 1:
        export["files"] = _export_files(store, export)
        export["status"], export["completed_at"] = "ready", now_iso()
    view: dict[str, Any] = {
        "id": export_id,
        "status": export["status"],
        "created_at": export["created_at"],
        "updated_at": export["completed_at"] or export["created_at"],
        "completed_at": export["completed_at"],
        "expires_at": None,
        "export_type": "contacts_export",
        "message": "",
    }
    if export["status"] == "ready":
        base = f"{export['base_url']}/_downloads/sendgrid/exports/{export_id}"
        view["urls"] = [f"{base}/{n}.{export['file_type']}?sig={export['token']}" for n in range(len(export["files"]))]
    return view


@downloads.get("/exports/{export_id}/{name}")
async def download_export(export_id: str, name: str, sig: str = "", store: Store = Depends(get_store)) -> Response:
    export = store.contact_exports.get(export_id)
    number = name.partition(".")[0]
    if export is None or not secrets.compare_digest(sig, export["token"]) or not number.isdigit():
        return Response(status_code=403)
    files = export["files"]
    if int(number) >= len(files):
        return Response(status_code=404)
    kind = "text/csv" if export["file_type"] == "csv" else "application/json"
    return Response(files[int(number)], media_type=kind)


def deliver(store: Store, single: SingleSend) -> int:
    """Mail a triggered Single Send to the members of its lists, minus the suppressed, one
    recorded message per recipient with its own unsubscribe link; return how many."""
    config, group_id = single.email_config, single.email_config["suppression_group_id"]
    suppressed = store.global_suppressions | store.group_suppressions.get(group_id, set())
    recipients = sorted(set().union(*(store.list_members.get(i, set()) for i in single.send_to["list_ids"])))
    content = []
    if config["plain_content"]:
        content.append({"type": "text/plain", "value": config["plain_content"]})
    if config["html_content"]:
        content.append({"type": "text/html", "value": config["html_content"]})
    delivered = 0
    for email in recipients:
        if email in suppressed:
            continue
        link = f"https://sandbox.sendgrid.example/unsubscribe/{email_hash(email)}"
        store.record(
            "sendgrid",
            "singlesend.deliver",
            f"{single.id}:{email_hash(email)}",
            {
                "single_send_id": single.id,
                "to": [email],
                "subject": config["subject"],
                "suppression_group_id": group_id,
                "content": [{**c, "value": c["value"].replace(UNSUBSCRIBE_TAG, link)} for c in content],
            },
        )
        delivered += 1
    return delivered
