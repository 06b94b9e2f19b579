"""LinkedIn Posts API (`/rest/posts`): create, get, delete, and find posts by author.

The finder is LinkedIn's: `GET /rest/posts?q=author&author=<urn>&count=&start=&sortBy=`
(`X-RestLi-Method: FINDER`), newest first by `LAST_MODIFIED` (the default) or `CREATED`,
at most 100 a page (`count`, default 10), answered as `{"paging", "elements"}` with a
`next` link while more remain. Posts carry no metadata: what tells one post from another
is its id, its author, its commentary and its times.

Validation errors answer 422 with LinkedIn's `ERROR :: /<field> :: <reason>` lines.
Authors may be any organization or person URN. Created posts get `urn:li:share:<n>`
ids, returned in the `x-restli-id` header of an empty 201.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, Request, Response

from sandbox.platforms import SandboxError
from sandbox.state import get_store
from sandbox.store import LinkedInPost, Store

router = APIRouter(prefix="/rest")

MAX_COMMENTARY = 3000
AUTHOR = re.compile(r"^urn:li:(organization|person):[A-Za-z0-9_-]+$")
VISIBILITIES = ("PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER")
LIFECYCLE_STATES = ("PUBLISHED", "DRAFT")
FEEDS = ("MAIN_FEED", "NONE")
REQUIRED = ("author", "commentary", "visibility", "distribution", "lifecycleState")
SHARE_IDS = 7_100_000_000_000_000_000

_ESCAPED = re.compile(r"\\([\\|{}@\[\]()<>#*_~])")


def plain_text(commentary: str) -> str:
    """What readers see of a "little" text commentary: escapes removed."""
    return _ESCAPED.sub(r"\1", commentary)


def _problems(body: dict[str, Any]) -> list[str]:
    problems = [
        f"/{name} :: field is required but not found and has no default value" for name in REQUIRED if name not in body
    ]
    author, commentary = body.get("author"), body.get("commentary")
    if author is not None and not (isinstance(author, str) and AUTHOR.match(author)):
        problems.append(f"/author :: {author!r} is not a valid organization or person URN")
    if commentary is not None and not isinstance(commentary, str):
        problems.append("/commentary :: not a string")
    elif isinstance(commentary, str) and len(commentary) > MAX_COMMENTARY:
        problems.append(f"/commentary :: length {len(commentary)} exceeds the maximum of {MAX_COMMENTARY}")
    if "visibility" in body and body["visibility"] not in VISIBILITIES:
        problems.append(f"/visibility :: {body['visibility']!r} is not an enum symbol of {list(VISIBILITIES)}")
    if "lifecycleState" in body and body["lifecycleState"] not in LIFECYCLE_STATES:
        problems.append(f"/lifecycleState :: {body['lifecycleState']!r} is not one of {list(LIFECYCLE_STATES)}")
    distribution = body.get("distribution")
    feed = distribution.get("feedDistribution") if isinstance(distribution, dict) else None
    if "distribution" in body and feed not in FEEDS:
        problems.append(f"/distribution/feedDistribution :: must be one of {list(FEEDS)}")
    return problems


def post_view(post: LinkedInPost) -> dict[str, Any]:
    return {
        "id": post.urn,
        "author": post.author,
        "commentary": post.commentary,
        "visibility": post.visibility,
        "distribution": post.distribution,
        "lifecycleState": post.lifecycle_state,
        "isReshareDisabledByAuthor": False,
        "createdAt": post.created_at,
        "lastModifiedAt": post.created_at,
        "publishedAt": post.created_at if post.lifecycle_state == "PUBLISHED" else None,
        "lifecycleStateInfo": {"isEditedByAuthor": False},
    }


def _get(store: Store, urn: str) -> LinkedInPost:
    post = store.linkedin_posts.get(urn)
    if post is None:
        raise SandboxError(404, "NOT_FOUND", f"Post {urn} does not exist")
    return post


@router.post("/posts", status_code=201)
async def create_post(request: Request, body: dict = Body(...), store: Store = Depends(get_store)) -> Response:
    problems = _problems(body)
    if problems:
        raise SandboxError(422, "UNPROCESSABLE_ENTITY", "".join(f"ERROR :: {p}\n" for p in problems))
    urn = f"urn:li:share:{store.next_id(SHARE_IDS)}"
    post = LinkedInPost(
        urn=urn,
        author=body["author"],
        commentary=body["commentary"],
        visibility=body["visibility"],
        lifecycle_state=body["lifecycleState"],
        distribution=body["distribution"],
        created_at=int(time.time() * 1000),
    )
    store.linkedin_posts[urn] = post
    store.record(
        "linkedin",
        "post.create",
        request.headers.get("idempotency-key"),
        {
            "urn": urn,
            "author": post.author,
            "commentary": post.commentary,
            "text": plain_text(post.commentary),
            "visibility": post.visibility,
            "lifecycleState": post.lifecycle_state,
        },
    )
    return Response(status_code=201, headers={"x-restli-id": urn})


FINDER_MAX_COUNT = 100
SORTS = ("LAST_MODIFIED", "CREATED")


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SandboxError(400, "ILLEGAL_ARGUMENT", f"Invalid value {raw!r} for parameter {name}") from None


@router.get("/posts")
async def find_posts(request: Request, store: Store = Depends(get_store)) -> dict:
    """The author finder: `q=author` is the only finder; other queries are refused."""
    params = request.query_params
    if params.get("q") != "author":
        raise SandboxError(400, "ILLEGAL_ARGUMENT", f"Unsupported finder q={params.get('q')!r}; use q=author")
    author = params.get("author") or ""
    if not AUTHOR.match(author):
        raise SandboxError(400, "ILLEGAL_ARGUMENT", f"author {author!r} is not a valid organization or person URN")
    sort = params.get("sortBy") or "LAST_MODIFIED"
    if sort not in SORTS:
        raise SandboxError(400, "ILLEGAL_ARGUMENT", f"sortBy {sort!r} is not one of {list(SORTS)}")
    start, count = _int_param(request, "start", 0), _int_param(request, "count", 10)
    if start < 0 or not 1 <= count <= FINDER_MAX_COUNT:
        raise SandboxError(400, "ILLEGAL_ARGUMENT", f"start must be >= 0 and count between 1 and {FINDER_MAX_COUNT}")
    # The sandbox never edits a post: its last modification is its creation, ties broken by id.
    posts = sorted(
        (p for p in store.linkedin_posts.values() if p.author == author),
        key=lambda p: (p.created_at, int(p.urn.rsplit(":", 1)[1])),
        reverse=True,
    )
    page = posts[start : start + count]
    links = []
    if start + count < len(posts):
        query = urlencode({"author": author, "count": count, "q": "author", "sortBy": sort, "start": start + count})
        links.append({"type": "application/json", "rel": "next", "href": f"/rest/posts?{query}"})
    return {
        "paging": {"start": start, "count": count, "links": links, "total": len(posts)},
        "elements": [post_view(p) for p in page],
    }


@router.get("/posts/{urn}")
async def get_post(urn: str, store: Store = Depends(get_store)) -> dict:
    return post_view(_get(store, urn))


@router.delete("/posts/{urn}", status_code=204)
async def delete_post(urn: str, request: Request, store: Store = Depends(get_store)) -> Response:
    post = _get(store, urn)
    del store.linkedin_posts[urn]
    store.record("linkedin", "post.delete", request.headers.get("idempotency-key"), {"urn": urn, "author": post.author})
    return Response(status_code=204)
