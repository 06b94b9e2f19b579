"""Hold activities for a degraded platform instead of calling it.

The `IntegrationHealth` registry says which platforms are degraded; every worker asks
it (a query, cached for a few seconds) before running an activity of a platform queue.
While the platform is degraded the activity fails fast with `PlatformDegraded` and a
growing `next_retry_delay` (5 s … 60 s by default), so workflows wait with backoff — no call
reaches the platform, no retry storm — and run exactly once when it recovers. The
health probes run on their own queue and are never held.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.contracts import ErrorType
from mops.metrics import MopsMetrics

log = logging.getLogger("mops.health")


class HealthGate:
    """Degraded platforms, from the registry, cached for `ttl` seconds per process."""

    def __init__(self, client: Client, registry_id: str, *, ttl: float = 5.0) -> None:
        self._client, self._registry_id, self._ttl = client, registry_id, ttl
        self._cached: dict[str, str] = {}
        self._at = float("-inf")

    async def degraded(self) -> dict[str, str]:
        if time.monotonic() - self._at < self._ttl:
            return self._cached
        try:
            handle = self._client.get_workflow_handle(self._registry_id)
            self._cached = await handle.query("degraded", result_type=dict)
        except RPCError as err:  # no registry yet (or the server is busy): nothing is known to be degraded
            log.debug("health registry not readable: %s", err.message)
            self._cached = {}
        self._at = time.monotonic()
        return self._cached


def hold_delay(attempt: int, first: float = 5.0, longest: float = 60.0) -> timedelta:
    """first, 2x, 4x ... up to `longest` seconds."""
    return timedelta(seconds=min(first * 2 ** min(max(attempt, 1) - 1, 10), longest))


class HoldIfDegraded(Interceptor):
    """Worker interceptor for one platform's queue."""

    def __init__(
        self,
        gate: HealthGate,
        platform: str,
        metrics: MopsMetrics | None = None,
        *,
        first: float = 5.0,
        longest: float = 60.0,
    ) -> None:
        self._gate, self._platform, self._metrics = gate, platform, metrics
        self._first, self._longest = first, longest

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Hold(next, self)


class _Hold(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: HoldIfDegraded) -> None:
        super().__init__(next)
        self._owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        o = self._owner
        reason = (await o._gate.degraded()).get(o._platform)
        if reason is not None:
            if o._metrics is not None:
                o._metrics.degraded_hold(o._platform)
            raise ApplicationError(
                f"{o._platform} is degraded ({reason}); holding until it recovers",
                type=ErrorType.PLATFORM_DEGRADED,
                next_retry_delay=hold_delay(activity.info().attempt, o._first, o._longest),
            )
        return await self.next.execute_activity(input)
