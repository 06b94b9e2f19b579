"""`/previews`: journey emails as a lead would get them, for reviewers in a browser.

- `GET /previews`: every journey and its email steps (subject, template), linked.
- `GET /previews/{journey}/{step}?lead=<sample>`: that step's email rendered for a sample
  lead (starter.service.previews: the CLI's `mops journeys preview` renders the same way):
  subject, preheader, brand findings, the text part, and the HTML part in a sandboxed
  `<iframe srcdoc>` (no scripts, no same origin; the page's CSP, which the frame inherits,
  allows no scripts either), so the email's HTML cannot script the page.
- Who may open it: keys with the `read` scope (admin keys too). A preview shows templates
  and made-up sample leads, no lead data, and decides nothing, so the read scope is enough
  and no approver binding is needed. Sign-in as on the approval page (gateway.sessions): the
  key is pasted once and exchanged for a session cookie (Path=/previews) of its own.
- Answers: no session 401 (the sign-in page, which returns to the asked-for preview), a key
  without read 403 at sign-in, an unknown journey or step 404 naming it, an unknown sample
  lead 422 naming it, a template that cannot render 422 with its one-line `file:line`
  problem and no preview. Every page carries the approval page's security headers.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from domain.templating import environment, render
from gateway.approvals_render import MAX_FIELD, SECURITY_HEADERS
from gateway.security import Principal, Scope
from gateway.sessions import SessionCookie, SignedIn, SignInForms
from starter.service.previews import (
    SAMPLE_LEADS,
    SAMPLES,
    PreviewError,
    PreviewNotFound,
    PreviewService,
)

PATH = "/previews"
COOKIE = "mops_previews"
MAX_ID = 100  # characters of a journey or step id in a URL
# Where sign-in may send the browser back to: the index or one preview, nothing else.
_NEXT = re.compile(r"^/previews(/[a-z0-9][a-z0-9_-]{0,99}/[a-z0-9][a-z0-9_-]{0,99}(\?lead=[a-z0-9-]{1,40})?)?$")

router = APIRouter(prefix=PATH, include_in_schema=False)
templates = environment("gateway")
templates.globals.update(path=PATH, max_field=MAX_FIELD)


def _can_preview(principal: Principal) -> bool:
    return principal.allows(Scope.READ)


SESSION = SessionCookie(COOKIE, PATH, "preview-session", _can_preview)


def _page(page: str, title: str, /, *, status: int = 200, error: str | None = None, **context: object) -> HTMLResponse:
    """A page from `previews/<template>`; a template error propagates (500), never a page with holes."""
    html = render(templates, f"previews/{page}", title=title, error=error, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _sign_in(*, status: int = 200, error: str | None = None, next_url: str = PATH) -> HTMLResponse:
    return _page("sign_in.html", "Sign in", status=status, error=error, signed_in=None, next=next_url)


def preview_url(journey_id: str, step_id: str, lead: str | None = None) -> str:
    url = f"{PATH}/{quote(journey_id, safe='')}/{quote(step_id, safe='')}"
    return f"{url}?lead={quote(lead, safe='')}" if lead else url


def _slow_down() -> Response:
    return _page(
        "message.html", "Slow down", status=429, signed_in=None, error="Too many requests; try again in a few seconds."
    )


def _safe_next(url: str) -> str:
    return url if _NEXT.fullmatch(url) else PATH


# --- routes ------------------------------------------------------------------------------------


@router.get("")
async def index(request: Request) -> Response:
    signed_in = await FORMS.signed_in(request, _sign_in)  # the index is where one signs in: 200, not 401
    if not isinstance(signed_in, SignedIn):
        return signed_in
    service: PreviewService = request.app.state.previews
    journeys = service.journeys()
    links = {j.journey_id: {s.step_id: preview_url(j.journey_id, s.step_id) for s in j.steps} for j in journeys}
    return _page("index.html", "Journey emails", signed_in=signed_in, journeys=journeys, links=links)


@router.get("/{journey_id}/{step_id}")
async def preview(request: Request, journey_id: str, step_id: str, lead: str = "unknown") -> Response:
    def anonymous() -> HTMLResponse:
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return _sign_in(status=401, error="Sign in to see email previews.", next_url=_safe_next(wanted))

    signed_in = await FORMS.signed_in(request, anonymous)
    if not isinstance(signed_in, SignedIn):
        return signed_in
    context: dict[str, Any] = dict(
        signed_in=signed_in,
        journey_id=journey_id,
        step_id=step_id,
        template="?",  # until the step is known; then shown even when it cannot render
        samples=SAMPLE_LEADS,
        lead=lead,
        action=preview_url(journey_id, step_id),
        preview=None,
    )
    if len(journey_id) > MAX_ID or len(step_id) > MAX_ID:
        return _page("message.html", "Not found", status=404, signed_in=signed_in, error="journey: no such journey")
    service: PreviewService = request.app.state.previews
    try:
        context["template"] = service.email_step(service.journey(journey_id), step_id).template
        sample = SAMPLES.get(lead)
        if sample is None:
            known = ", ".join(SAMPLES)
            raise PreviewError(f"lead: no sample lead {lead[:40]!r} (samples: {known})")
        context["preview"] = service.render(journey_id, step_id, sample.fields)
    except PreviewNotFound as err:
        return _page("message.html", "Not found", status=404, signed_in=signed_in, error=str(err))
    except PreviewError as err:
        return _page("preview.html", "Cannot render", status=422, error=str(err), **context)
    return _page("preview.html", f"{journey_id} · {step_id}", **context)


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
    cannot="token: this key cannot see previews: it needs the read scope.",
    max_field=MAX_FIELD,
)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    return await FORMS.sign_in(request)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    return await FORMS.sign_out(request)


__all__ = ["router", "SESSION", "COOKIE", "PATH", "preview_url"]
