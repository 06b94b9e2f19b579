"""Slack Web API client: `chat.postMessage`, `users.lookupByEmail`, and the history
lookup a retried post makes first (bot token).

Slack reports most failures as HTTP 200 with `{"ok": false, "error": "<code>"}`; those
become `PlatformRejected` with Slack's code, except the transient ones below.

Idempotency: Slack has none (no key, no dedupe of `chat.postMessage`). The key goes in
the message `metadata` (`event_type` `mops_message`), and `posted_with_key` finds a
message carrying it in the conversation's history (`conversations.history` with
`include_all_metadata=true`, newest first, from `oldest`), so a retry can answer with
the earlier post instead of posting again (`activities/post_once.py`). History wants a
conversation id: a `#name` is found with `conversations.list`, a user's DM opened with
`conversations.open`. The bot token then needs, besides `chat:write` and
`users:read.email`, `channels:history`, `groups:history`, `im:history`,
`channels:read`, `groups:read` and `im:write`. The key also goes out as an
`Idempotency-Key` header, which neither Slack nor the sandbox honours: it only labels the
request (the sandbox's effect log, a proxy's).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from integrations.errors import PlatformError, PlatformUnavailable, RateLimited
from integrations.http import PlatformClient, error_for_status, json_body, retry_after_header

_TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
EVENT_TYPE = "mops_message"
HISTORY_PAGE = 200  # Slack's advice for conversations.history (at most 999)
LIST_PAGE = 1000  # conversations.list's maximum


class SlackClient(PlatformClient):
    platform = "slack"

    async def post_message(
        self,
        channel: str,
        text: str,
        *,
        blocks: list[dict] | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Post to a channel (`#name` or id) or a user id; return the message `ts`."""
        payload: dict[str, Any] = {"channel": channel, "text": text}
        headers: dict[str, str] = {}
        if blocks:
            payload["blocks"] = blocks
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key  # a label only: Slack ignores it
            payload["metadata"] = {"event_type": EVENT_TYPE, "event_payload": {"idempotency_key": idempotency_key}}
        headers["Content-Type"] = "application/json; charset=utf-8"
        body = await self._call("POST", "chat.postMessage", json=payload, headers=headers)
        return body["ts"]

    async def posted_with_key(self, channel: str, idempotency_key: str, *, since: datetime) -> str | None:
        """The `ts` of the message posted to `channel` (as `post_message` takes it) with
        this key in its metadata no earlier than `since`, or None when there is none."""
        conversation = await self._conversation_id(channel)
        if conversation is None:
            return None  # a channel name nobody can see: nothing was posted there
        params: dict[str, Any] = {
            "channel": conversation,
            "include_all_metadata": "true",
            "oldest": f"{since.timestamp():.6f}",
            "limit": HISTORY_PAGE,
        }
        while True:
            body = await self._call("GET", "conversations.history", params=params)
            for message in body.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == EVENT_TYPE and payload.get("idempotency_key") == idempotency_key:
                    return str(message["ts"])
            cursor = (body.get("response_metadata") or {}).get("next_cursor")
            if not body.get("has_more") or not cursor:
                return None
            params["cursor"] = cursor

    async def _conversation_id(self, channel: str) -> str | None:
        """The conversation id history wants: a channel id as it is, a user's DM opened,
        a `#name` looked up (None when no channel the bot can see has it)."""
        if channel.startswith("U"):
            body = await self._call("POST", "conversations.open", data={"users": channel})
            return str(body["channel"]["id"])
        if not channel.startswith("#"):
            return channel
        name = channel[1:].lower()
        params: dict[str, Any] = {
            "types": "public_channel,private_channel",
            "exclude_archived": "true",
            "limit": LIST_PAGE,
        }
        while True:
            body = await self._call("GET", "conversations.list", params=params)
            found = next((c for c in body.get("channels") or [] if c.get("name") == name), None)
            if found is not None:
                return str(found["id"])
            cursor = (body.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
            params["cursor"] = cursor

    async def lookup_user_by_email(self, email: str) -> str | None:
        """The Slack user id for a work e-mail, or None when no user has it.

        Sent as a form POST so the address stays out of the URL (and out of access logs).
        """
        try:
            body = await self._call("POST", "users.lookupByEmail", data={"email": email})
        except PlatformError as err:
            if err.code == "users_not_found":
                return None
            raise
        return body["user"]["id"]

    async def _call(self, method: str, api_method: str, **kwargs: Any) -> dict:
        response = await self._request(method, f"/api/{api_method}", **kwargs)
        body = json_body(response)
        if not isinstance(body, dict):
            raise PlatformUnavailable(self.platform, response.status_code, "invalid_response", "response is not JSON")
        if not body.get("ok"):
            raise _slack_error(response.status_code, str(body.get("error") or "unknown_error"), response.headers)
        return body

    def _error(self, response: httpx.Response) -> PlatformError:
        body = json_body(response)
        code = body.get("error") if isinstance(body, dict) else None
        status = response.status_code
        return error_for_status(
            self.platform,
            status,
            code or f"HTTP_{status}",
            code or response.reason_phrase or "error",
            retry_after_header(response.headers),
        )


def _slack_error(status: int, code: str, headers: httpx.Headers) -> PlatformError:
    """Map an `ok: false` answer: `ratelimited` and transient codes are retryable."""
    if code == "ratelimited":
        return RateLimited("slack", status, code, code, retry_after=retry_after_header(headers))
    if code in _TRANSIENT:
        return PlatformUnavailable("slack", status, code, code)
    return error_for_status("slack", status, code, code)
