"""The integration-health registry and its every-minute check Schedule, as every worker
process makes sure they exist when it starts (idempotent: a running registry and an
existing Schedule are kept). `mops health --check` starts the registry the same way.

Here, not in the service API, because the worker needs it and the worker does not
import the service API (the service API may import this).
"""

from __future__ import annotations

import contextlib
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

from activities.health import PLATFORMS
from domain.availability import GATEWAY
from domain.health import HealthPolicy
from mops.settings import Settings
from workflows.health import (
    HealthCheckInput,
    HealthRegistryInput,
    IntegrationHealthCheckWorkflow,
    IntegrationHealthWorkflow,
)

CHECK_EVERY = timedelta(minutes=1)


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
        check_every_s=CHECK_EVERY.total_seconds(),
        availability_objective=settings.availability_objective,
    )


def check_input(settings: Settings, *, measured: bool = True) -> HealthCheckInput:
    """What a check probes: every platform, and the gateway when its URL is set."""
    return HealthCheckInput(
        registry_id=settings.health_registry_id,
        platforms=list(PLATFORMS) + ([GATEWAY] if settings.health_gateway_url else []),
        measured=measured,
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


async def ensure_health(client: Client, settings: Settings, *, every: timedelta = CHECK_EVERY) -> None:
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
