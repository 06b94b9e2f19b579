"""GA4Client against the sandbox over real HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from integrations.errors import PlatformRejected, PlatformUnavailable, RateLimited
from integrations.ga4 import PAGE_METRICS, GA4Client
from sandbox.routes.ga4 import MAX_DAYS

PAGE = "/blog/"


async def test_daily_report_shape(ga4, admin):
    rows = await ga4.run_report(
        start_date="2024-06-03",
        end_date="2024-06-09",
        dimensions=["date", "pagePath"],
        metrics=["screenPageViews", "sessions"],
        page_path=PAGE,
    )

    assert [r["date"] for r in rows] == [f"2024060{d}" for d in range(3, 10)]
    assert {r["pagePath"] for r in rows} == {PAGE}
    assert set(rows[0]) == {"date", "pagePath", "screenPageViews", "sessions"}
    assert all(r["screenPageViews"].isdigit() and int(r["sessions"]) <= int(r["screenPageViews"]) for r in rows)
    assert await admin.effects("ga4") == []  # reads leave no effects


async def test_reports_are_deterministic(ga4, admin):
    ask = dict(
        start_date="2024-03-01", end_date="2024-03-31", dimensions=["date"], metrics=list(PAGE_METRICS), page_path=PAGE
    )
    first = await ga4.run_report(**ask)
    await admin.reset()
    assert await ga4.run_report(**ask) == first


async def test_page_metrics_are_the_totals_of_the_daily_rows(ga4):
    daily = await ga4.run_report(
        start_date="2024-06-01", end_date="2024-06-30", dimensions=["date"], metrics=list(PAGE_METRICS), page_path=PAGE
    )
    totals = await ga4.page_metrics(PAGE, "2024-06-01", "2024-06-30")

    assert totals == {m: float(sum(int(r[m]) for r in daily)) for m in PAGE_METRICS}
    assert totals["screenPageViews"] > totals["sessions"] >= totals["activeUsers"] > 0


async def test_filter_selects_one_page(ga4):
    everything = await ga4.run_report(
        start_date="2024-06-01", end_date="2024-06-07", dimensions=["pagePath"], metrics=["screenPageViews"]
    )
    only = await ga4.run_report(
        start_date="2024-06-01",
        end_date="2024-06-07",
        dimensions=["pagePath"],
        metrics=["screenPageViews"],
        page_path="/pricing/",
    )
    assert len({r["pagePath"] for r in everything}) > 1
    assert only == [r for r in everything if r["pagePath"] == "/pricing/"]


async def test_traffic_starts_when_the_wordpress_post_is_published(wordpress, ga4):
    post = await wordpress.create_post(title="Launch", content_html="<p/>", slug="launch-day", idempotency_key="k")
    path = "/launch-day/"
    # A draft has no traffic, over the longest range the sandbox answers (relative to today:
    # a range from a fixed day to today outgrows that limit as the calendar moves on).
    assert await ga4.page_metrics(path, f"{MAX_DAYS - 1}daysAgo", "today") == dict.fromkeys(PAGE_METRICS, 0.0)

    published = await wordpress.update_post(post.id, status="publish")
    # The publish day is the day the sandbox stamped, not the test's clock read before or
    # after: a run crossing midnight UTC would otherwise look for traffic a day off.
    launch = datetime.fromisoformat(published.date_gmt).date()
    rows = await ga4.run_report(
        start_date=(launch - timedelta(days=3)).isoformat(),
        end_date=(launch + timedelta(days=40)).isoformat(),
        dimensions=["date"],
        metrics=["screenPageViews"],
        page_path=path,
    )
    views = {r["date"]: int(r["screenPageViews"]) for r in rows}
    assert min(views) == launch.strftime("%Y%m%d")  # nothing before the publish day
    by_day = [views[(launch + timedelta(days=d)).strftime("%Y%m%d")] for d in range(41)]
    # Grows, then decays. The publish day is the sandbox's today, so the weekend dip and the
    # daily wobble land on different days in each run: day 40 is past any half-life's decay
    # (the tail is under a fifth of the peak for every publish day), where day 10 was not.
    assert max(by_day[:5]) > 2 * by_day[-1]


async def test_no_traffic_is_an_empty_report(ga4):
    assert (
        await ga4.run_report(
            start_date="2020-01-01", end_date="2020-01-31", dimensions=["date"], metrics=["sessions"], page_path=PAGE
        )
        == []
    )
    assert await ga4.page_metrics(PAGE, "2020-01-01", "2020-01-31") == dict.fromkeys(PAGE_METRICS, 0.0)


async def test_unknown_metric_is_invalid_argument(ga4):
    with pytest.raises(PlatformRejected) as caught:
        await ga4.run_report(start_date="2024-06-01", end_date="2024-06-02", dimensions=[], metrics=["pageviews"])
    err = caught.value
    assert (err.status, err.code, err.retryable) == (400, "INVALID_ARGUMENT", False)
    assert "pageviews" in err.message


async def test_other_property_is_permission_denied(sandbox, admin):
    token = sandbox.tokens.ga4_token.get_secret_value()
    async with GA4Client(sandbox.url, token, property_id="999") as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.page_metrics(PAGE, "2024-06-01", "2024-06-02")
    assert (caught.value.status, caught.value.code) == (403, "PERMISSION_DENIED")


async def test_bad_token_is_unauthenticated(sandbox, admin):
    async with GA4Client(sandbox.url, "nope", property_id="properties/123456789") as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.page_metrics(PAGE, "2024-06-01", "2024-06-02")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (401, "UNAUTHENTICATED", False)


async def test_quota_exhausted_reads_the_retry_info(ga4, admin):
    await admin.set_faults("ga4", rate_limit_next=1, retry_after_s=1.5)
    with pytest.raises(RateLimited) as caught:
        await ga4.page_metrics(PAGE, "2024-06-01", "2024-06-02")
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (429, "RESOURCE_EXHAUSTED", 1.5)


async def test_server_error_is_retryable(ga4, admin):
    await admin.set_faults("ga4", fail_next=1, error_status=503)
    with pytest.raises(PlatformUnavailable) as caught:
        await ga4.page_metrics(PAGE, "2024-06-01", "2024-06-02")
    assert (caught.value.status, caught.value.code) == (503, "UNAVAILABLE")


async def test_request_shape_and_retry_after_header():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            429,
            headers={"Retry-After": "9"},
            json={"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}},
        )

    transport = httpx.MockTransport(handler)
    async with GA4Client("https://analyticsdata.googleapis.com", "t", property_id="42", transport=transport) as client:
        with pytest.raises(RateLimited) as caught:
            await client.page_metrics("/a/", "7daysAgo", "today")
    assert caught.value.retry_after == 9.0
    [request] = seen
    assert request.url.path == "/v1beta/properties/42:runReport"
    assert httpx.Response(200, content=request.content).json() == {
        "dateRanges": [{"startDate": "7daysAgo", "endDate": "today"}],
        "dimensions": [],
        "metrics": [{"name": m} for m in PAGE_METRICS],
        "dimensionFilter": {
            "filter": {"fieldName": "pagePath", "stringFilter": {"matchType": "EXACT", "value": "/a/"}}
        },
    }
