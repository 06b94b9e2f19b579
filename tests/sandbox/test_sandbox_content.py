"""WordPress, LinkedIn, GA4, Single Sends and link targets: the sandbox's wire formats."""

from __future__ import annotations

from typing import get_args

import pytest

from sandbox.faults import FaultSpec
from sandbox.platforms import PLATFORMS

POSTS = "/wp-json/wp/v2/posts"
REPORT = "/v1beta/properties/123456789:runReport"


def test_fault_spec_names_every_platform():
    assert set(get_args(FaultSpec.model_fields["platform"].annotation)) == {*PLATFORMS, "*"}


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        (
            "POST",
            POSTS,
            401,
            {"code": "rest_not_logged_in", "message": "You are not currently logged in.", "data": {"status": 401}},
        ),
        (
            "POST",
            "/rest/posts",
            401,
            {
                "status": 401,
                "serviceErrorCode": 65604,
                "code": "EMPTY_ACCESS_TOKEN",
                "message": "Empty oauth2 access token",
            },
        ),
        ("POST", REPORT, 401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}),
    ],
)
async def test_missing_credentials_get_the_platform_error(http, method, path, status, body):
    response = await http.request(method, path, json={})
    assert response.status_code == status
    got = response.json()
    if "error" in body:
        assert body["error"].items() <= got["error"].items() and got["error"]["message"]
    else:
        assert got == body


async def test_wordpress_bearer_token_is_not_a_login(http, auth):
    response = await http.get(POSTS, headers=auth["linkedin"])
    assert (response.status_code, response.json()["code"]) == (401, "rest_not_logged_in")


async def test_linkedin_requires_a_version(http, auth):
    headers = {k: v for k, v in auth["linkedin"].items() if k != "LinkedIn-Version"}
    response = await http.post("/rest/posts", json={}, headers=headers)
    assert response.status_code == 400 and response.json()["code"] == "VERSION_MISSING"


async def test_wordpress_post_shape_in_view_and_edit_context(http, auth):
    created = await http.post(
        POSTS,
        params={"context": "edit"},
        headers=auth["wordpress"],
        json={"title": "Tom & Jerry", "content": "<p>x</p>", "slug": "Tom & Jerry!"},
    )
    assert created.status_code == 201
    post = created.json()
    assert created.headers["location"].endswith(f"{POSTS}/{post['id']}")
    assert post["slug"] == "tom-jerry" and post["type"] == "post" and post["status"] == "draft"
    assert post["title"] == {"raw": "Tom & Jerry", "rendered": "Tom &amp; Jerry"}
    assert post["content"]["raw"] == "<p>x</p>" and post["content"]["protected"] is False

    viewed = (await http.get(f"{POSTS}/{post['id']}", headers=auth["wordpress"])).json()
    assert viewed["title"] == {"rendered": "Tom &amp; Jerry"}


async def test_wordpress_list_filters_by_slug_and_status_with_totals(http, auth):
    for slug, status in (("a", "draft"), ("b", "publish"), ("c", "publish"), ("a", "pending")):
        await http.post(POSTS, json={"title": slug, "slug": slug, "status": status}, headers=auth["wordpress"])

    published = await http.get(POSTS, headers=auth["wordpress"])  # default: published only
    assert sorted(p["slug"] for p in published.json()) == ["b", "c"]
    assert (published.headers["x-wp-total"], published.headers["x-wp-totalpages"]) == ("2", "1")
    drafts = await http.get(POSTS, params={"slug": "a", "status": "draft,pending"}, headers=auth["wordpress"])
    assert sorted(p["status"] for p in drafts.json()) == ["draft", "pending"]  # drafts may share a slug
    paged = await http.get(POSTS, params={"status": "any", "per_page": 3, "page": 2}, headers=auth["wordpress"])
    assert len(paged.json()) == 1 and paged.headers["x-wp-totalpages"] == "2"


async def test_wordpress_published_slugs_are_unique(http, auth):
    first = (
        await http.post(POSTS, json={"title": "t", "slug": "news", "status": "publish"}, headers=auth["wordpress"])
    ).json()
    second = (
        await http.post(POSTS, json={"title": "t", "slug": "news", "status": "publish"}, headers=auth["wordpress"])
    ).json()
    assert (first["slug"], second["slug"]) == ("news", "news-2")
    assert second["link"].endswith("/news-2/")


async def test_wordpress_errors_are_wordpress_shaped(http, auth):
    bad_status = await http.post(POSTS, json={"title": "t", "status": "live"}, headers=auth["wordpress"])
    body = bad_status.json()
    assert bad_status.status_code == 400 and body["code"] == "rest_invalid_param"
    assert body["data"]["status"] == 400 and "status" in body["data"]["params"]

    bad_json = await http.post(
        POSTS, content=b"{nope", headers={**auth["wordpress"], "Content-Type": "application/json"}
    )
    assert (bad_json.status_code, bad_json.json()["code"]) == (400, "rest_invalid_json")
    no_route = await http.get("/wp-json/wp/v2/widgets", headers=auth["wordpress"])
    assert (no_route.status_code, no_route.json()["code"]) == (404, "rest_no_route")
    bad_id = await http.get(f"{POSTS}/abc", headers=auth["wordpress"])
    assert (bad_id.status_code, bad_id.json()["code"]) == (404, "rest_no_route")


async def test_wordpress_faults_use_wordpress_bodies(http, auth, admin):
    await admin.set_faults("wordpress", fail_next=1, error_status=500)
    response = await http.get(POSTS, headers=auth["wordpress"])
    assert response.status_code == 500 and response.json()["code"] == "internal_server_error"


async def test_linkedin_create_is_201_with_restli_id_and_no_body(http, auth):
    body = {
        "author": "urn:li:person:abc",
        "commentary": "hi",
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    response = await http.post("/rest/posts", json=body, headers=auth["linkedin"])
    assert response.status_code == 201 and response.content == b""
    urn = response.headers["x-restli-id"]

    fetched = await http.get(f"/rest/posts/{urn.replace(':', '%3A')}", headers=auth["linkedin"])
    assert fetched.json()["id"] == urn and fetched.json()["author"] == "urn:li:person:abc"


async def test_linkedin_missing_fields_are_listed(http, auth):
    response = await http.post("/rest/posts", json={"commentary": "hi"}, headers=auth["linkedin"])
    body = response.json()
    assert response.status_code == 422 and body["code"] == "UNPROCESSABLE_ENTITY" and body["status"] == 422
    assert "ERROR :: /author :: field is required" in body["message"]
    assert "/lifecycleState" in body["message"] and "/commentary" not in body["message"]


async def test_linkedin_unknown_post_is_404(http, auth):
    response = await http.delete("/rest/posts/urn%3Ali%3Ashare%3A1", headers=auth["linkedin"])
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


async def test_ga4_report_shape(http, auth):
    body = {
        "dateRanges": [{"startDate": "2024-06-01", "endDate": "2024-06-03"}],
        "dimensions": [{"name": "date"}],
        "metrics": [{"name": "screenPageViews"}, {"name": "keyEvents"}],
        "dimensionFilter": {
            "filter": {"fieldName": "pagePath", "stringFilter": {"matchType": "BEGINS_WITH", "value": "/PRICING"}}
        },
        "orderBys": [{"metric": {"metricName": "screenPageViews"}, "desc": True}],
        "limit": 2,
    }
    report = (await http.post(REPORT, json=body, headers=auth["ga4"])).json()

    assert report["dimensionHeaders"] == [{"name": "date"}]
    assert report["metricHeaders"] == [
        {"name": "screenPageViews", "type": "TYPE_INTEGER"},
        {"name": "keyEvents", "type": "TYPE_INTEGER"},
    ]
    assert report["rowCount"] == 3 and len(report["rows"]) == 2  # rowCount ignores limit
    views = [int(r["metricValues"][0]["value"]) for r in report["rows"]]
    assert views == sorted(views, reverse=True)
    assert report["kind"] == "analyticsData#runReport" and report["metadata"]["timeZone"] == "Etc/UTC"


async def test_ga4_empty_report_leaves_rows_out(http, auth):
    body = {"dateRanges": [{"startDate": "2020-01-01", "endDate": "2020-01-02"}], "metrics": [{"name": "sessions"}]}
    report = (await http.post(REPORT, json=body, headers=auth["ga4"])).json()
    assert "rows" not in report and "rowCount" not in report and "dimensionHeaders" not in report


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"dateRanges": [{"startDate": "June 1", "endDate": "today"}]}, "Invalid date"),
        ({"dateRanges": [{"startDate": "today", "endDate": "yesterday"}]}, "after"),
        ({"dimensions": [{"name": "city"}]}, "city is not a valid dimension"),
        ({"dimensionFilter": {"andGroup": {"expressions": []}}}, "one `filter`"),
    ],
)
async def test_ga4_invalid_requests(http, auth, change, fragment):
    body = {"dateRanges": [{"startDate": "7daysAgo", "endDate": "today"}], "metrics": [{"name": "sessions"}], **change}
    response = await http.post(REPORT, json=body, headers=auth["ga4"])
    assert response.status_code == 400 and response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert fragment in response.json()["error"]["message"]


async def test_ga4_rate_limit_is_google_shaped(http, auth, admin):
    await admin.set_faults("ga4", rate_limit_next=1, retry_after_s=2)
    response = await http.post(REPORT, json={}, headers=auth["ga4"])
    error = response.json()["error"]
    assert response.status_code == 429 and (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert error["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]


async def test_single_send_schedule_later_then_unschedule(http, auth):
    created = await http.post(
        "/v3/marketing/singlesends",
        headers=auth["sendgrid"],
        json={
            "name": "later",
            "send_to": {"list_ids": ["l1"]},
            "email_config": {"subject": "s", "html_content": "<p/>", "sender_id": 1, "suppression_group_id": 2},
        },
    )
    assert created.status_code == 201 and created.json()["status"] == "draft"
    path = f"/v3/marketing/singlesends/{created.json()['id']}"

    past = await http.put(f"{path}/schedule", json={"send_at": "2001-01-01T00:00:00Z"}, headers=auth["sendgrid"])
    assert past.status_code == 400 and past.json()["errors"][0]["field"] == "send_at"
    later = await http.put(f"{path}/schedule", json={"send_at": "2099-01-01T09:00:00Z"}, headers=auth["sendgrid"])
    assert later.json() == {"send_at": "2099-01-01T09:00:00Z", "status": "scheduled"}
    unscheduled = await http.delete(f"{path}/schedule", headers=auth["sendgrid"])
    assert unscheduled.status_code == 200 and unscheduled.json()["status"] == "draft"
    again = await http.delete(f"{path}/schedule", headers=auth["sendgrid"])
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("method", "kind", "status"),
    [("GET", "ok", 200), ("HEAD", "ok", 200), ("GET", "broken", 404), ("HEAD", "nohead", 405), ("GET", "nohead", 200)],
)
async def test_link_targets(http, method, kind, status):
    response = await http.request(method, f"/_links/{kind}/some/page")
    assert response.status_code == status


async def test_link_targets_need_no_auth_and_ignore_faults(http, admin):
    await admin.set_faults("*", fail_next=5)
    redirect = await http.get("/_links/redirect/a/b")
    assert redirect.status_code == 301 and redirect.headers["location"] == "/_links/ok/a/b"
    assert (await admin.stats())["total"] == 0  # not a platform: not counted either


async def test_state_endpoint_and_reset(http, auth, admin):
    await http.post(POSTS, json={"title": "t", "slug": "s"}, headers=auth["wordpress"])
    await http.post("/api/chat.postMessage", json={"channel": "#g", "text": "x"}, headers=auth["slack"])
    assert len((await admin.state("wordpress"))["posts"]) == 1
    assert [m["text"] for m in (await admin.state("slack"))["messages"]] == ["x"]
    assert (await admin.state("ga4"))["property"] == "properties/123456789"
    assert set(await admin.state("hubspot")) == {"platform", "contacts", "deals", "tasks", "associations"}

    await admin.reset()
    assert (await admin.state("wordpress"))["posts"] == [] and (await admin.state("slack"))["messages"] == []
    unknown = await http.get("/_sandbox/state/mailchimp")
    assert unknown.status_code == 404
