"""`/approvals`: a small server-rendered page where an approver signs in with their
approver token, sees what waits for them — content items, campaign launches and budget
proposals — and decides.

- Sign-in: the token (an API key with the `approve` scope, bound to a person) is checked
  with the gateway's KeyRing. The session cookie holds the key's id, a random session id
  and an expiry, signed with HMAC-SHA256 (`MOPS_GATEWAY_SESSION_SECRET`, bound to the
  key's configured hash too, so re-keying ends its sessions); never the raw key.
  HttpOnly, SameSite=Strict, Path=/approvals, Max-Age `MOPS_GATEWAY_SESSION_MAX_AGE_SECONDS`
  (Secure when served over https). Sign-out clears it and revokes the session id in this
  process.
- CSRF: every form of a signed-in page carries HMAC(secret, session id), checked on POST.
- Decisions go through `ContentService.decide` / `CampaignService.decide` /
  `CampaignService.budget_decide` as the key's bound person, exactly like
  `POST /v1/content/{id}/decisions`, `POST /v1/campaigns/{id}/decisions` and
  `POST /v1/budget-proposals/{id}/decisions`; the workflow's refusals are shown as one
  clear line, with the status of its code (domain/refusals.py).
- A campaign shows its name, total budget, channels and dates; a budget proposal its
  current vs proposed daily budget per channel and the reasons. Both take approve or
  reject (a reason is required to reject).
- Markup is in Jinja2 templates (gateway/templates/approvals/, rendered by
  gateway.approvals_render, strict and autoescaping): everything shown is html-escaped, and
  a template error is a 500, never a page with holes. The page shows content and staff ids only, no lead data.
- Forms are parsed from the urlencoded body with the standard library (no python-multipart).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from temporalio.service import RPCError

from domain.approvals import DecisionKind
from domain.campaigns import CAMPAIGN_ID_PATTERN
from domain.refusals import Refused
from gateway.approvals_render import (
    MAX_FIELD,
    PATH,
    SignedIn,
    campaign_card,
    content_card,
    html_page,
    proposal_card,
)
from gateway.errors import ApiError, log
from gateway.models import BUDGET_WORKFLOW_ID_PATTERN, CONTENT_ID_PATTERN
from gateway.rest.campaigns import find_budget_proposals, find_campaigns
from gateway.rest.content import find_content
from gateway.security import Gate, Principal, Scope
from gateway.settings import GatewaySettings
from starter.service.campaigns import CampaignInputError, CampaignNotFound, CampaignService
from starter.service.content import ContentInputError, ContentNotFound, ContentService
from workflows.campaign_models import BudgetView, CampaignView
from workflows.content_models import ContentView

COOKIE = "mops_approvals"
MAX_ITEMS = 100

router = APIRouter(prefix=PATH, include_in_schema=False)

KIND_LABELS = {
    DecisionKind.APPROVE: ("Approve", "approved"),
    DecisionKind.REJECT: ("Reject", "rejected"),
    DecisionKind.REQUEST_CHANGES: ("Request changes", "requested changes on"),
}

# --- sessions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    principal: Principal
    sid: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(settings: GatewaySettings, label: str, *parts: str) -> str:
    key = settings.gateway_session_secret.get_secret_value().encode()
    message = "\x00".join((label, *parts)).encode()
    return _b64(hmac.new(key, message, hashlib.sha256).digest())


class Revoked:
    """Session ids signed out before their expiry (this process only)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, sid: str, expires: int) -> None:
        now = int(time.time())
        with self._lock:
            self._ids = {s: e for s, e in self._ids.items() if e > now}
            self._ids[sid] = expires

    def __contains__(self, sid: str) -> bool:
        with self._lock:
            return sid in self._ids


_revoked = Revoked()


def _key_hash(gate: Gate, key_id: str) -> str | None:
    config = gate.keys.config(key_id)
    return config.sha256 if config else None


def new_session_cookie(settings: GatewaySettings, gate: Gate, principal: Principal) -> tuple[str, Session]:
    sid = secrets.token_urlsafe(16)
    expires = int(time.time()) + settings.gateway_session_max_age_seconds
    payload = _b64(f"{principal.key_id}:{sid}:{expires}".encode())
    signature = _mac(settings, "session", payload, _key_hash(gate, principal.key_id) or "")
    return f"{payload}.{signature}", Session(principal, sid, expires)


def read_session(request: Request) -> Session | None:
    """The signed-in approver, or None (no, forged, expired, revoked cookie, or a key no
    longer configured / no longer able to approve)."""
    value = request.cookies.get(COOKIE)
    if not value or len(value) > 512 or "." not in value:
        return None
    settings: GatewaySettings = request.app.state.settings
    gate: Gate = request.app.state.gate
    payload, _, signature = value.partition(".")
    try:
        key_id, sid, expires_text = _unb64(payload).decode().split(":")
        expires = int(expires_text)
    except (ValueError, UnicodeDecodeError):
        return None
    config = gate.keys.config(key_id)
    if config is None:
        return None
    if not hmac.compare_digest(signature, _mac(settings, "session", payload, config.sha256)):
        return None
    if expires < time.time() or sid in _revoked:
        return None
    principal = Principal(key_id=config.id, scopes=frozenset(config.scopes), approver=config.approver)
    if not _can_approve(principal):
        return None
    return Session(principal, sid, expires)


def csrf_token(settings: GatewaySettings, session: Session) -> str:
    return _mac(settings, "csrf", session.sid)


def _can_approve(principal: Principal) -> bool:
    return principal.allows(Scope.APPROVE) and bool(principal.approver)


def _cookie(response: Response, request: Request, value: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded body's fields (first value of each)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True, max_num_fields=20).items()}


# --- pages (markup: gateway/approvals_render.py and its templates) -------------------------


def _message_page(title: str, *, status: int, error: str, signed_in: SignedIn | None = None) -> HTMLResponse:
    return html_page("message.html", title, status=status, error=error, signed_in=signed_in)


def _forbidden() -> HTMLResponse:
    return _message_page(
        "Forbidden",
        status=403,
        error="The form expired or did not come from this page (missing or invalid CSRF token). Reload and try again.",
    )


def _sign_in_page(*, status: int = 200, error: str | None = None, notice: str | None = None) -> HTMLResponse:
    return html_page("sign_in.html", "Sign in", status=status, error=error, notice=notice)


@dataclass
class Pending:
    content: list[ContentView]
    campaigns: list[CampaignView]
    proposals: list[tuple[str, BudgetView]]  # (workflow id, state)


async def _pending_for(request: Request, approver: str) -> Pending:
    """What waits for `approver`: visibility finds candidates (one query per workflow type),
    each one's own state (queried now, concurrently) confirms it still waits for them
    (visibility lags a little)."""
    state = request.app.state
    content: ContentService = state.content
    campaigns: CampaignService = state.campaigns
    queue = state.settings.workflow_task_queue
    items, launches, proposals = await asyncio.gather(
        find_content(state.client, queue, None, approver, MAX_ITEMS),
        find_campaigns(state.client, queue, None, approver, MAX_ITEMS),
        find_budget_proposals(state.client, queue, approver, None, None, MAX_ITEMS),
    )

    async def fresh(query):
        try:
            return await query
        except (ContentNotFound, CampaignNotFound):
            return None

    def waits(view) -> bool:
        return view is not None and approver in view.pending_approvers

    content_views, campaign_views, proposal_views = await asyncio.gather(
        asyncio.gather(*(fresh(content.state(i.content_id)) for i in items.items)),
        asyncio.gather(*(fresh(campaigns.state(c.campaign_id)) for c in launches.items)),
        asyncio.gather(*(fresh(campaigns.budget_state(b.workflow_id)) for b in proposals.items)),
    )
    return Pending(
        content=[v for v in content_views if waits(v)],
        campaigns=[v for v in campaign_views if waits(v)],
        proposals=[(b.workflow_id, v) for b, v in zip(proposals.items, proposal_views, strict=True) if waits(v)],
    )


async def _list_page(
    request: Request, session: Session, *, status: int = 200, notice: str | None = None, error: str | None = None
) -> HTMLResponse:
    settings: GatewaySettings = request.app.state.settings
    csrf = csrf_token(settings, session)
    approver = session.principal.approver or ""
    signed_in = SignedIn(person=approver, csrf=csrf)
    try:
        views = await _pending_for(request, approver)
    except RPCError:
        log.warning("temporal call failed on the approval page")
        return _message_page(
            "Unavailable",
            status=503,
            error="The workflow service did not answer; try again shortly.",
            signed_in=signed_in,
        )
    return html_page(
        "queue.html",
        "Waiting for you",
        status=status,
        notice=notice,
        error=error,
        signed_in=signed_in,
        content=[content_card(v) for v in views.content],
        campaigns=[campaign_card(v) for v in views.campaigns],
        proposals=[proposal_card(wid, v) for wid, v in views.proposals],
    )


def _rate_limited(request: Request, key_id: str) -> HTMLResponse | None:
    gate: Gate = request.app.state.gate
    wait = gate.limiter.take(key_id)
    if wait is None:
        return None
    response = _message_page("Slow down", status=429, error="Too many requests; try again in a few seconds.")
    response.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
    return response


def _csrf_ok(request: Request, session: Session, form: dict[str, str]) -> bool:
    expected = csrf_token(request.app.state.settings, session)
    return hmac.compare_digest(form.get("csrf", "").encode(), expected.encode())


# --- routes ------------------------------------------------------------------------------------


@router.get("")
async def page(request: Request) -> Response:
    session = read_session(request)
    if session is None:
        response = _sign_in_page()
        if COOKIE in request.cookies:  # expired / revoked / forged: drop it
            response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")
        return response
    if (limited := _rate_limited(request, session.principal.key_id)) is not None:
        return limited
    return await _list_page(request, session)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await _form(request)
    token = form.get("token", "").strip()
    if not token or len(token) > MAX_FIELD:
        return _sign_in_page(status=422, error="Enter your approver token.")
    gate: Gate = request.app.state.gate
    principal = gate.keys.authenticate(token)
    if principal is None:
        return _sign_in_page(status=401, error="Unknown token.")
    if (limited := _rate_limited(request, principal.key_id)) is not None:
        return limited
    if not _can_approve(principal):
        return _sign_in_page(
            status=403, error="This token cannot approve: it needs the approve scope and must be bound to a person."
        )
    value, _ = new_session_cookie(request.app.state.settings, gate, principal)
    response = RedirectResponse(PATH, status_code=303)
    _cookie(response, request, value, request.app.state.settings.gateway_session_max_age_seconds)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    session = read_session(request)
    form = await _form(request)
    if session is not None:
        if not _csrf_ok(request, session, form):
            return _forbidden()
        _revoked.add(session.sid, session.expires)
    response = _sign_in_page(notice="Signed out.")
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")
    return response


def _refused_line(err: Refused, subject_id: str) -> str:
    """A workflow's refusal on the page; its status comes from the code (domain/refusals.py)."""
    return f"Refused, {err.code.value.replace('_', ' ')} ({subject_id}): {err.message}"


@router.post("/{content_id}/decide")
async def decide(request: Request, content_id: str) -> Response:
    session = read_session(request)
    if session is None:
        return _sign_in_page(status=401, error="Your session ended; sign in again.")
    form = await _form(request)
    if not _csrf_ok(request, session, form):
        return _forbidden()
    if (limited := _rate_limited(request, session.principal.key_id)) is not None:
        return limited
    if not re.fullmatch(CONTENT_ID_PATTERN, content_id):
        return await _list_page(request, session, status=404, error="No such item.")
    try:
        kind = DecisionKind(form.get("kind", ""))
    except ValueError:
        return await _list_page(request, session, status=422, error="Choose approve, reject or request changes.")
    try:
        revision = int(form.get("revision", ""))
    except ValueError:
        return await _list_page(request, session, status=422, error="revision: missing; reload the page.")
    comment = form.get("comment", "").strip()[:MAX_FIELD] or None
    if kind is DecisionKind.REJECT and not comment:
        return await _list_page(request, session, status=422, error="A reason is required to reject.")
    if kind is DecisionKind.REQUEST_CHANGES and not comment:
        return await _list_page(request, session, status=422, error="A comment is required to request changes.")

    content: ContentService = request.app.state.content
    approver = session.principal.approver or ""
    try:
        result = await content.decide(content_id, approver=approver, kind=kind, comment=comment, revision=revision)
    except Refused as err:
        return await _list_page(request, session, status=err.status, error=_refused_line(err, content_id))
    except ContentInputError as err:
        return await _list_page(request, session, status=422, error=str(err))
    except ContentNotFound:
        return await _list_page(request, session, status=404, error=f"No item {content_id!r}.")
    except ApiError as err:
        return await _list_page(request, session, status=err.status, error=err.message)
    except RPCError:
        log.warning("temporal call failed on the approval page")
        return await _list_page(
            request, session, status=503, error="The workflow service did not answer; your decision was not recorded."
        )
    done = KIND_LABELS[kind][1]
    notice = f"You {done} {content_id} (revision {result.revision}). Stage {result.stage}: {result.outcome}."
    return await _list_page(request, session, notice=notice)


@router.post("/campaigns/{campaign_id}/decide")
async def decide_campaign(request: Request, campaign_id: str) -> Response:
    campaigns: CampaignService = request.app.state.campaigns
    return await _approval_decision(
        request,
        "campaign",
        campaign_id,
        CAMPAIGN_ID_PATTERN,
        lambda approver, kind, comment: campaigns.decide(campaign_id, approver=approver, kind=kind, comment=comment),
    )


@router.post("/budget-proposals/{workflow_id}/decide")
async def decide_proposal(request: Request, workflow_id: str) -> Response:
    campaigns: CampaignService = request.app.state.campaigns
    return await _approval_decision(
        request,
        "budget proposal",
        workflow_id,
        BUDGET_WORKFLOW_ID_PATTERN,
        lambda approver, kind, comment: campaigns.budget_decide(
            workflow_id, approver=approver, kind=kind, comment=comment
        ),
    )


async def _approval_decision(request: Request, what: str, subject_id: str, pattern: str, decide) -> Response:
    """Approve or reject a campaign launch or a budget proposal (`decide(approver, kind, comment)`):
    the same checks as content decisions; there is no revision to send and no request for changes."""
    session = read_session(request)
    if session is None:
        return _sign_in_page(status=401, error="Your session ended; sign in again.")
    form = await _form(request)
    if not _csrf_ok(request, session, form):
        return _forbidden()
    if (limited := _rate_limited(request, session.principal.key_id)) is not None:
        return limited
    if len(subject_id) > 160 or not re.fullmatch(pattern, subject_id):
        return await _list_page(request, session, status=404, error=f"No such {what}.")
    try:
        kind = DecisionKind(form.get("kind", ""))
    except ValueError:
        kind = None
    if kind not in (DecisionKind.APPROVE, DecisionKind.REJECT):
        return await _list_page(request, session, status=422, error="Choose approve or reject.")
    comment = form.get("comment", "").strip()[:MAX_FIELD] or None
    if kind is DecisionKind.REJECT and not comment:
        return await _list_page(request, session, status=422, error="A reason is required to reject.")
    try:
        result = await decide(session.principal.approver or "", kind, comment)
    except Refused as err:
        return await _list_page(request, session, status=err.status, error=_refused_line(err, subject_id))
    except CampaignInputError as err:
        return await _list_page(request, session, status=422, error=str(err))
    except CampaignNotFound:
        return await _list_page(request, session, status=404, error=f"No {what} {subject_id!r} waiting.")
    except RPCError:
        log.warning("temporal call failed on the approval page")
        return await _list_page(
            request, session, status=503, error="The workflow service did not answer; your decision was not recorded."
        )
    notice = f"You {KIND_LABELS[kind][1]} {what} {subject_id}. Stage {result.stage}: {result.outcome}."
    return await _list_page(request, session, notice=notice)


__all__ = ["router", "read_session", "csrf_token", "new_session_cookie", "COOKIE", "PATH"]
