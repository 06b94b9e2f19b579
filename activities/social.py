"""Social activities (LinkedIn Posts API). Hosted on the social task queue."""

from __future__ import annotations

from temporalio import activity

from activities.contracts import SOCIAL_DELETE, SOCIAL_POST
from activities.errors import platform_errors
from activities.models import SocialDeleteInput, SocialPostInput, SocialPostResult
from activities.post_once import create_post_once
from integrations.linkedin import LinkedInClient


class SocialActivities:
    def __init__(self, linkedin: LinkedInClient) -> None:
        self._linkedin = linkedin

    @activity.defn(name=SOCIAL_POST.name)
    @platform_errors
    async def post(self, inp: SocialPostInput) -> SocialPostResult:
        """Publish once per piece: a retry looks for the earlier attempt's post first (`post_once`)."""
        urn = await create_post_once(self._linkedin, inp.commentary, idempotency_key=inp.idempotency_key)
        return SocialPostResult(urn=urn)

    @activity.defn(name=SOCIAL_DELETE.name)
    @platform_errors
    async def delete(self, inp: SocialDeleteInput) -> None:
        """Retract (a post already gone counts as retracted)."""
        await self._linkedin.delete_post(inp.urn)
