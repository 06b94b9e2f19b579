"""Public forms (`policies/forms.yaml`, rules in `domain/forms.py`): a landing page shows a
form and people's browsers post it here, with no key in the page.

    GET  /f/{form_id}           the form, with a fresh signed token (frame it, or link to it)
    GET  /f/{form_id}/snippet   the HTML to paste into a landing page (an iframe of the above)
    POST /f/{form_id}           form-encoded (a browser) or JSON; starts the lead's journey
    GET  /f/{form_id}/confirm   a double opt-in form's emailed link: the page with the confirm button
    POST /f/{form_id}/confirm   the button: confirms, and starts the journey

A post is refused, and starts nothing, unless all of these hold: its `Origin` is the
gateway's or one of the form's `allowed_origins` (403); it is within the form's per-IP and
per-form rates (429, with Retry-After; the limits live where the API keys' do,
`gateway/state.py`); its token was issued by this gateway for this form at least
`min_fill_seconds` and at most `max_age_hours` before (400/422); the honeypot field is empty (400); the fields are
valid and the consent box ticked where the form requires it (422). Each answer names the
field. A browser's form post gets the page again with the reason, or, once accepted, a 303 to
the form's `redirect` (else the page with its thanks); a JSON post gets JSON. One page's
token is one capture: sending the same page twice is the same capture. The consent is
recorded with the form and its consent text's version.

A form with `double_opt_in` starts no journey on a post: it starts a pending confirmation
(`starter/service/form_confirmations.py`), which emails the person a link signed with the
form secret and valid `double_opt_in.within_hours`; a second post while it is pending sends
nothing. The link (`/confirm?k=<keyed hash>&until=<unix s>&sig=<HMAC>`) opens a page whose
button posts its fields back; the POST starts the journey, its consent recorded as confirmed
by double opt-in, at the confirmation's time (a GET confirms nothing: mail scanners open
links); pressing it again is the same journey. A forged link is refused (400), an expired one too
(410), each with a page naming the problem, and nothing starts.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response

from domain.forms import (
    CONFIRM_FIELDS,
    CONSENT,
    FORMS_FILE,
    HONEYPOT,
    TOKEN,
    FormRefused,
    FormsError,
    FormSpec,
    confirm_link,
    issue_token,
    load_forms,
    verify_confirm_link,
    verify_token,
)
from domain.leads import LeadSource, Utm
from domain.refusals import Refused
from domain.templating import environment, render
from gateway.approvals_render import SECURITY_HEADERS
from gateway.errors import ApiError, error_response
from gateway.policy_files import current
from gateway.settings import GatewaySettings
from gateway.state import GatewayState, RateLimit
from starter.service.errors import NotFound, failure
from starter.service.form_confirmations import FormConfirmationService
from starter.service.leads import LeadInputError, LeadService, build_capture

PATH = "/f"
router = APIRouter(prefix=PATH, tags=["forms"])
templates = environment("gateway")


def _form(settings: GatewaySettings, form_id: str) -> FormSpec:
    try:
        forms = current(settings.policies_dir / FORMS_FILE, load_forms)
    except FormsError as err:
        raise ApiError(503, "forms_unavailable", str(err)) from None
    spec = forms.find(form_id)
    if spec is None:
        raise ApiError(404, "not_found", f"form_id: no form {form_id!r} in forms.yaml")
    return spec


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _headers(settings: GatewaySettings, spec: FormSpec) -> dict[str, str]:
    """The pages' strict headers, except that the form's own sites may frame it."""
    ancestors = " ".join(["'self'", *spec.allowed_origins])
    csp = SECURITY_HEADERS["Content-Security-Policy"].replace("frame-ancestors 'none'", f"frame-ancestors {ancestors}")
    csp = csp.replace("form-action 'self'", f"form-action 'self' {_origin(settings.unsubscribe_base_url())}")
    headers = {k: v for k, v in SECURITY_HEADERS.items() if k != "X-Frame-Options"}
    return {**headers, "Content-Security-Policy": csp}


def _page(
    settings: GatewaySettings,
    spec: FormSpec,
    *,
    status: int = 200,
    error: str | None = None,
    values: dict[str, str] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    token = issue_token(settings.gateway_form_secret.get_secret_value(), spec.id, time.time(), secrets.token_hex(8))
    html = render(
        templates,
        "forms/page.html",
        form=spec,
        action=f"{settings.unsubscribe_base_url()}{PATH}/{spec.id}",
        token=token,
        honeypot=HONEYPOT,
        consent_name=CONSENT,
        token_name=TOKEN,
        values=values or {},
        error=error,
        done=done,
    )
    return HTMLResponse(html, status_code=status, headers=_headers(settings, spec))


@router.get("/{form_id}", response_class=HTMLResponse, include_in_schema=False)
async def form_page(form_id: str, request: Request) -> HTMLResponse:
    settings: GatewaySettings = request.app.state.settings
    return _page(settings, _form(settings, form_id))


@router.get("/{form_id}/snippet", response_class=PlainTextResponse, summary="The HTML to paste into a landing page")
async def form_snippet(form_id: str, request: Request) -> PlainTextResponse:
    settings: GatewaySettings = request.app.state.settings
    spec = _form(settings, form_id)
    src = f"{settings.unsubscribe_base_url()}{PATH}/{spec.id}"
    html = (
        f'<iframe src="{src}" title="{spec.title}" loading="lazy" '
        'style="border:0;width:100%;min-height:32rem" referrerpolicy="strict-origin-when-cross-origin"></iframe>\n'
    )
    return PlainTextResponse(html)


@router.post("/{form_id}", summary="A public form's submission (form-encoded or JSON)")
async def form_post(form_id: str, request: Request) -> Response:
    settings: GatewaySettings = request.app.state.settings
    spec = _form(settings, form_id)
    wants_json = request.headers.get("content-type", "").startswith("application/json")
    values: dict[str, str] = {}
    try:
        origin = request.headers.get("origin")
        if origin is None or origin not in {_origin(settings.unsubscribe_base_url()), *spec.allowed_origins}:
            raise FormRefused("origin", "not a site this form may be posted from", 403)
        await _within_limits(request, spec)
        values = await _values(request, wants_json)
        nonce = verify_token(settings.gateway_form_secret.get_secret_value(), values.get(TOKEN, ""), spec, time.time())
        fields = spec.capture_fields(values)
        consent_source = spec.consent_source(ticked=fields["consent"])
        try:
            capture = build_capture(
                settings,
                **fields,
                source=LeadSource.WEB_FORM,
                capture_id=f"form-{spec.id}-{nonce}",
                utm=Utm(source="mops-form", medium="web_form", campaign=spec.utm_campaign, content=spec.id),
                consent_source=consent_source,
            )
        except LeadInputError as err:
            field, _, reason = str(err).partition(": ")
            raise FormRefused(field, reason) from None
    except FormRefused as refused:
        headers = {"Retry-After": str(refused.retry_after)} if isinstance(refused, Throttled) else {}
        if wants_json:
            return error_response(refused.status, _code(refused), str(refused), headers)
        page = _page(settings, spec, status=refused.status, error=str(refused), values=_shown(values, spec))
        page.headers.update(headers)
        return page
    if spec.double_opt_in is not None:
        confirmations: FormConfirmationService = request.app.state.form_confirmations
        secret = settings.gateway_form_secret.get_secret_value()

        def link(key: str, until: int) -> str:
            query = urlencode(confirm_link(secret, spec.id, key, until))
            return f"{settings.unsubscribe_base_url()}{PATH}/{spec.id}/confirm?{query}"

        await confirmations.request(spec, capture, link=link)
        if wants_json:
            return JSONResponse({"status": "confirmation_sent", "form_id": spec.id})
        if spec.redirect:
            return RedirectResponse(spec.redirect, status_code=303)
        return _page(settings, spec, done=spec.double_opt_in.check_inbox)
    leads: LeadService = request.app.state.leads
    await leads.capture(capture)
    if wants_json:
        return JSONResponse({"status": "received", "form_id": spec.id})
    if spec.redirect:
        return RedirectResponse(spec.redirect, status_code=303)
    return _page(settings, spec, done=spec.thanks)


@router.get("/{form_id}/confirm", response_class=HTMLResponse, include_in_schema=False)
async def form_confirm_page(form_id: str, request: Request) -> HTMLResponse:
    """The emailed link of a double opt-in form: checked, and answered with a page whose
    button confirms. The GET itself confirms nothing: mail security scanners open the links
    in an email, and a scanner's visit must not stand as the person's consent."""
    settings: GatewaySettings = request.app.state.settings
    spec = _form(settings, form_id)
    if spec.double_opt_in is None:
        return _confirm_page(settings, spec, 404, f"form_id: form {spec.id!r} has no double opt-in")
    link = dict(request.query_params)
    try:
        verify_confirm_link(settings.gateway_form_secret.get_secret_value(), spec.id, link, time.time())
    except FormRefused as refused:
        return _confirm_page(settings, spec, refused.status, str(refused))
    return _confirm_page(settings, spec, 200, spec.double_opt_in.confirm_label, link=link)


@router.post("/{form_id}/confirm", response_class=HTMLResponse, include_in_schema=False)
async def form_confirm(form_id: str, request: Request) -> Response:
    """The confirm button: the link's fields, checked again, then the confirmation applied
    (a second press finds it applied and says the same)."""
    settings: GatewaySettings = request.app.state.settings
    spec = _form(settings, form_id)
    if spec.double_opt_in is None:
        return _confirm_page(settings, spec, 404, f"form_id: form {spec.id!r} has no double opt-in")
    secret = settings.gateway_form_secret.get_secret_value()
    try:
        fields = await _values(request, wants_json=False)
        key = verify_confirm_link(secret, spec.id, fields, time.time())
    except FormRefused as refused:
        return _confirm_page(settings, spec, refused.status, str(refused))
    confirmations: FormConfirmationService = request.app.state.form_confirmations
    try:
        await confirmations.confirm(spec.id, key)
    except (Refused, NotFound) as err:
        answer = failure(err)
        assert answer is not None
        return _confirm_page(settings, spec, answer.status, answer.message)
    if spec.double_opt_in.confirmed_redirect:
        return RedirectResponse(spec.double_opt_in.confirmed_redirect, status_code=303)
    return _confirm_page(settings, spec, 200, spec.double_opt_in.confirmed)


def _confirm_page(
    settings: GatewaySettings, spec: FormSpec, status: int, message: str, *, link: dict[str, str] | None = None
) -> HTMLResponse:
    """The confirmation page: with `link` (a checked one), its button; else a message."""
    fields = {k: link[k] for k in CONFIRM_FIELDS if k in link} if link is not None else None
    html = render(templates, "forms/confirm.html", form=spec, message=message, error=status >= 400, link=fields)
    return HTMLResponse(html, status_code=status, headers=_headers(settings, spec))


class Throttled(FormRefused):
    def __init__(self, what: str, wait: float) -> None:
        super().__init__("rate", f"too many submissions {what}: try again in {math.ceil(wait)}s", 429)
        self.retry_after = math.ceil(wait)


async def _within_limits(request: Request, spec: FormSpec) -> None:
    limiters: dict[tuple[str, float], RateLimit] = request.app.state.form_limiters
    state: GatewayState = request.app.state.gateway_state
    client = request.client.host if request.client else "unknown"
    for what, key, per_minute in (
        ("from this address", f"{spec.id}:{client}", spec.limits.per_ip_per_minute),
        ("to this form", spec.id, spec.limits.per_form_per_minute),
    ):
        limiter = limiters.get((what, per_minute))
        if limiter is None:
            limiter = limiters.setdefault(
                (what, per_minute),
                state.rate_limit(f"form {what} {per_minute}", per_minute / 60, max(1, int(per_minute))),
            )
        wait = await limiter.take(key)
        if wait is not None:
            raise Throttled(what, wait)


async def _values(request: Request, wants_json: bool) -> dict[str, str]:
    body = await request.body()
    if wants_json:
        try:
            raw = json.loads(body)
        except ValueError:
            raise FormRefused("body", "not JSON", 400) from None
        if not isinstance(raw, dict) or not all(isinstance(v, str | bool) for v in raw.values()):
            raise FormRefused("body", "a JSON object of field names to text", 400)
        return {str(k): ("yes" if v is True else "" if v is False else str(v)) for k, v in raw.items()}
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise FormRefused("content-type", "application/x-www-form-urlencoded or application/json", 415)
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise FormRefused("body", "not UTF-8", 400) from None


CODES = {400: "invalid_submission", 403: "origin_not_allowed", 415: "unsupported_media_type", 429: "rate_limited"}


def _code(refused: FormRefused) -> str:
    return CODES.get(refused.status, "invalid_field")


def _shown(values: dict[str, str], spec: FormSpec) -> dict[str, str]:
    """What the page shows again after a refusal: the person's own fields, nothing else."""
    return {f.name: values[f.name] for f in spec.fields if f.name in values}
