"""Link targets for the link checker (no auth, no faults; not a platform).

`/_links/ok/...` 200 · `/_links/redirect/...` 301 → `/_links/ok/...` ·
`/_links/loop/...` 302 to itself · `/_links/broken/...` 404 ·
`/_links/nohead/...` 405 to HEAD, 200 to GET · `/_links/slow/...` answers after 10 s
(or stops early when the caller hangs up).
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

router = APIRouter(prefix="/_links", tags=["links"])

SLOW_SECONDS = 10.0
_PAGE = "<!doctype html><html><head><title>{title}</title></head><body><p>{title}</p></body></html>"
_METHODS = ["GET", "HEAD"]


def _page(title: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=title), status_code=status)


@router.api_route("/ok/{rest:path}", methods=_METHODS)
async def ok(rest: str) -> Response:
    return _page("ok")


@router.api_route("/redirect/{rest:path}", methods=_METHODS)
async def redirect(rest: str) -> Response:
    return RedirectResponse(f"/_links/ok/{rest}", status_code=301)


@router.api_route("/loop/{rest:path}", methods=_METHODS)
async def loop(rest: str) -> Response:
    return RedirectResponse(f"/_links/loop/{rest}", status_code=302)


@router.api_route("/broken/{rest:path}", methods=_METHODS)
async def broken(rest: str) -> Response:
    return _page("not found", 404)


@router.api_route("/nohead/{rest:path}", methods=_METHODS)
async def no_head(rest: str, request: Request) -> Response:
    if request.method == "HEAD":
        return Response(status_code=405, headers={"Allow": "GET"})
    return _page("ok")


@router.api_route("/slow/{rest:path}", methods=_METHODS)
async def slow(rest: str, request: Request) -> Response:
    with contextlib.suppress(TimeoutError):  # ends early when the caller hangs up
        await asyncio.wait_for(_disconnected(request), SLOW_SECONDS)
    return _page("slow")


async def _disconnected(request: Request) -> None:
    """Wait for the client to go away (`Request.is_disconnected()` cannot see it behind
    `BaseHTTPMiddleware`, so read the ASGI messages until the disconnect arrives)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
