"""Inputs, state and results of the analytics collection and executive report workflows
(pydantic, no I/O)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel

from activities.models import CollectResult, DistributionEntry, JourneysResult
from domain.analytics import Period, Source
from domain.conversions import ConversionPlan, DealConversion
from mops.queues import AnalyticsQueues

ALL_SOURCES = [s.value for s in Source]
JOURNEYS = "journeys"  # the touch paths, reported alongside the platform sources


class SourceState(StrEnum):
    PENDING = "pending"
    FRESH = "fresh"
    STALE = "stale"  # the last try failed; retried within the collection window


class SourceStatus(BaseModel):
    source: str
    state: SourceState = SourceState.PENDING
    tries: int = 0  # collection rounds (each with its own activity retries)
    result: CollectResult | JourneysResult | None = None
    error: str | None = None
    last_try: datetime | None = None


class CollectionInput(BaseModel):
    since: date
    until: date
    sources: list[str] = ALL_SOURCES
    journeys: bool = True  # also read the lead journeys' touch paths
    currency: str = "EUR"
    timezone: str = "UTC"
    queues: AnalyticsQueues = AnalyticsQueues()
    retry_within: timedelta = timedelta(hours=6)  # stale sources are retried until this long after the start
    retry_every: timedelta = timedelta(minutes=30)
    heartbeat_timeout: timedelta = timedelta(seconds=60)
    # The conversions plan (MOPS_CONVERSIONS_ON, ...) when it has deal_won: the CRM's won
    # deals of mops leads are then sent to the ad platforms. None: they are not.
    conversions: ConversionPlan | None = None


class CollectionStatus(StrEnum):
    COLLECTING = "collecting"
    RETRYING = "retrying"  # waiting to retry stale sources
    DONE = "done"


class CollectionView(BaseModel):
    since: date
    until: date
    status: CollectionStatus = CollectionStatus.COLLECTING
    sources: list[SourceStatus] = []
    retry_until: datetime | None = None
    timeline: list[tuple[datetime, str]] = []
    deal_conversions: list[DealConversion] = []  # won deals sent (or not) by this run

    @property
    def stale(self) -> dict[str, str]:
        """Source -> why it is stale."""
        return {s.source: s.error or "not collected" for s in self.sources if s.state != SourceState.FRESH}


class ReportInput(BaseModel):
    title: str = "Weekly marketing report"
    period_days: int = 7
    timezone: str = "UTC"
    currency: str = "EUR"
    recipients: list[str] = []  # e-mail addresses
    chat_channel: str | None = None
    email_from: str = "reports@mops.example"
    queues: AnalyticsQueues = AnalyticsQueues()
    # The period is the `period_days` days before this day; None: the day of the run's
    # scheduled time (or of its start, outside a schedule) in `timezone`.
    as_of: date | None = None
    collect: bool = True
    sources: list[str] = ALL_SOURCES
    retry_within: timedelta = timedelta(hours=2)
    retry_every: timedelta = timedelta(minutes=30)
    heartbeat_timeout: timedelta = timedelta(seconds=60)
    model: str = "w_shaped"
    half_life_days: float = 7.0
    lookback_days: int = 90
    conversions: ConversionPlan | None = None  # passed to the collection (CollectionInput.conversions)


class ReportStatus(StrEnum):
    COLLECTING = "collecting"
    BUILDING = "building"
    DISTRIBUTING = "distributing"
    DONE = "done"


class ReportView(BaseModel):
    report_id: str | None = None  # report-<start>-<end>: one per period
    period: Period | None = None
    status: ReportStatus = ReportStatus.COLLECTING
    stale: dict[str, str] = {}
    subject: str | None = None
    html_path: str | None = None
    sent: list[DistributionEntry] = []  # what went to whom, and what failed
    timeline: list[tuple[datetime, str]] = []
