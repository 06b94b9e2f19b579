"""Integration health from the outside: run a check now, read the state and the report.
(Every worker process makes sure the registry and its every-minute Schedule exist:
`workers.health_registry`, which `check_now` uses too.)"""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.availability import ComponentAvailability
from domain.health import PlatformReport
from mops.settings import Settings
from workers.health_registry import check_input, start_registry
from workflows.health import (
    AvailabilityRequest,
    HealthReport,
    HealthView,
    IntegrationHealthCheckWorkflow,
    IntegrationHealthWorkflow,
    ReportRequest,
)


class HealthNotRunning(LookupError):
    pass


async def check_now(client: Client, settings: Settings) -> HealthReport:
    """Run one check now (the registry must exist: it is started if missing)."""
    await start_registry(client, settings)
    return await client.execute_workflow(
        IntegrationHealthCheckWorkflow.run,
        check_input(settings, measured=False),  # one more check in a minute is not one more minute
        id=f"integration-health-check-now-{uuid.uuid4().hex[:8]}",
        task_queue=settings.workflow_task_queue,
    )


async def _ask_registry(client: Client, settings: Settings, query, *args):
    try:
        handle = client.get_workflow_handle_for(IntegrationHealthWorkflow.run, settings.health_registry_id)
        return await handle.query(query, *args)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HealthNotRunning(
                "health: no health registry yet (start `mops up` or `mops health --check`)"
            ) from None
        raise


async def health_state(client: Client, settings: Settings) -> HealthView:
    return await _ask_registry(client, settings, IntegrationHealthWorkflow.state)


async def health_availability(client: Client, settings: Settings, days: int = 30) -> list[ComponentAvailability]:
    """Each component's availability over the last `days` UTC days against the objective."""
    return await _ask_registry(client, settings, IntegrationHealthWorkflow.availability, AvailabilityRequest(days=days))


async def health_report(client: Client, settings: Settings, window: timedelta) -> list[PlatformReport]:
    return await _ask_registry(
        client, settings, IntegrationHealthWorkflow.platform_report, ReportRequest(window_s=window.total_seconds())
    )
