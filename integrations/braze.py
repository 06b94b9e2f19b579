"""Braze REST API client: the CDP-shaped profile store contacts are synced to.

Endpoints (one REST host, `Authorization: Bearer <REST API key>`):
- `POST /users/track` — set user attributes (`external_id` is the mops lead id, never
  the address); attributes not sent are left alone, `null` removes one.
- `POST /users/export/ids` — read users' attributes by external id.
- `POST /users/delete` — delete users by external id (right to erasure).

Errors are `{"message": ...}` (with `errors` for per-object problems); rate limits
answer 429 with `X-RateLimit-Reset` (epoch seconds).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from integrations.errors import PlatformError
from integrations.http import PlatformClient, error_for_status, json_body, retry_after_header

_CODES = {400: "bad_request", 401: "invalid_api_key", 403: "forbidden", 404: "not_found", 429: "rate_limited"}


class BrazeClient(PlatformClient):
    platform = "braze"

    async def track(self, external_id: str, attributes: dict[str, Any]) -> None:
        """Set attributes on the user `external_id` (created when it does not exist)."""
        await self._json("POST", "/users/track", json={"attributes": [{"external_id": external_id, **attributes}]})

    async def export(self, external_ids: list[str], fields: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """The users that exist among `external_ids`, as {external_id: attributes}."""
        if not external_ids:
            return {}
        payload: dict[str, Any] = {"external_ids": external_ids}
        if fields:
            payload["fields_to_export"] = sorted({"external_id", *fields})
        body = await self._json("POST", "/users/export/ids", json=payload)
        users = body.get("users") or []
        return {str(u["external_id"]): u for u in users if isinstance(u, dict) and u.get("external_id")}

    async def delete(self, external_ids: list[str]) -> int:
        """Delete users; return how many Braze deleted (0: none of them existed)."""
        body = await self._json("POST", "/users/delete", json={"external_ids": external_ids})
        return int(body.get("deleted") or 0)

    def _error(self, response: httpx.Response) -> PlatformError:
        status = response.status_code
        body = json_body(response)
        message = (body.get("message") if isinstance(body, dict) else None) or response.reason_phrase or "error"
        code = _CODES.get(status, "server_error" if status >= 500 else f"HTTP_{status}")
        retry_after = retry_after_header(response.headers)
        reset = response.headers.get("x-ratelimit-reset")
        if retry_after is None and status == 429 and reset:
            try:
                retry_after = max(float(reset) - time.time(), 1.0)
            except ValueError:
                retry_after = None
        return error_for_status(self.platform, status, code, str(message), retry_after)
