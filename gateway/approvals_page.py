"""`/approvals`: a small server-rendered page where an approver signs in with their
approver token, sees what waits for them — content items, campaign launches and budget
proposals — and decides.

- Sign-in: the token (an API key with the `approve` scope, bound to a person) is checked
  with the gateway's KeyRing and exchanged for a signed session cookie (gateway.sessions:
  never the raw key; HttpOnly, SameSite=Strict, Path=/approvals). Sign-out clears it and
  revokes the session id (`gateway.sessions.revoke`: for every replica when they share a database).
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
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
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
from gateway.security import Principal, Scope
from gateway.sessions import Session, SessionCookie, SignInForms, csrf_ok, rate_limited, read_form
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

# --- sessions (gateway/sessions.py) ------------------------------------------------------


def _can_approve(principal: Principal) -> bool:
    return principal.allows(Scope.APPROVE) and bool(principal.approver)


SESSION = SessionCookie(COOKIE, PATH, "session", _can_approve)


async def read_session(request: Request) -> Session | None:
    """The signed-in approver, or None (see gateway.sessions)."""
    return await SESSION.read(request)


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
    signed_in = FORMS.signed_in_as(request, session)
    approver = signed_in.person
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


def _slow_down() -> Response:
    return _message_page("Slow down", status=429, error="Too many requests; try again in a few seconds.")


async def _rate_limited(request: Request, key_id: str) -> Response | None:
    return await rate_limited(request, key_id, _slow_down)


# --- routes ------------------------------------------------------------------------------------


@router.get("")
async def page(request: Request) -> Response:
    signed_in = await FORMS.signed_in(request, _sign_in_page)
    if not isinstance(signed_in, SignedIn):
        return signed_in
    return await _list_page(request, signed_in.session)


FORMS = SignInForms(
    SESSION,
    # One place after sign-in (the pending list), so a requested return address is not kept.
    sign_in_page=lambda next_url=PATH, **page: _sign_in_page(**page),
    forbidden=_forbidden,
    slow_down=_slow_down,
    safe_next=lambda _url: PATH,
    home=PATH,
    enter="Enter your approver token.",
    unknown="Unknown token.",
    cannot="This token cannot approve: it needs the approve scope and must be bound to a person.",
    max_field=MAX_FIELD,
    signed_out="Signed out.",
    person=lambda principal: principal.approver or "",  # an approver key is bound to a person
)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    return await FORMS.sign_in(request)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    return await FORMS.sign_out(request)


def _refused_line(err: Refused, subject_id: str) -> str:
    """A workflow's refusal on the page; its status comes from the code (domain/refusals.py)."""
    return f"Refused, {err.code.value.replace('_', ' ')} ({subject_id}): {err.message}"


@router.post("/{content_id}/decide")
async def decide(request: Request, content_id: str) -> Response:
    session = await read_session(request)
    if session is None:
        return _sign_in_page(status=401, error="Your session ended; sign in again.")
    form = await read_form(request)
    if not csrf_ok(request, session, form):
        return _forbidden()
    if (limited := await _rate_limited(request, session.principal.key_id)) is not None:
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
    session = await read_session(request)
    if session is None:
        return _sign_in_page(status=401, error="Your session ended; sign in again.")
    form = await read_form(request)
    if not csrf_ok(request, session, form):
        return _forbidden()
    if (limited := await _rate_limited(request, session.principal.key_id)) is not None:
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


__all__ = ["router", "read_session", "SESSION", "COOKIE", "PATH"]
