"""Analytics activities (GA4 Data API). Hosted on the analytics task queue."""

from __future__ import annotations

from temporalio import activity

from activities.contracts import ANALYTICS_PAGE_METRICS
from activities.errors import platform_errors
from activities.models import PageMetricsInput, PageMetricsResult
from integrations.ga4 import GA4Client


class AnalyticsActivities:
    def __init__(self, ga4: GA4Client) -> None:
        self._ga4 = ga4

    @activity.defn(name=ANALYTICS_PAGE_METRICS.name)
    @platform_errors
    async def page_metrics(self, inp: PageMetricsInput) -> PageMetricsResult:
        m = await self._ga4.page_metrics(inp.page_path, inp.start_date.isoformat(), inp.end_date.isoformat())
        return PageMetricsResult(
            views=m.get("screenPageViews", 0), sessions=m.get("sessions", 0), conversions=m.get("conversions", 0)
        )
