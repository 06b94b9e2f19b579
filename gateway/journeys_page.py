"""`/journeys`: each journey drawn as a graph with the leads at each step now, for marketing
operations in a browser.

- `GET /journeys`: every journey, linked to its map (the sign-in page without a session).
- `GET /journeys/{journey}`: the version new leads pin (`starter.service.journey_map`) drawn
  server-side as inline SVG (steps, branches, split variants with their weights, waits),
  each step with its running leads (a visibility count on JourneyVersion and JourneyStep)
  and linked to the Temporal Web UI's workflow list filtered by the same query.
- Who may open it: keys with the `read` scope (admin keys too): it shows counts and step
  ids, no lead data, and decides nothing. Sign-in as on the approval and previews pages
  (gateway.sessions), with a session cookie of its own (Path=/journeys).
- Answers: no session 401 (the sign-in page, which returns to the asked-for map), a key
  without read 403 at sign-in, an unknown journey 404 naming it, a journey file that does
  not load 422 with its problem. Every page carries the approval page's security headers.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from domain.templating import environment, render
from gateway.approvals_render import MAX_FIELD, SECURITY_HEADERS
from gateway.security import Principal, Scope
from gateway.sessions import SessionCookie, SignedIn, SignInForms
from starter.service.errors import InputError, NotFound
from starter.service.journey_map import JourneyMapService

PATH = "/journeys"
COOKIE = "mops_journeys"
MAX_ID = 100  # characters of a journey id in a URL
# Where sign-in may send the browser back to: the index or one journey's map, nothing else.
_NEXT = re.compile(r"^/journeys(/[a-z0-9][a-z0-9-]{0,62})?$")

router = APIRouter(prefix=PATH, include_in_schema=False)
templates = environment("gateway")
templates.globals.update(path=PATH, max_field=MAX_FIELD)


def _can_read(principal: Principal) -> bool:
    return principal.allows(Scope.READ)


SESSION = SessionCookie(COOKIE, PATH, "journeys-session", _can_read)


def _page(page: str, title: str, /, *, status: int = 200, error: str | None = None, **context: object) -> HTMLResponse:
    """A page from `journeys/<template>`; a template error propagates (500), never a page with holes."""
    html = render(templates, f"journeys/{page}", title=title, error=error, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _sign_in(*, status: int = 200, error: str | None = None, next_url: str = PATH) -> HTMLResponse:
    return _page("sign_in.html", "Sign in", status=status, error=error, signed_in=None, next=next_url)


def map_url(journey_id: str) -> str:
    return f"{PATH}/{quote(journey_id, safe='')}"


def _slow_down() -> Response:
    return _page(
        "message.html", "Slow down", status=429, signed_in=None, error="Too many requests; try again in a few seconds."
    )


def _service(request: Request) -> JourneyMapService:
    return JourneyMapService(request.app.state.client, request.app.state.settings)


def _safe_next(url: str) -> str:
    return url if _NEXT.fullmatch(url) else PATH


@router.get("")
async def index(request: Request) -> Response:
    signed_in = await FORMS.signed_in(request, _sign_in)  # the index is where one signs in: 200, not 401
    if not isinstance(signed_in, SignedIn):
        return signed_in
    journeys = _service(request).journey_ids()
    return _page(
        "index.html", "Journeys", signed_in=signed_in, journeys=journeys, links={j: map_url(j) for j in journeys}
    )


@router.get("/{journey_id}")
async def journey_map(request: Request, journey_id: str) -> Response:
    def anonymous() -> HTMLResponse:
        return _sign_in(status=401, error="Sign in to see the journey map.", next_url=_safe_next(request.url.path))

    signed_in = await FORMS.signed_in(request, anonymous)
    if not isinstance(signed_in, SignedIn):
        return signed_in
    if len(journey_id) > MAX_ID:
        return _page("message.html", "Not found", status=404, signed_in=signed_in, error="journey: no such journey")
    service = _service(request)
    try:
        graph = service.map(journey_id)
    except NotFound as err:
        return _page("message.html", "Not found", status=404, signed_in=signed_in, error=str(err))
    except InputError as err:
        return _page("message.html", "Cannot draw", status=422, signed_in=signed_in, error=str(err))
    here = await service.here(graph)
    return _page("map.html", f"{journey_id} map", signed_in=signed_in, graph=graph, here=here)


FORMS = SignInForms(
    SESSION,
    sign_in_page=_sign_in,
    forbidden=lambda: _page(
        "message.html",
        "Forbidden",
        status=403,
        signed_in=None,
        error="csrf: the form expired or did not come from this page. Reload and try again.",
    ),
    slow_down=_slow_down,
    safe_next=_safe_next,
    home=PATH,
    enter="token: enter your API key.",
    unknown="token: unknown API key.",
    cannot="token: this key cannot see the journey map: it needs the read scope.",
    max_field=MAX_FIELD,
)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    return await FORMS.sign_in(request)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    return await FORMS.sign_out(request)


__all__ = ["router", "SESSION", "COOKIE", "PATH", "map_url"]
