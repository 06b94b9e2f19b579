"""HubSpot CRM v3/v4 endpoints: contacts, deals, tasks, associations, owners."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from sandbox.platforms import SandboxError
from sandbox.state import get_store
from sandbox.store import HUBSPOT_CONTACT_PROPERTIES, CrmObject, Store, email_hash, now_iso

router = APIRouter(prefix="/crm")

OBJECT_TYPES = {"contacts": "email", "deals": "mops_key", "tasks": "mops_key"}  # type -> unique property
UPSERT_KINDS = {"contacts": "contact.upsert", "deals": "deal.upsert", "tasks": "task.upsert"}
UPDATE_KINDS = {**UPSERT_KINDS, "contacts": "contact.update"}
ASSOCIATION_TYPE_IDS = {("deals", "contacts"): 3, ("tasks", "contacts"): 204, ("contacts", "deals"): 4}
REQUIRED_ON_CREATE = {"tasks": ("hs_timestamp",)}
MAX_PAGE = 500


def _object_type(object_type: str) -> str:
    if object_type not in OBJECT_TYPES:
        raise SandboxError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
    return object_type


def _get(store: Store, object_type: str, object_id: str) -> CrmObject:
    obj = store.objects[_object_type(object_type)].get(object_id)
    if obj is None:
        raise SandboxError(404, "OBJECT_NOT_FOUND", "resource not found")
    return obj


def _requested_properties(request: Request) -> list[str] | None:
    values = request.query_params.getlist("properties")
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    return names or None


def _properties(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise SandboxError(400, "VALIDATION_ERROR", "properties must be an object")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _defined(store: Store, object_type: str, properties: dict[str, str]) -> None:
    """HubSpot takes values only for properties the portal defines; contacts are checked
    (deals and tasks take what mops sends), with HubSpot's PROPERTY_DOESNT_EXIST."""
    if object_type != "contacts":
        return
    unknown = sorted(set(properties) - store.contact_properties)
    if unknown:
        problems = [
            {
                "isValid": False,
                "message": f'Property "{name}" does not exist',
                "error": "PROPERTY_DOESNT_EXIST",
                "name": name,
                "localizedErrorMessage": f'Property "{name}" does not exist',
            }
            for name in unknown
        ]
        raise SandboxError(400, "VALIDATION_ERROR", f"Property values were not valid: {json.dumps(problems)}")


def _effect_key(object_type: str, obj: CrmObject) -> str:
    if object_type == "contacts":
        return email_hash(obj.properties.get("email") or obj.id)
    return obj.properties.get("mops_key") or obj.id


@router.post("/v3/objects/{object_type}/batch/upsert")
async def batch_upsert(object_type: str, body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    object_type = _object_type(object_type)
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
        raise SandboxError(400, "VALIDATION_ERROR", "inputs must hold between 1 and 100 objects")
    started = now_iso()
    unique = OBJECT_TYPES[object_type]
    kind = UPSERT_KINDS[object_type]
    checked = []
    for item in inputs:  # validate every input before applying any
        item = item if isinstance(item, dict) else {}
        id_value = item.get("id")
        if item.get("idProperty") != unique or not isinstance(id_value, str) or not id_value:
            raise SandboxError(400, "VALIDATION_ERROR", f"each input needs idProperty={unique} and a non-empty id")
        properties = _properties(item.get("properties", {}))
        _defined(store, object_type, properties)
        if store.find(object_type, unique, id_value) is None:
            missing = [p for p in REQUIRED_ON_CREATE.get(object_type, ()) if not properties.get(p)]
            if missing:
                raise SandboxError(400, "VALIDATION_ERROR", f"Missing required properties: {missing}")
        checked.append((id_value, properties))
    results = []
    for id_value, properties in checked:
        obj, created, changed = store.upsert(object_type, unique, id_value, properties)
        if created or changed:
            summary = {"id": obj.id, "new": created, "properties": changed}
            if object_type == "contacts":
                summary["email"] = id_value
            store.record("hubspot", kind, _effect_key(object_type, obj), summary)
        else:
            store.count_replay("hubspot")
        results.append({**obj.view(), "new": created})
    return {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": now_iso()}


@router.get("/v3/objects/{object_type}/{object_id}")
async def get_object(object_type: str, object_id: str, request: Request, store: Store = Depends(get_store)) -> dict:
    names = _requested_properties(request)
    return _get(store, object_type, object_id).view(names or ["email", "firstname", "lastname"])


@router.patch("/v3/objects/{object_type}/{object_id}")
async def update_object(
    object_type: str, object_id: str, body: dict = Body(...), store: Store = Depends(get_store)
) -> dict:
    obj = _get(store, object_type, object_id)
    properties = _properties(body.get("properties"))
    _defined(store, object_type, properties)
    changed = store.update(obj, properties)
    if changed:
        summary = {"id": obj.id, "properties": changed}
        store.record("hubspot", UPDATE_KINDS[object_type], _effect_key(object_type, obj), summary)
    else:
        store.count_replay("hubspot")
    return obj.view()


@router.post("/v3/objects/{object_type}/search")
async def search(object_type: str, body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    """Filter groups are OR'd, the filters of a group AND'd (EQ, NEQ, GT, GTE, LT, LTE,
    BETWEEN with `highValue`; dates compare as epoch milliseconds); results in id order,
    paged with `after`."""
    object_type = _object_type(object_type)
    groups = [g.get("filters", []) for g in body.get("filterGroups", []) if isinstance(g, dict)]
    if any(f.get("operator") not in SEARCH_OPERATORS for group in groups for f in group):
        raise SandboxError(400, "VALIDATION_ERROR", f"the sandbox supports the operators {', '.join(SEARCH_OPERATORS)}")
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or not 0 < limit <= 200:
        raise SandboxError(400, "VALIDATION_ERROR", "limit must be between 1 and 200")
    after = str(body.get("after") or "0")
    if not after.isdigit():
        raise SandboxError(400, "VALIDATION_ERROR", "after must be a paging cursor from a previous page")

    def matches(obj: CrmObject) -> bool:
        return not groups or any(
            all(_test(f, obj.properties.get(f.get("propertyName", ""))) for f in group) for group in groups
        )

    found = sorted((o for o in store.objects[object_type].values() if matches(o)), key=lambda o: int(o.id))
    names = body.get("properties") or ["email", "firstname", "lastname"]
    start = int(after)
    page: dict[str, Any] = {"total": len(found), "results": [o.view(names) for o in found[start : start + limit]]}
    if start + limit < len(found):
        page["paging"] = {"next": {"after": str(start + limit)}}
    return page


@router.put("/v4/objects/{from_type}/{from_id}/associations/default/{to_type}/{to_id}")
async def associate(from_type: str, from_id: str, to_type: str, to_id: str, store: Store = Depends(get_store)) -> dict:
    _get(store, from_type, from_id)
    _get(store, to_type, to_id)
    type_id = ASSOCIATION_TYPE_IDS.get((from_type, to_type))
    if type_id is None:
        raise SandboxError(400, "VALIDATION_ERROR", f"no default association from {from_type} to {to_type}")
    link = (from_type, from_id, to_type, to_id)
    if link in store.associations:
        store.count_replay("hubspot")
    else:
        store.associations.add(link)
        store.record(
            "hubspot",
            "association.create",
            f"{from_type}:{from_id}->{to_type}:{to_id}",
            {"from": f"{from_type}/{from_id}", "to": f"{to_type}/{to_id}", "associationTypeId": type_id},
        )
    started = now_iso()
    return {
        "status": "COMPLETE",
        "results": [
            {
                "from": {"id": from_id},
                "to": {"id": to_id},
                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
            }
        ],
        "startedAt": started,
        "completedAt": now_iso(),
    }


@router.get("/v3/owners")
async def owners(
    request: Request,
    limit: int = 100,
    after: str | None = None,
    archived: bool = False,
    store: Store = Depends(get_store),
) -> dict:
    selected = [o for o in store.owners if o["archived"] == archived]
    start = int(after) if after and after.isdigit() else 0
    size = max(1, min(limit, MAX_PAGE))
    page: dict[str, Any] = {"results": selected[start : start + size]}
    if start + size < len(selected):
        next_after = str(start + size)
        page["paging"] = {
            "next": {"after": next_after, "link": str(request.url.include_query_params(after=next_after))}
        }
    return page


SEARCH_OPERATORS = ("EQ", "NEQ", "GT", "GTE", "LT", "LTE", "BETWEEN")


def _number(value: Any) -> float | None:
    """A filter or property value as a number: numbers as they are, ISO dates as epoch ms."""
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000


def _test(f: dict[str, Any], actual: str | None) -> bool:
    op, name, expected = f["operator"], f.get("propertyName", ""), f.get("value")  # (operator checked by search)
    if op == "EQ":
        return _eq(name, actual, expected)
    if op == "NEQ":
        return not _eq(name, actual, expected)
    if actual in (None, ""):
        return False
    have, low = _number(actual), _number(expected)
    if have is None or low is None:
        return False
    if op == "BETWEEN":
        high = _number(f.get("highValue"))
        return high is not None and low <= have <= high
    return {"GT": have > low, "GTE": have >= low, "LT": have < low, "LTE": have <= low}[op]


def _eq(name: str, actual: str | None, expected: Any) -> bool:
    if actual is None or expected is None:
        return False
    if name == "email":
        return actual.lower() == str(expected).lower()
    return actual == str(expected)


PROPERTY_NAME = re.compile(r"[a-z][a-z0-9_]*")


@router.get("/v3/properties/contacts")
async def list_contact_properties(store: Store = Depends(get_store)) -> dict:
    return {
        "results": [
            {"name": name, "hubspotDefined": name in HUBSPOT_CONTACT_PROPERTIES}
            for name in sorted(store.contact_properties)
        ]
    }


@router.post("/v3/properties/contacts", status_code=201)
async def create_contact_property(body: dict = Body(...), store: Store = Depends(get_store)) -> dict:
    """Define a custom contact property (name, label, type, fieldType, groupName required)."""
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
    if missing:
        raise SandboxError(400, "VALIDATION_ERROR", f"Missing required fields: {missing}")
    name = str(body["name"])
    if not PROPERTY_NAME.fullmatch(name):
        raise SandboxError(400, "VALIDATION_ERROR", f"Property name {name!r} must be lower case letters, digits and _")
    if name in store.contact_properties:
        raise SandboxError(409, "OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists.")
    store.contact_properties.add(name)
    return {
        "name": name,
        "label": body["label"],
        "type": body["type"],
        "fieldType": body["fieldType"],
        "groupName": body["groupName"],
        "hubspotDefined": False,
    }
