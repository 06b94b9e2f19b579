"""SendGrid v3 client: mail send, the Email Activity feed, unsubscribe-group (ASM)
suppressions, and Marketing Campaigns Single Sends (one e-mail to whole contact lists).

SendGrid has no idempotency of any kind: `/v3/mail/send` sent twice is two emails. Each
message carries its send key as the custom arg `mops_idempotency_key` (echoed in every
event webhook and queryable in the Email Activity feed as a unique arg), and
`sent_with_key` asks the feed which accepted messages carry a key: that is how a retry
finds out whether an earlier attempt's send went out (`activities/email_once.py`). The
feed is a paid add-on, is rate limited (6 requests a minute) and lags the send.

Single Sends have no idempotency either: a create retried after a lost answer leaves a
second *draft* behind, and `create_single_send` called twice mails the lists twice; the
list-send activity makes retries safe by name (`activities/list_audience.py`). A sent
Single Send cannot be recalled; `cancel_single_send` only stops one that is still
scheduled.

Error `code`s are derived from the HTTP status (SendGrid's error bodies carry only
`message`/`field`/`help`): `bad_request`, `unauthorized`, `forbidden`, `not_found`,
`payload_too_large`, `too_many_requests`, `server_error`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from integrations.errors import PlatformError, PlatformRejected, PlatformUnavailable
from integrations.http import PlatformClient, error_for_status, json_body, retry_after_header

IDEMPOTENCY_ARG = "mops_idempotency_key"
CONTACTS_PER_UPSERT = 30_000  # SendGrid's bound on contacts per `PUT /v3/marketing/contacts`
JOB_WAIT_S = 20.0  # an import or export still pending after this is retried by the activity
# A caller that heartbeats while it waits (the list-send activity) may wait this long for
# a job: exports and imports of a large account take minutes on the real platform.
JOB_WAIT_HEARTBEATING_S = 20 * 60.0

# What may sit between the quotes of an Email Activity query value.
_QUERY_VALUE = re.compile(r'^[^"\\]+$')

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    413: "payload_too_large",
    429: "too_many_requests",
}


@dataclass(frozen=True)
class FeedMessage:
    """One message of the Email Activity feed (`GET /v3/messages`)."""

    msg_id: str  # the X-Message-Id mail/send answered, then SendGrid's `.`-separated suffix
    to_email: str
    status: str  # processed | delivered | not_delivered

    @property
    def x_message_id(self) -> str:
        return self.msg_id.split(".", 1)[0]


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
        headers. Not idempotent: `idempotency_key` only goes out as the custom arg
        `IDEMPOTENCY_ARG`, for `sent_with_key` to find."""
        if not _QUERY_VALUE.match(idempotency_key):
            raise ValueError(f"idempotency_key: {idempotency_key!r} cannot be looked up (quotes or backslashes)")
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
        response = await self._request("POST", "/v3/mail/send", json=payload)
        return response.headers.get("x-message-id", "")

    async def sent_with_key(self, idempotency_key: str, *, limit: int = 10) -> list[FeedMessage]:
        """The messages the Email Activity feed holds with this send key (newest first).
        The feed lags the send: an empty answer means "not sent" only once the feed had
        time to show it (the caller's business, see `activities/email_once.py`)."""
        if not _QUERY_VALUE.match(idempotency_key):
            raise ValueError(f"idempotency_key: {idempotency_key!r} cannot be looked up (quotes or backslashes)")
        query = f"unique_args['{IDEMPOTENCY_ARG}']=\"{idempotency_key}\""
        body = await self._json("GET", "/v3/messages", params={"query": query, "limit": limit})
        return [
            FeedMessage(str(m["msg_id"]), str(m.get("to_email") or ""), str(m.get("status") or ""))
            for m in body.get("messages") or []
        ]

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
        text: str | None = None,
    ) -> str:
        """Create a Single Send to `list_ids` and schedule it for now; return its id. Without
        `text`, SendGrid generates the plain-text part from the HTML. Called twice, it mails
        the lists twice: a retry must look the send up by name first."""
        single_send_id = await self.draft_single_send(
            name=name,
            subject=subject,
            html=html,
            list_ids=list_ids,
            sender_id=sender_id,
            suppression_group_id=suppression_group_id,
            text=text,
        )
        await self.schedule_single_send_now(single_send_id)
        return single_send_id

    async def draft_single_send(
        self,
        *,
        name: str,
        subject: str,
        html: str,
        list_ids: list[str],
        sender_id: int,
        suppression_group_id: int,
        text: str | None = None,
    ) -> str:
        """Create a Single Send (a draft, not scheduled); return its id. A new draft each
        call: SendGrid has no idempotency."""
        email_config: dict = {
            "subject": subject,
            "html_content": html,
            "sender_id": sender_id,
            "suppression_group_id": suppression_group_id,
        }
        if text is not None:
            email_config.update(plain_content=text, generate_plain_content=False)
        payload = {"name": name, "send_to": {"list_ids": list_ids}, "email_config": email_config}
        body = await self._json("POST", "/v3/marketing/singlesends", json=payload)
        return str(body["id"])

    async def find_single_send(self, name: str) -> tuple[str, str] | None:
        """(id, status) of the Single Send named exactly `name`, if one exists."""
        body = await self._json("POST", "/v3/marketing/singlesends/search", json={"name": name})
        for found in body.get("result") or []:
            if found.get("name") == name:
                return str(found["id"]), str(found.get("status") or "")
        return None

    async def schedule_single_send_now(self, single_send_id: str) -> None:
        await self._request(
            "PUT", f"/v3/marketing/singlesends/{quote(single_send_id, safe='')}/schedule", json={"send_at": "now"}
        )

    # Marketing Campaigns: lists, contact imports, contacts exports

    async def find_list(self, name: str) -> str | None:
        """The id of the list named `name` (every page of `GET /v3/marketing/lists`)."""
        params: dict[str, str | int] = {"page_size": 1000}
        while True:
            body = await self._json("GET", "/v3/marketing/lists", params=params)
            for found in body.get("result") or []:
                if found.get("name") == name:
                    return str(found["id"])
            after = (body.get("_metadata") or {}).get("next")
            token = parse_qs(urlsplit(after).query).get("page_token") if after else None
            if not token:
                return None
            params = {"page_size": 1000, "page_token": token[0]}

    async def create_list(self, name: str) -> str:
        body = await self._json("POST", "/v3/marketing/lists", json={"name": name})
        return str(body["id"])

    async def add_to_list(self, list_id: str, emails: list[str], *, beat: Callable[[], None] | None = None) -> None:
        """Upsert the contacts onto the list and wait for every import job to complete
        (only then are they members: a send scheduled before would miss them)."""
        for start in range(0, len(emails), CONTACTS_PER_UPSERT):
            batch = [{"email": e} for e in emails[start : start + CONTACTS_PER_UPSERT]]
            body = await self._json("PUT", "/v3/marketing/contacts", json={"list_ids": [list_id], "contacts": batch})
            job_id = quote(str(body["job_id"]), safe="")
            await self._until_done(
                f"/v3/marketing/contacts/imports/{job_id}", "completed", ("errored", "failed"), beat=beat
            )

    async def list_members(self, list_ids: list[str], *, beat: Callable[[], None] | None = None) -> list[str]:
        """The (lower-case) addresses on these lists, through a contacts export: create it,
        wait until it is ready, download its CSV files from their signed urls."""
        wanted = {"list_ids": list_ids, "file_type": "csv"}
        body = await self._json("POST", "/v3/marketing/contacts/exports", json=wanted)
        export_id = quote(str(body["id"]), safe="")
        ready = await self._until_done(f"/v3/marketing/contacts/exports/{export_id}", "ready", ("failure",), beat=beat)
        emails: set[str] = set()
        # The urls are pre-signed storage links: fetched without our API key.
        async with httpx.AsyncClient(timeout=self._http.timeout) as download:
            for url in ready.get("urls") or []:
                response = await download.get(url)
                if not response.is_success:
                    raise error_for_status(
                        self.platform, response.status_code, "export_download", "contacts export download failed", None
                    )
                for row in csv.DictReader(io.StringIO(response.text)):
                    if row.get("EMAIL"):
                        emails.add(row["EMAIL"].strip().lower())
        return sorted(emails)

    async def _until_done(
        self, path: str, done: str, failed: tuple[str, ...], *, beat: Callable[[], None] | None = None
    ) -> dict:
        """Poll an asynchronous job until its `status` is `done`, backing off: up to JOB_WAIT_S,
        or JOB_WAIT_HEARTBEATING_S for a caller that heartbeats (`beat`, called every poll)."""
        limit = JOB_WAIT_S if beat is None else JOB_WAIT_HEARTBEATING_S
        delay, waited = 0.05, 0.0
        while True:
            body = await self._json("GET", path)
            status = body.get("status")
            if status == done:
                return body
            if status in failed:
                raise PlatformRejected(self.platform, 200, f"job_{status}", f"{path}: {body.get('message') or status}")
            if waited >= limit:
                why = f"{path}: still {status} after {waited:.0f}s"
                raise PlatformUnavailable(self.platform, 200, "job_pending", why)
            if beat is not None:
                beat()
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)

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
