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
- Everything shown is html-escaped; the page shows content and staff ids only, no lead data.
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
from datetime import datetime
from decimal import Decimal, InvalidOperation
from html import escape
from string import Template
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from temporalio.service import RPCError

from domain.approvals import Decision, DecisionKind
from domain.budget import changed
from domain.campaigns import CAMPAIGN_ID_PATTERN
from domain.fields import zone
from domain.money import show
from domain.refusals import Refused
from gateway.errors import ApiError, log
from gateway.models import BUDGET_WORKFLOW_ID_PATTERN, CONTENT_ID_PATTERN
from gateway.rest.campaigns import find_budget_proposals, find_campaigns
from gateway.rest.content import find_content
from gateway.security import Gate, Principal, Scope
from gateway.settings import GatewaySettings
from starter.service.campaigns import CampaignInputError, CampaignNotFound, CampaignService
from starter.service.content import ContentInputError, ContentNotFound, ContentService
from workflows.approval import ApprovalProgress
from workflows.campaign_models import BudgetView, CampaignView
from workflows.content_models import ContentView

PATH = "/approvals"
COOKIE = "mops_approvals"
MAX_ITEMS = 100
MAX_FIELD = 4000  # characters of a comment / token

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


# --- rendering ---------------------------------------------------------------------------------

PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>$title · mops approvals</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d2330; }
header { background: #1d2330; color: #fff; padding: .6rem 1.2rem; display: flex; align-items: center; gap: 1rem; }
header h1 { font-size: 1.05rem; margin: 0; flex: 1; }
header form { margin: 0; }
main { max-width: 60rem; margin: 1.2rem auto; padding: 0 1rem; }
.notice, .error { padding: .7rem 1rem; border-radius: 6px; margin-bottom: 1rem; }
.notice { background: #e3f6e8; border: 1px solid #8fd19e; }
.error { background: #fde8e8; border: 1px solid #f1a4a4; }
article { background: #fff; border: 1px solid #d8dce3; border-radius: 8px; padding: 1rem 1.2rem; margin-bottom: 1rem; }
article h2 { margin: 0 0 .3rem; font-size: 1.15rem; }
.meta { color: #5a6272; font-size: .9rem; }
.sev { font-weight: 600; text-transform: uppercase; font-size: .75rem; padding: 0 .3rem; border-radius: 3px; }
.sev-blocking { background: #f8caca; }
.sev-warning { background: #fbe7b5; }
.decide { display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-end; margin-top: .8rem; }
.decide textarea { flex: 1 1 20rem; min-height: 2.4rem; }
button { padding: .4rem .9rem; border-radius: 5px; border: 1px solid #8a93a3; background: #fff; cursor: pointer; }
button.approve { background: #1f7a3d; color: #fff; border-color: #1f7a3d; }
button.reject { background: #a22; color: #fff; border-color: #a22; }
label { display: block; margin: .5rem 0 .2rem; }
h2.kind { font-size: 1rem; text-transform: uppercase; letter-spacing: .04em; color: #5a6272; margin: 1.4rem 0 .6rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .6rem 0; }
dl.facts dt { color: #5a6272; }
dl.facts dd { margin: 0; }
table.budgets { border-collapse: collapse; margin: .6rem 0; }
table.budgets th, table.budgets td { border-bottom: 1px solid #d8dce3; padding: .25rem .8rem .25rem 0; }
table.budgets th { text-align: left; }
table.budgets td.num { text-align: right; font-variant-numeric: tabular-nums; }
.up { color: #1f7a3d; }
.down { color: #a22; }
input[type=password] { width: 100%; max-width: 28rem; padding: .4rem; }
</style>
</head>
<body>
<header><h1>mops · approvals</h1>$header</header>
<main>
$messages
$body
</main>
</body>
</html>
""")

SIGN_IN = """<article>
<h2>Sign in</h2>
<p class="meta">Use your approver token (an API key with the approve scope).</p>
<form method="post" action="/approvals/sign-in" autocomplete="off">
<label for="token">Approver token</label>
<input type="password" id="token" name="token" required>
<p><button type="submit" class="approve">Sign in</button></p>
</form>
</article>"""

HEADER = Template("""<span>Signed in as <strong>$person</strong></span>
<form method="post" action="/approvals/sign-out"><input type="hidden" name="csrf" value="$csrf">
<button type="submit">Sign out</button></form>""")

ITEM = Template("""<article id="item-$cid_attr" data-content-id="$cid_attr">
<h2>$title</h2>
<p class="meta">$type · revision $revision · stage <strong>$stage</strong>$review · author $author
 · <code>$cid</code></p>
<p>Draft: $draft</p>
<h3>Findings</h3>
$findings
<h3>Decisions so far</h3>
$decisions
<form method="post" action="/approvals/$cid_attr/decide" class="decide">
<input type="hidden" name="csrf" value="$csrf">
<input type="hidden" name="revision" value="$revision">
<textarea name="comment" aria-label="Comment (required to reject or request changes)"
 placeholder="Comment (required to reject or request changes)" maxlength="$max_field"></textarea>
<button type="submit" name="kind" value="approve" class="approve">Approve</button>
<button type="submit" name="kind" value="request_changes">Request changes</button>
<button type="submit" name="kind" value="reject" class="reject">Reject</button>
</form>
</article>""")


CAMPAIGN = Template("""<article id="campaign-$cid_attr" data-campaign-id="$cid_attr">
<h2>$name</h2>
<p class="meta">Campaign launch · stage <strong>$stage</strong> · owner $owner · <code>$cid</code></p>
<dl class="facts">
<dt>Budget</dt><dd class="budget">$budget</dd>
<dt>Channels</dt><dd class="channels">$channels</dd>
<dt>Dates</dt><dd class="dates">$dates</dd>
</dl>
<h3>Decisions so far</h3>
$decisions
<form method="post" action="/approvals/campaigns/$cid_attr/decide" class="decide">
<input type="hidden" name="csrf" value="$csrf">
<textarea name="comment" aria-label="Reason (required to reject)" placeholder="Reason (required to reject)"
 maxlength="$max_field"></textarea>
<button type="submit" name="kind" value="approve" class="approve">Approve</button>
<button type="submit" name="kind" value="reject" class="reject">Reject</button>
</form>
</article>""")

PROPOSAL = Template("""<article id="proposal-$wid_attr" data-budget-proposal-id="$wid_attr">
<h2>Budget proposal for campaign <code>$campaign</code></h2>
<p class="meta">Budget reallocation · stage <strong>$stage</strong> · $moved% of the daily budget moved, by $metric
 · <code>$wid</code></p>
<table class="budgets">
<thead><tr><th>Channel</th><th>Current daily budget</th><th>Proposed</th><th>Change</th></tr></thead>
<tbody>
$rows
</tbody>
</table>
<h3>Why</h3>
$reasons
<h3>Decisions so far</h3>
$decisions
<form method="post" action="/approvals/budget-proposals/$wid_attr/decide" class="decide">
<input type="hidden" name="csrf" value="$csrf">
<textarea name="comment" aria-label="Reason (required to reject)" placeholder="Reason (required to reject)"
 maxlength="$max_field"></textarea>
<button type="submit" name="kind" value="approve" class="approve">Approve</button>
<button type="submit" name="kind" value="reject" class="reject">Reject</button>
</form>
</article>""")


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _draft_link(link: str | None) -> str:
    if not link:
        return "<em>none yet</em>"
    if re.match(r"^https?://", link, re.IGNORECASE):
        return f'<a href="{_e(link)}" target="_blank" rel="noopener noreferrer">{_e(link)}</a>'
    return f"<code>{_e(link)}</code>"


def _findings(view: ContentView) -> str:
    if not view.findings:
        return '<p class="meta">No findings.</p>'
    rows = []
    for f in view.findings:
        severity = getattr(f.severity, "value", f.severity)
        excerpt = f" <q>{_e(f.excerpt)}</q>" if f.excerpt else ""
        rows.append(
            f'<li><span class="sev sev-{_e(severity)}">{_e(severity)}</span> '
            f"<code>{_e(f.rule)}</code> {_e(f.message)}{excerpt}</li>"
        )
    return '<ul class="findings">' + "".join(rows) + "</ul>"


def _decisions(view: ContentView) -> str:
    return _decision_list(view.decisions)


def _decision_list(decisions: list[Decision]) -> str:
    if not decisions:
        return '<p class="meta">None yet.</p>'
    rows = []
    for d in decisions:
        kind = getattr(d.kind, "value", d.kind)
        when = d.at.strftime("%Y-%m-%d %H:%M UTC") if d.at else ""
        comment = f": “{_e(d.comment)}”" if d.comment else ""
        rows.append(
            f"<li><strong>{_e(d.approver)}</strong> {_e(kind)} (revision {_e(d.revision)}, "
            f"stage {_e(d.stage)}) {_e(when)}{comment}</li>"
        )
    return '<ul class="decisions">' + "".join(rows) + "</ul>"


def _item(view: ContentView, csrf: str) -> str:
    review = f" ({_e(view.current_review)})" if view.current_review else ""
    return ITEM.substitute(
        cid=_e(view.content_id),
        cid_attr=_e(view.content_id),
        title=_e(view.title),
        type=_e(view.type),
        revision=_e(view.revision),
        stage=_e(view.stage.value),
        review=review,
        author=_e(view.author),
        draft=_draft_link(view.draft_link),
        findings=_findings(view),
        decisions=_decisions(view),
        csrf=_e(csrf),
        max_field=MAX_FIELD,
    )


def _stage_name(progress: ApprovalProgress | None) -> str:
    """The approval stage waiting now ("" once decided)."""
    if progress is None or progress.outcome != "pending" or progress.index >= len(progress.stages):
        return ""
    return progress.stages[progress.index].name


def _when(moment: datetime, tz_name: str) -> str:
    """A moment in the campaign's own timezone: `2025-03-01 09:00 Europe/Berlin`."""
    try:
        tz = zone(tz_name)
    except ValueError:
        tz, tz_name = None, "UTC"
    local = moment.astimezone(tz) if tz else moment
    return f"{local:%Y-%m-%d %H:%M} {tz_name}"


def _campaign(view: CampaignView, csrf: str) -> str:
    try:
        budget = show(Decimal(view.total_budget), view.currency) + " in total"
    except (InvalidOperation, ValueError):
        budget = f"{view.total_budget} {view.currency} in total"
    start = _when(view.start, view.timezone) if view.start else "at launch"
    dates = f"{_e(start)} → {_e(_when(view.end, view.timezone))}"
    return CAMPAIGN.substitute(
        cid=_e(view.campaign_id),
        cid_attr=_e(view.campaign_id),
        name=_e(view.name),
        stage=_e(_stage_name(view.approval)),
        owner=_e(view.owner),
        budget=_e(budget),
        channels=_e(", ".join(p.channel.value for p in view.parts)),
        dates=dates,
        decisions=_decision_list(view.approval.decisions if view.approval else []),
        csrf=_e(csrf),
        max_field=MAX_FIELD,
    )


def _proposal(workflow_id: str, view: BudgetView, csrf: str) -> str:
    p = view.proposal
    currency = view.currency or "EUR"
    rows, reasons, moved, metric = [], '<p class="meta">No proposal.</p>', "0", "?"
    if p is not None:
        moved, metric = str(p.moved_pct), p.metric.upper()
        diff = changed(p)
        for channel in sorted(p.current, key=lambda c: c.value):
            before, after = p.current[channel], p.proposed.get(channel, p.current[channel])
            delta = after - before
            css = "up" if delta > 0 else "down" if delta < 0 else ""
            sign = "+" if delta > 0 else "−"
            change = f"{sign}{show(abs(delta), currency, minor=True)}" if channel in diff else "unchanged"
            rows.append(
                f'<tr data-channel="{_e(channel.value)}"><td>{_e(channel.value)}</td>'
                f'<td class="num current">{_e(show(before, currency, minor=True))}</td>'
                f'<td class="num proposed">{_e(show(after, currency, minor=True))}</td>'
                f'<td class="num {css}">{_e(change)}</td></tr>'
            )
        if p.reasons:
            reasons = '<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in p.reasons) + "</ul>"
    return PROPOSAL.substitute(
        wid=_e(workflow_id),
        wid_attr=_e(workflow_id),
        campaign=_e(view.campaign_id),
        stage=_e(_stage_name(view.approval)),
        moved=_e(moved),
        metric=_e(metric),
        rows="\n".join(rows),
        reasons=reasons,
        decisions=_decision_list(view.approval.decisions if view.approval else []),
        csrf=_e(csrf),
        max_field=MAX_FIELD,
    )


def _html(
    title: str, body: str, *, status: int = 200, header: str = "", notice: str | None = None, error: str | None = None
) -> HTMLResponse:
    messages = ""
    if notice:
        messages += f'<div class="notice" role="status">{_e(notice)}</div>'
    if error:
        messages += f'<div class="error" role="alert">{_e(error)}</div>'
    html = PAGE.substitute(title=_e(title), header=header, messages=messages, body=body)
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def _sign_in_page(*, status: int = 200, error: str | None = None, notice: str | None = None) -> HTMLResponse:
    return _html("Sign in", SIGN_IN, status=status, error=error, notice=notice)


@dataclass
class Pending:
    content: list[ContentView]
    campaigns: list[CampaignView]
    proposals: list[tuple[str, BudgetView]]  # (workflow id, state)

    def __len__(self) -> int:
        return len(self.content) + len(self.campaigns) + len(self.proposals)


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
    try:
        views = await _pending_for(request, approver)
    except RPCError:
        log.warning("temporal call failed on the approval page")
        return _html(
            "Unavailable",
            "",
            status=503,
            error="The workflow service did not answer; try again shortly.",
            header=HEADER.substitute(person=_e(approver), csrf=_e(csrf)),
        )
    if views:
        body = f'<p class="meta">{len(views)} item(s) wait for you.</p>'
        if views.campaigns:
            body += '<h2 class="kind">Campaign launches</h2>' + "".join(_campaign(v, csrf) for v in views.campaigns)
        if views.proposals:
            body += '<h2 class="kind">Budget proposals</h2>' + "".join(
                _proposal(wid, v, csrf) for wid, v in views.proposals
            )
        if views.content:
            if views.campaigns or views.proposals:
                body += '<h2 class="kind">Content</h2>'
            body += "".join(_item(v, csrf) for v in views.content)
    else:
        body = '<p class="meta" id="nothing">Nothing waits for you.</p>'
    return _html(
        "Waiting for you",
        body,
        status=status,
        notice=notice,
        error=error,
        header=HEADER.substitute(person=_e(approver), csrf=_e(csrf)),
    )


def _rate_limited(request: Request, key_id: str) -> HTMLResponse | None:
    gate: Gate = request.app.state.gate
    wait = gate.limiter.take(key_id)
    if wait is None:
        return None
    response = _html("Slow down", "", status=429, error="Too many requests; try again in a few seconds.")
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
            return _html(
                "Forbidden",
                "",
                status=403,
                error="The form expired or did not come from this page "
                "(missing or invalid CSRF token). Reload and try again.",
            )
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
        return _html(
            "Forbidden",
            "",
            status=403,
            error="The form expired or did not come from this page "
            "(missing or invalid CSRF token). Reload and try again.",
        )
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
        return _html(
            "Forbidden",
            "",
            status=403,
            error="The form expired or did not come from this page "
            "(missing or invalid CSRF token). Reload and try again.",
        )
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
