"""Inputs and outputs of every activity: one pydantic model in, one out.

Workflows import these (and only these) from `activities/`, so this module must
stay free of httpx and other I/O imports. Fields are only ever added with defaults.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from domain.contact_budget import AudienceSummary, BudgetFacts, SendSource
from domain.content import Channel, ContentType
from domain.conversions import ConversionPlan
from domain.journeys import JourneySpec
from domain.leads import Firmographics, LeadCapture
from domain.meta_ads import MetaAd
from domain.performance import DayFigures
from domain.routing import OwnerSlot
from domain.search_ads import SearchAd


class LoadJourneyInput(BaseModel):
    journey_id: str


class LastExitInput(BaseModel):
    lead_id: str  # the keyed hash: the person, whatever run or capture
    journey_id: str


class LastExitResult(BaseModel):
    finished_at: datetime | None = None  # None: the person never finished the journey
    outcome: str | None = None


class RecordExitInput(BaseModel):
    lead_id: str
    journey_id: str
    at: datetime
    outcome: str


class UpsertLeadInput(BaseModel):
    email: str
    properties: dict[str, str] = {}


class UpsertLeadResult(BaseModel):
    contact_id: str
    created: bool = False
    firmographics: Firmographics


class UpdateContactInput(BaseModel):
    contact_id: str
    properties: dict[str, str]


class SalesOwner(BaseModel):
    owner_id: str
    email: str | None = None
    name: str = ""
    archived: bool = False


class ListOwnersInput(BaseModel):
    include_archived: bool = False


class ListOwnersResult(BaseModel):
    owners: list[SalesOwner]


class HandoffInput(BaseModel):
    """Create (or update) the deal and the follow-up task for one hand-off cycle.

    `key` is derived from the workflow id and cycle, so retries and reassignments
    upsert the same records instead of creating new ones.
    """

    key: str
    contact_id: str
    owner_id: str
    deal_name: str
    pipeline: str = "default"
    deal_stage: str = "appointmentscheduled"
    task_subject: str
    task_body: str = ""
    task_due_epoch_ms: int


class HandoffResult(BaseModel):
    deal_id: str
    task_id: str


class AssignOwnerInput(BaseModel):
    request_id: str
    owners: list[OwnerSlot]
    exclude: list[str] = []


class AssignOwnerResult(BaseModel):
    owner_id: str


class EmailLead(BaseModel):
    """What a journey email is personalised with. None = unknown: the template states
    the fallback (activities/email_templates.py lists the names templates may use)."""

    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    job_title: str | None = None
    industry: str | None = None
    country: str | None = None
    employees: int | None = None
    segment: str | None = None
    score: float | None = None
    owner_name: str | None = None
    owner_email: str | None = None


class SendEmailInput(BaseModel):
    idempotency_key: str
    to_email: str
    from_email: str
    subject: str
    template: str
    first_name: str | None = None
    unsubscribe_group_id: int | None = None
    journey_id: str
    step_id: str
    lead_id: str
    lead: EmailLead | None = None  # None: only first_name is known (inputs recorded before templates)
    # The lead's budget (time zone, quiet hours, frequency cap): recorded in the contact
    # ledger, and the cap counted over every source's sends. None: inputs from before it.
    budget: BudgetFacts | None = None
    # The journey's clock when it asked for this send: the cap is reckoned and the send
    # recorded on it, so a journey run on the time-skipping server (`mops journeys test`)
    # counts its own sends on its own clock. None: the activity's clock.
    at: datetime | None = None


class SendEmailResult(BaseModel):
    sent: bool
    message_id: str | None = None
    suppressed: bool = False
    warnings: list[str] = []  # brand findings on the rendered message that do not block it
    # Not sent: other sends (a campaign, a content list send) used the frequency cap; try then.
    deferred_until: datetime | None = None


class SuppressInput(BaseModel):
    email: str
    group_id: int
    lead_id: str | None = None  # set: the contact ledger records that this lead may not be emailed


class NotifyInput(BaseModel):
    idempotency_key: str
    text: str
    channel: str | None = None
    # Notify a person: their Slack account is looked up by their work email.
    user_email: str | None = None


class NotifyResult(BaseModel):
    ts: str
    channel: str


# ---------------------------------------------------------------- content


class CreateDraftInput(BaseModel):
    idempotency_key: str
    title: str
    html: str
    slug: str


class DraftResult(BaseModel):
    post_id: int
    link: str


class UpdateDraftInput(BaseModel):
    post_id: int
    title: str
    html: str


class PublishPostInput(BaseModel):
    post_id: int
    # In the future: WordPress's own `future` status publishes it on time even if
    # mops is down at that moment.
    publish_at: datetime | None = None


class PostRef(BaseModel):
    post_id: int


class PublishResult(BaseModel):
    status: str
    link: str


class SocialPostInput(BaseModel):
    idempotency_key: str
    commentary: str


class SocialPostResult(BaseModel):
    urn: str


class SocialDeleteInput(BaseModel):
    urn: str


class ListSendEmail(BaseModel):
    """A list email (a campaign's, or published content's) the activity renders from its
    template in the list-email templates (campaigns/templates/)."""

    template: str
    campaign_id: str  # the campaign or content id: utm_campaign of the links
    campaign_name: str
    body_markdown: str
    landing_url: str | None = None  # the campaign's tagged landing page, or the published post


class ListSendInput(BaseModel):
    idempotency_key: str
    name: str
    subject: str
    html: str  # sent as it is when `email` is None (content list emails; campaigns launched before templates)
    list_ids: list[str]
    suppression_group_id: int
    email: ListSendEmail | None = None
    source: SendSource = SendSource.CAMPAIGN  # whose send it is, in the contact ledger


class ListSendResult(BaseModel):
    single_send_id: str | None = None  # None: the contact budget left nobody to send to
    audience: AudienceSummary | None = None  # who was sent to, who was left out and why


class CancelListSendInput(BaseModel):
    single_send_id: str


class CancelListSendResult(BaseModel):
    # False: the mail had already gone out (a delivered email cannot be recalled).
    recalled: bool


class BrandCheckInput(BaseModel):
    title: str
    body_markdown: str
    type: ContentType
    region: str
    channels: list[Channel]


class PageMetricsInput(BaseModel):
    page_path: str
    start_date: date
    end_date: date


class PageMetricsResult(BaseModel):
    views: float = 0
    sessions: float = 0
    conversions: float = 0


# ---------------------------------------------------------------- campaigns (ads)


class AdAccountInput(BaseModel):
    """Read the ad account a channel will spend from (currency, time zone)."""


class AdAccountResult(BaseModel):
    account_id: str
    currency: str
    timezone: str | None = None


class PaidRef(BaseModel):
    """Where one paid channel of a campaign lives on its platform.

    Meta: `campaign` is the campaign id, `ad_set` the ad set that holds the budget,
    `creative` and `ad` the ad creative and the ad it runs, `image_hash` the uploaded image
    (none for a creative that runs an existing post).
    Google Ads: resource names of the campaign, its `budget`, its `ad_group`, the
    responsive search `ad` in it and the ad group's `keywords` (negatives included).
    Channels created before ads were part of the launch have no creative, ad group, ad or
    keywords.
    """

    campaign: str
    ad_set: str | None = None
    budget: str | None = None
    ad: str | None = None  # Meta: the ad id; Google Ads: the ad group ad's resource name
    creative: str | None = None
    image_hash: str | None = None
    ad_group: str | None = None
    keywords: list[str] = []


class PaidCreateInput(BaseModel):
    """Create a channel's campaign PAUSED (with its budget). `name` carries the mops
    campaign id and is unique per channel, so a retried create finds what the lost
    attempt made instead of making a second one."""

    name: str
    objective: str  # domain Objective value
    daily_budget_minor: int
    currency: str
    countries: list[str] = []
    start: datetime | None = None
    end: datetime | None = None
    # The ad each paid platform runs: Meta's creative and targeting, Google's responsive
    # search ad and keywords. None for campaigns whose file predates ads (they get their
    # campaign, ad set or budget only).
    ad: MetaAd | None = None
    search: SearchAd | None = None
    final_url: str | None = None  # where the ad leads: the channel's UTM-tagged landing URL


class PaidStatusInput(BaseModel):
    ref: PaidRef
    active: bool


class PaidBudgetInput(BaseModel):
    ref: PaidRef
    daily_budget_minor: int  # absolute, never a delta
    currency: str


class PaidBudgetResult(BaseModel):
    daily_budget_minor: int  # what the platform reports after the change (read back)


class PaidNamedInput(BaseModel):
    name: str  # the channel's unique platform name (see PaidCreateInput)


class PaidRemoveResult(BaseModel):
    removed: bool  # False: it was already gone


class PaidFiguresInput(BaseModel):
    ref: PaidRef
    since: date
    until: date
    currency: str


class PaidFiguresResult(BaseModel):
    days: list[DayFigures] = []


class CampaignSnapshotInput(BaseModel):
    workflow_id: str


class CampaignSnapshotResult(BaseModel):
    found: bool
    view: dict | None = None  # the campaign workflow's `state` query, as JSON


# ---------------------------------------------------------------- integration health


class ProbeInput(BaseModel):
    platform: str
    requests: int = 10


class HealthNotice(BaseModel):
    key: str  # incident id + kind: the same notice is delivered once
    kind: str  # alert | recovered | budget (the error budget burns fast)
    platform: str
    text: str
    channel: str  # chat channel for alerts
    webhook_url: str | None = None


class HealthNoticeResult(BaseModel):
    chat: bool
    webhook: bool | None = None  # None: no webhook configured


class GaugesResult(BaseModel):
    leads: dict[str, int] = {}
    approvals_waiting: dict[str, int] = {}
    oldest_approval_age_s: dict[str, float] = {}


# ---------------------------------------------------------------- analytics and reports


class CollectInput(BaseModel):
    """Load `source`'s days `since`..`until` into the analytics store (one transaction per day)."""

    source: str  # a domain.analytics.Source value
    since: date
    until: date
    currency: str = "EUR"  # the reporting currency
    timezone: str = "UTC"  # what a day is (the CRM's close dates are cut at local midnight)


class CollectResult(BaseModel):
    source: str
    days: int = 0  # days loaded by the attempt that finished
    rows: int = 0
    violations: int = 0  # rows that broke the schema: counted, not loaded
    reasons: list[str] = []  # the first violations, one line each
    resumed_from: date | None = None  # the day the finishing attempt started at, when it resumed from a cursor
    attempt: int = 1


class JourneysInput(BaseModel):
    """Read the touch paths of the lead journeys running at some point in [since, until)."""

    since: datetime
    until: datetime
    task_queue: str  # the deployment's workflow queue: the journeys mops runs there


class JourneysResult(BaseModel):
    journeys: int = 0
    touches: int = 0
    skipped: int = 0  # journeys whose state could not be read
    unchanged: int = 0  # closed journeys already read after they closed (not queried again)


class BuildReportInput(BaseModel):
    report_id: str
    title: str
    since: date
    until: date
    currency: str = "EUR"
    timezone: str = "UTC"
    task_queue: str  # the workflow queue: automation KPIs and budget moves are read from its runs
    stale: dict[str, str] = {}  # source -> why its collection failed
    model: str = "w_shaped"
    half_life_days: float = 7.0
    lookback_days: int = 90


class BuildReportResult(BaseModel):
    report_id: str
    subject: str
    html: str  # the whole report, self-contained (inline SVG charts)
    html_path: str  # where it was written
    text: str  # the chat version: headline figures and what changed
    email_text: str = ""  # the e-mail's plain-text part ("": built before reports had one)


class ReportEmailInput(BaseModel):
    idempotency_key: str
    to_email: str
    from_email: str
    subject: str
    html: str
    report_id: str
    text: str | None = None  # the plain-text part (None: inputs recorded before it existed)


class ReportEmailResult(BaseModel):
    message_id: str | None = None


class DistributionEntry(BaseModel):
    channel: str  # email | chat
    recipient: str  # an address or a chat channel
    status: str  # sent | failed
    ref: str | None = None  # SendGrid message id, Slack ts, or why it failed
    at: datetime


class RecordDistributionInput(BaseModel):
    report_id: str
    entries: list[DistributionEntry]


# ------------------------------------------------------------------ list imports


class CaptureBatchInput(BaseModel):
    """Capture the next staged rows of an import after row `after`, at most `limit` of them,
    at most `rows_per_second`."""

    import_id: str
    after: int
    limit: int
    rows_per_second: float


class CaptureBatchResult(BaseModel):
    last_row: int  # the cursor after this batch (== `after` when no rows were left)
    rows: int = 0  # rows captured by this batch
    started: int = 0  # new leads (their journeys started)
    touched: int = 0  # leads that already ran: the row recorded a touch on their journey
    refused: int = 0  # people the journey would not take again (its re-entry policy): in the report
    done: bool = False  # no staged rows after `last_row`


class FinishImportInput(BaseModel):
    import_id: str


# --- public forms' double opt-in (workflows/form_confirmation.py) ----------------------------


class ConfirmationEmailInput(BaseModel):
    """The confirmation email of a double opt-in form, rendered when the form was posted."""

    idempotency_key: str
    form_id: str
    to_email: str
    from_email: str
    subject: str
    text: str
    html: str


class ConfirmationEmailResult(BaseModel):
    message_id: str | None = None


class StartFormJourneyInput(BaseModel):
    """A confirmed capture, with the journey and conversion plan pinned when it was posted."""

    capture: LeadCapture
    journey: JourneySpec
    conversions: ConversionPlan | None = None


class StartFormJourneyResult(BaseModel):
    lead_workflow_id: str
    created: bool  # a new journey (False: a touch on the person's running one)
    refused: str | None = None  # the journey's reentry policy would not take them again
