"""The Google Ads stand-in's ad groups, responsive search ads and keywords: wire shapes,
the platform's limits, partial failure, GAQL over them, and delivery only when a
campaign has something to show."""

from __future__ import annotations

import pytest

from tests.sandbox.test_sandbox_ads import (
    DESCRIPTIONS,
    HEADLINES,
    ads_failure,
    ads_mutate,
    ads_search,
    google_campaign,
    google_metrics,
    keyword_op,
    rsa_op,
)


async def ad_group(http, auth, campaign_rn: str, name: str = "Ad group", **extra) -> str:
    response = await ads_mutate(http, auth, "adGroups", {"create": {"name": name, "campaign": campaign_rn, **extra}})
    assert response.status_code == 200, response.text
    return response.json()["results"][0]["resourceName"]


def location(error: dict) -> list[dict]:
    return error["location"]["fieldPathElements"]


async def test_ad_group_ad_and_keywords_have_the_rest_shapes_and_gaql_finds_them(http, auth, admin):
    campaign_rn, _ = await google_campaign(http, auth, status="PAUSED", serving=False)
    group_rn = await ad_group(http, auth, campaign_rn, status="PAUSED")
    assert group_rn.startswith("customers/1234567890/adGroups/")
    pinned = [{**HEADLINES[0], "pinnedField": "HEADLINE_1"}, *HEADLINES[1:]]
    ad = await ads_mutate(http, auth, "adGroupAds", rsa_op(group_rn, headlines=pinned, path1="crm", path2="spring"))
    ad_rn = ad.json()["results"][0]["resourceName"]
    group_id = group_rn.rsplit("/", 1)[1]
    assert ad_rn.startswith(f"customers/1234567890/adGroupAds/{group_id}~")
    criteria = await ads_mutate(
        http,
        auth,
        "adGroupCriteria",
        keyword_op(group_rn, "crm software", "EXACT"),
        keyword_op(group_rn, "crm", "BROAD"),
        keyword_op(group_rn, "jobs", "BROAD", negative=True),
        partialFailure=True,
    )
    body = criteria.json()
    assert "partialFailureError" not in body and len(body["results"]) == 3
    assert all(
        r["resourceName"].startswith(f"customers/1234567890/adGroupCriteria/{group_id}~") for r in body["results"]
    )

    [group_row] = (
        await ads_search(
            http,
            auth,
            f"SELECT ad_group.name, ad_group.status, ad_group.type, campaign.name FROM ad_group "
            f"WHERE ad_group.campaign = '{campaign_rn}' AND ad_group.status != 'REMOVED'",
        )
    ).json()["results"]
    assert group_row == {
        "adGroup": {"resourceName": group_rn, "name": "Ad group", "status": "PAUSED", "type": "SEARCH_STANDARD"},
        "campaign": {"name": "Spring search"},
    }
    [ad_row] = (
        await ads_search(
            http,
            auth,
            "SELECT ad_group_ad.status, ad_group_ad.ad.final_urls, ad_group_ad.ad.responsive_search_ad.headlines, "
            "ad_group_ad.ad.responsive_search_ad.path2 FROM ad_group_ad "
            f"WHERE ad_group_ad.ad_group = '{group_rn}'",
        )
    ).json()["results"]
    assert ad_row["adGroupAd"]["resourceName"] == ad_rn and ad_row["adGroupAd"]["status"] == "ENABLED"
    assert ad_row["adGroupAd"]["ad"] == {
        "finalUrls": ["https://www.mops.example/spring"],
        "responsiveSearchAd": {"headlines": pinned, "path2": "spring"},
    }
    negatives = (
        await ads_search(
            http,
            auth,
            "SELECT ad_group_criterion.keyword.text, ad_group_criterion.keyword.match_type FROM ad_group_criterion "
            f"WHERE ad_group_criterion.ad_group = '{group_rn}' AND ad_group_criterion.negative = TRUE",
        )
    ).json()["results"]
    assert [r["adGroupCriterion"]["keyword"] for r in negatives] == [{"text": "jobs", "matchType": "BROAD"}]
    [created] = await admin.effects("google_ads", "ad_group_ad.create")
    assert created["summary"]["headlines"] == [h["text"] for h in HEADLINES]
    assert created["summary"]["descriptions"] == [d["text"] for d in DESCRIPTIONS]


LIMITS = [
    (
        rsa_op("G", headlines=[*HEADLINES[:1], {"text": "x" * 31}, *HEADLINES[2:]]),
        {"stringLengthError": "TOO_LONG"},
        ["ad", "responsive_search_ad", ("headlines", 1), "text"],
    ),
    (
        rsa_op("G", headlines=HEADLINES[:2]),
        {"collectionSizeError": "TOO_FEW"},
        ["ad", "responsive_search_ad", "headlines"],
    ),
    (
        rsa_op("G", headlines=[{"text": f"Headline {i}"} for i in range(16)]),
        {"collectionSizeError": "TOO_MANY"},
        ["ad", "responsive_search_ad", "headlines"],
    ),
    (
        rsa_op("G", descriptions=[DESCRIPTIONS[0], {"text": "y" * 91}]),
        {"stringLengthError": "TOO_LONG"},
        ["ad", "responsive_search_ad", ("descriptions", 1), "text"],
    ),
    (rsa_op("G", path1="p" * 16), {"stringLengthError": "TOO_LONG"}, ["ad", "responsive_search_ad", "path1"]),
    (
        rsa_op("G", headlines=[{**HEADLINES[0], "pinnedField": "DESCRIPTION_1"}, *HEADLINES[1:]]),
        {"requestError": "INVALID_ENUM_VALUE"},
        ["ad", "responsive_search_ad", ("headlines", 0), "pinned_field"],
    ),
    (keyword_op("G", "k" * 81), {"criterionError": "KEYWORD_TEXT_TOO_LONG"}, ["keyword", "text"]),
    (
        keyword_op("G", " ".join(["word"] * 11)),
        {"criterionError": "KEYWORD_HAS_TOO_MANY_WORDS"},
        ["keyword", "text"],
    ),
    (keyword_op("G", "crm", "BROAD_MODIFIED"), {"requestError": "INVALID_ENUM_VALUE"}, ["keyword", "match_type"]),
]


@pytest.mark.parametrize(("op", "code", "path"), LIMITS)
async def test_the_platform_limits_are_refused_at_the_field(http, auth, admin, op, code, path):
    campaign_rn, _ = await google_campaign(http, auth, serving=False)
    group_rn = await ad_group(http, auth, campaign_rn)
    op["create"]["adGroup"] = group_rn
    collection = "adGroupAds" if "ad" in op["create"] else "adGroupCriteria"
    response = await ads_mutate(http, auth, collection, op)
    assert response.status_code == 400 and response.json()["error"]["status"] == "INVALID_ARGUMENT"
    [error] = ads_failure(response)
    assert error["errorCode"] == code
    expected = [
        {"fieldName": p[0], "index": p[1]} if isinstance(p, tuple) else {"fieldName": p} for p in ["create", *path]
    ]
    assert location(error) == [{"fieldName": "operations", "index": 0}, *expected]
    state = await admin.state("google_ads")
    assert state["ads"] == [] and state["criteria"] == []


async def test_keywords_partial_failure_keeps_the_good_ones_and_locates_the_bad(http, auth, admin):
    campaign_rn, _ = await google_campaign(http, auth, serving=False)
    group_rn = await ad_group(http, auth, campaign_rn)
    ops = [keyword_op(group_rn, "crm"), keyword_op(group_rn, "k" * 81), keyword_op(group_rn, "jobs", negative=True)]
    checked = await ads_mutate(http, auth, "adGroupCriteria", *ops[::2], validateOnly=True)
    assert checked.status_code == 200 and checked.json() == {}
    atomic = await ads_mutate(http, auth, "adGroupCriteria", *ops)
    assert atomic.status_code == 400 and (await admin.state("google_ads"))["criteria"] == []

    partial = await ads_mutate(http, auth, "adGroupCriteria", *ops, partialFailure=True)
    body = partial.json()
    assert partial.status_code == 200
    assert body["results"][1] == {} and all("resourceName" in body["results"][i] for i in (0, 2))
    [detail] = body["partialFailureError"]["details"]
    [error] = detail["errors"]
    assert error["errorCode"] == {"criterionError": "KEYWORD_TEXT_TOO_LONG"}
    assert location(error)[0] == {"fieldName": "operations", "index": 1}
    kept = [(c["keyword"]["text"], c["negative"]) for c in (await admin.state("google_ads"))["criteria"]]
    assert kept == [("crm", False), ("jobs", True)]


async def test_a_campaign_delivers_only_with_an_enabled_ad_group_ad_and_positive_keyword(http, auth):
    campaign_rn, _ = await google_campaign(http, auth, serving=False)  # ENABLED, with a budget
    assert await google_metrics(http, auth, campaign_rn, 1, 2) == {}, "no ad group: nothing to show"
    group_rn = await ad_group(http, auth, campaign_rn)
    ad_rn = (await ads_mutate(http, auth, "adGroupAds", rsa_op(group_rn))).json()["results"][0]["resourceName"]
    await ads_mutate(http, auth, "adGroupCriteria", keyword_op(group_rn, "jobs", negative=True))
    assert await google_metrics(http, auth, campaign_rn, 1, 4) == {}, "only a negative keyword"
    await ads_mutate(http, auth, "adGroupCriteria", keyword_op(group_rn, "crm software"))
    delivering = await google_metrics(http, auth, campaign_rn, 1, 6)
    assert list(delivering) == ["2026-11-06", "2026-11-07"] and all(v > 0 for v in delivering.values())

    await ads_mutate(
        http, auth, "adGroups", {"update": {"resourceName": group_rn, "status": "PAUSED"}, "updateMask": "status"}
    )
    assert await google_metrics(http, auth, campaign_rn, 1, 8) == delivering, "a paused ad group shows nothing"
    await ads_mutate(
        http, auth, "adGroups", {"update": {"resourceName": group_rn, "status": "ENABLED"}, "updateMask": "status"}
    )
    await ads_mutate(http, auth, "adGroupAds", {"remove": ad_rn})
    assert await google_metrics(http, auth, campaign_rn, 1, 10) == delivering, "no ad left"


async def test_removing_a_campaign_removes_what_it_holds(http, auth, admin):
    campaign_rn, _ = await google_campaign(http, auth)
    [group] = (await admin.state("google_ads"))["ad_groups"]
    assert (await ads_mutate(http, auth, "campaigns", {"remove": campaign_rn})).status_code == 200
    state = await admin.state("google_ads")
    assert {o["status"] for o in state["ad_groups"] + state["ads"] + state["criteria"]} == {"REMOVED"}
    late = await ads_mutate(http, auth, "adGroupAds", rsa_op(group["resourceName"]))
    assert ads_failure(late)[0]["errorCode"] == {
        "operationAccessDeniedError": "OPERATION_NOT_PERMITTED_FOR_REMOVED_RESOURCE"
    }
    listed = await ads_search(http, auth, "SELECT ad_group.name FROM ad_group")
    assert "results" not in listed.json(), "removed ad groups are left out unless asked for"
    asked = await ads_search(http, auth, "SELECT ad_group.name FROM ad_group WHERE ad_group.status = 'REMOVED'")
    assert len(asked.json()["results"]) == 1
