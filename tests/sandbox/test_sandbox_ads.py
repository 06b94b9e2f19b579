"""The Meta Marketing API and Google Ads stand-ins: wire shapes, rules, delivery, faults, state."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from sandbox.ads import PerformanceOverride, Timeline, day_performance, days, override_for
from sandbox.server import SandboxServer
from sandbox.settings import SandboxTokens

V = "/v21.0"
ACT = f"{V}/act_1234567890"
CUSTOMER = "/v18/customers/1234567890"
START = date(2026, 11, 2)  # a Monday
PAGE = "104857600000001"  # the sandbox's Facebook page
PNG = (Path(__file__).resolve().parents[2] / "campaigns" / "images" / "spring-launch.png").read_bytes()


def span(first: int, last: int) -> str:
    """A Meta time_range for days `first`..`last` counted from START (day 1 is START)."""
    return json.dumps(
        {
            "since": (START + timedelta(days=first - 1)).isoformat(),
            "until": (START + timedelta(days=last - 1)).isoformat(),
        }
    )


def gaql_days(first: int, last: int) -> str:
    return (
        f"segments.date BETWEEN '{(START + timedelta(days=first - 1)).isoformat()}' "
        f"AND '{(START + timedelta(days=last - 1)).isoformat()}'"
    )


# Meta helpers


async def meta_campaign(http, auth, name: str = "Spring leads", status: str = "ACTIVE") -> str:
    response = await http.post(
        f"{ACT}/campaigns",
        headers=auth["meta"],
        json={"name": name, "objective": "OUTCOME_LEADS", "status": status, "special_ad_categories": []},
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


async def meta_adset(
    http, auth, campaign_id: str, budget: int = 2000, status: str = "ACTIVE", with_ad: bool = True, **extra
) -> str:
    """An ad set; `with_ad` (the default) gives it an ACTIVE ad, without which nothing delivers."""
    response = await http.post(
        f"{ACT}/adsets",
        headers=auth["meta"],
        json={
            "name": extra.pop("name", "DE"),
            "campaign_id": campaign_id,
            "daily_budget": budget,
            "billing_event": "IMPRESSIONS",
            "optimization_goal": "LINK_CLICKS",
            "targeting": {"geo_locations": {"countries": ["DE"]}},
            "status": status,
            **extra,
        },
    )
    assert response.status_code == 200, response.text
    adset_id = response.json()["id"]
    if with_ad:
        await meta_ad(http, auth, adset_id)
    return adset_id


async def meta_image(http, auth, data: bytes = PNG) -> str:
    response = await http.post(
        f"{ACT}/adimages", headers=auth["meta"], json={"bytes": base64.b64encode(data).decode(), "name": "hero.png"}
    )
    assert response.status_code == 200, response.text
    return response.json()["images"]["bytes"]["hash"]


async def meta_creative(http, auth, name: str = "Hero", **link_data) -> str:
    image_hash = await meta_image(http, auth)
    response = await http.post(
        f"{ACT}/adcreatives",
        headers=auth["meta"],
        json={
            "name": name,
            "object_story_spec": {
                "page_id": PAGE,
                "link_data": {
                    "link": "https://www.mops.example/spring?utm_source=facebook",
                    "image_hash": image_hash,
                    "message": "Five workflows.",
                    "name": "Spring launch",
                    "call_to_action": {"type": "LEARN_MORE", "value": {"link": "https://www.mops.example/spring"}},
                    **link_data,
                },
            },
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


async def meta_ad(http, auth, adset_id: str, status: str = "ACTIVE", creative_id: str | None = None) -> str:
    creative_id = creative_id or await meta_creative(http, auth)
    response = await http.post(
        f"{ACT}/ads",
        headers=auth["meta"],
        json={"name": "Hero ad", "adset_id": adset_id, "creative": {"creative_id": creative_id}, "status": status},
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


async def meta_insights(http, auth, campaign_id: str, first: int, last: int, **params) -> list[dict]:
    response = await http.get(
        f"{V}/{campaign_id}/insights",
        headers=auth["meta"],
        params={
            "fields": "spend,impressions,clicks,actions,action_values",
            "time_range": span(first, last),
            "time_increment": 1,
            "limit": 100,
            **params,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def spend_by_day(rows: list[dict]) -> dict[str, float]:
    return {r["date_start"]: float(r["spend"]) for r in rows}


# Google helpers


async def ads_mutate(http, auth, collection: str, *operations: dict, **options) -> httpx.Response:
    return await http.post(
        f"{CUSTOMER}/{collection}:mutate", headers=auth["google_ads"], json={"operations": list(operations), **options}
    )


async def ads_search(http, auth, query: str, **body) -> httpx.Response:
    return await http.post(f"{CUSTOMER}/googleAds:search", headers=auth["google_ads"], json={"query": query, **body})


def budget_op(name: str, micros: int | str = 20_000_000) -> dict:
    return {
        "create": {"name": name, "amountMicros": str(micros), "deliveryMethod": "STANDARD", "explicitlyShared": False}
    }


def campaign_op(name: str, budget: str, status: str = "ENABLED", **extra) -> dict:
    return {
        "create": {
            "name": name,
            "status": status,
            "advertisingChannelType": "SEARCH",
            "campaignBudget": budget,
            "manualCpc": {},
            **extra,
        }
    }


HEADLINES = [{"text": "Spring CRM"}, {"text": "Launch in days"}, {"text": "Teams love it"}]
DESCRIPTIONS = [{"text": "Durable marketing workflows."}, {"text": "Approvals built in."}]


def rsa_op(ad_group: str, status: str = "ENABLED", **rsa) -> dict:
    ad = {"headlines": HEADLINES, "descriptions": DESCRIPTIONS, **rsa}
    return {
        "create": {
            "adGroup": ad_group,
            "status": status,
            "ad": {"finalUrls": ["https://www.mops.example/spring"], "responsiveSearchAd": ad},
        }
    }


def keyword_op(ad_group: str, text: str, match_type: str = "PHRASE", negative: bool = False) -> dict:
    create = {"adGroup": ad_group, "keyword": {"text": text, "matchType": match_type}}
    return {"create": {**create, "negative": True} if negative else {**create, "status": "ENABLED"}}


async def serve(http, auth, campaign_rn: str, name: str = "Ad group") -> tuple[str, str, str]:
    """Give a campaign what it needs to deliver: an ad group with an ad and a keyword."""
    group = await ads_mutate(http, auth, "adGroups", {"create": {"name": name, "campaign": campaign_rn}})
    group_rn = group.json()["results"][0]["resourceName"]
    ad = (await ads_mutate(http, auth, "adGroupAds", rsa_op(group_rn))).json()["results"][0]["resourceName"]
    keyword = await ads_mutate(http, auth, "adGroupCriteria", keyword_op(group_rn, "crm software"))
    return group_rn, ad, keyword.json()["results"][0]["resourceName"]


async def google_campaign(
    http,
    auth,
    name: str = "Spring search",
    micros: int = 20_000_000,
    status: str = "ENABLED",
    serving: bool = True,
) -> tuple[str, str]:
    budget = (await ads_mutate(http, auth, "campaignBudgets", budget_op(f"{name} budget", micros))).json()
    budget_rn = budget["results"][0]["resourceName"]
    campaign = (await ads_mutate(http, auth, "campaigns", campaign_op(name, budget_rn, status))).json()
    campaign_rn = campaign["results"][0]["resourceName"]
    if serving:
        await serve(http, auth, campaign_rn)
    return campaign_rn, budget_rn


def ads_failure(response: httpx.Response) -> list[dict]:
    [detail] = response.json()["error"]["details"]
    assert detail["@type"] == "type.googleapis.com/google.ads.googleads.v18.errors.GoogleAdsFailure"
    assert detail["requestId"]
    return detail["errors"]


async def google_metrics(http, auth, campaign_rn: str, first: int, last: int) -> dict[str, int]:
    query = (
        f"SELECT segments.date, metrics.cost_micros FROM campaign WHERE campaign.resource_name = "
        f"'{campaign_rn}' AND {gaql_days(first, last)}"
    )
    response = await ads_search(http, auth, query)
    assert response.status_code == 200, response.text
    return {r["segments"]["date"]: int(r["metrics"]["costMicros"]) for r in response.json().get("results", [])}


# the generator itself


def test_performance_is_a_pure_function_of_its_inputs():
    args = ("meta", "Spring leads", START, 2000)
    assert day_performance(*args, seed=7) == day_performance(*args, seed=7)
    assert day_performance(*args, seed=7) != day_performance(*args, seed=8)
    assert day_performance("meta", "Spring leads", START, 0, seed=7).empty


def test_google_is_cheaper_per_conversion_and_weekends_dip():
    month = days(START, START + timedelta(days=27))
    for name in ("Spring", "Autumn sale", "x"):
        meta = [day_performance("meta", name, d, 5000, seed=7) for d in month]
        google = [day_performance("google_ads", name, d, 5000, seed=7) for d in month]
        cpa_meta = sum(p.spend for p in meta) / sum(p.conversions for p in meta)
        cpa_google = sum(p.spend for p in google) / sum(p.conversions for p in google)
        assert cpa_google < 0.8 * cpa_meta
        assert all(0.80 * 5000 * 0.85 <= p.spend <= 5000 for p in meta)
        assert all(p.spend % 1 == 0 and p.clicks <= p.impressions for p in google)
    weekday = [day_performance("meta", "w", d, 10_000, seed=7).spend for d in month if d.weekday() < 5]
    weekend = [day_performance("meta", "w", d, 10_000, seed=7).spend for d in month if d.weekday() >= 5]
    assert sum(weekend) / len(weekend) < sum(weekday) / len(weekday)


def test_timeline_changes_take_effect_after_the_horizon():
    timeline = Timeline()
    timeline.change(None, False, 2000)
    timeline.change(None, True, 2000)  # nothing reported yet: from the beginning
    assert timeline.at(START).active and len(timeline.settings) == 1
    timeline.change(START + timedelta(days=4), False, 2000)
    assert timeline.at(START + timedelta(days=4)).active
    assert not timeline.at(START + timedelta(days=5)).active
    timeline.change(START + timedelta(days=4), True, 5000)  # same data day: replaces the pause
    assert [s.daily_budget for s in timeline.settings] == [2000, 5000]


def test_override_matching_is_case_insensitive_and_last_wins():
    overrides = [
        PerformanceOverride(platform="meta", name_contains="spring", spend_factor=3),
        PerformanceOverride(platform="meta", name_contains="SPRING L", zero_delivery=True),
    ]
    assert override_for(overrides, "meta", "Spring leads").zero_delivery
    assert override_for(overrides, "meta", "Spring sale").spend_factor == 3
    assert override_for(overrides, "google_ads", "Spring leads") is None


# Meta: auth and the account


async def test_meta_auth_failures_are_graph_errors(http, auth):
    missing = await http.get(ACT, params={"fields": "currency"})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == 104
    wrong = await http.get(ACT, headers={"Authorization": "Bearer nope"})
    error = wrong.json()["error"]
    assert wrong.status_code == 400 and (error["code"], error["type"]) == (190, "OAuthException")
    assert error["fbtrace_id"] and "invalid_token" in wrong.headers["WWW-Authenticate"]
    other = await http.get(f"{V}/act_999", headers=auth["meta"])
    assert other.status_code == 403 and other.json()["error"]["code"] == 200
    query = await http.get(ACT, params={"fields": "currency", "access_token": "sandbox-meta-token"})
    assert query.status_code == 200


async def test_meta_account_shape_and_usage_header(http, auth):
    response = await http.get(ACT, headers=auth["meta"], params={"fields": "currency,timezone_name,account_status"})
    assert response.json() == {
        "id": "act_1234567890",
        "currency": "EUR",
        "timezone_name": "Europe/Berlin",
        "account_status": 1,
    }
    usage = json.loads(response.headers["X-Business-Use-Case-Usage"])
    [entry] = usage["1234567890"]
    assert entry["type"] == "ads_management" and entry["call_count"] < 50
    assert entry["estimated_time_to_regain_access"] == 0


# Meta: campaigns and ad sets


async def test_meta_campaign_create_get_and_validation(http, auth, admin):
    campaign_id = await meta_campaign(http, auth, status="PAUSED")
    assert campaign_id.isdigit()
    got = (
        await http.get(
            f"{V}/{campaign_id}", headers=auth["meta"], params={"fields": "id,name,status,effective_status,objective"}
        )
    ).json()
    assert got == {
        "id": campaign_id,
        "name": "Spring leads",
        "status": "PAUSED",
        "effective_status": "PAUSED",
        "objective": "OUTCOME_LEADS",
    }
    assert (await http.get(f"{V}/{campaign_id}", headers=auth["meta"])).json() == {"id": campaign_id}

    no_categories = await http.post(
        f"{ACT}/campaigns", headers=auth["meta"], json={"name": "x", "objective": "OUTCOME_LEADS", "status": "PAUSED"}
    )
    assert no_categories.status_code == 400 and "special_ad_categories" in no_categories.json()["error"]["message"]
    bad_objective = await http.post(
        f"{ACT}/campaigns", headers=auth["meta"], json={"name": "x", "objective": "LEADS", "special_ad_categories": []}
    )
    assert bad_objective.json()["error"]["code"] == 100
    [effect] = await admin.effects("meta", "campaign.create")
    assert effect["summary"] == {
        "id": campaign_id,
        "name": "Spring leads",
        "objective": "OUTCOME_LEADS",
        "status": "PAUSED",
        "special_ad_categories": [],
    }


async def test_meta_adset_accepts_form_params_and_enforces_the_minimum_budget(http, auth):
    campaign_id = await meta_campaign(http, auth, status="PAUSED")
    form = {
        "name": "DE",
        "campaign_id": campaign_id,
        "daily_budget": "2500",
        "billing_event": "IMPRESSIONS",
        "optimization_goal": "LINK_CLICKS",
        "targeting": json.dumps({"geo_locations": {"countries": ["DE"]}}),
        "status": "ACTIVE",
        "start_time": "2026-11-02T00:00:00+0000",
        "end_time": "2026-11-09T00:00:00+0000",
    }
    created = await http.post(f"{ACT}/adsets", headers=auth["meta"], data=form)
    adset_id = created.json()["id"]
    got = (
        await http.get(
            f"{V}/{adset_id}",
            headers=auth["meta"],
            params={"fields": "id,name,status,effective_status,daily_budget,campaign_id,start_time,end_time"},
        )
    ).json()
    assert got == {
        "id": adset_id,
        "name": "DE",
        "status": "ACTIVE",
        "effective_status": "CAMPAIGN_PAUSED",
        "daily_budget": "2500",
        "campaign_id": campaign_id,
        "start_time": "2026-11-02T00:00:00+0000",
        "end_time": "2026-11-09T00:00:00+0000",
    }

    low = await http.post(f"{ACT}/adsets", headers=auth["meta"], data={**form, "daily_budget": "99"})
    error = low.json()["error"]
    assert low.status_code == 400 and (error["code"], error["error_subcode"]) == (100, 1885272)
    assert "too low" in error["error_user_title"].lower() and "€1.00" in error["error_user_msg"]
    raise_low = await http.post(f"{V}/{adset_id}", headers=auth["meta"], json={"daily_budget": 50})
    assert raise_low.json()["error"]["error_subcode"] == 1885272


@pytest.mark.parametrize(
    ("targeting", "message"),
    [
        ({"age_min": 16}, "targeting[age_min] must be an integer from 18 to 65"),
        ({"age_max": 70}, "targeting[age_max] must be an integer from 18 to 65"),
        ({"age_min": 40, "age_max": 30}, "targeting[age_max] must not be below targeting[age_min]"),
        ({"interests": ["6003"]}, 'targeting[interests] must be an array of {"id": "<numeric id>"} objects'),
        ({"custom_audiences": [{"id": "mops"}]}, "targeting[custom_audiences] must be an array"),
        ({"publisher_platforms": ["tiktok"]}, "targeting[publisher_platforms] must be an array of {facebook,"),
    ],
)
async def test_meta_adset_targeting_is_checked(http, auth, targeting, message):
    campaign_id = await meta_campaign(http, auth)
    response = await http.post(
        f"{ACT}/adsets",
        headers=auth["meta"],
        json={
            "name": "DE",
            "campaign_id": campaign_id,
            "daily_budget": 2000,
            "billing_event": "IMPRESSIONS",
            "optimization_goal": "LINK_CLICKS",
            "targeting": {"geo_locations": {"countries": ["DE"]}, **targeting},
        },
    )
    assert response.status_code == 400 and message in response.json()["error"]["message"]


async def test_meta_status_cascades_and_delete_is_final(http, auth, admin):
    campaign_id = await meta_campaign(http, auth)
    adset_id = await meta_adset(http, auth, campaign_id, with_ad=False)
    assert (await http.post(f"{V}/{campaign_id}", headers=auth["meta"], json={"status": "PAUSED"})).json() == {
        "success": True
    }
    adset = (await http.get(f"{V}/{adset_id}", headers=auth["meta"], params={"fields": "effective_status"})).json()
    assert adset["effective_status"] == "CAMPAIGN_PAUSED"

    assert (await http.delete(f"{V}/{campaign_id}", headers=auth["meta"])).json() == {"success": True}
    adset = (await http.get(f"{V}/{adset_id}", headers=auth["meta"], params={"fields": "status"})).json()
    assert adset["status"] == "DELETED"  # deleted objects stay readable by id
    again = await http.delete(f"{V}/{campaign_id}", headers=auth["meta"])
    error = again.json()["error"]
    assert again.status_code == 400 and (error["code"], error["error_subcode"]) == (100, 33)
    assert "does not exist" in error["message"]
    update = await http.post(f"{V}/{campaign_id}", headers=auth["meta"], json={"status": "ACTIVE"})
    assert update.json()["error"]["error_subcode"] == 33
    unknown = await http.get(f"{V}/999", headers=auth["meta"])
    assert unknown.json()["error"]["error_subcode"] == 33
    kinds = [e["kind"] for e in await admin.effects("meta")]
    assert kinds == ["campaign.create", "adset.create", "campaign.update", "campaign.delete"]
    [deleted] = await admin.effects("meta", "campaign.delete")
    assert deleted["summary"]["adsets"] == [adset_id]


async def test_meta_lists_page_filter_and_hide_deleted(http, auth):
    ids = [await meta_campaign(http, auth, name=f"C{i}", status="PAUSED") for i in range(5)]
    await http.delete(f"{V}/{ids[0]}", headers=auth["meta"])
    seen, params = [], {"fields": "id,name", "limit": 2}
    while True:
        body = (await http.get(f"{ACT}/campaigns", headers=auth["meta"], params=params)).json()
        seen += [c["name"] for c in body["data"]]
        assert set(body["paging"]["cursors"]) == {"before", "after"}
        if "next" not in body["paging"]:
            break
        params = {**params, "after": body["paging"]["cursors"]["after"]}
    assert seen == ["C4", "C3", "C2", "C1"]  # newest first, the deleted one left out

    only = {"filtering": json.dumps([{"field": "name", "operator": "EQUAL", "value": "C2"}]), "fields": "name"}
    assert [
        c["name"] for c in (await http.get(f"{ACT}/campaigns", headers=auth["meta"], params=only)).json()["data"]
    ] == ["C2"]
    deleted = {"filtering": json.dumps([{"field": "effective_status", "operator": "IN", "value": ["DELETED"]}])}
    assert [
        c["id"] for c in (await http.get(f"{ACT}/campaigns", headers=auth["meta"], params=deleted)).json()["data"]
    ] == [ids[0]]
    adsets = await http.get(f"{V}/{ids[1]}/adsets", headers=auth["meta"])
    assert adsets.json() == {"data": []}


# Meta: insights


async def test_meta_insights_shape_and_determinism(http, auth, admin):
    campaign_id = await meta_campaign(http, auth)
    await meta_adset(http, auth, campaign_id, budget=3000)
    rows = await meta_insights(http, auth, campaign_id, 1, 7)
    assert [r["date_start"] for r in rows] == [(START + timedelta(days=i)).isoformat() for i in range(7)]
    row = rows[0]
    assert row["date_stop"] == row["date_start"]
    assert 0.80 * 0.85 * 30 <= float(row["spend"]) <= 30.00 and len(row["spend"].split(".")[1]) == 2
    assert int(row["impressions"]) > int(row["clicks"]) > 0
    assert {"action_type": "link_click", "value": row["clicks"]} in row["actions"]
    assert await meta_insights(http, auth, campaign_id, 1, 7) == rows

    await admin.reset()  # same name, same budget: the same numbers
    again = await meta_campaign(http, auth)
    await meta_adset(http, auth, again, budget=3000)
    assert spend_by_day(await meta_insights(http, auth, again, 1, 7)) == spend_by_day(rows)
    whole = await http.get(
        f"{V}/{again}/insights", headers=auth["meta"], params={"fields": "spend,impressions", "time_range": span(1, 7)}
    )
    [total] = whole.json()["data"]
    assert (total["date_start"], total["date_stop"]) == (START.isoformat(), (START + timedelta(days=6)).isoformat())
    assert float(total["spend"]) == pytest.approx(sum(spend_by_day(rows).values()))
    assert (await http.get(f"{V}/{again}/insights", headers=auth["meta"])).json()["error"]["code"] == 100


async def test_meta_insights_page(http, auth):
    campaign_id = await meta_campaign(http, auth)
    await meta_adset(http, auth, campaign_id)
    first = await http.get(
        f"{V}/{campaign_id}/insights",
        headers=auth["meta"],
        params={"fields": "spend", "time_range": span(1, 30), "time_increment": 1},
    )
    body = first.json()
    assert len(body["data"]) == 25 and "next" in body["paging"]
    rest = (await http.get(body["paging"]["next"], headers=auth["meta"])).json()
    assert len(rest["data"]) == 5 and "next" not in rest["paging"]


async def test_meta_delivery_follows_status_budget_and_schedule(http, auth):
    campaign_id = await meta_campaign(http, auth, status="PAUSED")
    adset_id = await meta_adset(http, auth, campaign_id, budget=2000)
    assert await meta_insights(http, auth, campaign_id, 1, 3) == []  # paused: nothing delivers
    await http.post(f"{V}/{campaign_id}", headers=auth["meta"], json={"status": "ACTIVE"})
    monitored = spend_by_day(await meta_insights(http, auth, campaign_id, 1, 5))
    assert list(monitored) == ["2026-11-05", "2026-11-06"]  # active from the day after the last report

    await http.post(f"{V}/{adset_id}", headers=auth["meta"], json={"daily_budget": 10_000})
    later = spend_by_day(await meta_insights(http, auth, campaign_id, 1, 8))
    assert {d: later[d] for d in monitored} == monitored  # reported days do not change
    assert len(later) == 5 and min(v for d, v in later.items() if d not in monitored) > max(monitored.values())

    await http.post(f"{V}/{campaign_id}", headers=auth["meta"], json={"status": "PAUSED"})
    paused = spend_by_day(await meta_insights(http, auth, campaign_id, 1, 12))
    assert paused == later  # nothing after day 8

    fresh = await meta_campaign(http, auth, name="Fresh", status="PAUSED")
    await meta_adset(http, auth, fresh)
    await http.post(f"{V}/{fresh}", headers=auth["meta"], json={"status": "ACTIVE"})
    assert len(await meta_insights(http, auth, fresh, 1, 3)) == 3  # nobody looked before: from the beginning

    scheduled = await meta_campaign(http, auth, name="Scheduled")
    await meta_adset(http, auth, scheduled, start_time="2026-11-04T00:00:00+0000", end_time="2026-11-06T00:00:00+0000")
    assert list(spend_by_day(await meta_insights(http, auth, scheduled, 1, 7))) == ["2026-11-04", "2026-11-05"]


async def test_meta_performance_overrides(http, auth, admin):
    campaign_id = await meta_campaign(http, auth, name="Spike test")
    await meta_adset(http, auth, campaign_id, budget=2000)
    normal = await meta_insights(http, auth, campaign_id, 1, 14)
    await admin.set_ads_performance("meta", "spike", spend_factor=3)
    spiked = await meta_insights(http, auth, campaign_id, 1, 14)
    assert all(
        float(s["spend"]) >= 2 * float(n["spend"]) and float(s["spend"]) > 2 * 20
        for s, n in zip(spiked, normal, strict=True)
    )
    await admin.set_ads_performance("meta", "SPIKE", zero_delivery=True)
    assert await meta_insights(http, auth, campaign_id, 1, 14) == []
    await admin.set_ads_performance("meta", "spike", conversion_factor=0.0)
    assert all("action_values" not in r for r in await meta_insights(http, auth, campaign_id, 1, 14))
    invalid = await http.post("/_sandbox/ads/performance", json={"platform": "tiktok", "name_contains": "x"})
    assert invalid.status_code == 422
    await admin.reset()
    assert (await http.get("/_sandbox/ads/performance")).json() == {"overrides": []}


# Meta: images, creatives, ads


def meta_error(response: httpx.Response) -> dict:
    assert response.status_code == 400, response.text
    return response.json()["error"]


async def test_meta_images_upload_once_by_hash_and_must_be_images(http, auth, admin):
    first, again = await meta_image(http, auth), await meta_image(http, auth)
    assert first == again == hashlib.md5(PNG).hexdigest()
    assert [e["summary"]["hash"] for e in await admin.effects("meta", "adimage.create")] == [first]
    listed = await http.get(
        f"{ACT}/adimages", headers=auth["meta"], params={"hashes": json.dumps([first]), "fields": "hash,width,height"}
    )
    assert listed.json()["data"] == [{"id": f"1234567890:{first}", "hash": first, "width": 120, "height": 63}]

    text = base64.b64encode(b"not a picture").decode()
    error = meta_error(await http.post(f"{ACT}/adimages", headers=auth["meta"], json={"bytes": text}))
    assert (error["code"], error["error_subcode"], error["error_user_title"]) == (100, 1487242, "Image Resize Failed")
    assert "bytes" in meta_error(await http.post(f"{ACT}/adimages", headers=auth["meta"], json={}))["message"]
    assert (
        "base64"
        in meta_error(await http.post(f"{ACT}/adimages", headers=auth["meta"], json={"bytes": "%%"}))["message"]
    )


async def test_meta_creatives_are_link_data_of_the_page_or_an_existing_post(http, auth, admin):
    creative_id = await meta_creative(http, auth, name="Hero", description="Ready-made.")
    view = (
        await http.get(
            f"{V}/{creative_id}", headers=auth["meta"], params={"fields": "name,status,image_hash,call_to_action_type"}
        )
    ).json()
    assert view == {
        "id": creative_id,
        "name": "Hero",
        "status": "ACTIVE",
        "image_hash": hashlib.md5(PNG).hexdigest(),
        "call_to_action_type": "LEARN_MORE",
    }
    [made] = await admin.effects("meta", "adcreative.create")
    assert (made["summary"]["page_id"], made["summary"]["headline"], made["summary"]["description"]) == (
        PAGE,
        "Spring launch",
        "Ready-made.",
    )
    named = {"filtering": json.dumps([{"field": "name", "operator": "EQUAL", "value": "Hero"}]), "fields": "name"}
    assert [
        c["id"] for c in (await http.get(f"{ACT}/adcreatives", headers=auth["meta"], params=named)).json()["data"]
    ] == [creative_id]
    post = await http.post(
        f"{ACT}/adcreatives", headers=auth["meta"], json={"name": "Post", "object_story_id": f"{PAGE}_77"}
    )
    assert post.status_code == 200, post.text

    def spec(**link_data) -> dict:
        data = {"link": "https://www.mops.example/", "image_hash": hashlib.md5(PNG).hexdigest(), **link_data}
        return {"name": "Bad", "object_story_spec": {"page_id": PAGE, "link_data": data}}

    refusals = [
        ({"name": "Bad"}, "exactly one of object_story_spec or object_story_id"),
        ({**spec(), "object_story_id": f"{PAGE}_77"}, "exactly one of object_story_spec or object_story_id"),
        ({"object_story_id": "999_77"}, "is not a page this ad account may advertise as"),
        (
            {"object_story_spec": {"page_id": "999", "link_data": spec()["object_story_spec"]["link_data"]}},
            "not a page",
        ),
        (spec(link="www.mops.example"), "[link] must be a valid URL"),
        (spec(image_hash="0" * 32), "is not an image of this ad account"),
        (spec(call_to_action={"type": "CLICK_HERE"}), "[call_to_action][type] must be one of"),
        (spec(headline="Spring"), "[link_data][headline] is not supported"),
    ]
    for body, message in refusals:
        error = meta_error(await http.post(f"{ACT}/adcreatives", headers=auth["meta"], json=body))
        assert error["code"] == 100 and message in (error["message"] + error.get("error_user_msg", "")), body
    assert len(await admin.effects("meta", "adcreative.create")) == 2


async def test_meta_ads_need_a_live_ad_set_and_creative_and_show_their_parents_status(http, auth, admin):
    campaign_id = await meta_campaign(http, auth, status="PAUSED")
    adset_id = await meta_adset(http, auth, campaign_id, status="PAUSED", with_ad=False)
    creative_id = await meta_creative(http, auth)
    ad_id = await meta_ad(http, auth, adset_id, creative_id=creative_id)

    async def effective() -> str:
        return (await http.get(f"{V}/{ad_id}", headers=auth["meta"], params={"fields": "effective_status"})).json()[
            "effective_status"
        ]

    assert await effective() == "CAMPAIGN_PAUSED"
    await http.post(f"{V}/{campaign_id}", headers=auth["meta"], json={"status": "ACTIVE"})
    assert await effective() == "ADSET_PAUSED"
    await http.post(f"{V}/{adset_id}", headers=auth["meta"], json={"status": "ACTIVE"})
    assert await effective() == "ACTIVE"
    await http.post(f"{V}/{ad_id}", headers=auth["meta"], json={"status": "PAUSED"})
    assert await effective() == "PAUSED"
    view = (
        await http.get(f"{V}/{ad_id}", headers=auth["meta"], params={"fields": "adset_id,campaign_id,creative"})
    ).json()
    assert view == {"id": ad_id, "adset_id": adset_id, "campaign_id": campaign_id, "creative": {"id": creative_id}}
    for edge in (adset_id, campaign_id):
        listed = await http.get(f"{V}/{edge}/ads", headers=auth["meta"], params={"fields": "name"})
        assert listed.json()["data"] == [{"id": ad_id, "name": "Hero ad"}]

    base = {"name": "Another", "adset_id": adset_id, "creative": {"creative_id": creative_id}}
    refusals = [
        ({k: v for k, v in base.items() if k != "creative"}, "The parameter creative is required"),
        ({**base, "creative": {"creative_id": "120212999"}}, "does not exist or was deleted"),
        ({**base, "adset_id": "120211999"}, "does not exist or was deleted"),
        ({k: v for k, v in base.items() if k != "name"}, "The parameter name is required"),
        ({**base, "status": "ARCHIVED"}, "Param status must be one of"),
    ]
    for body, message in refusals:
        error = meta_error(await http.post(f"{ACT}/ads", headers=auth["meta"], json=body))
        assert message in (error["message"] + error.get("error_user_msg", "")), body
    assert [e["summary"]["id"] for e in await admin.effects("meta", "ad.create")] == [ad_id]


async def test_meta_delivers_only_with_a_running_ad(http, auth):
    campaign_id = await meta_campaign(http, auth)
    adset_id = await meta_adset(http, auth, campaign_id, with_ad=False)
    assert await meta_insights(http, auth, campaign_id, 1, 3) == []  # campaign and ad set on, but no ad
    account = await http.get(
        f"{ACT}/insights",
        headers=auth["meta"],
        params={"fields": "spend", "time_range": span(1, 3), "time_increment": 1},
    )
    assert account.json() == {"data": []}
    ad_id = await meta_ad(http, auth, adset_id, status="PAUSED")
    assert await meta_insights(http, auth, campaign_id, 1, 4) == []  # a paused ad delivers nothing either
    await http.post(f"{V}/{ad_id}", headers=auth["meta"], json={"status": "ACTIVE"})
    running = spend_by_day(await meta_insights(http, auth, campaign_id, 1, 6))
    assert list(running) == ["2026-11-06", "2026-11-07"]  # from the day after the last report
    assert all(v > 0 for v in running.values())
    assert (await http.delete(f"{V}/{ad_id}", headers=auth["meta"])).json() == {"success": True}
    assert spend_by_day(await meta_insights(http, auth, campaign_id, 1, 10)) == running  # nothing after the delete


async def test_meta_deleting_a_parent_deletes_its_ads_and_a_used_creative_stays(http, auth, admin):
    campaign_id = await meta_campaign(http, auth)
    adset_id = await meta_adset(http, auth, campaign_id, with_ad=False)
    creative_id = await meta_creative(http, auth)
    ad_id = await meta_ad(http, auth, adset_id, creative_id=creative_id)
    in_use = meta_error(await http.delete(f"{V}/{creative_id}", headers=auth["meta"]))
    assert in_use["error_user_title"] == "Creative in use" and ad_id in in_use["error_user_msg"]

    assert (await http.delete(f"{V}/{campaign_id}", headers=auth["meta"])).json() == {"success": True}
    ad = (await http.get(f"{V}/{ad_id}", headers=auth["meta"], params={"fields": "status,effective_status"})).json()
    assert (ad["status"], ad["effective_status"]) == ("DELETED", "DELETED")
    [deleted] = await admin.effects("meta", "campaign.delete")
    assert (deleted["summary"]["adsets"], deleted["summary"]["ads"]) == ([adset_id], [ad_id])
    assert meta_error(await http.delete(f"{V}/{ad_id}", headers=auth["meta"]))["error_subcode"] == 33
    assert (await http.delete(f"{V}/{creative_id}", headers=auth["meta"])).json() == {"success": True}
    assert meta_error(await http.delete(f"{V}/{creative_id}", headers=auth["meta"]))["error_subcode"] == 33

    other = await meta_campaign(http, auth, name="Other")
    other_set = await meta_adset(http, auth, other)
    [other_ad] = (await http.get(f"{V}/{other_set}/ads", headers=auth["meta"])).json()["data"]
    await http.delete(f"{V}/{other_set}", headers=auth["meta"])
    status = (await http.get(f"{V}/{other_ad['id']}", headers=auth["meta"], params={"fields": "status"})).json()
    assert status["status"] == "DELETED"


# Meta: faults


async def test_meta_faults_use_graph_bodies(http, auth, admin):
    await admin.set_faults("meta", fail_next=1, error_status=400, path_prefix=f"{ACT}/campaigns")
    assert (await http.get(ACT, headers=auth["meta"])).status_code == 200  # not under the prefix
    rejected = await http.post(f"{ACT}/campaigns", headers=auth["meta"], json={})
    assert rejected.status_code == 400
    assert (rejected.json()["error"]["code"], rejected.json()["error"]["is_transient"]) == (100, False)

    await admin.set_faults("meta", fail_next=1, error_status=503, fail_after_apply=True, path_prefix=f"{ACT}/")
    failed = await http.post(
        f"{ACT}/campaigns",
        headers=auth["meta"],
        json={"name": "Lost answer", "objective": "OUTCOME_LEADS", "special_ad_categories": []},
    )
    assert failed.status_code == 503
    assert (failed.json()["error"]["code"], failed.json()["error"]["is_transient"]) == (2, True)
    assert [e["summary"]["name"] for e in await admin.effects("meta")] == ["Lost answer"]  # applied all the same


async def test_meta_throttling_is_a_400_with_the_usage_header(http, auth, admin):
    await admin.set_faults("meta", rate_limit_next=2, retry_after_s=3)
    for _ in range(2):
        response = await http.get(ACT, headers=auth["meta"])
        error = response.json()["error"]
        assert response.status_code == 400 and (error["code"], error["error_subcode"]) == (80004, 2446079)
        assert "too many calls to this ad-account" in error["message"]
        [usage] = json.loads(response.headers["X-Business-Use-Case-Usage"])["1234567890"]
        assert usage["call_count"] == 100 and usage["estimated_time_to_regain_access"] == pytest.approx(0.05)
        assert "Retry-After" not in response.headers
    assert (await http.get(ACT, headers=auth["meta"])).status_code == 200


async def test_meta_state_shows_everything_and_reset_clears_it(http, auth, admin):
    campaign_id = await meta_campaign(http, auth)
    adset_id = await meta_adset(http, auth, campaign_id)
    await meta_insights(http, auth, campaign_id, 1, 3)
    await http.delete(f"{V}/{campaign_id}", headers=auth["meta"])
    state = await admin.state("meta")
    [campaign], [adset] = state["campaigns"], state["adsets"]
    assert (campaign["id"], campaign["status"], campaign["horizon"]) == (campaign_id, "DELETED", "2026-11-04")
    assert (adset["id"], adset["status"], adset["daily_budget"]) == (adset_id, "DELETED", "2000")
    assert [s["active"] for s in adset["timeline"]] == [True, False]
    await admin.reset()
    assert await admin.state("meta") == {
        "platform": "meta",
        "campaigns": [],
        "adsets": [],
        "images": [],
        "creatives": [],
        "ads": [],
    }


# Google Ads: auth


@pytest.mark.parametrize(
    ("headers", "status", "error_code"),
    [
        ({}, 401, {"authenticationError": "AUTHENTICATION_ERROR"}),
        (
            {"Authorization": "Bearer nope", "developer-token": "sandbox-dev-token"},
            401,
            {"authenticationError": "OAUTH_TOKEN_INVALID"},
        ),
        (
            {"Authorization": "Bearer sandbox-google-ads-token"},
            400,
            {"requestError": "DEVELOPER_TOKEN_PARAMETER_MISSING"},
        ),
        (
            {"Authorization": "Bearer sandbox-google-ads-token", "developer-token": "nope"},
            401,
            {"authenticationError": "DEVELOPER_TOKEN_INVALID"},
        ),
    ],
)
async def test_google_ads_auth_failures(http, headers, status, error_code):
    response = await http.post(
        f"{CUSTOMER}/googleAds:search", headers=headers, json={"query": "SELECT customer.id FROM customer"}
    )
    assert response.status_code == status
    assert response.json()["error"]["status"] == ("UNAUTHENTICATED" if status == 401 else "INVALID_ARGUMENT")
    assert ads_failure(response)[0]["errorCode"] == error_code


async def test_google_ads_other_customer_is_permission_denied(http, auth):
    response = await http.post(
        "/v18/customers/999/googleAds:search",
        headers=auth["google_ads"],
        json={"query": "SELECT customer.id FROM customer"},
    )
    assert response.status_code == 403 and response.json()["error"]["status"] == "PERMISSION_DENIED"
    assert ads_failure(response)[0]["errorCode"] == {"authorizationError": "USER_PERMISSION_DENIED"}


# Google Ads: budgets and campaigns


async def test_google_budget_rules(http, auth, admin):
    created = await ads_mutate(http, auth, "campaignBudgets", budget_op("B1"))
    [result] = created.json()["results"]
    assert result["resourceName"].startswith("customers/1234567890/campaignBudgets/")

    for micros, expected in (
        (990_000, {"rangeError": "TOO_LOW"}),
        (20_000_001, {"campaignBudgetError": "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT"}),
    ):
        response = await ads_mutate(http, auth, "campaignBudgets", budget_op("B2", micros))
        assert response.status_code == 400 and response.json()["error"]["status"] == "INVALID_ARGUMENT"
        [error] = ads_failure(response)
        assert error["errorCode"] == expected
        assert error["location"]["fieldPathElements"] == [
            {"fieldName": "operations", "index": 0},
            {"fieldName": "create"},
            {"fieldName": "amount_micros"},
        ]
    duplicate = await ads_mutate(http, auth, "campaignBudgets", budget_op("B1"))
    assert ads_failure(duplicate)[0]["errorCode"] == {"campaignBudgetError": "DUPLICATE_NAME"}

    atomic = await ads_mutate(http, auth, "campaignBudgets", budget_op("B3"), budget_op("B4", 10_000))
    assert atomic.status_code == 400 and [
        e["location"]["fieldPathElements"][0]["index"] for e in ads_failure(atomic)
    ] == [1]
    partial = await ads_mutate(
        http, auth, "campaignBudgets", budget_op("B3"), budget_op("B4", 10_000), partialFailure=True
    )
    body = partial.json()
    assert partial.status_code == 200 and body["results"][1] == {} and "resourceName" in body["results"][0]
    assert body["partialFailureError"]["details"][0]["errors"][0]["errorCode"] == {"rangeError": "TOO_LOW"}
    checked = await ads_mutate(http, auth, "campaignBudgets", budget_op("B5"), validateOnly=True)
    assert checked.json() == {}
    names = [b["name"] for b in (await admin.state("google_ads"))["budgets"]]
    assert names == ["B1", "B3"]  # nothing from the failed atomic request or the validation
    assert [e["summary"]["name"] for e in await admin.effects("google_ads", "budget.create")] == ["B1", "B3"]


async def test_google_campaign_lifecycle(http, auth, admin):
    campaign_rn, budget_rn = await google_campaign(http, auth, status="PAUSED", serving=False)
    duplicate = await ads_mutate(http, auth, "campaigns", campaign_op("Spring search", budget_rn))
    assert ads_failure(duplicate)[0]["errorCode"] == {"campaignError": "DUPLICATE_CAMPAIGN_NAME"}
    shared = await ads_mutate(http, auth, "campaigns", campaign_op("Second", budget_rn))
    assert ads_failure(shared)[0]["errorCode"] == {
        "campaignBudgetError": "CANNOT_USE_IMPLICITLY_SHARED_CAMPAIGN_BUDGET_WITH_MULTIPLE_CAMPAIGNS"
    }

    enabled = await ads_mutate(
        http, auth, "campaigns", {"update": {"resourceName": campaign_rn, "status": "ENABLED"}, "updateMask": "status"}
    )
    assert enabled.json() == {"results": [{"resourceName": campaign_rn}]}
    in_use = await ads_mutate(http, auth, "campaignBudgets", {"remove": budget_rn})
    assert ads_failure(in_use)[0]["errorCode"] == {"campaignBudgetError": "CAMPAIGN_BUDGET_IN_USE"}
    raised = await ads_mutate(
        http,
        auth,
        "campaignBudgets",
        {"update": {"resourceName": budget_rn, "amountMicros": "50000000"}, "updateMask": "amountMicros"},
    )
    assert raised.status_code == 200

    assert (await ads_mutate(http, auth, "campaigns", {"remove": campaign_rn})).status_code == 200
    again = await ads_mutate(http, auth, "campaigns", {"remove": campaign_rn})
    assert ads_failure(again)[0]["errorCode"] == {
        "operationAccessDeniedError": "OPERATION_NOT_PERMITTED_FOR_REMOVED_RESOURCE"
    }
    assert (await ads_mutate(http, auth, "campaignBudgets", {"remove": budget_rn})).status_code == 200
    gone = await ads_mutate(http, auth, "campaignBudgets", {"remove": budget_rn})
    assert ads_failure(gone)[0]["errorCode"] == {"campaignBudgetError": "CAMPAIGN_BUDGET_REMOVED"}

    kinds = [e["kind"] for e in await admin.effects("google_ads")]
    assert kinds == [
        "budget.create",
        "campaign.create",
        "campaign.update",
        "budget.update",
        "campaign.remove",
        "budget.remove",
    ]
    [update] = await admin.effects("google_ads", "budget.update")
    assert update["summary"]["changes"] == {"amountMicros": 50_000_000}
    state = await admin.state("google_ads")
    assert [(c["name"], c["status"]) for c in state["campaigns"]] == [("Spring search", "REMOVED")]
    assert [(b["amountMicros"], b["status"]) for b in state["budgets"]] == [("50000000", "REMOVED")]
    await admin.reset()
    assert await admin.state("google_ads") == {
        "platform": "google_ads",
        "budgets": [],
        "campaigns": [],
        "ad_groups": [],
        "ads": [],
        "criteria": [],
    }


# Google Ads: GAQL


async def test_gaql_rows_are_camel_case_with_string_int64(http, auth):
    campaign_rn, budget_rn = await google_campaign(http, auth, name="It's \\ quoted")
    query = (
        "SELECT campaign.resource_name, campaign.name, campaign.status, campaign.campaign_budget, "
        "campaign_budget.amount_micros FROM campaign WHERE campaign.name = 'It\\'s \\\\ quoted' "
        "AND campaign.status != 'REMOVED'"
    )
    body = (await ads_search(http, auth, query)).json()
    assert body["results"] == [
        {
            "campaign": {
                "resourceName": campaign_rn,
                "name": "It's \\ quoted",
                "status": "ENABLED",
                "campaignBudget": budget_rn,
            },
            "campaignBudget": {"amountMicros": "20000000"},
        }
    ]
    assert body["fieldMask"] == (
        "campaign.resourceName,campaign.name,campaign.status,campaign.campaignBudget,campaignBudget.amountMicros"
    )
    customer = (
        await ads_search(http, auth, "SELECT customer.currency_code, customer.time_zone, customer.id FROM customer")
    ).json()["results"]
    assert customer == [
        {
            "customer": {
                "resourceName": "customers/1234567890",
                "currencyCode": "EUR",
                "timeZone": "Europe/Berlin",
                "id": "1234567890",
            }
        }
    ]
    budget = await ads_search(
        http,
        auth,
        "SELECT campaign_budget.name, campaign_budget.status FROM "
        f"campaign_budget WHERE campaign_budget.resource_name = '{budget_rn}'",
    )
    assert budget.json()["results"][0]["campaignBudget"]["status"] == "ENABLED"

    await ads_mutate(http, auth, "campaigns", {"remove": campaign_rn})
    assert "results" not in (await ads_search(http, auth, "SELECT campaign.name FROM campaign")).json()
    by_name = (
        await ads_search(
            http, auth, f"SELECT campaign.status FROM campaign WHERE campaign.resource_name = '{campaign_rn}'"
        )
    ).json()
    assert by_name["results"][0]["campaign"]["status"] == "REMOVED"


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("SELECT keyword_view.resource_name FROM keyword_view", "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE"),
        ("SELECT campaign.colour FROM campaign", "UNRECOGNIZED_FIELD"),
        ("SELECT metrics.clicks FROM campaign", "EXPECTED_FILTERS_ON_DATE_RANGE"),
        ("SELECT campaign.name FROM campaign WHERE campaign.name LIKE '%x%'", "BAD_OPERATOR"),
        ("SELECT campaign.name FROM campaign WHERE campaign.name = 'x", "STRING_NOT_TERMINATED"),
        ("campaign.name FROM campaign", "EXPECTED_SELECT"),
        (
            "SELECT campaign.name FROM campaign WHERE segments.date BETWEEN '2026-11-05' AND '2026-11-01'",
            "DATE_RANGE_TOO_NARROW",
        ),
    ],
)
async def test_gaql_refuses_what_it_does_not_serve(http, auth, query, error):
    response = await ads_search(http, auth, query)
    assert response.status_code == 400
    assert ads_failure(response)[0]["errorCode"] == {"queryError": error}


async def test_gaql_page_size_is_fixed(http, auth):
    response = await ads_search(http, auth, "SELECT customer.id FROM customer", pageSize=10)
    assert ads_failure(response)[0]["errorCode"] == {"requestError": "PAGE_SIZE_NOT_SUPPORTED"}


async def test_google_metrics_follow_status_and_budget(http, auth):
    campaign_rn, budget_rn = await google_campaign(http, auth, micros=20_000_000)
    first = await google_metrics(http, auth, campaign_rn, 1, 3)
    assert len(first) == 3 and all(v % 10_000 == 0 and 0.8 * 0.85 * 20e6 <= v <= 20e6 for v in first.values())
    assert await google_metrics(http, auth, campaign_rn, 1, 3) == first

    await ads_mutate(
        http,
        auth,
        "campaignBudgets",
        {"update": {"resourceName": budget_rn, "amountMicros": "100000000"}, "updateMask": "amountMicros"},
    )
    later = await google_metrics(http, auth, campaign_rn, 1, 5)
    assert {d: later[d] for d in first} == first
    assert min(v for d, v in later.items() if d not in first) > max(first.values())

    await ads_mutate(
        http, auth, "campaigns", {"update": {"resourceName": campaign_rn, "status": "PAUSED"}, "updateMask": "status"}
    )
    assert await google_metrics(http, auth, campaign_rn, 1, 9) == later

    query = (
        f"SELECT campaign.name, metrics.cost_micros, metrics.conversions FROM campaign WHERE "
        f"campaign.resource_name = '{campaign_rn}' AND {gaql_days(1, 9)}"
    )
    [summed] = (await ads_search(http, auth, query)).json()["results"]
    assert int(summed["metrics"]["costMicros"]) == sum(later.values())
    assert isinstance(summed["metrics"]["conversions"], float)


async def test_google_schedule_and_overrides(http, auth, admin):
    budget_rn = (await ads_mutate(http, auth, "campaignBudgets", budget_op("Dated budget"))).json()["results"][0][
        "resourceName"
    ]
    dated = (
        await ads_mutate(
            http, auth, "campaigns", campaign_op("Dated", budget_rn, startDate="2026-11-03", endDate="2026-11-04")
        )
    ).json()["results"][0]["resourceName"]
    await serve(http, auth, dated)
    assert list(await google_metrics(http, auth, dated, 1, 7)) == ["2026-11-03", "2026-11-04"]

    campaign_rn, _ = await google_campaign(http, auth, name="CPA check")
    query = (
        f"SELECT metrics.conversions, metrics.impressions FROM campaign WHERE "
        f"campaign.resource_name = '{campaign_rn}' AND {gaql_days(1, 28)}"
    )
    normal = (await ads_search(http, auth, query)).json()["results"][0]["metrics"]
    await admin.set_ads_performance("google_ads", "cpa check", conversion_factor=0.1)
    worse = (await ads_search(http, auth, query)).json()["results"][0]["metrics"]
    assert worse["impressions"] == normal["impressions"]
    assert worse["conversions"] == pytest.approx(normal["conversions"] / 10, rel=0.05)
    await admin.set_ads_performance("google_ads", "cpa", zero_delivery=True)
    assert "results" not in (await ads_search(http, auth, query)).json()


# Google Ads: faults


async def test_google_faults_use_google_ads_bodies(http, auth, admin):
    mutate = f"{CUSTOMER}/campaignBudgets:mutate"
    await admin.set_faults("google_ads", fail_next=1, error_status=400, path_prefix=mutate)
    assert (await ads_search(http, auth, "SELECT customer.id FROM customer")).status_code == 200
    rejected = await ads_mutate(http, auth, "campaignBudgets", budget_op("B"))
    assert rejected.status_code == 400 and rejected.json()["error"]["status"] == "INVALID_ARGUMENT"

    await admin.set_faults("google_ads", fail_next=1, error_status=500, path_prefix=mutate)
    failed = await ads_mutate(http, auth, "campaignBudgets", budget_op("B"))
    assert failed.status_code == 500 and failed.json()["error"]["status"] == "INTERNAL"
    assert ads_failure(failed)[0]["errorCode"] == {"internalError": "INTERNAL_ERROR"}

    await admin.set_faults("google_ads", rate_limit_next=1, retry_after_s=2.5)
    limited = await ads_search(http, auth, "SELECT customer.id FROM customer")
    assert limited.status_code == 429 and limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    [error] = ads_failure(limited)
    assert error["errorCode"] == {"quotaError": "RESOURCE_EXHAUSTED"}
    assert error["details"]["quotaErrorDetails"] == {
        "rateScope": "DEVELOPER",
        "rateName": "Number of operations for basic access per day",
        "retryDelay": "2.5s",
    }
    assert "Retry-After" not in limited.headers


# another sandbox: other seed, small pages


@pytest.fixture(scope="module")
def small_pages():
    with SandboxServer(tokens=SandboxTokens(ads_seed=8, google_ads_page_size=2)) as server:
        yield server


async def test_another_seed_gives_other_numbers_and_pages_are_fixed_size(small_pages, sandbox, http, auth):
    async with httpx.AsyncClient(base_url=small_pages.url, timeout=5) as other:
        rns = [(await google_campaign(other, auth, name=f"Seeded {i}"))[0] for i in range(3)]
        listed = await ads_search(other, auth, "SELECT campaign.name FROM campaign ORDER BY campaign.name DESC")
        body = listed.json()
        assert [r["campaign"]["name"] for r in body["results"]] == ["Seeded 2", "Seeded 1"]
        rest = await ads_search(
            other,
            auth,
            "SELECT campaign.name FROM campaign ORDER BY campaign.name DESC",
            pageToken=body["nextPageToken"],
        )
        assert [r["campaign"]["name"] for r in rest.json()["results"]] == ["Seeded 0"]
        assert "nextPageToken" not in rest.json()
        wrong = await ads_search(other, auth, "SELECT campaign.id FROM campaign", pageToken=body["nextPageToken"])
        assert ads_failure(wrong)[0]["errorCode"] == {"requestError": "INVALID_PAGE_TOKEN"}
        seeded = await google_metrics(other, auth, rns[0], 1, 2)

    here, _ = await google_campaign(http, auth, name="Seeded 0")
    default = await google_metrics(http, auth, here, 1, 2)
    assert list(default) == list(seeded) and default != seeded
