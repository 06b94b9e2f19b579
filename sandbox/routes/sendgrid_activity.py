"""SendGrid's Email Activity Feed API: `GET /v3/messages?query=...&limit=...`.

What the real feed does, and so the sandbox:

- It is a paid add-on: an account without it is answered 403 (`sendgrid_email_activity`
  off in `SandboxTokens`).
- It is not instant. A message shows up a while after mail/send accepted it (SendGrid
  publishes no bound; about a minute is reported). The sandbox shows a message only
  `sendgrid_activity_lag_s` after it was accepted (`MOPS_SANDBOX_SENDGRID_ACTIVITY_LAG_S`,
  default 60 s).
- It is rate limited to 6 requests per minute (429 with `X-RateLimit-Reset`).
- `query` is required, `limit` is 1..1000 (default 10); the answer is `{"messages": [...]}`
  with `from_email`, `msg_id`, `subject`, `to_email`, `status`, `opens_count`,
  `clicks_count`, `last_event_time`, newest first. `msg_id` starts with the `X-Message-Id`
  mail/send answered, followed by a `.`-separated suffix of SendGrid's.

The query language here is the part of SendGrid's that a lookup needs: terms
`field="value"` or `field!="value"` on `msg_id`, `from_email`, `subject`, `to_email`,
`status`, `template_id`, `asm_group_id`, `categories`, and `unique_args['name']="value"`
(the v3 `custom_args` of the message), each optionally in parentheses, joined by `AND`.
Anything else is refused with SendGrid's 400 (`invalid syntax: ...`); the feed holds
mail/send messages (Single Send deliveries are not in it).
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from sandbox.platforms import SandboxError
from sandbox.state import SandboxState, get_state
from sandbox.store import Effect

router = APIRouter(prefix="/v3")

RATE_WINDOW_S, RATE_MAX = 60.0, 6  # SendGrid: 6 Email Activity requests per minute
FIELDS = ("msg_id", "from_email", "subject", "to_email", "status", "template_id", "asm_group_id", "categories")
_TERM = re.compile(
    r"""\s*(?P<open>\()?\s*
    (?:unique_args\['(?P<arg>[^'\\]+)'\]|(?P<field>[a-z_]+))
    \s*(?P<op>!=|=)\s*"(?P<value>[^"\\]*)"
    \s*(?P<close>\))?\s*""",
    re.VERBOSE,
)


def _parse(query: str) -> list[tuple[str, bool, str]]:
    """The query's terms as (field or `unique_args.<name>`, equal?, value)."""
    terms: list[tuple[str, bool, str]] = []
    for part in re.split(r"\s+AND\s+", query.strip()):
        match = _TERM.fullmatch(part)
        if match is None or bool(match["open"]) != bool(match["close"]):
            raise SandboxError(400, None, f"invalid syntax: cannot parse {part.strip()!r}")
        field = match["field"]
        if field is not None and field not in FIELDS:
            raise SandboxError(400, None, f"invalid syntax: '{field}' is not a known field")
        name = f"unique_args.{match['arg']}" if match["arg"] else str(field)
        terms.append((name, match["op"] == "=", str(match["value"])))
    return terms


def _messages(effect: Effect) -> list[dict[str, Any]]:
    """The feed's messages of one accepted mail/send: one per recipient."""
    s = effect.summary
    at = effect.at.split(".")[0] + "Z"
    dropped = set(s.get("dropped") or [])
    return [
        {
            "message": {
                "from_email": s["from"],
                "msg_id": f"{s['message_id']}.filterdrecv-{effect.seq}-{i}-0.0",
                "subject": s.get("subject") or "",
                "to_email": to,
                "status": "not_delivered" if to in dropped else "delivered",
                "opens_count": 0,
                "clicks_count": 0,
                "last_event_time": at,
            },
            "match": {
                "template_id": s.get("template_id") or "",
                "asm_group_id": "" if s.get("asm_group_id") is None else str(s["asm_group_id"]),
                "categories": list(s.get("categories") or []),
                "unique_args": dict(s.get("custom_args") or {}),
            },
        }
        for i, to in enumerate(s["to"])
    ]


def _matches(entry: dict[str, Any], terms: list[tuple[str, bool, str]]) -> bool:
    for name, equal, value in terms:
        if name.startswith("unique_args."):
            found = entry["match"]["unique_args"].get(name.removeprefix("unique_args.")) == value
        elif name == "categories":
            found = value in entry["match"]["categories"]
        elif name in ("template_id", "asm_group_id"):
            found = entry["match"][name] == value
        else:
            found = str(entry["message"][name]) == value
        if found != equal:
            return False
    return True


def _throttled(state: SandboxState) -> JSONResponse | None:
    now = time.time()
    recent = [t for t in state.store.activity_queries if t > now - RATE_WINDOW_S]
    if len(recent) >= RATE_MAX:
        state.store.activity_queries = recent
        reset = math.ceil(recent[0] + RATE_WINDOW_S)
        headers = {"X-RateLimit-Limit": str(RATE_MAX), "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
        return JSONResponse({"errors": [{"field": None, "message": "too many requests"}]}, 429, headers=headers)
    state.store.activity_queries = [*recent, now]
    return None


@router.get("/messages")
async def filter_messages(
    query: str | None = None, limit: float = 10, state: SandboxState = Depends(get_state)
) -> JSONResponse:
    if not state.tokens.sendgrid_email_activity:
        raise SandboxError(403, None, "access forbidden")
    if (throttled := _throttled(state)) is not None:
        return throttled
    if not query:
        raise SandboxError(400, "query", "query is required")
    if not 1 <= limit <= 1000 or limit != int(limit):
        raise SandboxError(400, "limit", "limit must be an integer greater than 0 and at most 1000")
    terms = _parse(query)
    visible_before = datetime.now(UTC) - timedelta(seconds=state.tokens.sendgrid_activity_lag_s)
    found: list[dict[str, Any]] = []
    for effect in reversed(state.store.effects):
        if effect.kind != "mail.send":
            continue
        if datetime.fromisoformat(effect.at.replace("Z", "+00:00")) > visible_before:
            continue  # accepted, but not in the feed yet
        found.extend(e["message"] for e in _messages(effect) if _matches(e, terms))
        if len(found) >= limit:
            break
    return JSONResponse({"messages": found[: int(limit)]})
