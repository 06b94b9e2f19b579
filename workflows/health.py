"""Integration health: a registry that keeps each platform's state, and the check the
Schedule runs every minute.

`IntegrationHealth` (id `integration-health`, long-running, continue-as-new): keeps
per platform healthy/degraded with the reason, recent probe samples and incidents;
sends one alert (chat + alert webhook) when a platform goes bad and one recovery notice
when it is healthy again.
- Signal `report(HealthReport)`: a check's probe results (deduplicated by check id).
- Query `state() -> HealthView`: platforms and recent incidents.
- Query `degraded() -> dict[str, str]`: degraded platforms and why (workers hold
  activities for these instead of calling them).
- Query `report(ReportRequest) -> list[PlatformReport]`: p50/p95 latency, error and
  throttle rates over a window, with suggestions.
- Query `availability(AvailabilityRequest) -> list[ComponentAvailability]`: per platform,
  the gateway and the workers, the availability per UTC day over a window against an
  objective, and the error budget left (`domain/availability.py` says what is counted).
  When the last hour burns the budget fast, one alert per episode; a platform (or the
  gateway) whose incident alert went out within the hour is not alerted twice.

`IntegrationHealthCheck` (one run per minute from the Schedule `integration-health-check`):
probes every platform in parallel, refreshes the visibility gauges, and signals the
registry.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.models import HealthNotice, ProbeInput
    from domain import availability as av
    from domain.health import (
        HealthPolicy,
        Incident,
        PlatformHealth,
        PlatformReport,
        ProbeResult,
        problem,
        report,
        step,
    )
    from workflows.common import call, continue_as_new_due

MAX_SAMPLES = 120  # per platform: two hours of one check a minute
MAX_INCIDENTS = 50
# A probe that cannot finish in time is itself a finding; do not retry for long.
PROBE_RETRY = RetryPolicy(maximum_attempts=2, initial_interval=timedelta(seconds=1))
PROBE_TIMEOUT = timedelta(seconds=45)
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1), maximum_attempts=10
)


class HealthReport(BaseModel):
    check_id: str
    results: list[ProbeResult]
    measured: bool = True  # a scheduled check: counted in the availability (a check by hand is not)


class AvailabilityRequest(BaseModel):
    days: int = 30


class ReportRequest(BaseModel):
    window_s: float = 3600.0


class HealthView(BaseModel):
    platforms: dict[str, PlatformHealth] = {}
    incidents: list[Incident] = []
    checks: int = 0
    last_check_at: datetime | None = None


class HealthRegistryState(HealthView):
    samples: dict[str, list[ProbeResult]] = {}
    availability: av.AvailabilityLedger = av.AvailabilityLedger()
    last_measured_at: datetime | None = None
    seen_checks: list[str] = []
    outbox: list[HealthNotice] = []
    incident_seq: int = 0


class HealthRegistryInput(BaseModel):
    policy: HealthPolicy = HealthPolicy()
    queue: str = "mops-health"
    alert_channel: str = "#mops-alerts"
    alert_webhook_url: str | None = None
    state: HealthRegistryState | None = None
    continue_as_new_after_events: int = 5_000
    check_every_s: float = 60.0  # the check Schedule's interval: a missed one is a bad workers minute
    availability_objective: float = 0.999


class HealthCheckInput(BaseModel):
    registry_id: str = "integration-health"
    platforms: list[str]
    requests: int = 10
    queue: str = "mops-health"
    measured: bool = True  # False for a check by hand (`mops health --check`)


@workflow.defn(name="IntegrationHealth")
class IntegrationHealthWorkflow:
    @workflow.init
    def __init__(self, inp: HealthRegistryInput) -> None:
        self._inp = inp
        self._s = inp.state or HealthRegistryState()

    @workflow.run
    async def run(self, inp: HealthRegistryInput) -> None:
        s = self._s
        while True:
            await workflow.wait_condition(
                lambda: bool(s.outbox) or continue_as_new_due(inp.continue_as_new_after_events)
            )
            while s.outbox:
                notice = s.outbox[0]
                await call(
                    act.HEALTH_NOTIFY,
                    notice,
                    queue=inp.queue,
                    summary=f"{notice.kind}: {notice.platform}",
                    retry=NOTIFY_RETRY,
                )
                s.outbox.pop(0)
            if continue_as_new_due(inp.continue_as_new_after_events):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(inp.model_copy(update={"state": s}))

    @workflow.signal(name="report")
    def report(self, r: HealthReport) -> None:
        s, inp = self._s, self._inp
        if r.check_id in s.seen_checks:
            return
        s.seen_checks = (s.seen_checks + [r.check_id])[-20:]
        s.checks += 1
        s.last_check_at = max((x.at for x in r.results), default=s.last_check_at)
        for result in r.results:
            p = result.platform
            s.samples[p] = (s.samples.get(p, []) + [result])[-MAX_SAMPLES:]
            current = s.platforms.get(p) or PlatformHealth(platform=p)
            next_id = f"{p}-{s.incident_seq + 1}"
            health, transition = step(current, result, inp.policy, next_id)
            s.platforms[p] = health
            if transition == "alert":
                s.incident_seq += 1
                s.incidents = (
                    s.incidents + [Incident(id=next_id, platform=p, started=result.at, reason=health.reason or "")]
                )[-MAX_INCIDENTS:]
                self._notice(
                    next_id,
                    "alert",
                    p,
                    f":rotating_light: {p} is degraded: {health.reason}. "
                    + (
                        "Its callers (REST, webhooks, the approval page) may be refused."
                        if p == av.GATEWAY
                        else "Workflows that call it are holding and will resume on recovery."
                    ),
                )
            elif transition == "recovered":
                incident = next((i for i in reversed(s.incidents) if i.platform == p and i.ended is None), None)
                if incident is not None:
                    incident.ended = result.at
                minutes = (result.at - incident.started).total_seconds() / 60 if incident else 0
                self._notice(
                    incident.id if incident else f"{p}-?",
                    "recovered",
                    p,
                    f":white_check_mark: {p} recovered after {minutes:.0f} min; held workflows resume.",
                )
        if r.measured and r.results:
            self._measure(r)
        workflow.set_current_details(self._details())

    def _measure(self, r: HealthReport) -> None:
        """Count this check's minute for each component, and the checks missed since the last one."""
        s, inp = self._s, self._inp
        ledger = s.availability
        at = max(x.at for x in r.results)
        interval = timedelta(seconds=inp.check_every_s)
        if s.last_measured_at is not None and at > s.last_measured_at:
            av.count_gap(ledger, s.last_measured_at, at, interval)
        s.last_measured_at = max(at, s.last_measured_at or at)
        minutes = max(1, round(inp.check_every_s / 60))
        av.count(ledger, av.WORKERS, at, bad=0, total=minutes)
        for result in r.results:
            bad = problem(result, inp.policy) is not None
            av.count(ledger, result.platform, at, bad=minutes if bad else 0, total=minutes)
        av.prune(ledger, at.date())
        if workflow.patched("health-availability-v1"):
            self._alert_fast_burn(at)

    def _alert_fast_burn(self, now: datetime) -> None:
        s, inp = self._s, self._inp
        ledger = s.availability
        for component in av.components(ledger):
            burn = av.burn_rate(ledger, component, now, inp.availability_objective)
            fast = burn is not None and burn >= av.FAST_BURN
            if not fast:
                ledger.burning = [c for c in ledger.burning if c != component]
                continue
            if component in ledger.burning:
                continue
            ledger.burning = ledger.burning + [component]
            paged = any(i.platform == component and i.started > now - av.BURN_WINDOW for i in s.incidents)
            if paged:
                continue  # its incident alert went out within the hour
            month = av.availability(ledger, component, now=now, window_days=30, objective=inp.availability_objective)
            left = "n/a" if month.budget_left is None else f"{month.budget_left:.0%}"
            s.incident_seq += 1
            self._notice(
                f"{component}-{s.incident_seq}",
                "budget",
                component,
                f":fire: {component} is burning its error budget fast: {burn:.0f}x the rate a "
                f"{inp.availability_objective:.1%} objective allows over the last hour; "
                f"{left} of the 30-day budget left ({month.budget_left_minutes:.1f} of "
                f"{month.budget_minutes:.1f} min).",
            )

    @workflow.query(name="state")
    def state(self) -> HealthView:
        s = self._s
        return HealthView(platforms=s.platforms, incidents=s.incidents, checks=s.checks, last_check_at=s.last_check_at)

    @workflow.query(name="degraded")
    def degraded(self) -> dict[str, str]:
        return {p: h.reason or "degraded" for p, h in self._s.platforms.items() if h.state == "degraded"}

    @workflow.query(name="report")
    def platform_report(self, r: ReportRequest) -> list[PlatformReport]:
        since = workflow.now() - timedelta(seconds=r.window_s)
        return [
            report(p, samples, since=since, policy=self._inp.policy) for p, samples in sorted(self._s.samples.items())
        ]

    @workflow.query(name="availability")
    def availability(self, r: AvailabilityRequest) -> list[av.ComponentAvailability]:
        ledger, now = self._s.availability, self._s.last_measured_at or workflow.now()
        objective = self._inp.availability_objective
        return [
            av.availability(ledger, c, now=now, window_days=r.days, objective=objective) for c in av.components(ledger)
        ]

    def _notice(self, incident_id: str, kind: str, platform: str, text: str) -> None:
        inp = self._inp
        self._s.outbox.append(
            HealthNotice(
                key=f"{incident_id}:{kind}",
                kind=kind,
                platform=platform,
                text=text,
                channel=inp.alert_channel,
                webhook_url=inp.alert_webhook_url,
            )
        )

    def _details(self) -> str:
        rows = [
            f"{p}: {h.state}" + (f" ({h.reason})" if h.reason else "") for p, h in sorted(self._s.platforms.items())
        ]
        return "**Platforms:** " + " · ".join(rows)


@workflow.defn(name="IntegrationHealthCheck")
class IntegrationHealthCheckWorkflow:
    @workflow.run
    async def run(self, inp: HealthCheckInput) -> HealthReport:
        results = await asyncio.gather(
            *(
                call(
                    act.HEALTH_PROBE,
                    ProbeInput(platform=p, requests=inp.requests),
                    queue=inp.queue,
                    summary=f"probe {p}",
                    retry=PROBE_RETRY,
                    timeout=PROBE_TIMEOUT,
                )
                for p in inp.platforms
            )
        )
        report_ = HealthReport(
            check_id=workflow.info().workflow_id + "/" + workflow.info().run_id,
            results=list(results),
            measured=inp.measured,
        )
        await workflow.get_external_workflow_handle(inp.registry_id).signal("report", report_)
        await call(
            act.HEALTH_GAUGES,
            None,
            queue=inp.queue,
            summary="visibility gauges",
            retry=PROBE_RETRY,
            timeout=PROBE_TIMEOUT,
        )
        return report_
