"""SendGrid v3 client: mail send, unsubscribe-group (ASM) suppressions, and
Marketing Campaigns Single Sends (one e-mail to whole contact lists).

SendGrid has no server-side idempotency for `/v3/mail/send`: the key is sent as an
`Idempotency-Key` header (honoured by the sandbox and by proxies that support it) and
as the custom arg `mops_idempotency_key`, which comes back on every event webhook so a
duplicate can be detected downstream.

Single Sends have no server-side idempotency either: a create retried after a lost
answer can leave a second *draft* behind, but only the id this client got back is
ever scheduled, so a list is mailed at most once per call. A sent Single Send cannot
be recalled; `cancel_single_send` only stops one that is still scheduled.

Error `code`s are derived from the HTTP status (SendGrid's error bodies carry only
`message`/`field`/`help`): `bad_request`, `unauthorized`, `forbidden`, `not_found`,
`payload_too_large`, `too_many_requests`, `server_error`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date
from urllib.parse import quote

import httpx

from integrations.errors import PlatformError, PlatformRejected
from integrations.http import PlatformClient, error_for_status, json_body, retry_after_header

IDEMPOTENCY_ARG = "mops_idempotency_key"

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    413: "payload_too_large",
    429: "too_many_requests",
}


class SendGridClient(PlatformClient):
    platform = "sendgrid"

    async def send_mail(
        self,
        *,
        to_email: str,
        from_email: str,
        subject: str,
        html: str,
        asm_group_id: int | None,
        categories: list[str],
        custom_args: dict[str, str],
        idempotency_key: str,
        headers: dict[str, str] | None = None,
        text: str | None = None,
    ) -> str:
        """Send one message, HTML with an optional plain-text part; return SendGrid's
        `X-Message-Id`. `headers` are message headers (e.g. List-Unsubscribe), not HTTP
        headers."""
        # SendGrid requires text/plain first when a message has both parts.
        content = ([{"type": "text/plain", "value": text}] if text is not None else []) + [
            {"type": "text/html", "value": html}
        ]
        payload: dict = {
            "personalizations": [
                {"to": [{"email": to_email}], "custom_args": {**custom_args, IDEMPOTENCY_ARG: idempotency_key}}
            ],
            "from": {"email": from_email},
            "subject": subject,
            "content": content,
        }
        if asm_group_id is not None:
            payload["asm"] = {"group_id": asm_group_id}
        if categories:
            payload["categories"] = categories
        if headers:
            payload["headers"] = headers
        response = await self._request(
            "POST", "/v3/mail/send", json=payload, headers={"Idempotency-Key": idempotency_key}
        )
        return response.headers.get("x-message-id", "")

    async def is_suppressed(self, email: str, group_id: int | None) -> bool:
        """True when the address unsubscribed from everything, or from `group_id`.

        The global check has the address in its path (SendGrid offers no other per-address
        lookup); `integrations.http` redacts addresses from httpx's request log lines.
        """
        address = quote(email, safe="@")

        async def in_group() -> bool:
            if group_id is None:
                return False
            found = await self._json(
                "POST", f"/v3/asm/groups/{group_id}/suppressions/search", json={"recipient_emails": [email]}
            )
            return any(str(e).lower() == email.lower() for e in found)

        # Both lookups at once: one round trip of waiting, not two.
        globally, grouped = await asyncio.gather(
            self._json("GET", f"/v3/asm/suppressions/global/{address}"), in_group()
        )
        return bool(globally) or grouped  # {} when not globally suppressed

    async def add_suppression(self, group_id: int, email: str) -> None:
        """Add the address to the unsubscribe group (adding it twice is harmless)."""
        await self._request("POST", f"/v3/asm/groups/{group_id}/suppressions", json={"recipient_emails": [email]})

    # Marketing Campaigns: Single Sends

    async def create_single_send(
        self,
        *,
        name: str,
        subject: str,
        html: str,
        list_ids: list[str],
        sender_id: int,
        suppression_group_id: int,
        idempotency_key: str,
        text: str | None = None,
    ) -> str:
        """Create a Single Send to `list_ids` and schedule it for now; return its id. Without
        `text`, SendGrid generates the plain-text part from the HTML."""
        email_config: dict = {
            "subject": subject,
            "html_content": html,
            "sender_id": sender_id,
            "suppression_group_id": suppression_group_id,
        }
        if text is not None:
            email_config.update(plain_content=text, generate_plain_content=False)
        payload = {"name": name, "send_to": {"list_ids": list_ids}, "email_config": email_config}
        body = await self._json(
            "POST", "/v3/marketing/singlesends", json=payload, headers={"Idempotency-Key": idempotency_key}
        )
        single_send_id = str(body["id"])
        await self._request(
            "PUT",
            f"/v3/marketing/singlesends/{quote(single_send_id, safe='')}/schedule",
            json={"send_at": "now"},
            headers={"Idempotency-Key": f"{idempotency_key}:schedule"},
        )
        return single_send_id

    async def cancel_single_send(self, single_send_id: str) -> bool:
        """Unschedule it; True when nothing will go out (it was unscheduled, or 404:
        nothing scheduled), False when it was already sent: sent mail stays sent."""
        try:
            response = await self._request(
                "DELETE", f"/v3/marketing/singlesends/{quote(single_send_id, safe='')}/schedule"
            )
        except PlatformRejected as err:
            if err.status != 404:
                raise
            return True
        body = json_body(response)
        return not (isinstance(body, dict) and body.get("status") in ("triggered", "sent"))

    # Statistics

    async def stats(self, start_date: date, end_date: date, *, page_size: int = 100) -> list[tuple[date, dict]]:
        """Global email statistics per day (`GET /v3/stats`, aggregated by day, every page):
        (day, metrics) with `requests`, `delivered`, `opens`, `unique_opens`, `clicks`,
        `unique_clicks`, `bounces`, `blocks`, `spam_reports`, `unsubscribes`, ..."""
        out: list[tuple[date, dict]] = []
        offset = 0
        while True:
            params = {
                "start_date": start_date.isoformat(),
                "end_date": end_date.isoformat(),
                "aggregated_by": "day",
                "limit": page_size,
                "offset": offset,
            }
            body = await self._json("GET", "/v3/stats", params=params)
            entries = body if isinstance(body, list) else []
            for entry in entries:
                metrics: dict = {}
                for stat in entry.get("stats") or []:
                    for name, value in (stat.get("metrics") or {}).items():
                        metrics[name] = metrics.get(name, 0) + (value or 0)
                out.append((date.fromisoformat(entry["date"]), metrics))
            if len(entries) < page_size:
                return out
            offset += page_size

    def _error(self, response: httpx.Response) -> PlatformError:
        """Read SendGrid's `{"errors":[{"message","field","help"}]}` body."""
        status = response.status_code
        body = json_body(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        message = first.get("message") or response.reason_phrase or "error"
        if first.get("field"):
            message = f"{first['field']}: {message}"
        code = _CODES.get(status, "server_error" if status >= 500 else f"HTTP_{status}")
        retry_after = retry_after_header(response.headers)
        if retry_after is None and status == 429:
            retry_after = _reset_delay(response.headers)
        return error_for_status(self.platform, status, code, message, retry_after)


def _reset_delay(headers: httpx.Headers) -> float | None:
    """Seconds until `X-RateLimit-Reset` (epoch seconds), at least 1."""
    reset = headers.get("x-ratelimit-reset")
    try:
        return max(float(reset) - time.time(), 1.0) if reset else None
    except ValueError:
        return None
