"""GA4 Data API `runReport` (`/v1beta/properties/{id}:runReport`), read-only.

Dimensions `date` (`YYYYMMDD`) and `pagePath`; metrics `screenPageViews`, `sessions`,
`activeUsers`, `conversions` (and its newer name `keyEvents`); one date range
(`YYYY-MM-DD`, `today`, `yesterday`, `NdaysAgo`); a `dimensionFilter` made of one
`filter` (string or in-list); `orderBys`, `limit`, `offset`, `keepEmptyRows`.
Numbers come from `sandbox.analytics`. The pages known without a filter are a few
site pages plus every WordPress post that has a date (published, scheduled, or once
published); a page named by an EXACT or in-list filter has traffic even if unknown.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Body, Depends

from sandbox.analytics import SEED_PAGES, day_metrics
from sandbox.platforms import SandboxError
from sandbox.state import SandboxState, get_state
from sandbox.store import Store

router = APIRouter(prefix="/v1beta")

DIMENSIONS = ("date", "pagePath")
METRICS = ("screenPageViews", "sessions", "activeUsers", "conversions", "keyEvents")
MAX_DAYS = 3 * 366
SCHEMA = "https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema"
_DAYS_AGO = re.compile(r"^(\d+)daysAgo$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _invalid(message: str) -> SandboxError:
    return SandboxError(400, "INVALID_ARGUMENT", message)


def _day(value: Any, today: date) -> date:
    if value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    if isinstance(value, str) and (match := _DAYS_AGO.match(value)):
        return today - timedelta(days=int(match.group(1)))
    if isinstance(value, str) and _ISO_DAY.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _invalid(f"Invalid date: {value!r}. Dates must be YYYY-MM-DD, NdaysAgo, yesterday, or today.")


def _names(items: Any, kind: str, allowed: tuple[str, ...]) -> list[str]:
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        raise _invalid(f"{kind}s must be a list of {{name}} objects")
    names = [i["name"] for i in items]
    for name in names:
        if name not in allowed:
            raise _invalid(
                f"Field {name} is not a valid {kind}. For a list of valid dimensions and metrics, see {SCHEMA}"
            )
    if len(set(names)) != len(names):
        raise _invalid(f"Duplicate {kind} names are not allowed in a request.")
    return names


def _matcher(expression: Any) -> tuple[str, Any] | None:
    """(field name, predicate on the dimension value) for a single-filter expression."""
    if expression is None:
        return None
    filt = expression.get("filter") if isinstance(expression, dict) else None
    if not isinstance(filt, dict) or len(expression) != 1:
        raise _invalid("The sandbox supports a dimensionFilter with one `filter` (no and/or/not groups).")
    field = filt.get("fieldName")
    if field not in DIMENSIONS:
        raise _invalid(
            f"Field {field} is not a valid dimension. For a list of valid dimensions and metrics, see {SCHEMA}"
        )
    if isinstance(filt.get("stringFilter"), dict):
        spec = filt["stringFilter"]
        match_type, value = spec.get("matchType", "EXACT"), str(spec.get("value", ""))
        fold = (lambda s: s) if spec.get("caseSensitive") else str.lower
        tests = {
            "EXACT": lambda s: fold(s) == fold(value),
            "BEGINS_WITH": lambda s: fold(s).startswith(fold(value)),
            "ENDS_WITH": lambda s: fold(s).endswith(fold(value)),
            "CONTAINS": lambda s: fold(value) in fold(s),
        }
        if match_type not in tests:
            raise _invalid(f"The sandbox supports stringFilter matchType {', '.join(tests)}, not {match_type}.")
        return field, tests[match_type]
    if isinstance(filt.get("inListFilter"), dict):
        spec = filt["inListFilter"]
        fold = (lambda s: s) if spec.get("caseSensitive") else str.lower
        values = {fold(str(v)) for v in spec.get("values", [])}
        return field, lambda s: fold(s) in values
    raise _invalid("The sandbox supports stringFilter and inListFilter.")


def _named_pages(expression: Any) -> list[str]:
    """Paths a pagePath EXACT / in-list filter names (they have traffic even if unknown)."""
    filt = (expression or {}).get("filter") or {}
    if filt.get("fieldName") != "pagePath":
        return []
    if (filt.get("stringFilter") or {}).get("matchType", "EXACT") == "EXACT" and "stringFilter" in filt:
        return [str(filt["stringFilter"].get("value", ""))]
    return [str(v) for v in (filt.get("inListFilter") or {}).get("values", [])]


def wordpress_launches(store: Store) -> dict[str, date | None]:
    """Page path → launch day for every WordPress post (None: never dated, so no traffic)."""
    launches: dict[str, date | None] = {}
    for post in store.wp_posts.values():
        launch = datetime.fromisoformat(post.date_gmt).date() if post.date_gmt else None
        for path in (f"/{post.slug}/", f"/{post.slug}"):
            launches[path] = launch
    return launches


def _sort_key(order: dict[str, Any], dimensions: list[str], metrics: list[str]):
    if isinstance(order.get("dimension"), dict):
        name = order["dimension"].get("dimensionName")
        if name not in dimensions:
            raise _invalid(f"orderBys: dimension {name} is not in the request")
        i = dimensions.index(name)
        return lambda row: row[0][i]
    if isinstance(order.get("metric"), dict):
        name = order["metric"].get("metricName")
        if name not in metrics:
            raise _invalid(f"orderBys: metric {name} is not in the request")
        i = metrics.index(name)
        return lambda row: row[1][i]
    raise _invalid("orderBys: each entry needs a dimension or a metric")


@router.post("/properties/{property_id}:runReport")
async def run_report(property_id: str, body: dict = Body(...), state: SandboxState = Depends(get_state)) -> dict:
    if property_id != state.tokens.ga4_property_id:
        raise SandboxError(
            403,
            "PERMISSION_DENIED",
            "User does not have sufficient permissions for this property. "
            "To learn more about Property ID, see "
            "https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.",
        )
    dimensions = _names(body.get("dimensions", []), "dimension", DIMENSIONS)
    metrics = _names(body.get("metrics", []), "metric", METRICS)
    if not metrics and not dimensions:
        raise _invalid("A report needs at least one dimension or metric.")
    ranges = body.get("dateRanges")
    if not isinstance(ranges, list) or not ranges or not isinstance(ranges[0], dict):
        raise _invalid("Must specify at least one date range.")
    if len(ranges) > 1:
        raise _invalid("The sandbox supports one date range per request.")
    today = datetime.now(UTC).date()
    start, end = _day(ranges[0].get("startDate"), today), _day(ranges[0].get("endDate"), today)
    if start > end:
        raise _invalid(f"Date range startDate {start} is after endDate {end}.")
    if (end - start).days >= MAX_DAYS:
        raise _invalid(f"The sandbox answers date ranges of up to {MAX_DAYS} days.")
    matcher = _matcher(body.get("dimensionFilter"))
    try:  # int64 fields arrive as numbers or strings
        limit, offset = int(body.get("limit", 10_000)), int(body.get("offset", 0))
    except (TypeError, ValueError):
        limit = offset = -1
    if limit < 1 or offset < 0:
        raise _invalid("limit must be positive and offset non-negative")
    orders = [_sort_key(o, dimensions, metrics) for o in body.get("orderBys", []) if isinstance(o, dict)]
    descending = [bool(o.get("desc")) for o in body.get("orderBys", []) if isinstance(o, dict)]

    launches = wordpress_launches(state.store)
    pages = _named_pages(body.get("dimensionFilter")) or list(
        dict.fromkeys([*SEED_PAGES, *(p for p, launch in launches.items() if launch and p.endswith("/"))])
    )
    totals: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0] * len(metrics))
    day = start
    while day <= end:
        for page in pages:
            values = {"date": day.strftime("%Y%m%d"), "pagePath": page}
            if matcher and not matcher[1](values[matcher[0]]):
                continue
            if page in launches and launches[page] is None:
                continue  # a WordPress draft that was never published has no traffic
            numbers = day_metrics(page, day, launches.get(page))
            key = tuple(values[d] for d in dimensions)
            row = totals[key]
            for i, metric in enumerate(metrics):
                row[i] += numbers.get(metric)
        day += timedelta(days=1)

    rows = [(key, values) for key, values in totals.items() if body.get("keepEmptyRows") or any(values)]
    rows.sort(key=lambda row: row[0])
    for key_fn, desc in reversed(list(zip(orders, descending, strict=True))):
        rows.sort(key=key_fn, reverse=desc)
    page_rows = rows[offset : offset + limit]

    report: dict[str, Any] = {}
    if dimensions:
        report["dimensionHeaders"] = [{"name": d} for d in dimensions]
    if metrics:
        report["metricHeaders"] = [{"name": m, "type": "TYPE_INTEGER"} for m in metrics]
    if page_rows:  # like the real API (proto3 JSON), empty fields are left out
        report["rows"] = [
            {
                **({"dimensionValues": [{"value": v} for v in key]} if dimensions else {}),
                **({"metricValues": [{"value": str(v)} for v in values]} if metrics else {}),
            }
            for key, values in page_rows
        ]
    if rows:
        report["rowCount"] = len(rows)
    report["metadata"] = {"currencyCode": "USD", "timeZone": "Etc/UTC"}
    report["kind"] = "analyticsData#runReport"
    return report
