"""GoogleAdsClient's ad groups, responsive search ads and keywords against the sandbox over
real HTTP, partial failure raised, and the request shapes on the wire."""

from __future__ import annotations

import json

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.ads import GoogleAdsActivities
from activities.models import PaidCreateInput, PaidNamedInput, PaidRef, PaidStatusInput
from domain.search_ads import Keyword, MatchType, SearchAd, parse_keyword
from integrations.errors import PlatformRejected
from integrations.google_ads import GoogleAdGroup, GoogleAdsClient, GoogleKeyword
from tests.google_search import SEARCH_SECTION

HEADLINES = ["Spring CRM", "Launch in days", "Teams love it"]
DESCRIPTIONS = ["Durable marketing workflows.", "Approvals built in."]


async def paused_campaign(google_ads: GoogleAdsClient, name: str = "Spring search") -> str:
    budget = await google_ads.create_budget(name=f"{name} budget", amount_micros=20_000_000)
    return await google_ads.create_campaign(name=name, budget=budget, status="PAUSED")


async def test_ad_group_ad_and_keywords_are_made_found_switched_and_removed(google_ads, admin):
    campaign = await paused_campaign(google_ads)
    assert await google_ads.find_ad_group(campaign, "Spring") is None
    group = await google_ads.create_ad_group(campaign=campaign, name="Spring", status="PAUSED")
    assert await google_ads.find_ad_group(campaign, "Spring") == GoogleAdGroup(
        resource_name=group, name="Spring", status="PAUSED", campaign=campaign
    )
    ad = await google_ads.create_responsive_search_ad(
        ad_group=group,
        headlines=HEADLINES,
        descriptions=DESCRIPTIONS,
        final_url="https://www.mops.example/spring?utm_source=google",
        path1="crm",
        status="PAUSED",
    )
    assert [a.resource_name for a in await google_ads.ads(group)] == [ad]
    positives = [parse_keyword("[crm software]"), parse_keyword('"crm"')]
    made = await google_ads.create_keywords(group, positives, [parse_keyword("jobs")])
    assert len(made) == 3
    assert await google_ads.keywords(group) == [
        GoogleKeyword(resource_name=made[0], status="ENABLED", keyword=positives[0], negative=False),
        GoogleKeyword(resource_name=made[1], status="ENABLED", keyword=positives[1], negative=False),
        GoogleKeyword(
            resource_name=made[2],
            status="ENABLED",
            keyword=Keyword(text="jobs", match_type=MatchType.BROAD),
            negative=True,
        ),
    ]
    [created] = await admin.effects("google_ads", "ad_group_ad.create")
    assert created["summary"]["finalUrls"] == ["https://www.mops.example/spring?utm_source=google"]

    await google_ads.set_ad_status(ad, "ENABLED")
    await google_ads.set_ad_group_status(group, "ENABLED")
    state = await admin.state("google_ads")
    assert [a["status"] for a in state["ads"]] == [g["status"] for g in state["ad_groups"]] == ["ENABLED"]

    assert await google_ads.remove_keywords(made) == 3
    assert await google_ads.remove_keywords(made) == 0, "already removed: nothing to do, no error"
    assert await google_ads.remove_ad(ad) is True and await google_ads.remove_ad(ad) is False
    assert await google_ads.remove_ad_group(group) is True and await google_ads.remove_ad_group(group) is False
    assert await google_ads.keywords(group) == [] and await google_ads.ads(group) == []
    assert await google_ads.find_ad_group(campaign, "Spring") is None


async def test_a_refused_keyword_raises_naming_it_and_the_others_stay(google_ads, admin):
    campaign = await paused_campaign(google_ads)
    group = await google_ads.create_ad_group(campaign=campaign, name="Spring", status="PAUSED")
    too_long = Keyword(text="k" * 81, match_type=MatchType.EXACT)  # past the platform's limit
    with pytest.raises(PlatformRejected) as caught:
        await google_ads.create_keywords(group, [parse_keyword("crm"), too_long], [parse_keyword("jobs")])
    err = caught.value
    assert err.code == "criterionError.KEYWORD_TEXT_TOO_LONG"
    assert "1 of 3 adGroupCriteria refused" in err.message and f"operations[1] [{'k' * 81}]" in err.message
    kept = [(k.keyword.text, k.negative) for k in await google_ads.keywords(group)]
    assert kept == [("crm", False), ("jobs", True)]


async def test_request_shapes_one_request_per_kind_and_partial_failure_for_keywords():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"path": request.url.path, **body})
        kind = request.url.path.rsplit("/", 1)[1].split(":")[0]
        results = [{"resourceName": f"customers/1/{kind}/1~{i}"} for i in range(len(body["operations"]))]
        return httpx.Response(200, json={"results": results})

    async with GoogleAdsClient(
        "https://googleads.googleapis.com",
        "t",
        customer_id="1",
        developer_token="d",
        transport=httpx.MockTransport(handler),
    ) as client:
        await client.create_ad_group(campaign="customers/1/campaigns/2", name="G", status="PAUSED")
        await client.create_responsive_search_ad(
            ad_group="customers/1/adGroups/3",
            headlines=HEADLINES,
            descriptions=DESCRIPTIONS,
            final_url="https://x.example/",
            status="PAUSED",
        )
        await client.create_keywords(
            "customers/1/adGroups/3", [parse_keyword("[a b]"), parse_keyword('"c"')], [parse_keyword("d")]
        )
    group, ad, criteria = seen
    assert group == {
        "path": "/v18/customers/1/adGroups:mutate",
        "operations": [
            {
                "create": {
                    "name": "G",
                    "campaign": "customers/1/campaigns/2",
                    "status": "PAUSED",
                    "type": "SEARCH_STANDARD",
                }
            }
        ],
    }
    assert ad["operations"] == [
        {
            "create": {
                "adGroup": "customers/1/adGroups/3",
                "status": "PAUSED",
                "ad": {
                    "finalUrls": ["https://x.example/"],
                    "responsiveSearchAd": {
                        "headlines": [{"text": h} for h in HEADLINES],
                        "descriptions": [{"text": d} for d in DESCRIPTIONS],
                    },
                },
            }
        }
    ]
    assert criteria["path"] == "/v18/customers/1/adGroupCriteria:mutate" and criteria["partialFailure"] is True
    assert [op["create"] for op in criteria["operations"]] == [
        {"adGroup": "customers/1/adGroups/3", "keyword": {"text": "a b", "matchType": "EXACT"}, "status": "ENABLED"},
        {"adGroup": "customers/1/adGroups/3", "keyword": {"text": "c", "matchType": "PHRASE"}, "status": "ENABLED"},
        {"adGroup": "customers/1/adGroups/3", "keyword": {"text": "d", "matchType": "BROAD"}, "negative": True},
    ]


def create_input(name: str = "Spring [mops:spring:google_ads]") -> PaidCreateInput:
    return PaidCreateInput(
        name=name,
        objective="leads",
        daily_budget_minor=2000,
        currency="EUR",
        search=SearchAd.model_validate(SEARCH_SECTION),
        final_url="https://www.mops.example/spring?utm_source=google",
    )


async def test_the_create_activity_is_idempotent_and_everything_goes_in_reverse(google_ads, admin):
    activities = GoogleAdsActivities(google_ads)
    ref = await activities.create(create_input())
    assert await activities.create(create_input()) == ref, "a retried create finds what the first one made"
    assert ref.ad_group and ref.ad and len(ref.keywords) == 3
    state = await admin.state("google_ads")
    assert [len(state[k]) for k in ("budgets", "campaigns", "ad_groups", "ads", "criteria")] == [1, 1, 1, 1, 3]
    assert {o["status"] for o in state["campaigns"] + state["ad_groups"] + state["ads"]} == {"PAUSED"}

    await activities.set_status(PaidStatusInput(ref=ref, active=True))
    state = await admin.state("google_ads")
    assert {o["status"] for o in state["campaigns"] + state["ad_groups"] + state["ads"]} == {"ENABLED"}
    assert (await activities.remove(ref)).removed is True
    assert (await activities.remove(ref)).removed is False
    removed = [e["kind"] for e in await admin.effects("google_ads") if e["kind"].endswith(".remove")]
    assert removed == [
        *["criterion.remove"] * 3,
        "ad_group_ad.remove",
        "ad_group.remove",
        "campaign.remove",
        "budget.remove",
    ]


async def test_a_half_made_create_is_found_by_name_and_an_old_ref_still_works(google_ads, admin):
    activities = GoogleAdsActivities(google_ads)
    ref = await activities.create(create_input())
    assert (await activities.remove_named(PaidNamedInput(name=create_input().name))).removed is True
    state = await admin.state("google_ads")
    assert {o["status"] for k in ("budgets", "campaigns", "ad_groups", "ads", "criteria") for o in state[k]} == {
        "REMOVED"
    }
    # A campaign launched before search ads: its ref names only the campaign and budget.
    old = await activities.create(create_input("Old [mops:old:google_ads]"))
    legacy = PaidRef(campaign=old.campaign, budget=old.budget)
    await activities.set_status(PaidStatusInput(ref=legacy, active=False))
    assert (await activities.remove(legacy)).removed is True
    assert ref != legacy


async def test_a_create_without_a_search_ad_makes_nothing(google_ads, admin):
    with pytest.raises(ApplicationError) as caught:
        await GoogleAdsActivities(google_ads).create(create_input().model_copy(update={"search": None}))
    assert caught.value.non_retryable and "search" in str(caught.value)
    state = await admin.state("google_ads")
    assert state["budgets"] == state["campaigns"] == []
