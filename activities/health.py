"""Integration health activities, on their own task queue (never held by the
degraded-platform gate, so they can see a platform recover).

- `health.probe`: a few cheap authenticated reads against one platform: latency, errors,
  throttling, auth, and rate-limit headroom from the platform's headers; for `gateway`,
  mops' own gateway's `/healthz`.
- `health.notify`: an alert or recovery notice to the alert chat channel and the alert
  webhook (each delivered once per incident and kind).
- `health.gauges`: leads by stage and approvals waiting, from Temporal visibility, set
  on this process's metrics (exported with the SDK metrics).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.contracts import HEALTH_GAUGES, HEALTH_NOTIFY, HEALTH_PROBE
from activities.models import GaugesResult, HealthNotice, HealthNoticeResult, ProbeInput
from activities.post_once import post_message_once
from domain.availability import GATEWAY
from domain.health import ProbeResult
from domain.leads import LeadStage
from integrations.errors import PlatformError, PlatformRejected, RateLimited
from integrations.http import PlatformClient
from mops.metrics import MopsMetrics

PROBE_EMAIL = "health-probe@mops.invalid"  # a reserved address: no person behind it


def _probes(c) -> dict[str, Callable[[], Awaitable[object]]]:
    """One cheap authenticated read per platform (`c` is the worker's PlatformClients)."""
    return {
        "hubspot": lambda: c.hubspot.list_owners(page_size=1),
        "sendgrid": lambda: c.sendgrid.is_suppressed(PROBE_EMAIL, None),
        "slack": lambda: c.slack.lookup_user_by_email(PROBE_EMAIL),
        "wordpress": lambda: c.wordpress.find_by_slug("mops-health-probe"),
        "linkedin": lambda: c.linkedin.probe(),
        "ga4": lambda: c.ga4.run_report(
            start_date="yesterday", end_date="yesterday", dimensions=["date"], metrics=["sessions"]
        ),
        "meta": lambda: c.meta.account(),
        "google_ads": lambda: c.google_ads.customer(),
    }


PLATFORMS = ("hubspot", "sendgrid", "slack", "wordpress", "linkedin", "ga4", "meta", "google_ads")


def headroom(platform: str, headers: httpx.Headers | None) -> float | None:
    """The share of the rate limit still free, from the platform's own headers."""
    if headers is None:
        return None
    try:
        if platform == "hubspot" and headers.get("x-hubspot-ratelimit-max"):
            return int(headers["x-hubspot-ratelimit-remaining"]) / int(headers["x-hubspot-ratelimit-max"])
        if platform == "sendgrid" and headers.get("x-ratelimit-limit"):
            return int(headers["x-ratelimit-remaining"]) / int(headers["x-ratelimit-limit"])
        if platform == "meta" and headers.get("x-business-use-case-usage"):
            usage = json.loads(headers["x-business-use-case-usage"])
            used = max(
                (
                    max(u.get("call_count", 0), u.get("total_time", 0), u.get("total_cputime", 0))
                    for entries in usage.values()
                    for u in entries
                ),
                default=0,
            )
            return max(0.0, 1 - used / 100)
    except (KeyError, ValueError, ZeroDivisionError, AttributeError, TypeError):
        return None
    return None


class HealthActivities:
    def __init__(
        self,
        platforms,
        client: Client,
        metrics: MopsMetrics | None,
        *,
        http: httpx.AsyncClient | None = None,
        gateway_url: str | None = None,
    ) -> None:
        self._platforms = platforms
        self._client = client
        self._metrics = metrics
        self._http = http or httpx.AsyncClient(timeout=10.0)
        self._gateway_url = gateway_url

    async def aclose(self) -> None:
        await self._http.aclose()

    @activity.defn(name=HEALTH_PROBE.name)
    async def probe(self, inp: ProbeInput) -> ProbeResult:
        if inp.platform == GATEWAY:
            return await self._probe_gateway(inp)
        call = _probes(self._platforms)[inp.platform]
        client: PlatformClient = getattr(self._platforms, inp.platform)
        result = ProbeResult(platform=inp.platform, at=datetime.now(UTC), requests=inp.requests)
        for _ in range(inp.requests):
            started = time.perf_counter()
            try:
                await call()
            except RateLimited as err:
                result.rate_limited += 1
                result.last_error = err.code
            except PlatformRejected as err:
                if err.status in (401, 403) or err.code in ("190", "invalid_auth", "not_authed"):
                    result.auth_failed = True
                    result.last_error = err.code
                    break  # a refused credential stays refused: no need to knock again
                result.last_error = err.code  # another 4xx: the platform answered, so it is up
            except PlatformError as err:
                result.failures += 1
                result.last_error = err.code
            result.latencies_ms.append(round((time.perf_counter() - started) * 1000, 1))
        result.requests = len(result.latencies_ms) if not result.auth_failed else max(len(result.latencies_ms), 1)
        result.headroom = headroom(inp.platform, client.last_headers)
        return result

    async def _probe_gateway(self, inp: ProbeInput) -> ProbeResult:
        """mops' own gateway, as its callers reach it: `GET /healthz`."""
        if not self._gateway_url:
            raise ApplicationError("gateway: no MOPS_HEALTH_GATEWAY_URL on this worker", non_retryable=True)
        result = ProbeResult(platform=GATEWAY, at=datetime.now(UTC), requests=inp.requests)
        for _ in range(inp.requests):
            started = time.perf_counter()
            try:
                r = await self._http.get(f"{self._gateway_url.rstrip('/')}/healthz")
                if r.status_code != 200:
                    result.failures += 1
                    result.last_error = f"http_{r.status_code}"
            except httpx.HTTPError as err:
                result.failures += 1
                result.last_error = type(err).__name__
            result.latencies_ms.append(round((time.perf_counter() - started) * 1000, 1))
        return result

    @activity.defn(name=HEALTH_NOTIFY.name)
    async def notify(self, n: HealthNotice) -> HealthNoticeResult:
        """Webhook first (a pager does not depend on chat), then chat; a channel that
        fails is reported, not retried in a storm."""
        webhook = None
        if n.webhook_url:
            body = {
                "kind": n.kind,
                "platform": n.platform,
                "text": n.text,
                "key": n.key,
                "at": datetime.now(UTC).isoformat(),
            }
            try:
                r = await self._http.post(n.webhook_url, json=body, headers={"Idempotency-Key": n.key})
                webhook = r.is_success
            except httpx.HTTPError:
                webhook = False
        try:
            await post_message_once(self._platforms.slack, n.channel, n.text, idempotency_key=n.key)
            chat = True
        except PlatformError:
            chat = False
        if not chat and webhook is not True:
            activity.logger.warning("health notice %s reached no channel", n.key)
        return HealthNoticeResult(chat=chat, webhook=webhook)

    @activity.defn(name=HEALTH_GAUGES.name)
    async def gauges(self) -> GaugesResult:
        out = GaugesResult()
        running = "ExecutionStatus = 'Running'"
        counts = await asyncio.gather(
            *(
                self._client.count_workflows(f"WorkflowType = 'LeadJourney' AND {running} AND LeadStage = '{s.value}'")
                for s in LeadStage
            )
        )
        out.leads = {s.value: c.count for s, c in zip(LeadStage, counts, strict=True)}
        waiting = {
            "content": "WorkflowType = 'Content' AND ContentStage = 'in_review'",
            "campaign": "WorkflowType = 'Campaign' AND CampaignStatus = 'awaiting_approval'",
            "budget": "WorkflowType = 'BudgetReallocation' AND BudgetState = 'awaiting_approval'",
        }
        now = datetime.now(UTC)
        for kind, query in waiting.items():
            starts = [wf.start_time async for wf in self._client.list_workflows(f"{query} AND {running}", limit=1000)]
            out.approvals_waiting[kind] = len(starts)
            out.oldest_approval_age_s[kind] = max(((now - t).total_seconds() for t in starts), default=0.0)
        if self._metrics is not None:
            self._metrics.leads(out.leads)
            self._metrics.approvals(out.approvals_waiting, out.oldest_approval_age_s)
        return out
