"""CMS activities (WordPress REST). Hosted on the CMS task queue."""

from __future__ import annotations

from temporalio import activity

from activities.contracts import CMS_CREATE_DRAFT, CMS_PUBLISH, CMS_UNPUBLISH, CMS_UPDATE_DRAFT
from activities.errors import platform_errors
from activities.models import (
    CreateDraftInput,
    DraftResult,
    PostRef,
    PublishPostInput,
    PublishResult,
    UpdateDraftInput,
)
from integrations.wordpress import WordPressClient


class CmsActivities:
    def __init__(self, wordpress: WordPressClient) -> None:
        self._wp = wordpress

    @activity.defn(name=CMS_CREATE_DRAFT.name)
    @platform_errors
    async def create_draft(self, inp: CreateDraftInput) -> DraftResult:
        """Create the draft post (idempotent: by key, and by slug on the real WordPress)."""
        post = await self._wp.create_post(
            title=inp.title,
            content_html=inp.html,
            slug=inp.slug,
            status="draft",
            idempotency_key=inp.idempotency_key,
        )
        return DraftResult(post_id=post.id, link=post.link)

    @activity.defn(name=CMS_UPDATE_DRAFT.name)
    @platform_errors
    async def update_draft(self, inp: UpdateDraftInput) -> None:
        await self._wp.update_post(inp.post_id, title=inp.title, content_html=inp.html)

    @activity.defn(name=CMS_PUBLISH.name)
    @platform_errors
    async def publish(self, inp: PublishPostInput) -> PublishResult:
        """Publish now, or schedule with WordPress's `future` status (setting a status
        is absolute, so a retried call changes nothing)."""
        if inp.publish_at is None:
            post = await self._wp.update_post(inp.post_id, status="publish")
        else:
            # The client turns an aware time into WordPress's GMT form (UTC, no suffix).
            post = await self._wp.update_post(inp.post_id, status="future", date_gmt=inp.publish_at.isoformat())
        return PublishResult(status=post.status, link=post.link)

    @activity.defn(name=CMS_UNPUBLISH.name)
    @platform_errors
    async def unpublish(self, inp: PostRef) -> None:
        """Retract: back to draft (absolute, so idempotent)."""
        await self._wp.update_post(inp.post_id, status="draft")
