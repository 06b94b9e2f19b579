"""Inputs, state and messages of the content workflow (pydantic, no I/O).

`DecisionResult` is re-exported from domain/approvals.py: every approval answers with it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from domain.approvals import Decision, RefusedDecision
from domain.approvals import DecisionResult as DecisionResult  # re-exported: callers import it from here
from domain.brand import Finding
from domain.contact_budget import AudienceSummary
from domain.content import ApprovalStage, Channel, ContentBrief, Directory
from mops.queues import PlatformQueues


class ContentStage(StrEnum):
    DRAFTING = "drafting"
    CHECKING = "checking"
    CHANGES_REQUESTED = "changes_requested"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    PARTIALLY_PUBLISHED = "partially_published"
    REJECTED = "rejected"
    EXPIRED = "expired"
    RETRACTED = "retracted"
    COMPLETED = "completed"


TERMINAL_CONTENT = {ContentStage.REJECTED, ContentStage.EXPIRED, ContentStage.RETRACTED, ContentStage.COMPLETED}


class ChannelStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    FAILED = "failed"
    RETRACTED = "retracted"


class ChannelOutcome(BaseModel):
    channel: Channel
    status: ChannelStatus = ChannelStatus.PENDING
    ref: str | None = None  # WordPress post id, LinkedIn post URN, SendGrid single send id
    link: str | None = None
    error: str | None = None
    note: str | None = None
    audience: AudienceSummary | None = None  # email: who the list send reached, who it left out and why


class PerformanceSnapshot(BaseModel):
    day: int  # days after publication: 1, 7, 30
    at: datetime
    views: float
    sessions: float
    conversions: float


class Revision(BaseModel):
    """A new revision from the author after changes were requested (or a check blocked)."""

    author: str
    body: str | None = None
    title: str | None = None
    variables: dict[str, str] | None = None
    note: str | None = None


class RevisionResult(BaseModel):
    revision: int


class RetractRequest(BaseModel):
    requested_by: str
    reason: str


class ContentInput(BaseModel):
    brief: ContentBrief
    stages: list[ApprovalStage]  # effective stages (brief's own or the type's defaults)
    legal_stage: ApprovalStage  # added when the checks find claims for legal
    directory: Directory  # pinned snapshot: who may approve, and their backups
    # Public keys that verify who made each decision (domain/decision_proofs.py), newest first.
    decision_keys: list[str] = []
    queues: PlatformQueues = PlatformQueues()
    state: ContentState | None = None  # set only by continue-as-new
    continue_as_new_after_events: int = 10_000


class ContentState(BaseModel):
    brief: ContentBrief
    stages: list[ApprovalStage]
    stage: ContentStage = ContentStage.DRAFTING
    revision: int = 1
    post_id: int | None = None
    draft_link: str | None = None
    findings: list[Finding] = []
    reading_grade: float | None = None
    needs_legal: bool = False
    review_index: int = 0  # which approval stage is under review
    review_started_at: datetime | None = None
    reminded: bool = False
    escalated: bool = False
    decisions: list[Decision] = []
    refused_decisions: list[RefusedDecision] = []  # for want of proof; never applied
    pending_revision: Revision | None = None
    channels: list[ChannelOutcome] = []
    published_at: datetime | None = None
    performance: list[PerformanceSnapshot] = []
    retract: RetractRequest | None = None
    outcome: str | None = None
    timeline: list[tuple[datetime, str]] = []


class ContentView(BaseModel):
    """What the `state` query returns."""

    content_id: str
    title: str
    type: str
    stage: ContentStage
    revision: int
    author: str
    draft_link: str | None
    findings: list[Finding]
    needs_legal: bool
    current_review: str | None
    pending_approvers: list[str]
    stages: list[ApprovalStage]
    decisions: list[Decision]
    channels: list[ChannelOutcome]
    refused_decisions: list[RefusedDecision] = []
    performance: list[PerformanceSnapshot]
    outcome: str | None
    timeline: list[tuple[datetime, str]]


ContentInput.model_rebuild()
