"""The contract between workflows and activities: every activity's registered name
with its input and result types, and the error types activities and workers raise.

Workflows call an activity through its `ActivityRef` (`workflows.common.call`), the
implementation registers under the same ref (`@activity.defn(name=REF.name)`), and
tests/workflows/test_contracts.py checks that every ref has exactly one registered
implementation with the ref's types. Workflows import this module inside
`imports_passed_through()`, so it imports pydantic models only (no httpx, no clients).

The names are part of every recorded history: a workflow replays by activity name,
so a name never changes once it has shipped.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from activities.conversion_models import (
    ConversionResult,
    DealConversionInput,
    DealsToConvertInput,
    DealsToConvertResult,
    GoogleConversionInput,
    MetaConversionInput,
    RecordDealConversionsInput,
    RecordDealConversionsResult,
)
from activities.experiment_models import EnterExperimentInput, ExperimentEntered, ReportConversionInput
from activities.models import (
    AdAccountInput,
    AdAccountResult,
    AssignOwnerInput,
    AssignOwnerResult,
    BrandCheckInput,
    BuildReportInput,
    BuildReportResult,
    CampaignSnapshotInput,
    CampaignSnapshotResult,
    CancelListSendInput,
    CancelListSendResult,
    CaptureBatchInput,
    CaptureBatchResult,
    CollectInput,
    CollectResult,
    ConfirmationEmailInput,
    ConfirmationEmailResult,
    CreateDraftInput,
    DraftResult,
    FinishImportInput,
    GaugesResult,
    HandoffInput,
    HandoffResult,
    HealthNotice,
    HealthNoticeResult,
    JourneysInput,
    JourneysResult,
    LastExitInput,
    LastExitResult,
    ListOwnersInput,
    ListOwnersResult,
    ListSendInput,
    ListSendResult,
    LoadJourneyInput,
    NotifyInput,
    NotifyResult,
    PageMetricsInput,
    PageMetricsResult,
    PaidBudgetInput,
    PaidBudgetResult,
    PaidCreateInput,
    PaidFiguresInput,
    PaidFiguresResult,
    PaidNamedInput,
    PaidRef,
    PaidRemoveResult,
    PaidStatusInput,
    PostRef,
    ProbeInput,
    PublishPostInput,
    PublishResult,
    RecordDistributionInput,
    RecordExitInput,
    ReportEmailInput,
    ReportEmailResult,
    SendEmailInput,
    SendEmailResult,
    SocialDeleteInput,
    SocialPostInput,
    SocialPostResult,
    StartFormJourneyInput,
    StartFormJourneyResult,
    SuppressInput,
    UpdateContactInput,
    UpdateDraftInput,
    UpsertLeadInput,
    UpsertLeadResult,
)
from activities.privacy_models import (
    EndLeadWorkflowsInput,
    EndLeadWorkflowsResult,
    EraseOnPlatformInput,
    EraseOnPlatformResult,
    PublishChangeInput,
    PublishChangeResult,
    PushContactInput,
    PushContactResult,
    RepairInput,
    RepairResult,
    ScanInput,
    ScanResult,
)
from domain.brand import CheckResult
from domain.campaigns import ChannelKind
from domain.health import ProbeResult
from domain.journey_migration import MigrationBatchInput, MigrationBatchResult
from domain.journeys import JourneySpec

In = TypeVar("In")
Out = TypeVar("Out")
Nothing = type(None)  # an activity that takes no input, or returns nothing


@dataclass(frozen=True)
class ActivityRef(Generic[In, Out]):
    """One activity: the name it is registered (and recorded in histories) under, the
    type it takes (`Nothing`: no argument at all) and the type it returns. An activity
    whose attempt may outlast the usual platform call (it waits on a platform's job)
    says so here, once, for every caller: how long an attempt may take and how often it
    heartbeats while it waits."""

    name: str
    input: type[In]
    result: type[Out]
    timeout: timedelta | None = None
    heartbeat: timedelta | None = None


class ErrorType(StrEnum):
    """`ApplicationError.type` values raised by activities and workers, branched on by
    workflows and retry policies."""

    # activities/errors.py: platform errors mapped to retry decisions
    PLATFORM_REJECTED = "PlatformRejected"  # a 4xx that retrying cannot fix; details[0] is the platform's code
    PLATFORM_RATE_LIMITED = "PlatformRateLimited"  # a 429; retried after the platform's advertised delay
    PLATFORM_UNAVAILABLE = "PlatformUnavailable"  # 5xx, timeout or network error; retried with backoff
    # workers/health_gate.py: the platform is marked degraded, so its activities are held
    PLATFORM_DEGRADED = "PlatformDegraded"
    # email.send / send_to_lists: a message that must not go out as it is (a template that
    # cannot render, a blocking brand finding); retrying cannot fix it, a person must, so
    # the workflow parks on it. details[0] is the reason (file:line), never the recipient.
    EMAIL_UNSENDABLE = "EmailUnsendable"
    # email.send / reports.send_email on a retry: an earlier attempt may have sent the email
    # and SendGrid's Email Activity feed cannot tell yet (it lags the send, or is not
    # reachable); retried, never re-sent until the feed can tell (activities/email_once.py).
    EMAIL_SEND_UNSETTLED = "EmailSendUnsettled"
    NO_OWNER_AVAILABLE = "NoOwnerAvailable"  # routing: every sales owner is excluded or has no weight
    JOURNEY_ERROR = "JourneyError"  # journeys.load: the journey's YAML does not load
    # Raised by the SDK, not by mops: the worker polling the queue has no such activity.
    NOT_FOUND = "NotFoundError"


# ------------------------------------------------------------------ lead journeys

JOURNEYS_LOAD = ActivityRef("journeys.load", LoadJourneyInput, JourneySpec)
# When the person last finished a journey (its `reentry` policy), in the contact ledger.
JOURNEYS_LAST_EXIT = ActivityRef("journeys.last_exit", LastExitInput, LastExitResult)
JOURNEYS_RECORD_EXIT = ActivityRef("journeys.record_exit", RecordExitInput, Nothing)
ROUTING_ASSIGN_OWNER = ActivityRef("routing.assign_owner", AssignOwnerInput, AssignOwnerResult)
CRM_UPSERT_LEAD = ActivityRef("crm.upsert_lead", UpsertLeadInput, UpsertLeadResult)
CRM_UPDATE_CONTACT = ActivityRef("crm.update_contact", UpdateContactInput, Nothing)
CRM_LIST_OWNERS = ActivityRef("crm.list_owners", ListOwnersInput, ListOwnersResult)
CRM_UPSERT_HANDOFF = ActivityRef("crm.upsert_handoff", HandoffInput, HandoffResult)
EMAIL_SEND = ActivityRef("email.send", SendEmailInput, SendEmailResult)
EMAIL_SUPPRESS = ActivityRef("email.suppress", SuppressInput, Nothing)
CHAT_NOTIFY = ActivityRef("chat.notify", NotifyInput, NotifyResult)
# A lead's conversion, sent back to the ad platform whose click brought it.
CONVERSIONS_META = ActivityRef("conversions.meta", MetaConversionInput, ConversionResult)
CONVERSIONS_GOOGLE_ADS = ActivityRef("conversions.google_ads", GoogleConversionInput, ConversionResult)
# A won deal: the ids read from the lead's journey by the activity, on the platform's queue.
CONVERSIONS_DEAL_WON_META = ActivityRef("conversions.deal_won_meta", DealConversionInput, ConversionResult)
CONVERSIONS_DEAL_WON_GOOGLE_ADS = ActivityRef("conversions.deal_won_google_ads", DealConversionInput, ConversionResult)

# ------------------------------------------------------------ content, campaigns

# Exports the lists' members and imports the allowed ones into a per-send list: both are
# platform jobs that take minutes on a large account, so the attempt may run long and
# heartbeats while it waits (a worker killed mid-wait is noticed within a minute).
EMAIL_SEND_TO_LISTS = ActivityRef(
    "email.send_to_lists",
    ListSendInput,
    ListSendResult,
    timeout=timedelta(minutes=30),
    heartbeat=timedelta(minutes=1),
)
EMAIL_CANCEL_LIST_SEND = ActivityRef("email.cancel_list_send", CancelListSendInput, CancelListSendResult)
CMS_CREATE_DRAFT = ActivityRef("cms.create_draft", CreateDraftInput, DraftResult)
CMS_UPDATE_DRAFT = ActivityRef("cms.update_draft", UpdateDraftInput, Nothing)
CMS_PUBLISH = ActivityRef("cms.publish", PublishPostInput, PublishResult)
CMS_UNPUBLISH = ActivityRef("cms.unpublish", PostRef, Nothing)
SOCIAL_POST = ActivityRef("social.post", SocialPostInput, SocialPostResult)
SOCIAL_DELETE = ActivityRef("social.delete", SocialDeleteInput, Nothing)
ANALYTICS_PAGE_METRICS = ActivityRef("analytics.page_metrics", PageMetricsInput, PageMetricsResult)
CHECKS_BRAND = ActivityRef("checks.brand", BrandCheckInput, CheckResult)
CAMPAIGNS_SNAPSHOT = ActivityRef("campaigns.snapshot", CampaignSnapshotInput, CampaignSnapshotResult)


@dataclass(frozen=True)
class AdPlatform:
    """The same seven activities on each ad platform, under the platform's prefix."""

    account: ActivityRef[AdAccountInput, AdAccountResult]
    create: ActivityRef[PaidCreateInput, PaidRef]
    set_status: ActivityRef[PaidStatusInput, None]
    set_budget: ActivityRef[PaidBudgetInput, PaidBudgetResult]
    remove: ActivityRef[PaidRef, PaidRemoveResult]
    remove_named: ActivityRef[PaidNamedInput, PaidRemoveResult]
    figures: ActivityRef[PaidFiguresInput, PaidFiguresResult]

    @classmethod
    def named(cls, prefix: str) -> AdPlatform:
        return cls(
            account=ActivityRef(f"{prefix}.account", AdAccountInput, AdAccountResult),
            create=ActivityRef(f"{prefix}.create", PaidCreateInput, PaidRef),
            set_status=ActivityRef(f"{prefix}.set_status", PaidStatusInput, Nothing),
            set_budget=ActivityRef(f"{prefix}.set_budget", PaidBudgetInput, PaidBudgetResult),
            remove=ActivityRef(f"{prefix}.remove", PaidRef, PaidRemoveResult),
            remove_named=ActivityRef(f"{prefix}.remove_named", PaidNamedInput, PaidRemoveResult),
            figures=ActivityRef(f"{prefix}.figures", PaidFiguresInput, PaidFiguresResult),
        )

    def refs(self) -> list[ActivityRef]:
        return [getattr(self, f.name) for f in fields(self)]


META = AdPlatform.named("meta")
GOOGLE_ADS = AdPlatform.named("google_ads")
AD_PLATFORMS: dict[ChannelKind, AdPlatform] = {ChannelKind.META_ADS: META, ChannelKind.GOOGLE_ADS: GOOGLE_ADS}

# -------------------------------------------------------------------- analytics

ANALYTICS_COLLECT = ActivityRef("analytics.collect", CollectInput, CollectResult)
ANALYTICS_COLLECT_JOURNEYS = ActivityRef("analytics.collect_journeys", JourneysInput, JourneysResult)
ANALYTICS_BUILD_REPORT = ActivityRef("analytics.build_report", BuildReportInput, BuildReportResult)
ANALYTICS_RECORD_DISTRIBUTION = ActivityRef("analytics.record_distribution", RecordDistributionInput, Nothing)
ANALYTICS_DEALS_TO_CONVERT = ActivityRef("analytics.deals_to_convert", DealsToConvertInput, DealsToConvertResult)
ANALYTICS_RECORD_DEAL_CONVERSIONS = ActivityRef(
    "analytics.record_deal_conversions", RecordDealConversionsInput, RecordDealConversionsResult
)
REPORTS_SEND_EMAIL = ActivityRef("reports.send_email", ReportEmailInput, ReportEmailResult)

# ----------------------------------------------------------------------- health

HEALTH_PROBE = ActivityRef("health.probe", ProbeInput, ProbeResult)
HEALTH_NOTIFY = ActivityRef("health.notify", HealthNotice, HealthNoticeResult)
HEALTH_GAUGES = ActivityRef("health.gauges", Nothing, GaugesResult)

# ------------------------------------------------------------------ list imports

# On the workflow queue: they read the staged rows on the machine that staged them
# (mops/lead_imports.py). A batch paces itself and heartbeats each row it captured.
IMPORT_CAPTURE_BATCH = ActivityRef(
    "imports.capture_batch",
    CaptureBatchInput,
    CaptureBatchResult,
    timeout=timedelta(minutes=30),
    heartbeat=timedelta(seconds=10),  # a batch cut off by a dead worker is retried after this
)
IMPORT_FINISH = ActivityRef("imports.finish", FinishImportInput, Nothing)
# On the workflow queue: the next leads a journey migration lists, each sent the `migrate`
# update at the migration's rate; heartbeats the last lead asked, so a retry resumes after it.
MIGRATION_BATCH = ActivityRef(
    "migrations.batch",
    MigrationBatchInput,
    MigrationBatchResult,
    timeout=timedelta(minutes=30),
    heartbeat=timedelta(seconds=10),
)

# ------------------------------------------------------ public forms' double opt-in

# On the email queue: the one confirmation email of a pending double opt-in.
FORMS_SEND_CONFIRMATION = ActivityRef("forms.send_confirmation", ConfirmationEmailInput, ConfirmationEmailResult)
# On the workflow queue (workers/form_journeys.py): the confirmed capture's journey started.
FORMS_START_JOURNEY = ActivityRef("forms.start_journey", StartFormJourneyInput, StartFormJourneyResult)

# ------------------------------------------------------ journey experiments

EXPERIMENTS_ENTER = ActivityRef("experiments.enter", EnterExperimentInput, ExperimentEntered)
EXPERIMENTS_REPORT = ActivityRef("experiments.report", ReportConversionInput, Nothing)

# ------------------------------------------------------ contact sync and erasure

SYNC_PUBLISH = ActivityRef("sync.publish", PublishChangeInput, PublishChangeResult)
SYNC_PUSH_CRM = ActivityRef("sync.push_crm", PushContactInput, PushContactResult)
SYNC_PUSH_EMAIL = ActivityRef("sync.push_email", PushContactInput, PushContactResult)
SYNC_PUSH_CDP = ActivityRef("sync.push_cdp", PushContactInput, PushContactResult)
SYNC_PUSH_AUDIENCE = ActivityRef("sync.push_audience", PushContactInput, PushContactResult)
SYNC_SCAN = ActivityRef("sync.scan", ScanInput, ScanResult)
SYNC_REPAIR = ActivityRef("sync.repair", RepairInput, RepairResult)
PRIVACY_END_LEAD_WORKFLOWS = ActivityRef("privacy.end_lead_workflows", EndLeadWorkflowsInput, EndLeadWorkflowsResult)
PRIVACY_ERASE_CRM = ActivityRef("privacy.erase_crm", EraseOnPlatformInput, EraseOnPlatformResult)
PRIVACY_ERASE_EMAIL = ActivityRef("privacy.erase_email", EraseOnPlatformInput, EraseOnPlatformResult)
PRIVACY_ERASE_CDP = ActivityRef("privacy.erase_cdp", EraseOnPlatformInput, EraseOnPlatformResult)
PRIVACY_ERASE_AUDIENCE = ActivityRef("privacy.erase_audience", EraseOnPlatformInput, EraseOnPlatformResult)


def all_refs() -> list[ActivityRef]:
    """Every activity mops has: the list the contract test holds the workers to."""
    return [v for v in globals().values() if isinstance(v, ActivityRef)] + META.refs() + GOOGLE_ADS.refs()
