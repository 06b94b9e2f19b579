"""Meta Conversions API (`POST /v<N>.0/{pixel id}/events`): server events to a dataset.

The body is `{"data": [event, ...]}` (1 to 1,000 events). Each event needs `event_name`,
`event_time` (Unix seconds: not in the future, not more than 7 days old),
`action_source` (one of Meta's values; `website` events also need `event_source_url`
and `client_user_agent`) and `user_data` with at least one identifier. `em` and `ph`
must be SHA-256 hashes (64 lowercase hex characters); `fbc` and `fbp` must have Meta's
cookie formats. `custom_data.value` needs a `currency`. One bad event refuses the whole
request (Graph error 100 naming the event and field), as Meta does.

Deduplication as Meta does it: a second event with the same `event_name` and `event_id`
within 48 hours is counted in `events_received` but not kept (the sandbox counts it as a
replay). Events are kept in `Store.capi_events`; `/_sandbox/conversions` shows them.
"""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import APIRouter, Body, Depends

from sandbox.platforms import trace_id
from sandbox.routes.meta import graph_error
from sandbox.state import SandboxState, get_state

router = APIRouter(prefix="/{version:graph_version}")

MAX_EVENTS = 1000
MAX_AGE_S = 7 * 24 * 3600
DEDUP_WINDOW_S = 48 * 3600
ACTION_SOURCES = (
    "email",
    "website",
    "app",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
)
HASHED = ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "ge", "db")
IDENTIFIERS = (*HASHED, "external_id", "fbc", "fbp", "client_ip_address", "client_user_agent", "madid", "lead_id")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FBC = re.compile(r"fb\.[0-2]\.\d{10,13}\.[A-Za-z0-9_-]+")
_FBP = re.compile(r"fb\.[0-2]\.\d{10,13}\.\d+")


def _invalid(index: int, field: str, problem: str):
    return graph_error(
        100,
        "Invalid parameter",
        subcode=2804003,
        title="Invalid parameter",
        user_msg=f"data[{index}].{field}: {problem}",
    )


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def check_event(index: int, event: Any, now: float) -> None:
    if not isinstance(event, dict):
        raise _invalid(index, "", "each event must be an object")
    name = event.get("event_name")
    if not isinstance(name, str) or not name.strip():
        raise _invalid(index, "event_name", "is required")
    at = event.get("event_time")
    if isinstance(at, bool) or not isinstance(at, int):
        raise _invalid(index, "event_time", "is required, as a Unix timestamp in seconds")
    if at > now:
        raise _invalid(index, "event_time", "is in the future")
    if at < now - MAX_AGE_S:
        raise _invalid(index, "event_time", "is more than 7 days ago")
    source = event.get("action_source")
    if source not in ACTION_SOURCES:
        raise _invalid(index, "action_source", f"is required, one of {', '.join(ACTION_SOURCES)}")
    if "event_id" in event and (not isinstance(event["event_id"], str) or not event["event_id"]):
        raise _invalid(index, "event_id", "must be a non-empty string")
    user = event.get("user_data")
    if not isinstance(user, dict):
        raise _invalid(index, "user_data", "is required")
    if source == "website":
        for field in ("event_source_url",):
            if not event.get(field):
                raise _invalid(index, field, "is required for website events")
        if not user.get("client_user_agent"):
            raise _invalid(index, "user_data.client_user_agent", "is required for website events")
    for key in HASHED:
        for value in _values(user.get(key, [])):
            if not isinstance(value, str) or not _SHA256.fullmatch(value):
                raise _invalid(index, f"user_data.{key}", "must be hashed with SHA-256 (64 lowercase hex characters)")
    if "fbc" in user and (not isinstance(user["fbc"], str) or not _FBC.fullmatch(user["fbc"])):
        raise _invalid(index, "user_data.fbc", "must be fb.<subdomain index>.<creation time>.<fbclid>")
    if "fbp" in user and (not isinstance(user["fbp"], str) or not _FBP.fullmatch(user["fbp"])):
        raise _invalid(index, "user_data.fbp", "must be fb.<subdomain index>.<creation time>.<random number>")
    if not any(user.get(k) for k in IDENTIFIERS):
        raise _invalid(index, "user_data", "needs at least one customer information parameter")
    custom = event.get("custom_data", {})
    if not isinstance(custom, dict):
        raise _invalid(index, "custom_data", "must be an object")
    if "value" in custom:
        if isinstance(custom["value"], bool) or not isinstance(custom["value"], int | float):
            raise _invalid(index, "custom_data.value", "must be a number")
        if not isinstance(custom.get("currency"), str) or not re.fullmatch(r"[A-Za-z]{3}", custom["currency"]):
            raise _invalid(index, "custom_data.currency", "is required with a value (ISO 4217)")


@router.post("/{pixel_id}/events")
async def events(
    version: str, pixel_id: str, body: Any = Body(None), state: SandboxState = Depends(get_state)
) -> dict[str, Any]:
    if pixel_id != state.tokens.meta_pixel_id:
        raise graph_error(
            100,
            f"Unsupported post request. Object with ID '{pixel_id}' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation.",
            subcode=33,
        )
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not data:
        raise graph_error(100, "(#100) The parameter data is required")
    if len(data) > MAX_EVENTS:
        raise graph_error(100, f"(#100) data: at most {MAX_EVENTS} events per request")
    now = time.time()
    for i, event in enumerate(data):
        check_event(i, event, now)
    store = state.store
    for event in data:
        key = (event["event_name"], event.get("event_id"))
        seen = key[1] is not None and any(
            (e["event_name"], e.get("event_id")) == key and abs(e["event_time"] - event["event_time"]) <= DEDUP_WINDOW_S
            for e in store.capi_events
        )
        if seen:
            store.count_replay("meta")
            continue
        store.capi_events.append({"pixel_id": pixel_id, **event})
        store.record(
            "meta", "conversion.event", event.get("event_id"), {"pixel_id": pixel_id, "event_name": event["event_name"]}
        )
    return {"events_received": len(data), "messages": [], "fbtrace_id": trace_id()}
