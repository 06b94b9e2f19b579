"""Slack Web API methods: `chat.postMessage` and `users.lookupByEmail`.

Like Slack, answers are HTTP 200 with `ok: true|false`. Channels are accepted as
`#name` or an id starting with C, D or U (a user id opens a DM); anything else is
`channel_not_found`.
"""

from __future__ import annotations

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
