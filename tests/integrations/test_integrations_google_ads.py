"""GoogleAdsClient against the sandbox over real HTTP (and a mock transport for the wire details)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import httpx
import pytest

from integrations.errors import PlatformRejected, PlatformUnavailable, RateLimited
from integrations.google_ads import GoogleAdsClient, GoogleBudget, GoogleCampaign, GoogleCustomer, gaql_string
from sandbox.server import SandboxServer
from sandbox.settings import SandboxTokens
from tests.google_search import make_serving

START = date(2026, 11, 2)


async def launch(
    google_ads: GoogleAdsClient, name: str = "Spring search", micros: int = 20_000_000, status: str = "ENABLED"
) -> tuple[str, str]:
    budget = await google_ads.create_budget(name=f"{name} budget", amount_micros=micros)
    campaign = await google_ads.create_campaign(name=name, budget=budget, status=status)
    await make_serving(google_ads, campaign)
    return campaign, budget


async def test_customer(google_ads):
    assert await google_ads.customer() == GoogleCustomer(
        id="1234567890", currency_code="EUR", time_zone="Europe/Berlin"
    )


async def test_budget_create_find_get_set_remove(google_ads, admin):
    assert await google_ads.find_budget("B") is None
    resource = await google_ads.create_budget(name="B", amount_micros=15_000_000)
    expected = GoogleBudget(resource_name=resource, name="B", amount_micros=15_000_000, status="ENABLED")
    assert await google_ads.get_budget(resource) == expected
    assert await google_ads.find_budget("B") == expected

    await google_ads.set_budget(resource, 25_000_000)
    assert (await google_ads.get_budget(resource)).amount_micros == 25_000_000
    assert await google_ads.remove_budget(resource) is True
    assert await google_ads.remove_budget(resource) is False
    assert await google_ads.find_budget("B") is None
    assert (await google_ads.get_budget(resource)).status == "REMOVED"
    assert await google_ads.remove_budget("customers/1234567890/campaignBudgets/404") is False
    [created] = await admin.effects("google_ads", "budget.create")
    assert created["summary"]["explicitlyShared"] is False and created["summary"]["deliveryMethod"] == "STANDARD"


async def test_campaign_create_find_get_status_remove(google_ads, admin):
    campaign, budget = await launch(google_ads, name="O'Brien's \\ sale", status="PAUSED")
    start = START + timedelta(days=1)
    expected = GoogleCampaign(resource_name=campaign, name="O'Brien's \\ sale", status="PAUSED", budget=budget)
    assert await google_ads.get_campaign(campaign) == expected
    assert await google_ads.find_campaign("O'Brien's \\ sale") == expected

    await google_ads.set_status(campaign, "ENABLED")
    assert (await google_ads.get_campaign(campaign)).status == "ENABLED"
    with pytest.raises(PlatformRejected) as caught:
        await google_ads.remove_budget(budget)
    assert caught.value.code == "campaignBudgetError.CAMPAIGN_BUDGET_IN_USE"
    assert await google_ads.remove_campaign(campaign) is True
    assert await google_ads.remove_campaign(campaign) is False
    assert await google_ads.find_campaign("O'Brien's \\ sale") is None
    assert await google_ads.remove_budget(budget) is True

    dated = await google_ads.create_budget(name="Dated budget", amount_micros=10_000_000)
    await google_ads.create_campaign(name="Dated", budget=dated, start_date=start, end_date=start + timedelta(days=6))
    [created] = [e for e in await admin.effects("google_ads", "campaign.create") if e["summary"]["name"] == "Dated"]
    assert (created["summary"]["startDate"], created["summary"]["endDate"]) == ("2026-11-03", "2026-11-09")
    assert created["summary"]["status"] == "PAUSED" and created["summary"]["advertisingChannelType"] == "SEARCH"


async def test_metrics_rows_and_budget_changes(google_ads):
    campaign, budget = await launch(google_ads, micros=20_000_000)
    first = await google_ads.metrics(campaign, since=START, until=START + timedelta(days=2))
    assert [r.day for r in first] == [START + timedelta(days=i) for i in range(3)]
    assert all(r.cost_micros % 10_000 == 0 and 13_600_000 <= r.cost_micros <= 20_000_000 for r in first)
    assert all(r.impressions > r.clicks > 0 and r.conversions > 0 and r.conversions_value > 0 for r in first)

    await google_ads.set_budget(budget, 60_000_000)
    later = await google_ads.metrics(campaign, since=START, until=START + timedelta(days=5))
    assert later[:3] == first and min(r.cost_micros for r in later[3:]) > max(r.cost_micros for r in first)
    await google_ads.set_status(campaign, "PAUSED")
    assert await google_ads.metrics(campaign, since=START, until=START + timedelta(days=9)) == later
    await google_ads.remove_campaign(campaign)
    assert await google_ads.metrics(campaign, since=START, until=START + timedelta(days=9)) == later


async def test_zero_delivery_override(google_ads, admin):
    campaign, _ = await launch(google_ads, name="Dead campaign")
    await admin.set_ads_performance("google_ads", "dead", zero_delivery=True)
    assert await google_ads.metrics(campaign, since=START, until=START + timedelta(days=6)) == []


async def test_search_follows_pages():
    tokens = SandboxTokens(google_ads_page_size=2)
    async with (
        SandboxServer(tokens=tokens) as server,
        GoogleAdsClient(
            server.url,
            tokens.google_ads_token.get_secret_value(),
            customer_id="123-456-7890",
            developer_token=tokens.google_ads_developer_token.get_secret_value(),
        ) as client,
    ):
        for i in range(5):
            await launch(client, name=f"C{i}")
        rows = await client.search("SELECT campaign.name FROM campaign ORDER BY campaign.name")
        assert [r["campaign"]["name"] for r in rows] == [f"C{i}" for i in range(5)]
        assert (await client.find_campaign("C4")).name == "C4"


async def test_duplicate_and_too_low_are_rejected_with_codes(google_ads):
    await google_ads.create_budget(name="B", amount_micros=10_000_000)
    with pytest.raises(PlatformRejected) as caught:
        await google_ads.create_budget(name="B", amount_micros=10_000_000)
    assert (caught.value.status, caught.value.code) == (400, "campaignBudgetError.DUPLICATE_NAME")
    with pytest.raises(PlatformRejected) as caught:
        await google_ads.create_budget(name="C", amount_micros=500_000)
    assert (caught.value.code, caught.value.retryable) == ("rangeError.TOO_LOW", False)


async def test_missing_resource_is_rejected_without_leaking_addresses(google_ads, assert_no_email):
    with pytest.raises(PlatformRejected) as caught:
        await google_ads.get_campaign("customers/1234567890/campaigns/jane@acme.example")
    assert caught.value.code == "NOT_FOUND"
    assert_no_email(caught.value)


async def test_auth_errors_are_rejected(sandbox, admin):
    tokens = sandbox.tokens
    async with GoogleAdsClient(
        sandbox.url, tokens.google_ads_token.get_secret_value(), customer_id="1234567890", developer_token="wrong"
    ) as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.customer()
    assert (caught.value.status, caught.value.code) == (401, "authenticationError.DEVELOPER_TOKEN_INVALID")
    async with GoogleAdsClient(
        sandbox.url,
        tokens.google_ads_token.get_secret_value(),
        customer_id="42",
        developer_token=tokens.google_ads_developer_token.get_secret_value(),
    ) as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.customer()
    assert (caught.value.status, caught.value.code) == (403, "authorizationError.USER_PERMISSION_DENIED")


async def test_quota_exhausted_waits_for_the_retry_delay(google_ads, admin):
    await admin.set_faults("google_ads", rate_limit_next=1, retry_after_s=2.5)
    with pytest.raises(RateLimited) as caught:
        await google_ads.find_budget("B")
    err = caught.value
    assert (err.status, err.code, err.retry_after, err.retryable) == (429, "quotaError.RESOURCE_EXHAUSTED", 2.5, True)


async def test_server_error_is_unavailable(google_ads, admin):
    await admin.set_faults(
        "google_ads", fail_next=1, error_status=503, path_prefix="/v18/customers/1234567890/campaignBudgets:mutate"
    )
    with pytest.raises(PlatformUnavailable) as caught:
        await google_ads.create_budget(name="B", amount_micros=10_000_000)
    assert (caught.value.status, caught.value.code) == (503, "internalError.TRANSIENT_ERROR")
    assert await google_ads.find_budget("B") is None


def test_gaql_strings_are_escaped():
    assert gaql_string("O'Brien \\ x") == "'O\\'Brien \\\\ x'"


@pytest.mark.parametrize(
    ("status", "headers", "error", "retry_after"),
    [
        (429, {"Retry-After": "7"}, {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "slow"}, 7.0),
        (
            429,
            {},
            {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "message": "slow",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "4s"}],
            },
            4.0,
        ),
    ],
)
async def test_rate_limit_fallbacks(status, headers, error, retry_after):
    transport = httpx.MockTransport(lambda request: httpx.Response(status, headers=headers, json={"error": error}))
    async with GoogleAdsClient(
        "https://googleads.googleapis.com", "t", customer_id="1", developer_token="d", transport=transport
    ) as client:
        with pytest.raises(RateLimited) as caught:
            await client.customer()
    assert (caught.value.code, caught.value.retry_after) == ("RESOURCE_EXHAUSTED", retry_after)


async def test_request_shapes():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"results": [{"resourceName": "customers/1234567890/campaignBudgets/1"}]})

    async with GoogleAdsClient(
        "https://googleads.googleapis.com",
        "tok",
        customer_id="123-456-7890",
        developer_token="dev",
        login_customer_id="999-000-1111",
        transport=httpx.MockTransport(handler),
    ) as client:
        await client.create_budget(name="B", amount_micros=12_340_000)
    [request] = seen
    assert request.url == "https://googleads.googleapis.com/v18/customers/1234567890/campaignBudgets:mutate"
    assert (
        request.headers["authorization"],
        request.headers["developer-token"],
        request.headers["login-customer-id"],
    ) == ("Bearer tok", "dev", "9990001111")
    assert json.loads(request.content) == {
        "operations": [
            {
                "create": {
                    "name": "B",
                    "amountMicros": "12340000",
                    "deliveryMethod": "STANDARD",
                    "explicitlyShared": False,
                }
            }
        ]
    }
