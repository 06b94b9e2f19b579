"""GA4 Data API client: `properties/{id}:runReport` (OAuth bearer, read-only).

`run_report` returns the report's rows as flat dicts keyed by dimension and metric
name (values stay strings, as the API sends them: `date` is `YYYYMMDD`); GA4 leaves
out rows whose metrics are all zero, so "no traffic" is an empty list.

Error `code` is Google's `status` (`UNAUTHENTICATED`, `PERMISSION_DENIED`,
`INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, `UNAVAILABLE`, ...). A 429 waits for
`Retry-After` or, failing that, the `google.rpc.RetryInfo` delay in the error details.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from integrations.errors import PlatformError
from integrations.http import PlatformClient, TokenSource, error_for_status, json_body, retry_after_header

PAGE_METRICS = ("screenPageViews", "sessions", "activeUsers", "conversions")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


class GA4Client(PlatformClient):
    platform = "ga4"

    def __init__(
        self,
        base_url: str,
        token: str | TokenSource,
        *,
        property_id: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`property_id` is the numeric GA4 property id, with or without `properties/`."""
        super().__init__(base_url, token, timeout=timeout, transport=transport)
        self.property_id = property_id.removeprefix("properties/")

    async def run_report(
        self,
        *,
        start_date: str,
        end_date: str,
        dimensions: list[str],
        metrics: list[str],
        page_path: str | None = None,
    ) -> list[dict[str, str]]:
        """One date range (`YYYY-MM-DD`, `today`, `NdaysAgo`), optionally for one exact page path."""
        payload: dict[str, Any] = {
            "dateRanges": [{"startDate": start_date, "endDate": end_date}],
            "dimensions": [{"name": d} for d in dimensions],
            "metrics": [{"name": m} for m in metrics],
        }
        if page_path is not None:
            payload["dimensionFilter"] = {
                "filter": {"fieldName": "pagePath", "stringFilter": {"matchType": "EXACT", "value": page_path}}
            }
        body = await self._json("POST", f"/v1beta/properties/{self.property_id}:runReport", json=payload)
        dimension_names = [h["name"] for h in body.get("dimensionHeaders", [])]
        metric_names = [h["name"] for h in body.get("metricHeaders", [])]
        rows = []
        for row in body.get("rows", []):
            dimension_values = [v.get("value", "") for v in row.get("dimensionValues", [])]
            metric_values = [v.get("value", "") for v in row.get("metricValues", [])]
            rows.append(
                {
                    **dict(zip(dimension_names, dimension_values, strict=False)),
                    **dict(zip(metric_names, metric_values, strict=False)),
                }
            )
        return rows

    async def page_metrics(self, page_path: str, start_date: str, end_date: str) -> dict[str, float]:
        """Totals of views, sessions, active users and conversions for one page (0 without traffic)."""
        rows = await self.run_report(
            start_date=start_date, end_date=end_date, dimensions=[], metrics=list(PAGE_METRICS), page_path=page_path
        )
        return {name: sum(_number(row.get(name)) for row in rows) for name in PAGE_METRICS}

    async def report_rows(
        self, *, start_date: str, end_date: str, dimensions: list[str], metrics: list[str], page_size: int = 10_000
    ) -> list[dict[str, str]]:
        """Every row of a report, page by page (`limit`/`offset` until `rowCount`), in dimension order."""
        rows: list[dict[str, str]] = []
        offset = 0
        while True:
            payload: dict[str, Any] = {
                "dateRanges": [{"startDate": start_date, "endDate": end_date}],
                "dimensions": [{"name": d} for d in dimensions],
                "metrics": [{"name": m} for m in metrics],
                "orderBys": [{"dimension": {"dimensionName": d}} for d in dimensions],
                "limit": page_size,
                "offset": offset,
            }
            body = await self._json("POST", f"/v1beta/properties/{self.property_id}:runReport", json=payload)
            dimension_names = [h["name"] for h in body.get("dimensionHeaders", [])]
            metric_names = [h["name"] for h in body.get("metricHeaders", [])]
            page = body.get("rows", [])
            for row in page:
                values = [v.get("value", "") for v in row.get("dimensionValues", [])]
                numbers = [v.get("value", "") for v in row.get("metricValues", [])]
                rows.append(
                    {
                        **dict(zip(dimension_names, values, strict=False)),
                        **dict(zip(metric_names, numbers, strict=False)),
                    }
                )
            offset += len(page)
            if not page or offset >= int(body.get("rowCount") or 0):
                return rows

    def _error(self, response: httpx.Response) -> PlatformError:
        """Read Google's `{"error": {"code", "message", "status", "details"}}` body."""
        status = response.status_code
        body = json_body(response)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = str(error.get("status") or f"HTTP_{status}")
        message = str(error.get("message") or response.reason_phrase or "error")
        retry_after = retry_after_header(response.headers)
        if retry_after is None:
            retry_after = _retry_info(error.get("details"))
        return error_for_status(self.platform, status, code, message, retry_after)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _retry_info(details: Any) -> float | None:
    """The `retryDelay` ("3s", "0.5s") of a `google.rpc.RetryInfo` detail, if any."""
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None
