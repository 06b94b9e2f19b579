"""GraphQL at `/graphql`: what a dashboard needs in one round trip, over the same
services, visibility queries, keys and refusal codes as REST.

- Authentication happens once per HTTP request, in the context getter, with the REST
  code path (`authenticate_request`): no or an unknown key → HTTP 401 JSON
  `{"error": {"code": "unauthenticated", ...}}`, an empty bucket → 429, exactly as REST.
- Scopes are checked per field: a missing scope is a GraphQL error with
  `extensions.code = "forbidden"`; query fields are nullable, so the other fields of the
  same request still answer.
- Every other error carries the REST code in `extensions.code` (`lead_not_found`,
  `stale_revision`, `author_cannot_decide`, ...); unexpected errors are masked.
- Decisions are made as the key's bound person, never an argument.
- `approvalQueue` answers "what waits for this person" across content items, campaign
  launches and budget proposals in one request: three lists, one visibility query per
  workflow type, run concurrently (`pendingApprovals` stays the content-only list).
- No personal data: a lead exposes its id, stage, score, segment, owner and counters only.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, TypeAlias, overload

import strawberry
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from graphql import GraphQLError
from pydantic import ValidationError
from strawberry.extensions import MaskErrors, MaxAliasesLimiter
from strawberry.fastapi import BaseContext, GraphQLRouter
from strawberry.types import Info

from domain.approvals import Decision as DecisionModel
from domain.approvals import DecisionKind, DecisionResult
from domain.campaigns import CAMPAIGN_ID_PATTERN, ChannelKind
from domain.leads import LeadStage
from domain.money import show
from gateway.errors import ApiError, log, validation_message
from gateway.models import (
    BUDGET_WORKFLOW_ID_PATTERN,
    CONTENT_ID_PATTERN,
    LEAD_ID_PATTERN,
    ApprovalDecisionRequest,
    DecisionRequest,
)
from gateway.models import BudgetProposalSummary as BudgetProposalRow
from gateway.models import CampaignSummary as CampaignRow
from gateway.models import ContentSummary as ContentRow
from gateway.rest.approvals import approver_for, find_pending
from gateway.rest.campaigns import find_budget_proposals, find_campaigns
from gateway.rest.content import find_content
from gateway.rest.leads import find_leads
from gateway.security import Principal, Scope, authenticate_request, bearer_scheme, person
from starter.service.campaigns import CampaignService
from starter.service.content import ContentService
from starter.service.errors import failure
from starter.service.leads import LeadService
from workflows.campaign_models import BudgetStatus, BudgetView, CampaignStatus, CampaignView
from workflows.content_models import ContentStage, ContentView
from workflows.lead_models import LeadState

MAX_LIMIT = 500
MAX_ALIASES = 20  # one request is one rate-limit token: bound its fan-out to the workflows

# strawberry.enum gives the domain enum itself its GraphQL name (and returns it), so the
# schema's fields are typed by aliases of the domain enums.
strawberry.enum(LeadStage, name="LeadStage")
strawberry.enum(ContentStage, name="ContentStage")
strawberry.enum(CampaignStatus, name="CampaignStatus")
strawberry.enum(BudgetStatus, name="BudgetStatus")
strawberry.enum(ChannelKind, name="CampaignChannelKind")
LeadStageEnum: TypeAlias = LeadStage
ContentStageEnum: TypeAlias = ContentStage
CampaignStatusEnum: TypeAlias = CampaignStatus
BudgetStatusEnum: TypeAlias = BudgetStatus
ChannelKindEnum: TypeAlias = ChannelKind


class Context(BaseContext):
    def __init__(self, principal: Principal) -> None:
        super().__init__()
        self.principal = principal


async def context(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
) -> Context:
    """401/429 as HTTP JSON, like REST (raises ApiError, answered by the app's handlers)."""
    principal = await authenticate_request(request, credentials)
    request.state.principal = principal
    return Context(principal)


# --- errors ---------------------------------------------------------------------------------


def _error(code: str, message: str) -> GraphQLError:
    return GraphQLError(message.splitlines()[0] if message else code, extensions={"code": code})


@overload
def _mapped(exc: ApiError | ValidationError) -> GraphQLError: ...
@overload
def _mapped(exc: Exception) -> GraphQLError | None: ...
def _mapped(exc: Exception) -> GraphQLError | None:
    """The REST code for an exception (the services' from starter.service.errors, as REST
    answers them), or None for unexpected ones."""
    if isinstance(exc, ApiError):
        return _error(exc.code, exc.message)
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        return _error("invalid_request", validation_message(errors[0]) if errors else "input: invalid")
    answer = failure(exc)
    return _error(answer.code, answer.message) if answer is not None else None


async def _call(awaitable):
    try:
        return await awaitable
    except GraphQLError:
        raise
    except Exception as exc:
        mapped = _mapped(exc)
        if mapped is None:
            raise
        raise mapped from None


def _allowed(info: Info, scope: Scope) -> Principal:
    principal: Principal = info.context.principal
    if not principal.allows(scope):
        raise _error("forbidden", f"authorization: key {principal.key_id!r} lacks the {scope.value!r} scope")
    return principal


def _person(principal: Principal) -> str:
    try:
        return person(principal)
    except ApiError as exc:
        raise _mapped(exc) from None


def _checked(value: str, pattern: str, field: str) -> str:
    if not re.fullmatch(pattern, value):
        raise _error("invalid_request", f"{field}: not a valid id")
    return value


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise _error("invalid_request", f"limit: must be between 1 and {MAX_LIMIT}")
    return limit


def _enum(enum, value: str | None):
    try:
        return enum(value) if value is not None else None
    except ValueError:
        return None


def _leads(info: Info) -> LeadService:
    return info.context.request.app.state.leads


def _content(info: Info) -> ContentService:
    return info.context.request.app.state.content


def _campaigns(info: Info) -> CampaignService:
    return info.context.request.app.state.campaigns


# --- types ----------------------------------------------------------------------------------


@strawberry.type
class ScoreReason:
    rule: str
    points: float
    detail: str


@strawberry.type
class LeadScore:
    total: float
    fit: float
    engagement: float
    mql: bool
    reasons: list[ScoreReason]


@strawberry.type(description="A lead's journey: ids, stage, score and counters. Never an email or a name.")
class Lead:
    id: str
    stage: LeadStageEnum
    score: LeadScore | None
    segment: str | None
    owner_id: str | None
    emails_sent: int
    touches: int
    next_step: str | None
    next_step_at: datetime | None
    outcome: str | None

    @classmethod
    def of(cls, s: LeadState) -> Lead:
        score = None
        if s.score is not None:
            score = LeadScore(
                total=s.score.total,
                fit=s.score.fit,
                engagement=s.score.engagement,
                mql=s.score.mql,
                reasons=[ScoreReason(rule=r.rule, points=r.points, detail=r.detail) for r in s.score.reasons],
            )
        return cls(
            id=s.lead_id,
            stage=s.stage,
            score=score,
            segment=s.segment,
            owner_id=s.owner_id,
            emails_sent=s.emails_sent,
            touches=s.touches,
            next_step=s.next_step,
            next_step_at=s.next_step_at,
            outcome=s.outcome,
        )


@strawberry.type(description="A lead as listed from Temporal visibility (search attributes only).")
class LeadSummary:
    id: str
    workflow_id: str
    stage: LeadStageEnum | None
    score: int | None
    segment: str | None
    owner_id: str | None
    status: str | None


@strawberry.type
class Finding:
    rule: str
    severity: str
    message: str


@strawberry.type
class Decision:
    approver: str
    kind: str
    revision: int
    comment: str | None
    at: datetime | None
    stage: str | None


@strawberry.type
class ChannelOutcome:
    channel: str
    status: str
    link: str | None
    ref: str | None
    note: str | None


@strawberry.type(description="A content item's state: checks, reviews, decisions and channels.")
class ContentItem:
    id: str
    stage: ContentStageEnum
    title: str
    type: str
    revision: int
    author: str
    current_review: str | None
    findings: list[Finding]
    pending_approvers: list[str]
    decisions: list[Decision]
    channels: list[ChannelOutcome]
    outcome: str | None

    @classmethod
    def of(cls, v: ContentView) -> ContentItem:
        return cls(
            id=v.content_id,
            stage=v.stage,
            title=v.title,
            type=v.type,
            revision=v.revision,
            author=v.author,
            current_review=v.current_review,
            pending_approvers=list(v.pending_approvers),
            outcome=v.outcome,
            findings=[Finding(rule=f.rule, severity=f.severity.value, message=f.message) for f in v.findings],
            decisions=[
                Decision(
                    approver=d.approver,
                    kind=d.kind.value,
                    revision=d.revision,
                    comment=d.comment,
                    at=d.at,
                    stage=d.stage,
                )
                for d in v.decisions
            ],
            channels=[
                ChannelOutcome(channel=c.channel.value, status=c.status.value, link=c.link, ref=c.ref, note=c.note)
                for c in v.channels
            ],
        )


@strawberry.type(description="A content item as listed from Temporal visibility.")
class ContentSummary:
    id: str
    workflow_id: str
    stage: ContentStageEnum | None
    type: str | None
    approval_state: str | None
    pending_approvers: list[str]
    status: str | None


@strawberry.type
class DecisionOutcome:
    stage: str
    outcome: str
    revision: int

    @classmethod
    def of(cls, r: DecisionResult) -> DecisionOutcome:
        return cls(stage=r.stage, outcome=r.outcome, revision=r.revision)


async def _content_list(
    info: Info, stage: ContentStage | None, approver: str | None, limit: int
) -> list[ContentSummary]:
    state = info.context.request.app.state
    found = await _call(find_content(state.client, state.settings.workflow_task_queue, stage, approver, _limit(limit)))
    return [_content_summary(i) for i in found.items]


def _decisions(decisions: list[DecisionModel]) -> list[Decision]:
    return [
        Decision(approver=d.approver, kind=d.kind.value, revision=d.revision, comment=d.comment, at=d.at, stage=d.stage)
        for d in decisions
    ]


@strawberry.type(description="One channel of a campaign and where it stands on its platform.")
class CampaignChannel:
    channel: ChannelKindEnum
    state: str
    daily_budget_minor: int | None = strawberry.field(
        description="Paid channels: the daily budget set now, in minor units (cents)."
    )
    daily_budget: str | None = strawberry.field(description="The same, for people: `360.00 EUR`.")
    link: str | None
    error: str | None
    note: str | None


@strawberry.type(description="A channel's daily budget before and after a change, minor units.")
class ChannelBudget:
    channel: ChannelKindEnum
    current: int
    proposed: int
    current_amount: str = strawberry.field(description="For people: `360.00 EUR`.")
    proposed_amount: str


def _budgets(before: dict[ChannelKind, int], after: dict[ChannelKind, int], currency: str) -> list[ChannelBudget]:
    return [
        ChannelBudget(
            channel=k,
            current=before[k],
            proposed=after.get(k, before[k]),
            current_amount=show(before[k], currency, minor=True),
            proposed_amount=show(after.get(k, before[k]), currency, minor=True),
        )
        for k in sorted(before, key=lambda c: c.value)
    ]


@strawberry.type(description="A budget change the campaign applied (from a reallocation).")
class CampaignBudgetChange:
    at: datetime
    proposal_id: str
    budgets: list[ChannelBudget]
    decided_by: list[str]


@strawberry.type(description="A campaign: status, channels, launch approval and budget changes.")
class Campaign:
    id: str
    name: str
    status: CampaignStatusEnum
    owner: str
    currency: str
    total_budget: str = strawberry.field(description="Major units, e.g. `6000.00`.")
    start: datetime | None
    end: datetime
    timezone: str
    channels: list[CampaignChannel]
    approval_stage: str | None = strawberry.field(description="The launch approval stage waiting now, if any.")
    pending_approvers: list[str]
    decisions: list[Decision]
    problems: list[str]
    outcome: str | None
    budget_changes: list[CampaignBudgetChange]

    @classmethod
    def of(cls, v: CampaignView) -> Campaign:
        approval = v.approval
        stage = (
            approval.stages[approval.index].name
            if approval and approval.outcome == "pending" and approval.index < len(approval.stages)
            else None
        )
        return cls(
            id=v.campaign_id,
            name=v.name,
            status=v.status,
            owner=v.owner,
            currency=v.currency,
            total_budget=v.total_budget,
            start=v.start,
            end=v.end,
            timezone=v.timezone,
            channels=[
                CampaignChannel(
                    channel=p.channel,
                    state=p.state.value,
                    daily_budget_minor=p.daily_budget_minor,
                    daily_budget=show(p.daily_budget_minor, v.currency, minor=True)
                    if p.daily_budget_minor is not None
                    else None,
                    link=p.link,
                    error=p.error,
                    note=p.note,
                )
                for p in v.parts
            ],
            approval_stage=stage,
            pending_approvers=list(v.pending_approvers),
            decisions=_decisions(approval.decisions if approval else []),
            problems=list(v.problems),
            outcome=v.outcome,
            budget_changes=[
                CampaignBudgetChange(
                    at=c.at,
                    proposal_id=c.proposal_id,
                    budgets=_budgets(c.before, c.after, v.currency),
                    decided_by=list(c.decided_by),
                )
                for c in v.budget_changes
            ],
        )


@strawberry.type(description="A campaign as listed from Temporal visibility (search attributes only).")
class CampaignSummary:
    id: str
    workflow_id: str
    status: CampaignStatusEnum | None
    channels: list[str]
    budget_state: str | None
    approval_state: str | None
    pending_approvers: list[str]
    execution_status: str | None

    @classmethod
    def of(cls, c: CampaignRow) -> CampaignSummary:
        return cls(
            id=c.campaign_id,
            workflow_id=c.workflow_id,
            status=_enum(CampaignStatus, c.status),
            channels=c.channels,
            budget_state=c.budget_state,
            approval_state=c.approval_state,
            pending_approvers=c.pending_approvers,
            execution_status=c.execution_status,
        )


@strawberry.type
class AppliedBudgetChange:
    channel: ChannelKindEnum
    before: int
    after: int
    verified: int | None = strawberry.field(description="What the platform read back after the change.")
    rolled_back: bool
    error: str | None


@strawberry.type(
    description="A budget reallocation: current vs proposed daily budgets per channel, the reasons, "
    "decisions and what was applied."
)
class BudgetProposal:
    id: str = strawberry.field(description="The reallocation's workflow id.")
    campaign_id: str
    status: BudgetStatusEnum
    currency: str | None
    action: str | None = strawberry.field(description="none / auto / approval.")
    metric: str | None
    moved_pct: str | None = strawberry.field(description="Share of the total daily budget moved, percent.")
    reasons: list[str]
    budgets: list[ChannelBudget]
    pending_approvers: list[str]
    decisions: list[Decision]
    changes: list[AppliedBudgetChange]
    outcome: str | None

    @classmethod
    def of(cls, workflow_id: str, v: BudgetView) -> BudgetProposal:
        p = v.proposal
        return cls(
            id=workflow_id,
            campaign_id=v.campaign_id,
            status=v.status,
            currency=v.currency,
            action=p.action if p else None,
            metric=p.metric if p else None,
            moved_pct=str(p.moved_pct) if p else None,
            reasons=list(p.reasons) if p else [],
            budgets=_budgets(p.current, p.proposed, v.currency or "EUR") if p else [],
            pending_approvers=list(v.pending_approvers),
            decisions=_decisions(v.approval.decisions if v.approval else []),
            changes=[
                AppliedBudgetChange(
                    channel=c.channel,
                    before=c.before,
                    after=c.after,
                    verified=c.verified,
                    rolled_back=c.rolled_back,
                    error=c.error,
                )
                for c in v.changes
            ],
            outcome=v.outcome,
        )


@strawberry.type(description="A budget reallocation as listed from Temporal visibility.")
class BudgetProposalSummary:
    id: str
    campaign_id: str | None
    status: BudgetStatusEnum | None
    approval_state: str | None
    pending_approvers: list[str]
    execution_status: str | None

    @classmethod
    def of(cls, b: BudgetProposalRow) -> BudgetProposalSummary:
        return cls(
            id=b.workflow_id,
            campaign_id=b.campaign_id,
            status=_enum(BudgetStatus, b.status),
            approval_state=b.approval_state,
            pending_approvers=b.pending_approvers,
            execution_status=b.execution_status,
        )


@strawberry.type(description="Everything waiting for one approver, by kind.")
class ApprovalQueue:
    approver: str
    content_items: list[ContentSummary] = strawberry.field(description="Content items in review.")
    campaigns: list[CampaignSummary] = strawberry.field(description="Campaigns awaiting launch approval.")
    budget_proposals: list[BudgetProposalSummary] = strawberry.field(
        description="Budget reallocations awaiting approval."
    )


def _content_summary(i: ContentRow) -> ContentSummary:
    return ContentSummary(
        id=i.content_id,
        workflow_id=i.workflow_id,
        stage=_enum(ContentStage, i.stage),
        type=i.type,
        approval_state=i.approval_state,
        pending_approvers=i.pending_approvers,
        status=i.status,
    )


def _approver(info: Info, approver: str | None) -> str:
    """Scope read for anyone's queue, or approve for the key's own person (see /v1/approvals)."""
    try:
        return approver_for(info.context.principal, approver)
    except ApiError as exc:
        raise _mapped(exc) from None


# --- schema ---------------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field(description="A lead's state (scope read).")
    async def lead(self, info: Info, id: str) -> Lead | None:
        _allowed(info, Scope.READ)
        lead_id = _checked(id, LEAD_ID_PATTERN, "id").removeprefix("lead-")
        return Lead.of(await _call(_leads(info).state(lead_id=lead_id)))

    @strawberry.field(description="Leads in a stage, from Temporal visibility (scope read).")
    async def leads(self, info: Info, stage: LeadStageEnum, limit: int = 50) -> list[LeadSummary] | None:
        _allowed(info, Scope.READ)
        state = info.context.request.app.state
        found = await _call(find_leads(state.client, state.settings.workflow_task_queue, stage, _limit(limit)))
        return [
            LeadSummary(
                id=x.lead_id,
                workflow_id=x.workflow_id,
                stage=_enum(LeadStage, x.stage),
                score=x.score,
                segment=x.segment,
                owner_id=x.owner_id,
                status=x.status,
            )
            for x in found.leads
        ]

    @strawberry.field(description="A content item's state (scope read).")
    async def content_item(self, info: Info, id: str) -> ContentItem | None:
        _allowed(info, Scope.READ)
        return ContentItem.of(await _call(_content(info).state(_checked(id, CONTENT_ID_PATTERN, "id"))))

    @strawberry.field(description="Content items by stage and/or pending approver (scope read).")
    async def content_items(
        self, info: Info, stage: ContentStageEnum | None = None, pending_approver: str | None = None, limit: int = 50
    ) -> list[ContentSummary] | None:
        _allowed(info, Scope.READ)
        return await _content_list(info, stage, pending_approver, limit)

    @strawberry.field(
        description="Content items in review waiting for `approver` (default: the key's person). "
        "Scope read, or approve for the key's own person. For content, campaigns and "
        "budget proposals together use `approvalQueue`."
    )
    async def pending_approvals(
        self, info: Info, approver: str | None = None, limit: int = 50
    ) -> list[ContentSummary] | None:
        return await _content_list(info, ContentStage.IN_REVIEW, _approver(info, approver), limit)

    @strawberry.field(
        description="Everything waiting for `approver` (default: the key's person), in one round "
        "trip: content items in review, campaigns awaiting launch approval and budget "
        "proposals awaiting approval, as three lists (at most `limit` of each). Scope "
        "read, or approve for the key's own person."
    )
    async def approval_queue(self, info: Info, approver: str | None = None, limit: int = 50) -> ApprovalQueue | None:
        who = _approver(info, approver)
        state = info.context.request.app.state
        found = await _call(find_pending(state.client, state.settings.workflow_task_queue, who, _limit(limit)))
        return ApprovalQueue(
            approver=found.approver,
            content_items=[_content_summary(i) for i in found.content],
            campaigns=[CampaignSummary.of(c) for c in found.campaigns],
            budget_proposals=[BudgetProposalSummary.of(b) for b in found.budget_proposals],
        )

    @strawberry.field(description="A campaign's state (scope read).")
    async def campaign(self, info: Info, id: str) -> Campaign | None:
        _allowed(info, Scope.READ)
        return Campaign.of(await _call(_campaigns(info).state(_checked(id, CAMPAIGN_ID_PATTERN, "id"))))

    @strawberry.field(description="Campaigns by status and/or pending approver, from Temporal visibility (scope read).")
    async def campaigns(
        self, info: Info, status: CampaignStatusEnum | None = None, approver: str | None = None, limit: int = 50
    ) -> list[CampaignSummary] | None:
        _allowed(info, Scope.READ)
        state = info.context.request.app.state
        found = await _call(
            find_campaigns(state.client, state.settings.workflow_task_queue, status, approver, _limit(limit))
        )
        return [CampaignSummary.of(c) for c in found.items]

    @strawberry.field(description="A budget reallocation by its workflow id (scope read).")
    async def budget_proposal(self, info: Info, id: str) -> BudgetProposal | None:
        _allowed(info, Scope.READ)
        workflow_id = _checked(id, BUDGET_WORKFLOW_ID_PATTERN, "id")
        return BudgetProposal.of(workflow_id, await _call(_campaigns(info).budget_state(workflow_id)))

    @strawberry.field(
        description="Budget reallocations by pending approver, campaign and/or status, from Temporal "
        "visibility (scope read)."
    )
    async def budget_proposals(
        self,
        info: Info,
        approver: str | None = None,
        campaign_id: str | None = None,
        status: BudgetStatusEnum | None = None,
        limit: int = 50,
    ) -> list[BudgetProposalSummary] | None:
        _allowed(info, Scope.READ)
        state = info.context.request.app.state
        found = await _call(
            find_budget_proposals(
                state.client, state.settings.workflow_task_queue, approver, campaign_id, status, _limit(limit)
            )
        )
        return [BudgetProposalSummary.of(b) for b in found.items]


async def _decide(
    info: Info, content_id: str, kind: DecisionKind, comment: str | None, revision: int | None
) -> DecisionOutcome:
    approver = _person(_allowed(info, Scope.APPROVE))
    try:
        body = DecisionRequest(kind=kind, comment=comment, revision=revision)  # the REST body's limits
    except ValidationError as exc:
        raise _mapped(exc) from None
    result = await _call(
        _content(info).decide(
            _checked(content_id, CONTENT_ID_PATTERN, "contentId"),
            approver=approver,
            kind=body.kind,
            comment=body.comment,
            revision=body.revision,
        )
    )
    return DecisionOutcome.of(result)


async def _decide_campaign(info: Info, campaign_id: str, kind: str, comment: str | None) -> DecisionOutcome:
    approver = _person(_allowed(info, Scope.APPROVE))
    body = _approval_body(kind, comment)
    result = await _call(
        _campaigns(info).decide(
            _checked(campaign_id, CAMPAIGN_ID_PATTERN, "campaignId"),
            approver=approver,
            kind=body.kind,
            comment=body.comment,
        )
    )
    return DecisionOutcome.of(result)


async def _decide_proposal(info: Info, proposal_id: str, kind: str, comment: str | None) -> DecisionOutcome:
    approver = _person(_allowed(info, Scope.APPROVE))
    body = _approval_body(kind, comment)
    result = await _call(
        _campaigns(info).budget_decide(
            _checked(proposal_id, BUDGET_WORKFLOW_ID_PATTERN, "id"),
            approver=approver,
            kind=body.kind,
            comment=body.comment,
        )
    )
    return DecisionOutcome.of(result)


def _approval_body(kind: str, comment: str | None) -> ApprovalDecisionRequest:
    try:
        return ApprovalDecisionRequest(kind=kind, comment=comment)  # the REST body's limits
    except ValidationError as exc:
        raise _mapped(exc) from None


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Approve as the key's person (scope approve).")
    async def approve(self, info: Info, content_id: str, revision: int | None = None) -> DecisionOutcome:
        return await _decide(info, content_id, DecisionKind.APPROVE, None, revision)

    @strawberry.mutation(description="Reject, with the reason (scope approve).")
    async def reject(self, info: Info, content_id: str, comment: str, revision: int | None = None) -> DecisionOutcome:
        return await _decide(info, content_id, DecisionKind.REJECT, comment, revision)

    @strawberry.mutation(description="Ask the author for changes (scope approve).")
    async def request_changes(
        self, info: Info, content_id: str, comment: str, revision: int | None = None
    ) -> DecisionOutcome:
        return await _decide(info, content_id, DecisionKind.REQUEST_CHANGES, comment, revision)

    @strawberry.mutation(description="Approve a campaign's launch as the key's person (scope approve).")
    async def approve_campaign(self, info: Info, campaign_id: str, comment: str | None = None) -> DecisionOutcome:
        return await _decide_campaign(info, campaign_id, "approve", comment)

    @strawberry.mutation(description="Reject a campaign's launch, with the reason (scope approve).")
    async def reject_campaign(self, info: Info, campaign_id: str, comment: str) -> DecisionOutcome:
        return await _decide_campaign(info, campaign_id, "reject", comment)

    @strawberry.mutation(
        description="Approve a budget proposal (by its workflow id) as the key's person (scope approve)."
    )
    async def approve_budget_proposal(self, info: Info, id: str, comment: str | None = None) -> DecisionOutcome:
        return await _decide_proposal(info, id, "approve", comment)

    @strawberry.mutation(description="Reject a budget proposal, with the reason (scope approve).")
    async def reject_budget_proposal(self, info: Info, id: str, comment: str) -> DecisionOutcome:
        return await _decide_proposal(info, id, "reject", comment)


def _mask(error: GraphQLError) -> bool:
    """Mask errors we did not map (their text may quote anything); keep ours and GraphQL's own."""
    original: Any = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class _Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        # Refusals, scopes and invalid queries are answers, not faults: log only the unexpected,
        # and (as REST does) only the exception's type: its text may quote request data.
        for error in errors:
            if _mask(error):
                where = ".".join(str(p) for p in error.path or ()) or "?"
                log.error("unhandled %s in graphql field %s", type(error.original_error).__name__, where)


schema = _Schema(
    query=Query,
    mutation=Mutation,
    extensions=[
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaskErrors(should_mask_error=_mask, error_message="server: unexpected error (see the gateway's log)"),
    ],
)


def graphql_router() -> GraphQLRouter:
    # No in-browser IDE: every request needs a bearer key, which a browser page would not send.
    return GraphQLRouter(schema, path="/graphql", context_getter=context, graphql_ide=None, tags=["graphql"])


__all__ = ["schema", "graphql_router", "Context"]
