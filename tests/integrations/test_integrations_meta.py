"""MetaAdsClient against the sandbox over real HTTP (and a mock transport for the wire details)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from integrations import meta_ads
from integrations.errors import PlatformRejected, PlatformUnavailable, RateLimited
from integrations.meta_ads import MetaAccount, MetaAdsClient, MetaCampaign
from tests.ad_fixtures import IMAGE

START = date(2026, 11, 2)


PNG = IMAGE.read_bytes()
LINK = "https://www.mops.example/spring?utm_source=facebook&utm_medium=paid_social"


async def launch(meta: MetaAdsClient, name: str = "Spring leads", budget: int = 2000) -> tuple[str, str]:
    """An ACTIVE campaign and ad set with an ACTIVE ad (without one nothing delivers)."""
    campaign_id = await meta.create_campaign(name=name, objective="OUTCOME_LEADS", status="ACTIVE")
    ad_set_id = await meta.create_ad_set(
        campaign_id=campaign_id, name=f"{name} DE", daily_budget=budget, countries=["DE", "AT"], status="ACTIVE"
    )
    creative_id = await link_creative(meta, f"{name} creative")
    await meta.create_ad(name=f"{name} ad", ad_set_id=ad_set_id, creative_id=creative_id, status="ACTIVE")
    return campaign_id, ad_set_id


async def link_creative(meta: MetaAdsClient, name: str, **changes) -> str:
    image_hash = await meta.upload_image(PNG, name="spring-launch.png")
    fields = {
        "link": LINK,
        "image_hash": image_hash,
        "message": "Five ready-made workflows.",
        "headline": "Spring launch",
        "call_to_action": "LEARN_MORE",
        **changes,
    }
    return await meta.create_link_creative(name=name, **fields)


async def test_account(meta):
    assert await meta.account() == MetaAccount(id="act_1234567890", currency="EUR", timezone_name="Europe/Berlin")


async def test_campaign_create_find_get_status(meta, admin):
    assert await meta.find_campaign("Spring leads") is None
    campaign_id = await meta.create_campaign(name="Spring leads", objective="OUTCOME_LEADS")
    expected = MetaCampaign(id=campaign_id, name="Spring leads", status="PAUSED", effective_status="PAUSED")
    assert await meta.get_campaign(campaign_id) == expected
    assert await meta.find_campaign("Spring leads") == expected
    assert await meta.find_campaign("Spring") is None  # exact names only

    await meta.set_status(campaign_id, "ACTIVE")
    assert (await meta.get_campaign(campaign_id)).status == "ACTIVE"
    [effect] = await admin.effects("meta", "campaign.create")
    assert effect["summary"]["special_ad_categories"] == []


async def test_find_ad_set_follows_pages(meta, monkeypatch):
    campaign_id = await meta.create_campaign(name="Paged", objective="OUTCOME_TRAFFIC")
    for country in ("DE", "AT", "CH"):
        await meta.create_ad_set(campaign_id=campaign_id, name="Same name", daily_budget=1000, countries=[country])
    monkeypatch.setattr(meta_ads, "PAGE_LIMIT", 1)
    seen: list[str] = []
    async for item in meta._pages(f"/v21.0/{campaign_id}/adsets", {"fields": "id,name"}):
        seen.append(item["id"])
    assert len(seen) == 3 and len(set(seen)) == 3
    assert (await meta.find_ad_set(campaign_id, "Same name")).id == seen[0]  # the newest


async def test_ad_set_create_find_get_budget(meta, admin):
    campaign_id = await meta.create_campaign(name="Autumn", objective="OUTCOME_LEADS")
    start = datetime(2026, 11, 2, 8, 0)
    ad_set_id = await meta.create_ad_set(
        campaign_id=campaign_id,
        name="AT",
        daily_budget=2500,
        countries=["AT"],
        start_time=start,
        end_time=start + timedelta(days=14),
        status="ACTIVE",
    )
    ad_set = await meta.get_ad_set(ad_set_id)
    assert (ad_set.campaign_id, ad_set.status, ad_set.effective_status, ad_set.daily_budget) == (
        campaign_id,
        "ACTIVE",
        "CAMPAIGN_PAUSED",
        2500,
    )
    assert await meta.find_ad_set(campaign_id, "AT") == ad_set
    assert await meta.find_ad_set(campaign_id, "DE") is None

    await meta.set_daily_budget(ad_set_id, 4000)
    await meta.set_daily_budget(ad_set_id, 4000)  # absolute: the second call changes nothing
    assert (await meta.get_ad_set(ad_set_id)).daily_budget == 4000
    [created] = await admin.effects("meta", "adset.create")
    assert created["summary"]["countries"] == ["AT"] and created["summary"]["start_time"] == "2026-11-02T08:00:00+0000"
    assert [e["summary"]["changes"] for e in await admin.effects("meta", "adset.update")] == [{"daily_budget": 4000}]


async def test_delete_is_idempotent(meta):
    campaign_id, ad_set_id = await launch(meta)
    assert await meta.delete(ad_set_id) is True
    assert await meta.delete(ad_set_id) is False
    assert await meta.find_ad_set(campaign_id, "Spring leads DE") is None
    assert await meta.delete(campaign_id) is True
    assert await meta.delete(campaign_id) is False
    assert await meta.find_campaign("Spring leads") is None
    assert (await meta.get_campaign(campaign_id)).status == "DELETED"


async def test_insights_rows(meta):
    campaign_id, _ = await launch(meta, budget=3000)
    rows = await meta.insights(campaign_id, since=START, until=START + timedelta(days=29))
    assert [r.day for r in rows] == [START + timedelta(days=i) for i in range(30)]  # two pages
    assert all(
        Decimal("20.40") <= r.spend <= Decimal("30.00") and r.spend == r.spend.quantize(Decimal("0.01")) for r in rows
    )
    assert all(r.impressions > r.clicks > 0 for r in rows)
    assert sum(r.conversions for r in rows) > 0
    assert all((r.conversions == 0) == (r.conversion_value == 0) for r in rows)
    other = await meta.insights(
        campaign_id, since=START, until=START + timedelta(days=29), conversion_action="purchase"
    )
    assert all(r.conversions == 0 for r in other) and [r.spend for r in other] == [r.spend for r in rows]


async def test_pause_stops_delivery_after_the_reported_days(meta):
    campaign_id, _ = await launch(meta)
    monitored = await meta.insights(campaign_id, since=START, until=START + timedelta(days=4))
    await meta.set_status(campaign_id, "PAUSED")
    later = await meta.insights(campaign_id, since=START, until=START + timedelta(days=9))
    assert later == monitored and len(monitored) == 5


async def test_spend_spike_override(meta, admin):
    campaign_id, _ = await launch(meta, name="Spiky", budget=2000)
    await admin.set_ads_performance("meta", "spiky", spend_factor=3)
    rows = await meta.insights(campaign_id, since=START, until=START + timedelta(days=6))
    assert all(r.spend > Decimal("40") for r in rows)


async def test_image_creative_and_ad_create_find_delete(meta, admin):
    image_hash = await meta.upload_image(PNG, name="spring-launch.png")
    assert image_hash == await meta.upload_image(PNG, name="spring-launch.png") == hashlib.md5(PNG).hexdigest()
    assert len(await admin.effects("meta", "adimage.create")) == 1  # the same bytes upload once

    campaign_id = await meta.create_campaign(name="Ads", objective="OUTCOME_LEADS")
    ad_set_id = await meta.create_ad_set(
        campaign_id=campaign_id,
        name="Ads · ad set",
        daily_budget=2000,
        countries=["DE"],
        age_min=25,
        age_max=54,
        interests=["6003107902433"],
        custom_audiences=["23851234567890001"],
    )
    [ad_set] = await admin.effects("meta", "adset.create")
    assert ad_set["summary"]["targeting"] == {
        "geo_locations": {"countries": ["DE"]},
        "age_min": 25,
        "age_max": 54,
        "interests": [{"id": "6003107902433"}],
        "custom_audiences": [{"id": "23851234567890001"}],
    }
    assert await meta.find_creative("Ads · creative") is None
    creative_id = await link_creative(meta, "Ads · creative", description="Ready-made.")
    assert (await meta.find_creative("Ads · creative")).id == creative_id
    [made] = await admin.effects("meta", "adcreative.create")
    assert {
        k: made["summary"][k]
        for k in ("page_id", "link", "image_hash", "message", "headline", "description", "call_to_action")
    } == {
        "page_id": "104857600000001",
        "link": LINK,
        "image_hash": image_hash,
        "message": "Five ready-made workflows.",
        "headline": "Spring launch",
        "description": "Ready-made.",
        "call_to_action": "LEARN_MORE",
    }

    assert await meta.find_ad(ad_set_id, "Ads · ad") is None
    ad_id = await meta.create_ad(name="Ads · ad", ad_set_id=ad_set_id, creative_id=creative_id)
    ad = await meta.get_ad(ad_id)
    assert (ad.adset_id, ad.campaign_id, ad.creative_id, ad.status, ad.effective_status) == (
        ad_set_id,
        campaign_id,
        creative_id,
        "PAUSED",
        "PAUSED",
    )
    assert await meta.find_ad(ad_set_id, "Ads · ad") == ad
    for object_id in (ad_id, ad_set_id, campaign_id):
        await meta.set_status(object_id, "ACTIVE")
    assert (await meta.get_ad(ad_id)).effective_status == "ACTIVE"

    with pytest.raises(PlatformRejected) as in_use:
        await meta.delete(creative_id)  # an ad still runs it
    assert in_use.value.code == "100"
    assert await meta.delete(ad_id) is True and await meta.delete(ad_id) is False
    assert await meta.find_ad(ad_set_id, "Ads · ad") is None
    assert await meta.delete(creative_id) is True and await meta.delete(creative_id) is False
    assert await meta.find_creative("Ads · creative") is None


async def test_post_creative_and_refusals(meta):
    creative_id = await meta.create_post_creative(name="Post", object_story_id="104857600000001_42")
    assert (await meta.find_creative("Post")).id == creative_id
    with pytest.raises(PlatformRejected) as other_page:
        await meta.create_post_creative(name="Not ours", object_story_id="999_42")
    assert other_page.value.code == "100" and "not a page this ad account may advertise as" in other_page.value.message
    with pytest.raises(PlatformRejected) as unknown_image:
        await link_creative(meta, "No image", image_hash="0" * 32)
    assert "not an image of this ad account" in unknown_image.value.message
    with pytest.raises(PlatformRejected) as not_an_image:
        await meta.upload_image(b"GIF89a...", name="x.gif")
    assert not_an_image.value.code == "100/1487242"


async def test_a_link_creative_needs_the_page(sandbox):
    tokens = sandbox.tokens
    async with MetaAdsClient(
        sandbox.url, tokens.meta_token.get_secret_value(), ad_account_id=tokens.meta_ad_account_id
    ) as no_page:
        with pytest.raises(ValueError, match="MOPS_META_PAGE_ID"):
            await no_page.create_link_creative(
                name="x", link=LINK, image_hash="h", message="m", headline="h", call_to_action="LEARN_MORE"
            )


async def test_an_ad_set_without_an_ad_delivers_nothing(meta):
    campaign_id = await meta.create_campaign(name="No ad", objective="OUTCOME_LEADS", status="ACTIVE")
    ad_set_id = await meta.create_ad_set(
        campaign_id=campaign_id, name="No ad DE", daily_budget=5000, countries=["DE"], status="ACTIVE"
    )
    assert await meta.insights(campaign_id, since=START, until=START + timedelta(days=6)) == []
    creative_id = await link_creative(meta, "No ad creative")
    await meta.create_ad(name="Late ad", ad_set_id=ad_set_id, creative_id=creative_id, status="ACTIVE")
    rows = await meta.insights(campaign_id, since=START, until=START + timedelta(days=9))
    assert [r.day for r in rows] == [START + timedelta(days=d) for d in (7, 8, 9)] and all(r.spend > 0 for r in rows)


async def test_budget_too_low_is_rejected_with_the_subcode(meta):
    campaign_id = await meta.create_campaign(name="Tiny", objective="OUTCOME_LEADS")
    with pytest.raises(PlatformRejected) as caught:
        await meta.create_ad_set(campaign_id=campaign_id, name="x", daily_budget=50, countries=["DE"])
    err = caught.value
    assert (err.status, err.code, err.retryable) == (400, "100/1885272", False)
    assert "minimum budget" in err.message


async def test_unknown_object_is_rejected_without_leaking_addresses(meta, assert_no_email):
    with pytest.raises(PlatformRejected) as caught:
        await meta.get_campaign("jane@acme.example")
    assert caught.value.code == "100/33"
    assert_no_email(caught.value)


async def test_bad_token_and_other_account_are_rejected(sandbox, admin):
    async with MetaAdsClient(sandbox.url, "nope", ad_account_id="1234567890") as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.account()
    assert (caught.value.status, caught.value.code) == (400, "190")
    token = sandbox.tokens.meta_token.get_secret_value()
    async with MetaAdsClient(sandbox.url, token, ad_account_id="act_42") as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.find_campaign("x")
    assert (caught.value.status, caught.value.code) == (403, "200")


async def test_throttling_is_rate_limited_with_the_advertised_wait(meta, admin):
    await admin.set_faults("meta", rate_limit_next=1, retry_after_s=1.5)
    with pytest.raises(RateLimited) as caught:
        await meta.create_campaign(name="x", objective="OUTCOME_LEADS")
    err = caught.value
    assert (err.status, err.code, err.retryable) == (400, "80004/2446079", True)
    assert err.retry_after == pytest.approx(1.5)
    assert await meta.find_campaign("x") is None


async def test_server_error_is_unavailable(meta, admin):
    await admin.set_faults("meta", fail_next=1, error_status=503)
    with pytest.raises(PlatformUnavailable) as caught:
        await meta.account()
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (503, "2", True)


def _graph(status: int, error: dict, headers: dict | None = None) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, json={"error": error}, headers=headers or {}))


@pytest.mark.parametrize(
    ("status", "error", "headers", "kind", "retry_after"),
    [
        (
            403,
            {"code": 17, "error_subcode": 2446079, "message": "User request limit reached"},
            {"Retry-After": "12"},
            RateLimited,
            12.0,
        ),
        (
            400,
            {"code": 613, "message": "Calls to this api have exceeded the rate limit."},
            {"X-Ad-Account-Usage": json.dumps({"acc_id_util_pct": 100, "reset_time_duration": 240})},
            RateLimited,
            240.0,
        ),
        (
            400,
            {"code": 80004, "message": "too many calls"},
            {
                "X-Business-Use-Case-Usage": json.dumps(
                    {"1": [{"estimated_time_to_regain_access": 2}, {"estimated_time_to_regain_access": 5}]}
                )
            },
            RateLimited,
            300.0,
        ),
        (400, {"code": 100, "message": "Temporary glitch", "is_transient": True}, None, PlatformUnavailable, None),
        (500, {"code": 1, "message": "An unknown error occurred"}, None, PlatformUnavailable, None),
        (
            400,
            {"code": 100, "message": "Invalid parameter", "error_user_msg": "Budget for jane@acme.example"},
            None,
            PlatformRejected,
            None,
        ),
    ],
)
async def test_error_mapping(status, error, headers, kind, retry_after, assert_no_email):
    async with MetaAdsClient(
        "https://graph.facebook.com", "t", ad_account_id="1", transport=_graph(status, error, headers)
    ) as client:
        with pytest.raises(kind) as caught:
            await client.account()
    assert type(caught.value) is kind and caught.value.retry_after == retry_after
    assert_no_email(caught.value)


async def test_request_shapes():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "42"})

    async with MetaAdsClient(
        "https://graph.facebook.com/", "tok", ad_account_id="act_7", transport=httpx.MockTransport(handler)
    ) as client:
        await client.create_ad_set(
            campaign_id="1",
            name="DE",
            daily_budget=1500,
            countries=["DE"],
            start_time=datetime(2026, 11, 2, tzinfo=UTC),
        )
    [request] = seen
    assert request.url == "https://graph.facebook.com/v21.0/act_7/adsets"
    assert request.headers["authorization"] == "Bearer tok"
    assert json.loads(request.content) == {
        "name": "DE",
        "campaign_id": "1",
        "daily_budget": 1500,
        "billing_event": "IMPRESSIONS",
        "optimization_goal": "LINK_CLICKS",
        "targeting": {"geo_locations": {"countries": ["DE"]}},
        "status": "PAUSED",
        "start_time": "2026-11-02T00:00:00+0000",
    }
