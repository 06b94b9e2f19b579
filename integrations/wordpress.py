"""WordPress REST API client: posts (`/wp-json/wp/v2/posts`), application passwords.

Auth is HTTP Basic with the WordPress username and an application password
(Users → Profile → Application Passwords); the spaces WordPress shows in the
password are optional.

Idempotency: WordPress ignores `Idempotency-Key` (as does the sandbox), so
`create_post` first looks the slug up in every status a post can be in and returns
the post it finds. A retried create after a lost response therefore finds the post
the first attempt made instead of creating a second one. Updates set absolute
values (status, title, content, date), so retrying them changes nothing.

Statuses: publish = `publish`; schedule = `future` with `date_gmt`; retract =
`draft` (the post leaves the site, its URL answers 404 again).

Error `code` is WordPress's own (`rest_post_invalid_id`, `rest_invalid_param`,
`incorrect_password`, `rest_not_logged_in`, `rest_cannot_create`, ...).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel

from integrations.errors import PlatformError
from integrations.http import PlatformClient, basic, error_for_status, json_body, retry_after_header

POSTS = "/wp-json/wp/v2/posts"
# Every status a post with our slug can be in (trash and auto-draft excluded).
LOOKUP_STATUSES = "draft,pending,publish,future,private"

_TAGS = re.compile(r"<[^>]+>")


class WpPost(BaseModel):
    id: int
    status: str
    link: str
    slug: str
    title: str
    date_gmt: str | None = None  # "YYYY-MM-DDTHH:MM:SS" in UTC; None for an undated draft

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> WpPost:
        """Read WordPress's post object (`title` is `{raw, rendered}` in the edit context)."""
        title = body.get("title") or {}
        if isinstance(title, dict):
            text = title["raw"] if "raw" in title else html.unescape(title.get("rendered", ""))
        else:
            text = str(title)
        return cls(
            id=body["id"],
            status=body["status"],
            link=body.get("link", ""),
            slug=body.get("slug", ""),
            title=text,
            date_gmt=body.get("date_gmt"),
        )


def wp_date_gmt(value: str) -> str:
    """An ISO date-time as WordPress's `date_gmt` wants it: UTC, seconds, no offset.

    `2024-05-01T12:00:00+02:00` becomes `2024-05-01T10:00:00`; a value without an
    offset is taken to be UTC already.
    """
    when = datetime.fromisoformat(value)
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.isoformat(timespec="seconds")


class WordPressClient(PlatformClient):
    platform = "wordpress"

    def __init__(
        self,
        base_url: str,
        username: str,
        app_password: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`base_url` is the site's address (the REST API lives under `/wp-json/`)."""
        self._username = username
        super().__init__(base_url, app_password, timeout=timeout, transport=transport)

    def authorization(self, token: str) -> str | None:
        return basic(self._username, token)

    async def create_post(
        self,
        *,
        title: str,
        content_html: str,
        slug: str,
        status: str = "draft",
        idempotency_key: str,
    ) -> WpPost:
        """Create a post, or return the post that already has `slug` (in any status)."""
        existing = await self.find_by_slug(slug)
        if existing is not None:
            return existing
        payload = {"title": title, "content": content_html, "status": status, "slug": slug}
        body = await self._json(
            "POST", POSTS, params={"context": "edit"}, json=payload, headers={"Idempotency-Key": idempotency_key}
        )
        return WpPost.from_api(body)

    async def find_by_slug(self, slug: str) -> WpPost | None:
        """The post with this slug in any status but trash, or None."""
        found = await self._json(
            "GET", POSTS, params={"slug": slug, "status": LOOKUP_STATUSES, "context": "edit", "per_page": 1}
        )
        return WpPost.from_api(found[0]) if isinstance(found, list) and found else None

    async def update_post(
        self,
        post_id: int,
        *,
        title: str | None = None,
        content_html: str | None = None,
        status: str | None = None,
        date_gmt: str | None = None,
    ) -> WpPost:
        """Change only the given fields. `date_gmt` may carry an offset; it is sent as UTC."""
        payload: dict[str, str] = {}
        if title is not None:
            payload["title"] = title
        if content_html is not None:
            payload["content"] = content_html
        if status is not None:
            payload["status"] = status
        if date_gmt is not None:
            payload["date_gmt"] = wp_date_gmt(date_gmt)
        body = await self._json("POST", f"{POSTS}/{int(post_id)}", params={"context": "edit"}, json=payload)
        return WpPost.from_api(body)

    async def get_post(self, post_id: int) -> WpPost:
        body = await self._json("GET", f"{POSTS}/{int(post_id)}", params={"context": "edit"})
        return WpPost.from_api(body)

    def _error(self, response: httpx.Response) -> PlatformError:
        """Read WordPress's `{"code", "message", "data": {"status"}}` body."""
        status = response.status_code
        body = json_body(response)
        body = body if isinstance(body, dict) else {}
        code = str(body.get("code") or f"HTTP_{status}")
        message = _TAGS.sub("", str(body.get("message") or "")).strip() or response.reason_phrase or "error"
        params = (body.get("data") or {}).get("params") if isinstance(body.get("data"), dict) else None
        if isinstance(params, dict) and params:
            message += " (" + "; ".join(f"{k}: {v}" for k, v in params.items()) + ")"
        return error_for_status(self.platform, status, code, message, retry_after_header(response.headers))
