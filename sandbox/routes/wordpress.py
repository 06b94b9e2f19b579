"""WordPress REST API posts (`/wp-json/wp/v2/posts`): create, update, get, list.

Like WordPress with pretty permalinks (`/%postname%/`) on a site at the sandbox's own
address, in UTC: a published or private post links to `{site}/{slug}/`, anything
else to `{site}/?p={id}`. Status rules follow `wp_insert_post`: `publish` with a
future date becomes `future`, `future` with a past date is published at once, a
scheduled post is published when its time comes (checked whenever it is read), and
a post that is published keeps its date when it goes back to draft. Unlike WordPress,
`future` without any date is refused instead of being published now.
"""

from __future__ import annotations

import html
import math
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse

from sandbox.platforms import SandboxError
from sandbox.state import get_store
from sandbox.store import Store, WpPost

router = APIRouter(prefix="/wp-json/wp/v2")

STATUSES = ("publish", "future", "draft", "pending", "private")
DATED = ("publish", "future", "private")  # statuses that always carry a date (and a unique slug)
AUTHOR_ID = 1


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _fmt(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def _invalid(param: str, reason: str) -> SandboxError:
    return SandboxError(400, "rest_invalid_param", f"Invalid parameter(s): {param}", {"params": {param: reason}})


def sanitize_slug(value: str) -> str:
    """Close to WordPress's `sanitize_title`: lower case, dashes for spaces, no punctuation."""
    slug = re.sub(r"[^a-z0-9_\-]+", "-", value.strip().lower())
    return re.sub(r"-{2,}", "-", slug).strip("-")


def _parse_date(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _invalid("date_gmt", "date_gmt is not of type string.")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid("date_gmt", "Invalid date.") from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.replace(microsecond=0)


def _text(value: Any, param: str) -> str:
    """WordPress takes `title`/`content` as a string or as `{"raw": ...}`."""
    if isinstance(value, dict):
        value = value.get("raw", "")
    if not isinstance(value, str):
        raise _invalid(param, f"{param} is not of type string.")
    return value


def _publish_if_due(post: WpPost) -> None:
    """WordPress's scheduler: a `future` post whose time has come is published."""
    if post.status == "future" and post.date_gmt and datetime.fromisoformat(post.date_gmt) <= _now():
        post.status = "publish"


def _unique_slug(store: Store, post: WpPost) -> str:
    """A published slug is unique: WordPress appends -2, -3, ... on a clash."""
    taken = {p.slug for p in store.wp_posts.values() if p.id != post.id and p.status in DATED}
    slug, n = post.slug, 2
    while slug in taken:
        slug, n = f"{post.slug}-{n}", n + 1
    return slug


def _apply(store: Store, post: WpPost, body: dict[str, Any]) -> None:
    """Apply title/content/slug/status/date_gmt from a create or update body."""
    now = _now()
    if "title" in body:
        post.title = _text(body["title"], "title")
    if "content" in body:
        post.content = _text(body["content"], "content")
    if "slug" in body:
        post.slug = sanitize_slug(_text(body["slug"], "slug"))
    date = _parse_date(body["date_gmt"]) if body.get("date_gmt") is not None else None
    status = body.get("status", post.status)
    if status not in STATUSES:
        raise _invalid("status", f"status is not one of {', '.join(STATUSES)}.")
    if date is None and post.date_gmt:
        date = datetime.fromisoformat(post.date_gmt)
    if status == "future" and date is None:
        raise _invalid("date_gmt", "A scheduled post (status future) needs date_gmt.")
    if status in DATED and date is None:
        date = now
    if date is not None:  # (always set for the dated statuses, by now)
        if status == "future" and date <= now:
            status = "publish"
        elif status == "publish" and date > now:
            status = "future"
    post.status = status
    post.date_gmt = _fmt(date) if date else None
    if not post.slug:
        post.slug = sanitize_slug(post.title) or str(post.id)
    if post.status in DATED:
        post.slug = _unique_slug(store, post)
    post.modified_gmt = _fmt(now)


def site(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def link(post: WpPost, base: str) -> str:
    return f"{base}/{post.slug}/" if post.status in ("publish", "private") else f"{base}/?p={post.id}"


def post_view(post: WpPost, base: str, context: str = "view") -> dict[str, Any]:
    """WordPress's post object; the edit context adds the raw fields."""
    edit = context == "edit"

    def field(raw: str, rendered: str, **extra: Any) -> dict[str, Any]:
        return {**({"raw": raw} if edit else {}), "rendered": rendered, **extra}

    date = post.date_gmt or post.modified_gmt
    body: dict[str, Any] = {
        "id": post.id,
        "date": date,
        "date_gmt": post.date_gmt,
        "guid": field(f"{base}/?p={post.id}", f"{base}/?p={post.id}"),
        "modified": post.modified_gmt,
        "modified_gmt": post.modified_gmt,
        "slug": post.slug,
        "status": post.status,
        "type": "post",
        "link": link(post, base),
        "title": field(post.title, html.escape(post.title, quote=False)),
        "content": field(post.content, post.content, protected=False, block_version=0),
        "excerpt": field("", "", protected=False),
        "author": AUTHOR_ID,
        "featured_media": 0,
        "comment_status": "open",
        "ping_status": "open",
        "sticky": False,
        "template": "",
        "format": "standard",
        "meta": [],
        "categories": [1],
        "tags": [],
    }
    if edit:
        body["permalink_template"] = f"{base}/%postname%/"
        body["generated_slug"] = sanitize_slug(post.title)
    return body


def _context(request: Request) -> str:
    context = request.query_params.get("context", "view")
    if context not in ("view", "embed", "edit"):
        raise _invalid("context", "context is not one of view, embed, edit.")
    return context


def _list_param(values: list[str]) -> set[str]:
    """WordPress list parameters: comma-separated and/or repeated (`status[]=`)."""
    return {item.strip() for value in values for item in value.split(",") if item.strip()}


def _get(store: Store, post_id: int) -> WpPost:
    post = store.wp_posts.get(post_id)
    if post is None:
        raise SandboxError(404, "rest_post_invalid_id", "Invalid post ID.")
    _publish_if_due(post)
    return post


def _summary(post: WpPost, **extra: Any) -> dict[str, Any]:
    return {
        "id": post.id,
        "status": post.status,
        "slug": post.slug,
        "title": post.title,
        "date_gmt": post.date_gmt,
        **extra,
    }


@router.post("/posts", status_code=201)
async def create_post(request: Request, body: dict = Body(...), store: Store = Depends(get_store)) -> JSONResponse:
    context = _context(request)
    post = WpPost(
        id=int(store.next_id(100)),
        slug="",
        status="draft",
        title="",
        content="",
        date_gmt=None,
        modified_gmt=_fmt(_now()),
    )
    _apply(store, post, body)  # validates before anything is stored
    store.wp_posts[post.id] = post
    store.record("wordpress", "post.create", request.headers.get("idempotency-key"), _summary(post))
    base = site(request)
    return JSONResponse(
        post_view(post, base, context), status_code=201, headers={"Location": f"{base}/wp-json/wp/v2/posts/{post.id}"}
    )


@router.get("/posts")
async def list_posts(request: Request, store: Store = Depends(get_store)) -> JSONResponse:
    context, query = _context(request), request.query_params
    statuses = _list_param(query.getlist("status") + query.getlist("status[]")) or {"publish"}
    if not statuses <= {*STATUSES, "any"}:
        raise _invalid("status", f"status is not one of {', '.join(STATUSES)}, any.")
    slugs = {sanitize_slug(s) for s in _list_param(query.getlist("slug") + query.getlist("slug[]"))}
    try:
        per_page, page = int(query.get("per_page", 10)), int(query.get("page", 1))
    except ValueError:
        raise _invalid("per_page", "per_page and page must be integers.") from None
    if not 1 <= per_page <= 100 or page < 1:
        raise _invalid("per_page", "per_page must be between 1 (inclusive) and 100 (inclusive)")
    for post in store.wp_posts.values():
        _publish_if_due(post)
    found = [
        p
        for p in store.wp_posts.values()
        if ("any" in statuses or p.status in statuses) and (not slugs or p.slug in slugs)
    ]
    found.sort(key=lambda p: (p.date_gmt or p.modified_gmt, p.id), reverse=True)
    total = len(found)
    pages = max(math.ceil(total / per_page), 1) if total else 0
    if total and page > pages:
        raise _invalid("page", "The page number requested is larger than the number of pages available.")
    base = site(request)
    chunk = found[(page - 1) * per_page : page * per_page]
    return JSONResponse(
        [post_view(p, base, context) for p in chunk], headers={"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    )


@router.get("/posts/{post_id}")
async def get_post(post_id: int, request: Request, store: Store = Depends(get_store)) -> dict:
    return post_view(_get(store, post_id), site(request), _context(request))


@router.api_route("/posts/{post_id}", methods=["POST", "PUT", "PATCH"])
async def update_post(
    post_id: int, request: Request, body: dict = Body(...), store: Store = Depends(get_store)
) -> dict:
    context = _context(request)
    post = _get(store, post_id)
    before = _summary(post)
    updated = WpPost(**vars(post))
    _apply(store, updated, body)  # on a bad parameter nothing changes
    changed = [k for k, v in _summary(updated).items() if before[k] != v]
    if "content" in body and updated.content != post.content:
        changed.append("content")
    if changed:
        store.wp_posts[post_id] = post = updated
        store.record(
            "wordpress", "post.update", request.headers.get("idempotency-key"), _summary(post, changed=changed)
        )
    else:
        store.count_replay("wordpress")
    return post_view(post, site(request), context)
