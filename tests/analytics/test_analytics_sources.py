"""The platform reads collection uses, against the sandbox over HTTP: every page is
followed (GA4 offsets, HubSpot `after`, SendGrid offsets), deals are found by stage and
close date, and deleted/removed ad campaigns keep their delivered days."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from integrations.ga4 import GA4Client
from integrations.google_ads import GoogleAdsClient
from integrations.hubspot import HubSpotClient
from integrations.meta_ads import MetaAdsClient
from integrations.sendgrid import SendGridClient
from sandbox.server import SandboxServer
from tests.ad_fixtures import add_running_ad
from tests.conftest import make_settings
from tests.google_search import make_serving

DAY = date(2025, 5, 5)


def ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


async def test_ga4_and_sendgrid_pages_are_all_read(sandbox: SandboxServer) -> None:
    s = make_settings(sandbox.url, "127.0.0.1:1")
    async with GA4Client(s.ga4_base_url, s.ga4_token.get_secret_value(), property_id=s.ga4_property) as ga4:
        whole = await ga4.report_rows(
            start_date=DAY.isoformat(), end_date=DAY.isoformat(), dimensions=["date", "pagePath"], metrics=["sessions"]
        )
        paged = await ga4.report_rows(
            start_date=DAY.isoformat(),
            end_date=DAY.isoformat(),
            dimensions=["date", "pagePath"],
            metrics=["sessions"],
            page_size=2,
        )
    assert len(whole) >= 3 and paged == whole
    async with SendGridClient(s.sendgrid_base_url, s.sendgrid_api_key.get_secret_value()) as sendgrid:
        days = await sendgrid.stats(DAY, DAY + timedelta(days=4), page_size=2)
    assert [d for d, _ in days] == [DAY + timedelta(days=i) for i in range(5)]
    assert all(m["requests"] == 0 and "delivered" in m for _, m in days)


async def test_won_deals_by_close_date_over_several_pages(sandbox: SandboxServer) -> None:
    s = make_settings(sandbox.url, "127.0.0.1:1")
    tag = uuid.uuid4().hex[:8]
    noon = datetime(2025, 5, 5, 12, tzinfo=UTC)
    async with HubSpotClient(s.hubspot_base_url, s.hubspot_token.get_secret_value()) as hubspot:
        contact = await hubspot.upsert_contact(f"deals.{tag}@acme.example", {})
        made = {}
        for i, (stage, when) in enumerate(
            [
                ("closedwon", noon),
                ("closedwon", noon + timedelta(hours=3)),
                ("closedwon", noon - timedelta(hours=5)),
                ("closedlost", noon),
                ("closedwon", noon + timedelta(days=1)),
            ]
        ):
            made[i] = await hubspot.upsert_deal(
                f"{tag}:{i}",
                {"dealname": f"{tag} {i}", "dealstage": stage, "closedate": ms(when), "amount": "100"},
                contact.id,
            )
        start = datetime(2025, 5, 5, tzinfo=UTC)
        found = await hubspot.search_deals(
            [
                {"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"},
                {
                    "propertyName": "closedate",
                    "operator": "BETWEEN",
                    "value": ms(start),
                    "highValue": str(int(ms(start + timedelta(days=1))) - 1),
                },
                {"propertyName": "dealname", "operator": "NEQ", "value": "nothing"},
            ],
            ["amount", "closedate", "mops_key"],
            page_size=1,
        )
        mine = [d.id for d in found if (d.properties.get("mops_key") or "").startswith(tag)]
        assert mine == [made[0], made[1], made[2]]
        await hubspot.update_deal(made[1], {"dealstage": "closedlost"})
        found = await hubspot.search_deals(
            [
                {"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"},
                {"propertyName": "closedate", "operator": "GTE", "value": ms(start)},
                {"propertyName": "closedate", "operator": "LT", "value": ms(start + timedelta(days=1))},
            ],
            ["mops_key"],
            page_size=2,
        )
        assert [d.id for d in found if (d.properties.get("mops_key") or "").startswith(tag)] == [made[0], made[2]]


async def test_deleted_and_removed_campaigns_keep_their_days(sandbox: SandboxServer) -> None:
    s = make_settings(sandbox.url, "127.0.0.1:1")
    tag = uuid.uuid4().hex[:8]
    async with MetaAdsClient(
        s.meta_base_url, s.meta_token.get_secret_value(), ad_account_id=s.meta_ad_account_id, page_id=s.meta_page_id
    ) as meta:
        campaign = await meta.create_campaign(name=f"gone {tag}", objective="OUTCOME_LEADS", status="ACTIVE")
        ad_set = await meta.create_ad_set(
            campaign_id=campaign, name=f"{tag} set", daily_budget=2000, countries=["FR"], status="ACTIVE"
        )
        await add_running_ad(meta, ad_set, tag)
        before = [
            r
            for r in await meta.account_insights(since=DAY, until=DAY + timedelta(days=1))
            if r.campaign_id == campaign
        ]
        await meta.delete(campaign)
        after = [
            r
            for r in await meta.account_insights(since=DAY, until=DAY + timedelta(days=1))
            if r.campaign_id == campaign
        ]
    assert len(before) == 2 and after == before and before[0].campaign_name == f"gone {tag}"
    async with GoogleAdsClient(
        s.google_ads_base_url,
        s.google_ads_token.get_secret_value(),
        customer_id=s.google_ads_customer_id,
        developer_token=s.google_ads_developer_token.get_secret_value(),
    ) as google:
        budget = await google.create_budget(name=f"{tag} budget", amount_micros=20_000_000)
        name = await google.create_campaign(name=f"removed {tag}", budget=budget, status="ENABLED")
        await make_serving(google, name)
        before = [r for r in await google.campaign_days(since=DAY, until=DAY) if r.campaign == name]
        await google.remove_campaign(name)
        after = [r for r in await google.campaign_days(since=DAY, until=DAY) if r.campaign == name]
    assert len(before) == 1 and after == before and before[0].cost_micros > 0
