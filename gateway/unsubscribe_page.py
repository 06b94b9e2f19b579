"""The footer's unsubscribe link, opened in a browser.

Mail clients unsubscribe with the RFC 8058 one-click POST (`gateway.rest.leads`). A person
clicking the same link sends a GET: it gets a confirmation page whose button POSTs to
`/v1/unsubscribe/{token}/confirm`, which unsubscribes and says so. A GET never unsubscribes
by itself, because link scanners and mail previews follow GETs. The signed token is the
credential; an invalid one gets a 404 page naming it. The pages show no lead data.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from domain.templating import environment, render
from domain.unsubscribe import verify_token
from gateway.approvals_render import SECURITY_HEADERS  # the same strict headers for every page
from gateway.settings import GatewaySettings
from starter.service.privacy import PrivacyService

PATH = "/v1/unsubscribe"
MAX_TOKEN = 200

router = APIRouter(prefix=PATH, include_in_schema=False)
templates = environment("gateway")


def _page(title: str, message: str, *, status: int = 200, action: str | None = None) -> HTMLResponse:
    html = render(templates, "unsubscribe/page.html", title=title, message=message, action=action)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _lead(request: Request, token: str) -> str | None:
    settings: GatewaySettings = request.app.state.settings
    if len(token) > MAX_TOKEN:
        return None
    return verify_token(settings.gateway_unsubscribe_secret.get_secret_value(), token)


def _invalid() -> HTMLResponse:
    return _page(
        "Link not valid",
        "token: this unsubscribe link is not valid (it may be cut short); use the link from the email as it is.",
        status=404,
    )


@router.get("/{token}")
async def confirm_page(request: Request, token: str) -> HTMLResponse:
    if _lead(request, token) is None:
        return _invalid()
    return _page(
        "Unsubscribe?",
        "Press the button to stop receiving marketing emails from us.",
        action=f"{PATH}/{token}/confirm",
    )


@router.post("/{token}/confirm")
async def confirm(request: Request, token: str) -> HTMLResponse:
    lead_id = _lead(request, token)
    if lead_id is None:
        return _invalid()
    privacy: PrivacyService = request.app.state.privacy
    await privacy.opt_out(lead_id=lead_id, source="unsubscribe-page")
    return _page("You are unsubscribed", "You will not receive marketing emails from us any more.")
