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
- No personal data: a lead exposes its id, stage, score, segment, owner and counters only.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import strawberry
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from graphql import GraphQLError
from pydantic import ValidationError
from strawberry.extensions import MaskErrors, MaxAliasesLimiter
from strawberry.fastapi import BaseContext, GraphQLRouter
from strawberry.types import Info
from temporalio.service import RPCError

from domain.approvals import DecisionKind
from domain.leads import LeadStage
from gateway.errors import ApiError, log, refusal_status, validation_message
from gateway.models import CONTENT_ID_PATTERN, LEAD_ID_PATTERN, DecisionRequest
from gateway.rest.content import find_content
from gateway.rest.leads import find_leads
from gateway.security import Principal, Scope, authenticate_request, bearer_scheme, person
from starter.content import ContentInputError, ContentNotFound, ContentRefused, ContentService
from starter.leads import LeadInputError, LeadNotFound, LeadService
from workflows.content_models import ContentStage, ContentView, DecisionResult
from workflows.lead_models import LeadState

MAX_LIMIT = 500
MAX_ALIASES = 20  # one request is one rate-limit token: bound its fan-out to the workflows

LeadStageEnum = strawberry.enum(LeadStage, name="LeadStage")
ContentStageEnum = strawberry.enum(ContentStage, name="ContentStage")


class Context(BaseContext):
    def __init__(self, principal: Principal) -> None:
        super().__init__()
        self.principal = principal


async def context(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
) -> Context:
    """401/429 as HTTP JSON, like REST (raises ApiError, answered by the app's handlers)."""
    principal = authenticate_request(request, credentials)
    request.state.principal = principal
    return Context(principal)


# --- errors ---------------------------------------------------------------------------------


def _error(code: str, message: str) -> GraphQLError:
    return GraphQLError(message.splitlines()[0] if message else code, extensions={"code": code})


def _mapped(exc: Exception) -> GraphQLError | None:
    """The REST code for an exception (see gateway.errors), or None for unexpected ones."""
    if isinstance(exc, ApiError):
        return _error(exc.code, exc.message)
    if isinstance(exc, ContentRefused):
        _, code, message = refusal_status(str(exc))
        return _error(code, message)
    if isinstance(exc, LeadNotFound):
        return _error("lead_not_found", str(exc))
    if isinstance(exc, ContentNotFound):
        return _error("content_not_found", str(exc))
    if isinstance(exc, (LeadInputError, ContentInputError)):
        return _error("invalid_input", str(exc))
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        return _error("invalid_request", validation_message(errors[0]) if errors else "input: invalid")
    if isinstance(exc, RPCError):
        return _error("temporal_unavailable", "temporal: the workflow service did not answer")
    return None


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
            score = LeadScore(total=s.score.total, fit=s.score.fit, engagement=s.score.engagement, mql=s.score.mql,
                              reasons=[ScoreReason(rule=r.rule, points=r.points, detail=r.detail)
                                       for r in s.score.reasons])
        return cls(id=s.lead_id, stage=s.stage, score=score, segment=s.segment, owner_id=s.owner_id,
                   emails_sent=s.emails_sent, touches=s.touches, next_step=s.next_step,
                   next_step_at=s.next_step_at, outcome=s.outcome)


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
            id=v.content_id, stage=v.stage, title=v.title, type=v.type, revision=v.revision, author=v.author,
            current_review=v.current_review, pending_approvers=list(v.pending_approvers), outcome=v.outcome,
            findings=[Finding(rule=f.rule, severity=f.severity.value, message=f.message) for f in v.findings],
            decisions=[Decision(approver=d.approver, kind=d.kind.value, revision=d.revision, comment=d.comment,
                                at=d.at, stage=d.stage) for d in v.decisions],
            channels=[ChannelOutcome(channel=c.channel.value, status=c.status.value, link=c.link, ref=c.ref,
                                     note=c.note) for c in v.channels],
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


async def _content_list(info: Info, stage: ContentStage | None, approver: str | None, limit: int
                        ) -> list[ContentSummary]:
    state = info.context.request.app.state
    found = await _call(find_content(state.client, state.settings.workflow_task_queue, stage, approver, _limit(limit)))
    return [ContentSummary(id=i.content_id, workflow_id=i.workflow_id, stage=_enum(ContentStage, i.stage),
                           type=i.type, approval_state=i.approval_state, pending_approvers=i.pending_approvers,
                           status=i.status) for i in found.items]


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
        return [LeadSummary(id=x.lead_id, workflow_id=x.workflow_id, stage=_enum(LeadStage, x.stage), score=x.score,
                            segment=x.segment, owner_id=x.owner_id, status=x.status) for x in found.leads]

    @strawberry.field(description="A content item's state (scope read).")
    async def content_item(self, info: Info, id: str) -> ContentItem | None:
        _allowed(info, Scope.READ)
        return ContentItem.of(await _call(_content(info).state(_checked(id, CONTENT_ID_PATTERN, "id"))))

    @strawberry.field(description="Content items by stage and/or pending approver (scope read).")
    async def content_items(self, info: Info, stage: ContentStageEnum | None = None,
                            pending_approver: str | None = None, limit: int = 50) -> list[ContentSummary] | None:
        _allowed(info, Scope.READ)
        return await _content_list(info, stage, pending_approver, limit)

    @strawberry.field(description="Items in review waiting for `approver` (default: the key's person). "
                                  "Scope read, or approve for the key's own person.")
    async def pending_approvals(self, info: Info, approver: str | None = None, limit: int = 50
                                ) -> list[ContentSummary] | None:
        principal: Principal = info.context.principal
        own = approver is None or approver == principal.approver
        if not (own and principal.approver and principal.allows(Scope.APPROVE)):
            _allowed(info, Scope.READ)
        who = approver if approver is not None else _person(principal)
        return await _content_list(info, ContentStage.IN_REVIEW, who, limit)


async def _decide(info: Info, content_id: str, kind: DecisionKind, comment: str | None,
                  revision: int | None) -> DecisionOutcome:
    approver = _person(_allowed(info, Scope.APPROVE))
    try:
        body = DecisionRequest(kind=kind, comment=comment, revision=revision)  # the REST body's limits
    except ValidationError as exc:
        raise _mapped(exc) from None
    result = await _call(_content(info).decide(_checked(content_id, CONTENT_ID_PATTERN, "contentId"),
                                               approver=approver, kind=body.kind, comment=body.comment,
                                               revision=body.revision))
    return DecisionOutcome.of(result)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Approve as the key's person (scope approve).")
    async def approve(self, info: Info, content_id: str, revision: int | None = None) -> DecisionOutcome:
        return await _decide(info, content_id, DecisionKind.APPROVE, None, revision)

    @strawberry.mutation(description="Reject, with the reason (scope approve).")
    async def reject(self, info: Info, content_id: str, comment: str, revision: int | None = None) -> DecisionOutcome:
        return await _decide(info, content_id, DecisionKind.REJECT, comment, revision)

    @strawberry.mutation(description="Ask the author for changes (scope approve).")
    async def request_changes(self, info: Info, content_id: str, comment: str,
                              revision: int | None = None) -> DecisionOutcome:
        return await _decide(info, content_id, DecisionKind.REQUEST_CHANGES, comment, revision)


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
