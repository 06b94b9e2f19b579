"""Request and response bodies of the REST API (the services' own models are reused
where they already are the answer: CaptureResult, LeadState, ContentView, DecisionResult,
CampaignView, BudgetView)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.approvals import DecisionKind
from domain.click_ids import ClickIds
from domain.content import ApprovalStage, ContentBrief
from domain.leads import JOURNEY_ID_PATTERN, EventType, LeadSource, Utm

LEAD_ID_PATTERN = r"^(lead-)?[0-9a-f]{24}$"
CONTENT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,62}$"
PERSON_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
# `budget-<campaign id>-<run id>` (CLI, API) or `budget-<campaign id>-<time>` (the Schedule,
# e.g. `...-2025-03-01T09:00:00Z`): never a campaign's or a content item's id.
BUDGET_WORKFLOW_ID_PATTERN = r"^budget-[a-z0-9][a-z0-9-]{1,62}-[A-Za-z0-9][A-Za-z0-9:._+-]{0,80}$"


class _Body(BaseModel):
    # Unknown keys are typos; errors never echo the input (it may hold personal data).
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class CaptureRequest(_Body):
    email: str = Field(description="The lead's address (normalised; never logged, never in ids).")
    source: LeadSource
    consent: bool = False
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2")
    timezone: str | None = Field(default=None, description="IANA zone, e.g. Europe/Berlin")
    journey_id: str | None = Field(default=None, pattern=JOURNEY_ID_PATTERN)
    capture_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Idempotency key of this capture (a retry with it counts once).",
    )
    captured_at: datetime | None = None
    utm: Utm | None = Field(
        default=None,
        description="Campaign parameters of the link the lead arrived by "
        "(recorded on the lead's path for attribution).",
    )
    click_ids: ClickIds | None = Field(
        default=None,
        description="Ad click ids of the visit (gclid, wbraid, gbraid, fbclid; Meta's _fbc and _fbp cookies): "
        "the lead's conversions are sent back to the ad platform that brought it.",
    )
    landing_url: str | None = Field(
        default=None,
        max_length=4000,
        description="The page the lead arrived on; its utm_* parameters and click ids are read when not given above.",
    )


class EventRequest(_Body):
    type: EventType
    event_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Idempotency key: the same event id is recorded once."
    )
    at: datetime | None = None
    detail: str | None = Field(
        default=None, max_length=2000, description="e.g. the clicked URL; its utm_* parameters make the event a touch"
    )
    utm: Utm | None = None


class UnsubscribeRequest(_Body):
    source: str = Field(default="api", min_length=1, max_length=64)


class Accepted(BaseModel):
    """A message was handed to the lead's journey (it acts on it asynchronously)."""

    lead_id: str
    accepted: Literal[True] = True


class EventAccepted(Accepted):
    event_id: str


class LeadSummary(BaseModel):
    """A lead as listed from visibility: ids and search attributes only, no personal data."""

    lead_id: str
    workflow_id: str
    stage: str | None
    score: int | None
    segment: str | None
    owner_id: str | None
    status: str | None


class LeadList(BaseModel):
    leads: list[LeadSummary]


class BriefRequest(ContentBrief):
    """A content brief (see README: content_id, title, type, channels, body or template, author, ...)."""

    model_config = ConfigDict(extra="forbid")


class ContentSubmitted(BaseModel):
    workflow_id: str
    content_id: str
    created: bool
    stages: list[ApprovalStage]


class ContentSummary(BaseModel):
    content_id: str
    workflow_id: str
    stage: str | None
    type: str | None
    approval_state: str | None
    pending_approvers: list[str]
    status: str | None


class ContentList(BaseModel):
    items: list[ContentSummary]


class DecisionRequest(_Body):
    kind: DecisionKind
    comment: str | None = Field(default=None, max_length=2000)
    revision: int | None = Field(default=None, ge=1, description="The revision you looked at (default: current).")


class RevisionRequest(_Body):
    body: str | None = None
    title: str | None = None
    variables: dict[str, str] | None = None
    note: str | None = Field(default=None, max_length=2000)


class RevisionAccepted(BaseModel):
    content_id: str
    revision: int


class RetractBody(_Body):
    reason: str = Field(min_length=1, max_length=500)


class RetractAccepted(BaseModel):
    content_id: str
    retract_requested: Literal[True] = True


class Health(BaseModel):
    status: Literal["ok"] = "ok"


# --- campaigns and budget proposals ---------------------------------------------------------

ApprovalKind = Literal["approve", "reject"]  # a campaign or proposal is re-submitted, never revised


class ApprovalDecisionRequest(_Body):
    """A decision on a campaign's launch or a budget proposal (always on revision 1)."""

    kind: ApprovalKind
    comment: str | None = Field(default=None, max_length=2000, description="Required to reject.")


class ApprovalDecided(BaseModel):
    accepted: Literal[True] = True
    stage: str
    outcome: str = Field(description="The stage's outcome after this decision: pending / approved / rejected.")
    revision: int


class StopBody(_Body):
    reason: str = Field(min_length=1, max_length=500)


class StopAccepted(BaseModel):
    campaign_id: str
    stop_requested: Literal[True] = True


class CampaignSummary(BaseModel):
    """A campaign as listed from visibility (its search attributes)."""

    campaign_id: str
    workflow_id: str
    status: str | None = Field(description="The campaign's status (preflight, awaiting_approval, live, ...).")
    channels: list[str]
    budget_state: str | None
    approval_state: str | None
    pending_approvers: list[str]
    execution_status: str | None = Field(description="The workflow's: running, completed, failed, ...")


class CampaignList(BaseModel):
    items: list[CampaignSummary]


class BudgetProposalSummary(BaseModel):
    """A budget reallocation run as listed from visibility."""

    workflow_id: str
    campaign_id: str | None
    status: str | None = Field(description="collecting, awaiting_approval, applying, applied, rejected, ...")
    approval_state: str | None
    pending_approvers: list[str]
    execution_status: str | None


class BudgetProposalList(BaseModel):
    items: list[BudgetProposalSummary]


class PendingApprovals(BaseModel):
    """Everything waiting for one approver (one visibility query per workflow type)."""

    approver: str
    content: list[ContentSummary]
    campaigns: list[CampaignSummary]
    budget_proposals: list[BudgetProposalSummary]
