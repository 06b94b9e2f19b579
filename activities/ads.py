"""Paid-channel activities: Meta Marketing API and Google Ads. One class per platform,
each hosted on its platform's task queue, with the same activity names under its own
prefix (`meta.*`, `google_ads.*`) so the campaign workflows treat channels alike.

Every call is safe to retry: creates look up the channel's unique name first (a lost
response leaves the object behind; the retry finds it), budgets and statuses are set
to absolute values, removals of something already gone report `removed=False`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

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
from domain.money import micros_to_minor, minor_to_micros
from domain.performance import DayFigures
from integrations.google_ads import GoogleAdsClient
from integrations.meta_ads import MetaAdsClient

MICROS = Decimal(1_000_000)


class MetaActivities:
    def __init__(self, meta: MetaAdsClient) -> None:
        self._meta = meta

    @activity.defn(name=META.account.name)
    @platform_errors
    async def account(self, inp: AdAccountInput) -> AdAccountResult:
        acc = await self._meta.account()
        return AdAccountResult(account_id=acc.id, currency=acc.currency, timezone=acc.timezone_name)

    @activity.defn(name=META.create.name)
    @platform_errors
    async def create(self, inp: PaidCreateInput) -> PaidRef:
        """Campaign and ad set, both PAUSED; the ad set holds the daily budget."""
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
        ad_set_id = (
            ad_set.id
            if ad_set
            else await self._meta.create_ad_set(
                campaign_id=campaign_id,
                name=ad_set_name,
                daily_budget=inp.daily_budget_minor,
                countries=inp.countries,
                start_time=inp.start,
                end_time=inp.end,
                status="PAUSED",
            )
        )
        return PaidRef(campaign=campaign_id, ad_set=ad_set_id)

    @activity.defn(name=META.set_status.name)
    @platform_errors
    async def set_status(self, inp: PaidStatusInput) -> None:
        """Ad set and campaign together (the campaign's status gates its ad sets)."""
        status = "ACTIVE" if inp.active else "PAUSED"
        if inp.ref.ad_set:
            await self._meta.set_status(inp.ref.ad_set, status)
        await self._meta.set_status(inp.ref.campaign, status)

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
        """Delete the campaign (Meta deletes its ad sets with it)."""
        return PaidRemoveResult(removed=await self._meta.delete(inp.campaign))

    @activity.defn(name=META.remove_named.name)
    @platform_errors
    async def remove_named(self, inp: PaidNamedInput) -> PaidRemoveResult:
        """Rollback of a create that failed half way: delete the campaign found by name."""
        campaign = await self._meta.find_campaign(inp.name)
        return PaidRemoveResult(removed=campaign is not None and await self._meta.delete(campaign.id))

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
        if inp.search is None or inp.final_url is None:
            # A campaign without an ad and keywords never shows: refuse before making anything.
            missing = "search" if inp.search is None else "final_url"
            raise ApplicationError(
                f"google_ads: the channel has no {missing} (a search ad needs headlines, descriptions, keywords "
                "and a landing URL); add a search: section to the channel",
                missing,
                type=ErrorType.PLATFORM_REJECTED,
                non_retryable=True,
            )
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
