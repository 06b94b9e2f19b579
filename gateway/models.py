"""Request and response bodies of the REST API (the services' own models are reused
where they already are the answer: CaptureResult, LeadState, ContentView, DecisionResult)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.approvals import DecisionKind
from domain.content import ApprovalStage, ContentBrief
from domain.leads import JOURNEY_ID_PATTERN, EventType, LeadSource

LEAD_ID_PATTERN = r"^(lead-)?[0-9a-f]{24}$"
CONTENT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,62}$"
PERSON_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


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
    capture_id: str | None = Field(default=None, min_length=1, max_length=200,
                                   description="Idempotency key of this capture (a retry with it counts once).")
    captured_at: datetime | None = None


class EventRequest(_Body):
    type: EventType
    event_id: str | None = Field(default=None, min_length=1, max_length=200,
                                 description="Idempotency key: the same event id is recorded once.")
    at: datetime | None = None
    detail: str | None = Field(default=None, max_length=200)


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


