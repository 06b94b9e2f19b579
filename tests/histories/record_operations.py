"""Record the operations workflows for the replay test: erasure, reconciliation, health and
analytics.

    .venv/bin/python -m tests.histories.record_operations [--force]

One lead on the demo journey on a throwaway dev server and sandbox with the real workers,
then: a data reconciliation, the lead's erasure workflow (its key is kept beside the
histories, not destroyed, or the history could not be read back), one integration health
check with its registry, one analytics collection of the last seven days and one executive
report. Writes `reconciliation_data.json`, `lead_erasure.json`, `integration_health.json`,
`integration_health_check.json`, `analytics_collection.json` and `executive_report.json`
next to this file, keeping files that exist unless `--force` (they are the old runs the
replay test protects).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.privacy import erasure_workflow_id
from mops.temporal import DATA_CONVERTER, client_interceptors
from sandbox.server import SandboxServer
from starter.service.health import check_now
from starter.service.leads import LeadService, build_capture
from starter.service.privacy import PrivacyService
from starter.service.reports import ReportService, period, today
from tests.conftest import binary, eventually, make_settings
from tests.histories.record_lead_sync import save_data_key
from workers.main import running_workers
from workflows.analytics import ExecutiveReportWorkflow
from workflows.erasure import LeadErasureWorkflow
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTE_KEYS

HERE = Path(__file__).parent


async def write(client: Client, workflow_id: str, name: str, force: bool) -> bool:
    path = HERE / f"{name}.json"
    if path.exists() and not force:
        return False
    path.write_text((await client.get_workflow_handle(workflow_id).fetch_history()).to_json())
    print(f"recorded {path.name}")
    return True


async def main() -> None:
    force = "--force" in sys.argv
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=DATA_CONVERTER,
        interceptors=client_interceptors(),
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
    )
    client = env.client
    try:
        async with SandboxServer() as sandbox:
            settings = make_settings(sandbox.url, client.service_client.config.target_host)
            leads, privacy = LeadService(client, settings), PrivacyService(client, settings)
            reports = ReportService(client, settings)
            email = f"recorded.{uuid.uuid4().hex[:8]}@acme.example"
            async with running_workers(client, settings):
                res = await leads.capture(
                    build_capture(
                        settings, email=email, first_name="Ada", source="web_form", consent=True, journey_id="demo"
                    )
                )

                async def welcomed() -> bool:
                    return (await leads.state(email=email)).emails_sent == 1

                await eventually(welcomed, timeout=60, what="the welcome email")

                reconcile_id, _ = await privacy.reconcile("data")
                await write(client, reconcile_id, "reconciliation_data", force)

                erasure = await client.execute_workflow(
                    LeadErasureWorkflow.run,
                    privacy.erasure_input(res.lead_id, email, f"er-{uuid.uuid4().hex[:12]}", "recorder@mops.example"),
                    id=erasure_workflow_id(res.lead_id),
                    task_queue=settings.workflow_task_queue,
                )
                print(f"erasure steps: {erasure.steps}")
                if await write(client, erasure_workflow_id(res.lead_id), "lead_erasure", force):
                    save_data_key(res.lead_id)

                await check_now(client, settings)
                checks = [wf async for wf in client.list_workflows("WorkflowType = 'IntegrationHealthCheck'")]
                await write(client, checks[0].id, "integration_health_check", force)
                await write(client, settings.health_registry_id, "integration_health", force)

                end = today(settings)
                days = period(end - timedelta(days=6), end, default_days=7, end=end)
                collection_id, _ = await reports.collect(reports.collection_input(days, retry_within=timedelta(0)))
                await write(client, collection_id, "analytics_collection", force)

                # The replay test names a run by its file: the report's child ids derive from its own id.
                report_id = "executive_report"
                await client.execute_workflow(
                    ExecutiveReportWorkflow.run,
                    reports.report_input(
                        tz="UTC", to=["ceo@mops.example"], chat="#leadership", retry_within=timedelta(0)
                    ),
                    id=report_id,
                    task_queue=settings.workflow_task_queue,
                )
                await write(client, report_id, "executive_report", force)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
