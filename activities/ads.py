"""Paid-channel activities: Meta Marketing API and Google Ads. One class per platform,
each hosted on its platform's task queue, with the same activity names under its own
prefix (`meta.*`, `google_ads.*`) so the campaign workflows treat channels alike.

Every call is safe to retry: creates look up the channel's unique name first (a lost
response leaves the object behind; the retry finds it), budgets and statuses are set
to absolute values, removals of something already gone report `removed=False`.

A Meta channel is five objects, made in this order, each PAUSED and each found by its
name (`<channel name> · ad set`, `· creative`, `· ad`) before it is made: campaign → ad
set (budget, schedule, targeting) → image (uploaded once: Meta names it by its hash) →
creative → ad. The image is read from this worker's campaign assets directory
(`MOPS_CAMPAIGN_ASSETS`) by the reference the campaign file's validation made, and
uploaded only when its size and SHA-256 are the ones validated. Activation turns on the
ad, the ad set, then the campaign; removal goes backwards (ad → creative → ad set →
campaign), so nothing is left behind half deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import GOOGLE_ADS, META, ErrorType
from activities.errors import platform_errors
from activities.models import (
    AdAccountInput,
    AdAccountResult,
    PaidBudgetInput,
    PaidBudgetResult,
    PaidCreateInput,
    PaidFiguresInput,
    PaidFiguresResult,
    PaidNamedInput,
    PaidRef,
    PaidRemoveResult,
    PaidStatusInput,
)
from domain.campaigns import META_OBJECTIVES, Objective
from domain.meta_ads import ImageRef, MetaAd
from domain.money import micros_to_minor, minor_to_micros
from domain.performance import DayFigures
from integrations.errors import PlatformRejected
from integrations.google_ads import GoogleAdsClient
from integrations.meta_ads import MetaAdsClient

MICROS = Decimal(1_000_000)


def _needs_an_ad(channel: str, inp: PaidCreateInput, ad: object, field: str, what: str) -> None:
    """A paid campaign without an ad never shows: refuse before making anything (campaign
    files written before ads were part of the launch have none)."""
    missing = field if ad is None else "final_url" if inp.final_url is None else None
    if missing:
        raise ApplicationError(
            f"{channel}: the channel has no {missing} (an ad needs {what}, and a landing URL); "
            f"add a {field}: section to the channel",
            missing,
            type=ErrorType.PLATFORM_REJECTED,
            non_retryable=True,
        )


class MetaActivities:
    def __init__(self, meta: MetaAdsClient, assets: Path | None) -> None:
        """`assets`: the campaign assets directory ad images are read from
        (`MOPS_CAMPAIGN_ASSETS`); None refuses every ad with an image."""
        self._meta = meta
        self._assets = assets

    @activity.defn(name=META.account.name)
    @platform_errors
    async def account(self, inp: AdAccountInput) -> AdAccountResult:
        acc = await self._meta.account()
        return AdAccountResult(account_id=acc.id, currency=acc.currency, timezone=acc.timezone_name)

    @activity.defn(name=META.create.name)
    @platform_errors
    async def create(self, inp: PaidCreateInput) -> PaidRef:
        """Campaign, ad set (it holds the daily budget and the targeting), image, creative
        and ad, all PAUSED; `set_status` turns them on."""
        _needs_an_ad("meta_ads", inp, inp.ad, "ad", "a creative: primary text, headline, call to action, image or post")
        assert inp.ad is not None and inp.final_url is not None
        image = await self._image(inp.ad)  # checked before anything is made: a refusal leaves nothing behind
        campaign = await self._meta.find_campaign(inp.name)
        campaign_id = (
            campaign.id
            if campaign
            else await self._meta.create_campaign(
                name=inp.name, objective=META_OBJECTIVES[Objective(inp.objective)], status="PAUSED"
            )
        )
        ad_set_name = f"{inp.name} · ad set"
        ad_set = await self._meta.find_ad_set(campaign_id, ad_set_name)
        targeting = inp.ad.targeting if inp.ad else None
        ad_set_id = (
            ad_set.id
            if ad_set
            else await self._meta.create_ad_set(
                campaign_id=campaign_id,
                name=ad_set_name,
                daily_budget=inp.daily_budget_minor,
                countries=inp.countries,
                age_min=targeting.age_min if targeting else None,
                age_max=targeting.age_max if targeting else None,
                interests=targeting.interests if targeting else (),
                custom_audiences=targeting.custom_audiences if targeting else (),
                publisher_platforms=targeting.placements if targeting else (),
                start_time=inp.start,
                end_time=inp.end,
                status="PAUSED",
            )
        )
        image_hash, creative_id = await self._creative(inp.name, inp.ad, inp.final_url, image)
        ad_name = f"{inp.name} · ad"
        ad = await self._meta.find_ad(ad_set_id, ad_name)
        ad_id = (
            ad.id
            if ad
            else await self._meta.create_ad(name=ad_name, ad_set_id=ad_set_id, creative_id=creative_id, status="PAUSED")
        )
        return PaidRef(campaign=campaign_id, ad_set=ad_set_id, creative=creative_id, ad=ad_id, image_hash=image_hash)

    async def _creative(
        self, name: str, ad: MetaAd, link: str | None, image: tuple[str, bytes] | None
    ) -> tuple[str | None, str]:
        """The channel's creative (found by name, else made) with `image` (file name, bytes):
        (image hash, creative id)."""
        creative_name = f"{name} · creative"
        if ad.object_story_id is not None:
            found = await self._meta.find_creative(creative_name)
            creative_id = (
                found.id
                if found
                else await self._meta.create_post_creative(name=creative_name, object_story_id=ad.object_story_id)
            )
            return None, creative_id
        if image is None or link is None or ad.message is None or ad.headline is None or ad.call_to_action is None:
            raise PlatformRejected("meta", 0, "AD_INCOMPLETE", "the ad has no image, link, text or call to action")
        # Uploaded even when the creative exists: the same bytes get the same hash, and the
        # hash goes into the channel's ref either way.
        file_name, data = image
        image_hash = await self._meta.upload_image(data, name=file_name)
        found = await self._meta.find_creative(creative_name)
        creative_id = (
            found.id
            if found
            else await self._meta.create_link_creative(
                name=creative_name,
                link=link,
                image_hash=image_hash,
                message=ad.message,
                headline=ad.headline,
                description=ad.description,
                call_to_action=ad.call_to_action,
            )
        )
        return image_hash, creative_id

    async def _image(self, ad: MetaAd) -> tuple[str, bytes] | None:
        """The ad's image (file name, bytes) from this worker's campaign assets directory."""
        if ad.image is None:
            return None
        if isinstance(ad.image, str):
            raise _refused(
                "IMAGE_UNVERIFIABLE",
                f"ad image {ad.image}: the campaign was launched before images carried their SHA-256, so this "
                "worker cannot tell the file from another at that path; stop the campaign and launch its file again",
            )
        return ad.image.name, await asyncio.to_thread(_image_bytes, ad.image, self._assets)

    @activity.defn(name=META.set_status.name)
    @platform_errors
    async def set_status(self, inp: PaidStatusInput) -> None:
        """Ad, ad set and campaign together: on from the ad up (delivery starts when the
        campaign goes on, with everything below it ready), off from the campaign down."""
        status = "ACTIVE" if inp.active else "PAUSED"
        ids = [i for i in (inp.ref.ad, inp.ref.ad_set) if i] + [inp.ref.campaign]
        for object_id in ids if inp.active else reversed(ids):
            await self._meta.set_status(object_id, status)

    @activity.defn(name=META.set_budget.name)
    @platform_errors
    async def set_budget(self, inp: PaidBudgetInput) -> PaidBudgetResult:
        """Set the ad set's daily budget, then read it back."""
        assert inp.ref.ad_set, "a Meta channel's budget lives on its ad set"
        await self._meta.set_daily_budget(inp.ref.ad_set, inp.daily_budget_minor)
        return PaidBudgetResult(daily_budget_minor=(await self._meta.get_ad_set(inp.ref.ad_set)).daily_budget)

    @activity.defn(name=META.remove.name)
    @platform_errors
    async def remove(self, inp: PaidRef) -> PaidRemoveResult:
        """Delete ad → creative → ad set → campaign (what the ref holds: channels created
        before ads have only the last two). The creative outlives a deleted campaign on
        Meta, so it is deleted on its own; the image stays in the account's library."""
        removed = False
        for object_id in (inp.ad, inp.creative, inp.ad_set, inp.campaign):
            if object_id:
                removed = await self._meta.delete(object_id) or removed
        return PaidRemoveResult(removed=removed)

    @activity.defn(name=META.remove_named.name)
    @platform_errors
    async def remove_named(self, inp: PaidNamedInput) -> PaidRemoveResult:
        """Rollback of a create that failed half way: what exists of ad, creative, ad set
        and campaign, found by their names, deleted in that order."""
        removed = False
        campaign = await self._meta.find_campaign(inp.name)
        ad_set = await self._meta.find_ad_set(campaign.id, f"{inp.name} · ad set") if campaign else None
        ad = await self._meta.find_ad(ad_set.id, f"{inp.name} · ad") if ad_set else None
        creative = await self._meta.find_creative(f"{inp.name} · creative")
        for found in (ad, creative, ad_set, campaign):
            if found is not None:
                removed = await self._meta.delete(found.id) or removed
        return PaidRemoveResult(removed=removed)

    @activity.defn(name=META.figures.name)
    @platform_errors
    async def figures(self, inp: PaidFiguresInput) -> PaidFiguresResult:
        rows = await self._meta.insights(inp.ref.campaign, since=inp.since, until=inp.until)
        return PaidFiguresResult(
            days=[
                DayFigures(
                    day=r.day,
                    spend=r.spend,
                    impressions=r.impressions,
                    clicks=r.clicks,
                    conversions=float(r.conversions),
                    revenue=r.conversion_value,
                )
                for r in rows
            ]
        )


def _refused(code: str, message: str) -> PlatformRejected:
    return PlatformRejected("meta", 0, code, message)


def _image_bytes(image: ImageRef, assets: Path | None) -> bytes:
    """The ad's image, read once from the campaign assets directory: the bytes uploaded are
    the bytes checked. Refused (not retried: the file will not change by itself) when it is
    missing or is not the file validated at launch, never replaced by what sits there."""
    if assets is None:
        raise _refused(
            "IMAGE_ASSETS_UNSET",
            f"ad image {image.path}: MOPS_CAMPAIGN_ASSETS is not set on this worker (the campaign assets "
            "directory: a copy of the directory the campaign files and their images are in)",
        )
    path = assets / image.path
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _refused(
            "IMAGE_MISSING", f"ad image {image.path}: not in the campaign assets directory {assets} (looked for {path})"
        ) from None
    except OSError as err:
        raise _refused("IMAGE_UNREADABLE", f"ad image {path}: {err.strerror or err}") from None
    digest = hashlib.sha256(data).hexdigest()
    if (len(data), digest) != (image.size, image.sha256):
        raise _refused(
            "IMAGE_CHANGED",
            f"ad image {path} is not the file the campaign was validated with "
            f"({len(data)} bytes, SHA-256 {digest[:12]}…; validated: {image.size} bytes, {image.sha256[:12]}…); "
            "nothing uploaded",
        )
    return data


class GoogleAdsActivities:
    def __init__(self, google: GoogleAdsClient) -> None:
        self._google = google

    @activity.defn(name=GOOGLE_ADS.account.name)
    @platform_errors
    async def account(self, inp: AdAccountInput) -> AdAccountResult:
        customer = await self._google.customer()
        return AdAccountResult(account_id=customer.id, currency=customer.currency_code, timezone=customer.time_zone)

    @activity.defn(name=GOOGLE_ADS.create.name)
    @platform_errors
    async def create(self, inp: PaidCreateInput) -> PaidRef:
        """Budget, a PAUSED campaign using it, a PAUSED ad group with a PAUSED responsive
        search ad, then the keywords and negative keywords; `set_status` turns them on.
        Each step finds what an earlier attempt made (by name, by ad group, by keyword)."""
        _needs_an_ad("google_ads", inp, inp.search, "search", "headlines, descriptions and keywords")
        assert inp.search is not None and inp.final_url is not None
        micros = minor_to_micros(inp.daily_budget_minor, inp.currency)
        budget = await self._google.find_budget(inp.name)
        budget_name = (
            budget.resource_name if budget else await self._google.create_budget(name=inp.name, amount_micros=micros)
        )
        campaign = await self._google.find_campaign(inp.name)
        campaign_name = (
            campaign.resource_name
            if campaign
            else await self._google.create_campaign(
                name=inp.name,
                budget=budget_name,
                status="PAUSED",
                start_date=inp.start.date() if inp.start else None,
                end_date=inp.end.date() if inp.end else None,
            )
        )
        search = inp.search
        group = await self._google.find_ad_group(campaign_name, inp.name)
        group_name = (
            group.resource_name
            if group
            else await self._google.create_ad_group(campaign=campaign_name, name=inp.name, status="PAUSED")
        )
        ads = await self._google.ads(group_name)
        ad_name = (
            ads[0].resource_name
            if ads
            else await self._google.create_responsive_search_ad(
                ad_group=group_name,
                headlines=search.headlines,
                descriptions=search.descriptions,
                final_url=inp.final_url,
                path1=search.path1,
                path2=search.path2,
                status="PAUSED",
            )
        )
        existing = {(k.keyword.key(), k.negative): k.resource_name for k in await self._google.keywords(group_name)}
        new = [k for k in search.keywords if (k.key(), False) not in existing]
        new_negatives = [k for k in search.negative_keywords if (k.key(), True) not in existing]
        # create_keywords answers in the order it was given: positives, then negatives.
        made = await self._google.create_keywords(group_name, new, new_negatives)
        existing.update(
            zip([(k.key(), False) for k in new] + [(k.key(), True) for k in new_negatives], made, strict=True)
        )
        wanted = [(k, False) for k in search.keywords] + [(k, True) for k in search.negative_keywords]
        keywords = [existing[(k.key(), negative)] for k, negative in wanted]
        return PaidRef(campaign=campaign_name, budget=budget_name, ad_group=group_name, ad=ad_name, keywords=keywords)

    @activity.defn(name=GOOGLE_ADS.set_status.name)
    @platform_errors
    async def set_status(self, inp: PaidStatusInput) -> None:
        """Ad, ad group and campaign together: on from the inside out, off from the outside in
        (the campaign gates everything it holds). Campaigns launched before search ads have
        only the campaign."""
        ref, status = inp.ref, "ENABLED" if inp.active else "PAUSED"
        steps: list[tuple[str | None, Callable[[str, str], Awaitable[None]]]] = [
            (ref.ad, self._google.set_ad_status),
            (ref.ad_group, self._google.set_ad_group_status),
            (ref.campaign, self._google.set_status),
        ]
        for resource_name, set_status in steps if inp.active else reversed(steps):
            if resource_name:
                await set_status(resource_name, status)

    @activity.defn(name=GOOGLE_ADS.set_budget.name)
    @platform_errors
    async def set_budget(self, inp: PaidBudgetInput) -> PaidBudgetResult:
        """Set the campaign budget's `amount_micros`, then read it back."""
        assert inp.ref.budget, "a Google Ads channel has a campaign budget"
        await self._google.set_budget(inp.ref.budget, minor_to_micros(inp.daily_budget_minor, inp.currency))
        budget = await self._google.get_budget(inp.ref.budget)
        return PaidBudgetResult(daily_budget_minor=micros_to_minor(budget.amount_micros, inp.currency))

    @activity.defn(name=GOOGLE_ADS.remove.name)
    @platform_errors
    async def remove(self, inp: PaidRef) -> PaidRemoveResult:
        """Remove in the reverse of creation: keywords, ad, ad group, campaign, budget."""
        removed = await self._google.remove_keywords(inp.keywords) > 0
        if inp.ad:
            removed = await self._google.remove_ad(inp.ad) or removed
        if inp.ad_group:
            removed = await self._google.remove_ad_group(inp.ad_group) or removed
        removed = await self._google.remove_campaign(inp.campaign) or removed
        if inp.budget:
            removed = await self._google.remove_budget(inp.budget) or removed
        return PaidRemoveResult(removed=removed)

    @activity.defn(name=GOOGLE_ADS.remove_named.name)
    @platform_errors
    async def remove_named(self, inp: PaidNamedInput) -> PaidRemoveResult:
        """Rollback of a create that failed half way: everything found by the name, removed
        in the reverse of creation."""
        removed = False
        campaign = await self._google.find_campaign(inp.name)
        if campaign is not None:
            group = await self._google.find_ad_group(campaign.resource_name, inp.name)
            if group is not None:
                keywords = [k.resource_name for k in await self._google.keywords(group.resource_name)]
                removed = await self._google.remove_keywords(keywords) > 0
                for ad in await self._google.ads(group.resource_name):
                    removed = await self._google.remove_ad(ad.resource_name) or removed
                removed = await self._google.remove_ad_group(group.resource_name) or removed
            removed = await self._google.remove_campaign(campaign.resource_name) or removed
        budget = await self._google.find_budget(inp.name)
        if budget is not None:
            removed = await self._google.remove_budget(budget.resource_name) or removed
        return PaidRemoveResult(removed=removed)

    @activity.defn(name=GOOGLE_ADS.figures.name)
    @platform_errors
    async def figures(self, inp: PaidFiguresInput) -> PaidFiguresResult:
        rows = await self._google.metrics(inp.ref.campaign, since=inp.since, until=inp.until)
        return PaidFiguresResult(
            days=[
                DayFigures(
                    day=r.day,
                    spend=(Decimal(r.cost_micros) / MICROS).quantize(Decimal("0.01")),
                    impressions=r.impressions,
                    clicks=r.clicks,
                    conversions=r.conversions,
                    revenue=Decimal(str(r.conversions_value)).quantize(Decimal("0.01")),
                )
                for r in rows
            ]
        )
