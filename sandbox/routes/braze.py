"""Braze REST endpoints (the CDP-shaped profile store): track, export by id, delete.

Users are keyed by `external_id` and hold whatever attributes were tracked (a `null`
removes one). Every change is an effect (`profile.update` with the changed attribute
names, `profile.delete`); a track that changes nothing is counted as a replay.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends

from sandbox.platforms import SandboxError
from sandbox.state import get_store
from sandbox.store import Store, now_iso

router = APIRouter(prefix="/users")
MAX_OBJECTS = 75  # Braze: up to 75 attribute objects per /users/track request


@router.post("/track", status_code=201)
async def track(body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    attributes = body.get("attributes") or []
    if not isinstance(attributes, list) or not 1 <= len(attributes) <= MAX_OBJECTS:
        raise SandboxError(400, "attributes", f"attributes must hold 1 to {MAX_OBJECTS} objects")
    checked = []
    for item in attributes:
        if not isinstance(item, dict) or not isinstance(item.get("external_id"), str) or not item["external_id"]:
            raise SandboxError(400, "external_id", "each attributes object needs an external_id")
        checked.append(item)
    for item in checked:
        external_id = item["external_id"]
        user = store.braze_users.setdefault(external_id, {"external_id": external_id, "created_at": now_iso()})
        changes = {k: v for k, v in item.items() if k != "external_id" and user.get(k) != v}
        for name, value in changes.items():
            if value is None:
                user.pop(name, None)
            else:
                user[name] = value
        if changes:
            store.record(
                "braze", "profile.update", external_id, {"external_id": external_id, "attributes": sorted(changes)}
            )
        else:
            store.count_replay("braze")
    return {"attributes_processed": len(checked), "message": "success"}


@router.post("/export/ids", status_code=201)
async def export_ids(body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    ids = body.get("external_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 50 or not all(isinstance(i, str) for i in ids):
        raise SandboxError(400, "external_ids", "external_ids must hold 1 to 50 ids")
    fields = body.get("fields_to_export")
    users: list[dict[str, Any]] = []
    for external_id in ids:
        user = store.braze_users.get(external_id)
        if user is not None:
            users.append({k: v for k, v in user.items() if not fields or k in fields or k == "external_id"})
    missing = [i for i in ids if i not in store.braze_users]
    return {"users": users, "invalid_user_ids": missing, "message": "success"}


@router.post("/delete", status_code=201)
async def delete(body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    ids = body.get("external_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 50 or not all(isinstance(i, str) for i in ids):
        raise SandboxError(400, "external_ids", "external_ids must hold 1 to 50 ids")
    deleted = 0
    for external_id in ids:
        if store.braze_users.pop(external_id, None) is not None:
            deleted += 1
            store.record("braze", "profile.delete", external_id, {"external_id": external_id})
    return {"deleted": deleted, "message": "success"}
