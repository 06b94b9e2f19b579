"""Task queue names: which queue each platform's activities and the workflows run on.

The models travel inside workflow inputs (workflow code may not read the environment), so
whoever starts a workflow builds them from settings here. Pure pydantic: the service API,
the gateway and the workers import this without importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from mops.settings import Settings


class PlatformQueues(BaseModel):
    """Task queue per platform. One queue per platform lets the server-side
    `max_task_queue_activities_per_second` hold that platform's rate limit across workers."""

    workflows: str = "mops-workflows"
    crm: str = "mops-crm"
    email: str = "mops-email"
    chat: str = "mops-chat"
    cms: str = "mops-cms"
    social: str = "mops-social"
    analytics: str = "mops-analytics"
    checks: str = "mops-checks"
    meta: str = "mops-meta"
    google_ads: str = "mops-google-ads"


class SyncQueues(BaseModel):
    """Task queues the contact sync uses."""

    workflows: str = "mops-workflows"
    crm: str = "mops-crm"
    email: str = "mops-email"
    cdp: str = "mops-cdp"
    meta: str = "mops-meta"


class AnalyticsQueues(BaseModel):
    """Task queues the analytics workflows use."""

    workflows: str = "mops-workflows"  # where the lead journeys run (their touch paths are read from there)
    reports: str = "mops-reports"
    email: str = "mops-email"
    chat: str = "mops-chat"
    meta: str = "mops-meta"  # won deals' conversion uploads
    google_ads: str = "mops-google-ads"


def platform_queues(settings: Settings) -> PlatformQueues:
    return PlatformQueues(
        workflows=settings.workflow_task_queue,
        crm=settings.crm_task_queue,
        email=settings.email_task_queue,
        chat=settings.chat_task_queue,
        cms=settings.cms_task_queue,
        social=settings.social_task_queue,
        analytics=settings.analytics_task_queue,
        checks=settings.checks_task_queue,
        meta=settings.meta_task_queue,
        google_ads=settings.google_ads_task_queue,
    )


def sync_queues(settings: Settings) -> SyncQueues:
    return SyncQueues(
        workflows=settings.workflow_task_queue,
        crm=settings.crm_task_queue,
        email=settings.email_task_queue,
        cdp=settings.cdp_task_queue,
        meta=settings.meta_task_queue,
    )


def contact_platforms(settings: Settings) -> list[str]:
    """The platforms a contact is kept in (the CDP only when one is configured)."""
    return ["crm", "email", "ads"] + (["cdp"] if settings.braze_base_url else [])


def analytics_queues(settings: Settings) -> AnalyticsQueues:
    return AnalyticsQueues(
        workflows=settings.workflow_task_queue,
        reports=settings.reports_task_queue,
        email=settings.email_task_queue,
        chat=settings.chat_task_queue,
        meta=settings.meta_task_queue,
        google_ads=settings.google_ads_task_queue,
    )
