"""Slack Web API methods: `chat.postMessage`, `users.lookupByEmail`, and the reads a
retried post needs: `conversations.history`, `conversations.open`, `conversations.list`.

Like Slack, answers are HTTP 200 with `ok: true|false`. `chat.postMessage` accepts a
channel as `#name` or an id starting with C, D or U (a user id opens a DM); anything
else is `channel_not_found`. `conversations.history` takes only a conversation id (C, D
or G; a name is `channel_not_found`, as on Slack), answers newest first, at most 999
messages a page (`limit`, default 100) with a `response_metadata.next_cursor`, within
`oldest`/`latest`, and shows a message's `metadata` only with `include_all_metadata`.
`conversations.list` lists the channels posted to by name (those are the sandbox's
channels); `conversations.open` answers a user's DM id.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request

from sandbox.state import get_store
from sandbox.store import Store

router = APIRouter(prefix="/api")


async def _args(request: Request) -> dict[str, Any]:
    """Slack takes arguments as JSON, form fields or query parameters."""
    args: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return {"__error__": "invalid_json"}
            args.update(body)
        else:  # application/x-www-form-urlencoded
            args.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
    return args


def _channel_id(channel: str) -> str | None:
    if channel.startswith("#") and len(channel) > 1:
        return "C" + hashlib.sha256(channel[1:].lower().encode()).hexdigest()[:10].upper()
    if channel[:1] in ("C", "D") and channel[1:].isalnum():
        return channel
    if channel[:1] == "U" and channel[1:].isalnum():
        return "D" + channel[1:]  # a DM with that user
    return None


@router.post("/chat.postMessage")
async def post_message(request: Request, store: Store = Depends(get_store)) -> dict:
    args = await _args(request)
    if "__error__" in args:
        return {"ok": False, "error": args["__error__"]}
    channel = str(args.get("channel") or "")
    channel_id = _channel_id(channel)
    if channel_id is None:
        return {"ok": False, "error": "channel_not_found"}
    text, blocks = args.get("text"), args.get("blocks")
    if not text and not blocks:
        return {"ok": False, "error": "no_text"}
    ts = store.next_ts()
    message = {"type": "message", "text": text or "", "user": "U0SANDBOXBOT", "bot_id": "B0SANDBOX", "ts": ts}
    if blocks:
        message["blocks"] = blocks
    if args.get("metadata"):
        message["metadata"] = args["metadata"]
    store.messages.append({"channel": channel_id, **message})
    if channel.startswith("#"):
        store.slack_channels[channel_id] = channel[1:].lower()
    store.record(
        "slack",
        "chat.post",
        request.headers.get("idempotency-key"),
        {
            "channel": channel,
            "channel_id": channel_id,
            "text": text,
            "blocks": blocks,
            "ts": ts,
        },
    )
    return {"ok": True, "channel": channel_id, "ts": ts, "message": message}


HISTORY_LIMIT = 999  # Slack's maximum `limit` for conversations.history
LIST_LIMIT = 1000  # and for conversations.list


def _cursor(offset: int) -> str:
    return base64.b64encode(f"next_ts:{offset}".encode()).decode()


def _offset(cursor: str) -> int | None:
    try:
        kind, _, value = base64.b64decode(cursor.encode(), validate=True).decode().partition(":")
        return int(value) if kind == "next_ts" and int(value) >= 0 else None
    except ValueError:
        return None


def _limit(args: dict[str, Any], default: int, maximum: int) -> int | None:
    try:
        limit = int(args.get("limit") or default)
    except (TypeError, ValueError):
        return None
    return min(max(limit, 1), maximum)  # Slack clamps a limit out of range


def _flag(args: dict[str, Any], name: str) -> bool:
    return str(args.get(name, "")).lower() in ("1", "true")


def _ts_bound(value: Any, default: float) -> float | None:
    if value in (None, ""):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@router.api_route("/conversations.history", methods=["GET", "POST"])
async def conversations_history(request: Request, store: Store = Depends(get_store)) -> dict:
    args = await _args(request)
    channel = str(args.get("channel") or "")
    if not channel:
        return {"ok": False, "error": "invalid_arguments"}
    if channel[:1] not in ("C", "D", "G") or not channel[1:].isalnum():
        return {"ok": False, "error": "channel_not_found"}
    limit = _limit(args, 100, HISTORY_LIMIT)
    oldest, latest = _ts_bound(args.get("oldest"), 0.0), _ts_bound(args.get("latest"), float("inf"))
    if limit is None or oldest is None or latest is None:
        return {"ok": False, "error": "invalid_arguments"}
    start = _offset(str(args["cursor"])) if args.get("cursor") else 0
    if start is None:
        return {"ok": False, "error": "invalid_cursor"}
    inclusive = _flag(args, "inclusive")
    in_range = [
        m
        for m in reversed(store.messages)
        if m["channel"] == channel
        and (oldest <= float(m["ts"]) if inclusive else oldest < float(m["ts"]))
        and (float(m["ts"]) <= latest if inclusive else float(m["ts"]) < latest)
    ]
    page = in_range[start : start + limit]
    with_metadata = _flag(args, "include_all_metadata")
    messages = [{k: v for k, v in m.items() if k != "channel" and (with_metadata or k != "metadata")} for m in page]
    has_more = start + limit < len(in_range)
    return {
        "ok": True,
        "messages": messages,
        "has_more": has_more,
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
        "response_metadata": {"next_cursor": _cursor(start + limit) if has_more else ""},
    }


@router.api_route("/conversations.open", methods=["GET", "POST"])
async def conversations_open(request: Request) -> dict:
    users = str((await _args(request)).get("users") or "")
    if not users:
        return {"ok": False, "error": "users_list_not_supplied"}
    if "," in users:
        return {"ok": False, "error": "not_enough_users"}  # a group DM: the sandbox has none
    dm = _channel_id(users) if users[:1] == "U" else None
    if dm is None:
        return {"ok": False, "error": "user_not_found"}
    return {"ok": True, "channel": {"id": dm}}


@router.api_route("/conversations.list", methods=["GET", "POST"])
async def conversations_list(request: Request, store: Store = Depends(get_store)) -> dict:
    args = await _args(request)
    limit = _limit(args, 100, LIST_LIMIT)
    start = _offset(str(args["cursor"])) if args.get("cursor") else 0
    if limit is None:
        return {"ok": False, "error": "invalid_limit"}
    if start is None:
        return {"ok": False, "error": "invalid_cursor"}
    types = set(str(args.get("types") or "public_channel").split(","))
    if not types <= {"public_channel", "private_channel", "mpim", "im"}:
        return {"ok": False, "error": "invalid_types"}
    channels = (
        [
            {"id": cid, "name": name, "is_channel": True, "is_private": False, "is_archived": False, "is_member": True}
            for cid, name in store.slack_channels.items()
        ]
        if "public_channel" in types
        else []
    )
    page = channels[start : start + limit]
    more = start + limit < len(channels)
    return {"ok": True, "channels": page, "response_metadata": {"next_cursor": _cursor(start + limit) if more else ""}}


@router.api_route("/users.lookupByEmail", methods=["GET", "POST"])
async def lookup_by_email(request: Request, store: Store = Depends(get_store)) -> dict:
    email = str((await _args(request)).get("email") or "")
    if not email:
        return {"ok": False, "error": "invalid_arguments"}
    user = store.slack_users.get(email.lower()) or _workspace_member(email.lower())
    return {"ok": True, "user": user} if user else {"ok": False, "error": "users_not_found"}


WORKSPACE_DOMAIN = "mops.example"


def _workspace_member(email: str) -> dict[str, Any] | None:
    """Everyone with a company address is in the workspace (as in a real company's
    Slack), with a stable id; leads' addresses are not."""
    local, _, domain = email.partition("@")
    if domain != WORKSPACE_DOMAIN or not local:
        return None
    user_id = "U" + hashlib.sha256(email.encode()).hexdigest()[:8].upper()
    return {
        "id": user_id,
        "team_id": "T0SANDBOX",
        "name": local,
        "real_name": local.title(),
        "deleted": False,
        "is_bot": False,
        "profile": {"email": email, "real_name": local.title(), "display_name": local},
    }
