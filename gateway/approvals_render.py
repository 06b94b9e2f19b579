"""The approval page's HTML: the cards it shows, built from the workflows' views, and the
page responses rendered from gateway/templates/approvals/ (strict and autoescaping, see
domain.templating), with the page's security headers.

Templates get plain display values only (formatted money, dates in the campaign's own
timezone, the stage waiting now); the markup is all in the templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from fastapi.responses import HTMLResponse

from domain.approvals import Decision
from domain.budget import changed
from domain.fields import zone
from domain.money import show
from domain.templating import environment, render
from gateway.sessions import SignedIn
from workflows.approval import ApprovalProgress
from workflows.campaign_models import BudgetView, CampaignView
from workflows.content_models import ContentView

PATH = "/approvals"  # the page's URL prefix: its router and the templates' form actions
MAX_FIELD = 4000  # characters of a comment / token

templates = environment("gateway")
templates.globals.update(path=PATH, max_field=MAX_FIELD)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class DecisionLine:
    approver: str
    kind: str
    revision: int
    stage: str
    when: str
    comment: str | None


@dataclass(frozen=True)
class FindingLine:
    severity: str
    rule: str
    message: str
    excerpt: str | None


@dataclass(frozen=True)
class ContentCard:
    content_id: str
    title: str
    type: str
    revision: int
    stage: str
    review: str | None
    author: str
    draft_link: str | None
    draft_is_web: bool  # an http(s) link opens in a new tab; anything else is shown as code
    findings: list[FindingLine]
    decisions: list[DecisionLine]


@dataclass(frozen=True)
class CampaignCard:
    campaign_id: str
    name: str
    stage: str
    owner: str
    budget: str
    channels: str
    start: str
    end: str
    decisions: list[DecisionLine]


@dataclass(frozen=True)
class BudgetRow:
    channel: str
    current: str
    proposed: str
    change: str
    direction: str  # css class: "up", "down" or ""


@dataclass(frozen=True)
class ProposalCard:
    workflow_id: str
    campaign_id: str
    stage: str
    moved: str
    metric: str
    has_proposal: bool
    rows: list[BudgetRow]
    reasons: list[str]
    decisions: list[DecisionLine]


def decision_lines(decisions: list[Decision]) -> list[DecisionLine]:
    return [
        DecisionLine(
            approver=d.approver,
            kind=str(getattr(d.kind, "value", d.kind)),
            revision=d.revision,
            stage=d.stage or "",
            when=d.at.strftime("%Y-%m-%d %H:%M UTC") if d.at else "",
            comment=d.comment,
        )
        for d in decisions
    ]


def content_card(view: ContentView) -> ContentCard:
    return ContentCard(
        content_id=view.content_id,
        title=view.title,
        type=str(view.type),
        revision=view.revision,
        stage=view.stage.value,
        review=view.current_review,
        author=view.author,
        draft_link=view.draft_link,
        draft_is_web=bool(view.draft_link and re.match(r"^https?://", view.draft_link, re.IGNORECASE)),
        findings=[
            FindingLine(str(getattr(f.severity, "value", f.severity)), f.rule, f.message, f.excerpt)
            for f in view.findings
        ],
        decisions=decision_lines(view.decisions),
    )


def stage_name(progress: ApprovalProgress | None) -> str:
    """The approval stage waiting now ("" once decided)."""
    if progress is None or progress.outcome != "pending" or progress.index >= len(progress.stages):
        return ""
    return progress.stages[progress.index].name


def when(moment: datetime, tz_name: str) -> str:
    """A moment in the campaign's own timezone: `2025-03-01 09:00 Europe/Berlin`."""
    try:
        tz = zone(tz_name)
    except ValueError:
        tz, tz_name = None, "UTC"
    local = moment.astimezone(tz) if tz else moment
    return f"{local:%Y-%m-%d %H:%M} {tz_name}"


def campaign_card(view: CampaignView) -> CampaignCard:
    try:
        budget = show(Decimal(view.total_budget), view.currency) + " in total"
    except (InvalidOperation, ValueError):
        budget = f"{view.total_budget} {view.currency} in total"
    return CampaignCard(
        campaign_id=view.campaign_id,
        name=view.name,
        stage=stage_name(view.approval),
        owner=view.owner,
        budget=budget,
        channels=", ".join(p.channel.value for p in view.parts),
        start=when(view.start, view.timezone) if view.start else "at launch",
        end=when(view.end, view.timezone),
        decisions=decision_lines(view.approval.decisions if view.approval else []),
    )


def proposal_card(workflow_id: str, view: BudgetView) -> ProposalCard:
    p = view.proposal
    currency = view.currency or "EUR"
    rows: list[BudgetRow] = []
    if p is not None:
        diff = changed(p)
        for channel in sorted(p.current, key=lambda c: c.value):
            before, after = p.current[channel], p.proposed.get(channel, p.current[channel])
            delta = after - before
            sign = "+" if delta > 0 else "−"
            rows.append(
                BudgetRow(
                    channel=channel.value,
                    current=show(before, currency, minor=True),
                    proposed=show(after, currency, minor=True),
                    change=f"{sign}{show(abs(delta), currency, minor=True)}" if channel in diff else "unchanged",
                    direction="up" if delta > 0 else "down" if delta < 0 else "",
                )
            )
    return ProposalCard(
        workflow_id=workflow_id,
        campaign_id=view.campaign_id,
        stage=stage_name(view.approval),
        moved=str(p.moved_pct) if p else "0",
        metric=p.metric.upper() if p else "?",
        has_proposal=p is not None,
        rows=rows,
        reasons=list(p.reasons) if p else [],
        decisions=decision_lines(view.approval.decisions if view.approval else []),
    )


def html_page(
    template: str,
    title: str,
    *,
    status: int = 200,
    signed_in: SignedIn | None = None,
    notice: str | None = None,
    error: str | None = None,
    **context: object,
) -> HTMLResponse:
    """A page from `approvals/<template>`. A template error propagates (the gateway answers 500):
    a half-rendered approval page must never look like an empty queue."""
    html = render(
        templates,
        f"approvals/{template}",
        title=title,
        signed_in=signed_in,
        notice=notice,
        error=error,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
