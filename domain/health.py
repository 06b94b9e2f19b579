"""Integration health: judging probe results, the degraded/healthy state machine with
hysteresis (one alert per incident, one recovery notice), and the per-platform report.

Pure: results and times are passed in.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

HealthState = Literal["healthy", "degraded"]

# The setting that caps each platform's task-queue rate (server-side, across all workers).
RATE_SETTING = {
    "hubspot": "MOPS_CRM_MAX_PER_SECOND",
    "sendgrid": "MOPS_EMAIL_MAX_PER_SECOND",
    "slack": "MOPS_CHAT_MAX_PER_SECOND",
    "wordpress": "MOPS_CMS_MAX_PER_SECOND",
    "linkedin": "MOPS_SOCIAL_MAX_PER_SECOND",
    "ga4": "MOPS_ANALYTICS_MAX_PER_SECOND",
    "meta": "MOPS_META_MAX_PER_SECOND",
    "google_ads": "MOPS_GOOGLE_ADS_MAX_PER_SECOND",
}


class ProbeResult(BaseModel):
    """One check of one platform: a few authenticated cheap reads."""

    platform: str
    at: datetime
    requests: int
    failures: int = 0  # 5xx, timeouts, network errors
    rate_limited: int = 0  # 429s / throttling answers
    auth_failed: bool = False  # 401/403: the credential is not accepted
    latencies_ms: list[float] = []
    headroom: float | None = None  # share of the platform's rate limit still free (0..1), from headers
    last_error: str | None = None  # the platform's error code (no personal data)

    @property
    def error_rate(self) -> float:
        return (self.failures + (self.requests if self.auth_failed else 0)) / self.requests if self.requests else 0.0

    @property
    def median_ms(self) -> float | None:
        return percentile(self.latencies_ms, 50)


class HealthPolicy(BaseModel):
    max_error_rate: float = 0.3
    max_latency_ms: float = 2000.0
    recover_checks: int = 2


class PlatformHealth(BaseModel):
    platform: str
    state: HealthState = "healthy"
    since: datetime | None = None
    reason: str | None = None  # why it is degraded
    healthy_streak: int = 0
    incident_id: str | None = None
    last: ProbeResult | None = None


class Incident(BaseModel):
    id: str
    platform: str
    started: datetime
    reason: str
    ended: datetime | None = None


Transition = Literal["alert", "recovered"]


def problem(result: ProbeResult, policy: HealthPolicy) -> str | None:
    """Why this check is bad (one line), or None when it is healthy."""
    if result.auth_failed:
        return f"authentication failing ({result.last_error or 'rejected'})"
    rate = result.failures / result.requests if result.requests else 0.0
    if result.requests and rate >= policy.max_error_rate:
        return f"error rate {rate:.0%} ({result.failures}/{result.requests} probes failed)"
    median = result.median_ms
    if median is not None and median > policy.max_latency_ms:
        return f"median latency {median:.0f} ms over {policy.max_latency_ms:.0f} ms"
    return None


def step(
    health: PlatformHealth, result: ProbeResult, policy: HealthPolicy, incident_id: str
) -> tuple[PlatformHealth, Transition | None]:
    """The platform's next state after one check. Degraded at the first bad check (one
    alert); healthy again only after `recover_checks` good checks in a row (one
    recovery notice), so a flapping platform does not storm anyone."""
    why = problem(result, policy)
    h = health.model_copy(update={"last": result})
    if h.state == "healthy":
        if why is None:
            return h, None
        return h.model_copy(
            update={
                "state": "degraded",
                "since": result.at,
                "reason": why,
                "healthy_streak": 0,
                "incident_id": incident_id,
            }
        ), "alert"
    if why is not None:
        return h.model_copy(update={"reason": why, "healthy_streak": 0}), None
    streak = h.healthy_streak + 1
    if streak < policy.recover_checks:
        return h.model_copy(update={"healthy_streak": streak}), None
    return h.model_copy(
        update={"state": "healthy", "since": result.at, "reason": None, "healthy_streak": streak, "incident_id": None}
    ), "recovered"


class PlatformReport(BaseModel):
    platform: str
    checks: int
    requests: int
    p50_ms: float | None
    p95_ms: float | None
    error_rate: float
    throttle_rate: float
    min_headroom: float | None
    suggestions: list[str]


def report(platform: str, samples: list[ProbeResult], *, since: datetime, policy: HealthPolicy) -> PlatformReport:
    """Latency percentiles, error and throttle rates over the window, with suggestions."""
    window = [s for s in samples if s.at >= since]
    latencies = [ms for s in window for ms in s.latencies_ms]
    requests = sum(s.requests for s in window)
    errors = sum(s.failures + (s.requests if s.auth_failed else 0) for s in window)
    throttled = sum(s.rate_limited for s in window)
    headrooms = [s.headroom for s in window if s.headroom is not None]
    r = PlatformReport(
        platform=platform,
        checks=len(window),
        requests=requests,
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        error_rate=errors / requests if requests else 0.0,
        throttle_rate=throttled / requests if requests else 0.0,
        min_headroom=min(headrooms) if headrooms else None,
        suggestions=[],
    )
    r.suggestions = suggestions(r, window, policy)
    return r


def suggestions(r: PlatformReport, window: list[ProbeResult], policy: HealthPolicy) -> list[str]:
    out = []
    env = RATE_SETTING.get(r.platform, f"MOPS_{r.platform.upper()}_MAX_PER_SECOND")
    if any(s.auth_failed for s in window):
        out.append(f"credentials were refused: rotate the {r.platform} token in settings and restart the workers")
    if r.throttle_rate > 0.01 or (r.min_headroom is not None and r.min_headroom < 0.1):
        out.append(
            f"throttled ({r.throttle_rate:.1%} of probes): lower the task-queue rate ({env}) so every "
            "worker together stays under the platform's limit"
        )
    if r.error_rate > 0.05:
        out.append(
            f"{r.error_rate:.1%} of probes failed: check the platform's status page; workflows hold "
            "while it is degraded and resume on recovery"
        )
    if r.p95_ms is not None and r.p95_ms > policy.max_latency_ms / 2:
        out.append(
            f"p95 latency {r.p95_ms:.0f} ms: consider a longer MOPS_HTTP_TIMEOUT_SECONDS and fewer "
            "concurrent activities for this platform"
        )
    return out


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], 1)
