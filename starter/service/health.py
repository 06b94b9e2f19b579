"""Integration health from the outside: make sure the registry and its every-minute
Schedule exist, run a check now, read the state and the report."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.health import PLATFORMS
from domain.health import HealthPolicy, PlatformReport
from mops.settings import Settings
from workflows.health import (
    HealthCheckInput,
    HealthRegistryInput,
    HealthReport,
    HealthView,
    IntegrationHealthCheckWorkflow,
    IntegrationHealthWorkflow,
    ReportRequest,
)


class HealthNotRunning(LookupError):
    pass


def registry_input(settings: Settings) -> HealthRegistryInput:
    return HealthRegistryInput(
        policy=HealthPolicy(
            max_error_rate=settings.health_max_error_rate,
            max_latency_ms=settings.health_max_latency_ms,
            recover_checks=settings.health_recover_checks,
        ),
        queue=settings.health_task_queue,
        alert_channel=settings.alert_chat_channel,
        alert_webhook_url=settings.alert_webhook_url,
    )


def check_input(settings: Settings) -> HealthCheckInput:
    return HealthCheckInput(
        registry_id=settings.health_registry_id,
        platforms=list(PLATFORMS),
        requests=settings.health_probe_requests,
        queue=settings.health_task_queue,
    )


async def start_registry(client: Client, settings: Settings) -> None:
    await client.start_workflow(
        IntegrationHealthWorkflow.run,
        registry_input(settings),
        id=settings.health_registry_id,
        task_queue=settings.workflow_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="Integration health: platform states, incidents, alerts",
    )


async def ensure_health(client: Client, settings: Settings, *, every: timedelta = timedelta(minutes=1)) -> None:
    """The registry (running) and the check Schedule (one run per interval, no overlap)."""
    await start_registry(client, settings)
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            IntegrationHealthCheckWorkflow.run,
            check_input(settings),
            id=settings.health_check_schedule_id,
            task_queue=settings.workflow_task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    with contextlib.suppress(ScheduleAlreadyRunningError):  # already there: keep it
        await client.create_schedule(settings.health_check_schedule_id, schedule)


async def check_now(client: Client, settings: Settings) -> HealthReport:
    """Run one check now (the registry must exist: it is started if missing)."""
    await start_registry(client, settings)
    return await client.execute_workflow(
        IntegrationHealthCheckWorkflow.run,
        check_input(settings),
        id=f"integration-health-check-now-{uuid.uuid4().hex[:8]}",
        task_queue=settings.workflow_task_queue,
    )


async def health_state(client: Client, settings: Settings) -> HealthView:
    try:
        return await client.get_workflow_handle_for(IntegrationHealthWorkflow.run, settings.health_registry_id).query(
            IntegrationHealthWorkflow.state
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HealthNotRunning(
                "health: no health registry yet (start `mops up` or `mops health --check`)"
            ) from None
        raise


async def health_report(client: Client, settings: Settings, window: timedelta) -> list[PlatformReport]:
    try:
        return await client.get_workflow_handle_for(IntegrationHealthWorkflow.run, settings.health_registry_id).query(
            IntegrationHealthWorkflow.platform_report, ReportRequest(window_s=window.total_seconds())
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HealthNotRunning(
                "health: no health registry yet (start `mops up` or `mops health --check`)"
            ) from None
        raise
