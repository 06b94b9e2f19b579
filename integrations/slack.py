"""Slack Web API client: `chat.postMessage` and `users.lookupByEmail` (bot token).

Slack reports most failures as HTTP 200 with `{"ok": false, "error": "<code>"}`; those
become `PlatformRejected` with Slack's code, except the transient ones below. Slack has
no idempotency keys: the key goes out as an `Idempotency-Key` header (honoured by the
sandbox) and in the message `metadata`, so a duplicate post can be found in history.
"""

from __future__ import annotations

from typing import Any

import httpx

from integrations.errors import PlatformError, PlatformUnavailable, RateLimited
from integrations.http import PlatformClient, error_for_status, json_body, retry_after_header

_TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}


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
            headers["Idempotency-Key"] = idempotency_key
            payload["metadata"] = {"event_type": "mops_message", "event_payload": {"idempotency_key": idempotency_key}}
        headers["Content-Type"] = "application/json; charset=utf-8"
        body = await self._call("POST", "chat.postMessage", json=payload, headers=headers)
        return body["ts"]

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
