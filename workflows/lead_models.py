"""Inputs, state and messages of the lead journey workflow (pydantic, no I/O)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.click_ids import ClickIds
from domain.consent import ConsentRecord, ConsentState, Purpose
from domain.conversions import ConversionPlan, SentConversion
from domain.journey_stats import StepEngagement
from domain.journeys import JourneySpec
from domain.leads import EngagementEvent, EventType, Firmographics, LeadCapture, LeadStage, Touch
from domain.routing import RoundRobinState
from domain.scoring import Score
from domain.sync import ContactChange
from mops.queues import PlatformQueues


class LeadJourneyInput(BaseModel):
    lead_id: str  # keyed hash of the normalised email (no personal data)
    capture: LeadCapture
    queues: PlatformQueues = PlatformQueues()
    # The journey spec, resolved by the service that starts the run (it validates the
    # capture against it anyway): the run pins it without loading it. None (a start from
    # before this field): the run loads it with the `journeys.load` activity.
    journey: JourneySpec | None = None
    # Which stage changes are sent to the ad platforms as conversions, resolved by the
    # service from settings and pinned for the run. None: none are.
    conversions: ConversionPlan | None = None
    # Set only by continue-as-new: everything the next run needs.
    state: LeadJourneyState | None = None
    # Continue-as-new once history has this many events (or when the server
    # suggests it, whichever comes first). Tests lower it to exercise the path.
    continue_as_new_after_events: int = 10_000
    # Set by the service: the run's step keys carry its entry (`LeadJourneyState.entry`), so a
    # person who enters the journey again is sent its emails again. Runs started before it
    # (False) keep keys of the workflow id alone: their deals and sends are found by those.
    keys_per_entry: bool = False


class CaptureResult(BaseModel):
    lead_id: str
    workflow_id: str
    created: bool
    duplicate: bool = False
    stage: LeadStage
    touches: int
    refused: str | None = None  # the journey would not take this person again (reentry)


class UnsubscribeRequest(BaseModel):
    source: str = "cli"
    at: datetime | None = None


class SalesDecisionKind(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class SalesDecision(BaseModel):
    decision: SalesDecisionKind
    owner_id: str
    reason: str | None = None


class SalesDecisionResult(BaseModel):
    """What the `sales_decision` update answers once the journey has taken the decision."""

    decision: SalesDecisionKind
    owner_id: str


class TimelineEntry(BaseModel):
    at: datetime
    what: str  # no personal data: stage changes, step ids, owner ids


class SentEmail(BaseModel):
    at: datetime
    step_id: str
    idempotency_key: str
    message_id: str | None = None


class LeadExperiment(BaseModel):
    """This lead's entry into an experiment step that counted it (see workflows/experiment.py)."""

    variant: str
    at: datetime
    reported: bool = False  # its conversion on the metric has been sent to the experiment


class LeadJourneyState(BaseModel):
    """All durable state of one lead's journey, carried across continue-as-new."""

    lead_id: str
    capture: LeadCapture
    stage: LeadStage = LeadStage.NEW
    journey: JourneySpec | None = None
    contact_id: str | None = None
    firmographics: Firmographics | None = None
    consent: bool = False
    unsubscribed: bool = False
    unsubscribe_source: str | None = None
    capture_ids: list[str] = []
    touches: int = 1
    touch_path: list[Touch] = []  # captures and campaign-link events, oldest first (bounded)
    events: list[EngagementEvent] = []
    event_seq: int = 0  # events ever recorded (events keeps only the recent ones)
    event_types_seen: list[EventType] = []
    score: Score | None = None
    crm_score: float | None = None  # the score the CRM's mops_score was last written from
    segment: str | None = None
    cursor: str | None = None  # nurture step to run next
    wait_until: datetime | None = None  # deadline of the wait in progress
    wait_from_seq: int | None = None  # event_seq when a wait_for_event began
    active_step: str | None = None  # step started and not finished (resumes after CAN)
    step_visits: dict[str, int] = {}
    last_step: str | None = None  # the step last entered: where the lead left, once it has
    step_engagement: dict[str, StepEngagement] = {}  # per step: emails sent, opens, clicks, replies
    variants: dict[str, str] = {}  # split or experiment step id -> the variant this lead got (or "holdout")
    experiments: dict[str, LeadExperiment] = {}  # experiment step id -> the entry it counted
    goal: str | None = None  # the journey goal met (ends nurture at once)
    entry: str | None = None  # this entry's first run id (short), in every key; None: older runs
    reentry_refused: str | None = None  # why this run may not enter the journey (it ended at once)
    cycle: int = 0  # incremented each time sales recycles the lead
    recycle_seq: int = 0  # event_seq when the lead was last recycled
    final_escalation: bool = False
    emails: list[SentEmail] = []
    emails_sent: int = 0
    owner_id: str | None = None
    owner_name: str | None = None  # for the emails' signature, once sales owns the lead
    owner_history: list[str] = []
    reassignments: int = 0
    assigned_at: datetime | None = None
    sales_decision: SalesDecision | None = None
    ignored_decisions: int = 0
    deal_id: str | None = None
    outcome: str | None = None
    next_step: str | None = None
    next_step_at: datetime | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # Data protection: consent per purpose (source and time), erasure, and the
    # changes waiting to reach the lead's contact sync.
    consents: ConsentState = ConsentState()
    erased: bool = False
    sync_outbox: list[ContactChange] = []
    # Conversions: the plan pinned at start, the lead's ad click ids (latest capture's win),
    # and each conversion sent (or refused) per platform.
    conversion_plan: ConversionPlan | None = None
    click_ids: ClickIds | None = None
    conversions: list[SentConversion] = []


class LeadState(BaseModel):
    """What the `state` query returns: the lead as a marketing-ops engineer sees it."""

    lead_id: str
    stage: LeadStage
    journey_id: str
    journey_version: int | None = None
    score: Score | None = None
    segment: str | None = None
    owner_id: str | None = None
    deal_id: str | None = None
    consent: bool
    unsubscribed: bool
    touches: int
    touch_path: list[Touch] = []
    emails_sent: int
    events_recorded: int
    next_step: str | None = None
    next_step_at: datetime | None = None
    outcome: str | None = None
    cycle: int = 0
    timeline: list[TimelineEntry] = []
    consents: dict[Purpose, ConsentRecord] = {}  # per purpose: granted or withdrawn, source, time
    erased: bool = False
    conversions: list[SentConversion] = []  # per platform and stage: sent, duplicate or rejected
    variants: dict[str, str] = {}  # split step id -> the variant this lead got (or "holdout")
    goal: str | None = None  # the journey goal met, if one was
    key_prefix: str | None = None  # what this entry's step keys start with (`<workflow id>[:<entry>]`)
    # Per-step analytics (domain/journey_stats.py): steps entered, the last one, engagement per step.
    step_visits: dict[str, int] = {}
    last_step: str | None = None
    step_engagement: dict[str, StepEngagement] = {}


class LeadJourneyResult(BaseModel):
    lead_id: str
    stage: LeadStage
    outcome: str | None = None
    emails_sent: int
    owner_id: str | None = None
    score: float | None = None


class RouterState(BaseModel):
    """State of the owner router: round-robin weights and recent answers (so a
    retried request gets the same owner)."""

    rr: RoundRobinState = RoundRobinState()
    recent: dict[str, str] = {}
    assigned: dict[str, int] = {}


LeadJourneyInput.model_rebuild()
