"""Inputs, state and messages of the campaign and budget workflows (pydantic, no I/O)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel

from activities.models import PageMetricsResult, PaidRef
from domain.budget import Proposal
from domain.campaigns import CampaignSpec, ChannelKind, ReallocationRules
from domain.contact_budget import AudienceSummary
from domain.content import Directory
from domain.pacing import PacingDecision
from domain.performance import Anomaly, DayFigures, Kpis, Pacing
from mops.queues import PlatformQueues
from workflows.approval import ApprovalProgress


class CampaignStatus(StrEnum):
    PREFLIGHT = "preflight"
    AWAITING_APPROVAL = "awaiting_approval"
    CREATING = "creating"
    SCHEDULED = "scheduled"  # created and paused, waiting for the start date
    LAUNCHING = "launching"
    LIVE = "live"
    STOPPING = "stopping"
    COMPLETED = "completed"
    FAILED = "failed"  # a channel failed for good; every channel made so far was rolled back
    REJECTED = "rejected"
    EXPIRED = "expired"


TERMINAL_CAMPAIGN = {CampaignStatus.COMPLETED, CampaignStatus.FAILED, CampaignStatus.REJECTED, CampaignStatus.EXPIRED}


class PartState(StrEnum):
    PENDING = "pending"
    CREATED = "created"  # exists on the platform, not live (paused ads, draft page)
    LIVE = "live"  # ads delivering, page published, post up
    SENT = "sent"  # email: handed to SendGrid (cannot be recalled once delivered)
    PAUSED = "paused"  # by a guardrail, a stop or the end date
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


class ChannelPart(BaseModel):
    """One channel's share of the campaign, and where it lives on its platform."""

    channel: ChannelKind
    state: PartState = PartState.PENDING
    ref: PaidRef | None = None  # paid channels
    post_id: int | None = None  # landing page
    urn: str | None = None  # LinkedIn post
    single_send_id: str | None = None  # email
    link: str | None = None
    daily_budget_minor: int | None = None  # paid channels: the budget set on the platform now
    error: str | None = None
    note: str | None = None  # e.g. "paused by guardrail: CPA 61.20 EUR over max 40.00 EUR"
    audience: AudienceSummary | None = None  # email: who the list send reached, who it left out and why


class ChannelReport(BaseModel):
    channel: ChannelKind
    state: PartState
    spend: str = "0"
    impressions: int = 0
    clicks: int = 0
    conversions: float = 0
    revenue: str = "0"
    kpis: Kpis | None = None


class BudgetChange(BaseModel):
    at: datetime
    proposal_id: str  # the budget workflow id
    before: dict[ChannelKind, int]
    after: dict[ChannelKind, int]
    decided_by: list[str] = []


class PacingStep(BaseModel):
    """One pacing decision of the live campaign, and what became of the change it asked for."""

    at: datetime
    decision: PacingDecision
    budget_run: str | None = None  # the BudgetReallocation workflow that applies the change
    outcome: str | None = None  # its status and outcome once it ended


class StopRequest(BaseModel):
    requested_by: str
    reason: str = "stopped by request"


class PreflightResult(BaseModel):
    ok: bool
    status: CampaignStatus
    problems: list[str] = []


class BudgetsApplied(BaseModel):
    """Signal from the budget workflow: these absolute budgets are now set (verified)."""

    change: BudgetChange


class CampaignState(BaseModel):
    status: CampaignStatus = CampaignStatus.PREFLIGHT
    launched_at: datetime | None = None
    live_since: datetime | None = None
    parts: list[ChannelPart] = []
    approval: ApprovalProgress | None = None
    problems: list[str] = []  # preflight refusals and the failure that rolled the launch back
    figures: dict[ChannelKind, list[DayFigures]] = {}
    complete_through: date | None = None
    checked_at: datetime | None = None
    next_check_at: datetime | None = None  # kept through continue-as-new: one tick per interval
    pacing: Pacing | None = None
    kpis: dict[ChannelKind, Kpis] = {}
    landing: PageMetricsResult | None = None  # the landing page's traffic from GA4 (campaign to date)
    anomalies: list[Anomaly] = []
    alerted: list[str] = []  # anomaly keys already told, so one alert per anomaly
    budget_changes: list[BudgetChange] = []
    pacing_steps: list[PacingStep] = []  # the first decision of each day, and every one that acts
    pacing_run: str | None = None  # the pacing budget run still open (no other starts meanwhile)
    stop: StopRequest | None = None
    report: list[ChannelReport] = []
    outcome: str | None = None
    timeline: list[tuple[datetime, str]] = []


class CampaignInput(BaseModel):
    spec: CampaignSpec
    directory: Directory
    decision_keys: list[str] = []  # verify who made each decision (domain/decision_proofs.py)
    queues: PlatformQueues = PlatformQueues()
    state: CampaignState | None = None  # continue-as-new carries it
    continue_as_new_after_events: int = 10_000
    gateway_url: str | None = None  # where approvers can decide (approval page), if any


class CampaignView(CampaignState):
    campaign_id: str
    name: str
    currency: str
    total_budget: str
    start: datetime | None = None
    end: datetime
    owner: str
    pending_approvers: list[str] = []
    metric: Literal["cpa", "roas"] = "cpa"
    timezone: str = "UTC"
    reallocation: ReallocationRules = ReallocationRules()


# ------------------------------------------------------------------ budget


class BudgetStatus(StrEnum):
    COLLECTING = "collecting"
    NO_CHANGE = "no_change"
    AWAITING_APPROVAL = "awaiting_approval"
    APPLYING = "applying"
    APPLIED = "applied"
    ROLLED_BACK = "rolled_back"  # an apply failed or did not verify; every change was undone
    REJECTED = "rejected"
    EXPIRED = "expired"
    SKIPPED = "skipped"  # the campaign is not live


TERMINAL_BUDGET = {
    BudgetStatus.NO_CHANGE,
    BudgetStatus.APPLIED,
    BudgetStatus.ROLLED_BACK,
    BudgetStatus.REJECTED,
    BudgetStatus.EXPIRED,
    BudgetStatus.SKIPPED,
}


class BudgetInput(BaseModel):
    campaign_id: str
    directory: Directory
    decision_keys: list[str] = []  # verify who made each decision (domain/decision_proofs.py)
    queues: PlatformQueues = PlatformQueues()
    requested_by: str | None = None  # None: the schedule
    gateway_url: str | None = None
    # A pacing change decided by the campaign workflow: applied (or sent for approval) as
    # given instead of a proposal by the reallocation rules.
    pacing: Proposal | None = None


class AppliedChange(BaseModel):
    channel: ChannelKind
    before: int
    after: int
    verified: int | None = None  # read back from the platform
    rolled_back: bool = False
    error: str | None = None


class BudgetView(BaseModel):
    campaign_id: str
    status: BudgetStatus = BudgetStatus.COLLECTING
    currency: str | None = None
    proposal: Proposal | None = None
    approval: ApprovalProgress | None = None
    pending_approvers: list[str] = []
    changes: list[AppliedChange] = []
    outcome: str | None = None
    timeline: list[tuple[datetime, str]] = []
