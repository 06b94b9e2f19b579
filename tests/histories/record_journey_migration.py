"""Record a journey migration and a lead it moved, for the replay test.

    .venv/bin/python -m tests.histories.record_journey_migration [--force]

The e2e test's journey (`tests/e2e/test_journey_migrate.py`) on a throwaway dev server and
sandbox with the real workers: v1 published, one lead waiting at `first` and one at `second`,
v2 published, then a migration mapping only `first`: one lead moved (the `journey-migrate-v1`
marker, the new version's email, its end) and one refused (`step_not_mapped`). Writes
`journey_migration.json` (the `JourneyMigration` run) and `lead_journey_migrated.json` (the
moved lead) next to this file, kept when they exist unless `--force`.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.leads import EngagementEvent, EventType, LeadStage
from mops.temporal import DATA_CONVERTER, client_interceptors
from sandbox.server import SandboxServer
from starter.service.journey_migrations import JourneyMigrationService, prepare
from starter.service.journeys import publish
from starter.service.leads import LeadService, build_capture
from tests.conftest import binary, daytime_journeys, eventually, make_settings
from tests.e2e.test_journey_migrate import V1, V2
from tests.histories.record_lead_sync import save_data_key
from workers.main import running_workers
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTE_KEYS

HERE = Path(__file__).parent
MIGRATION, LEAD = HERE / "journey_migration.json", HERE / "lead_journey_migrated.json"


async def main() -> None:
    if MIGRATION.exists() and LEAD.exists() and "--force" not in sys.argv:
        print("the migration histories exist (--force to record them again)")
        return
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=DATA_CONVERTER,
        interceptors=client_interceptors(),
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
    )
    client = env.client
    try:
        with tempfile.TemporaryDirectory() as tmp:
            journeys = Path(tmp) / "journeys"
            shutil.copytree(daytime_journeys(), journeys)
            file = journeys / "migrate-e2e.yaml"
            async with SandboxServer() as sandbox:
                settings = make_settings(
                    sandbox.url,
                    client.service_client.config.target_host,
                    journeys_dir=journeys,
                    journey_versions_path=Path(tmp) / "journeys.db",
                )
                leads = LeadService(client, settings)
                tag = uuid.uuid4().hex[:8]
                moved, stays = f"recorded.{tag}@migrate.example", f"recorded.stays.{tag}@migrate.example"
                async with running_workers(client, settings):
                    file.write_text(V1)
                    publish(settings, file, by="recorder", note="v1")
                    captured = [
                        await leads.capture(
                            build_capture(
                                settings, email=email, source="web_form", consent=True, journey_id="migrate-e2e"
                            )
                        )
                        for email in (moved, stays)
                    ]

                    async def at(email: str, step: str) -> bool:
                        st = await leads.state(email=email)
                        return st.stage == LeadStage.NURTURING and st.next_step == step

                    for email in (moved, stays):
                        await eventually(lambda e=email: at(e, "first"), timeout=60, what="waiting at first")
                    await leads.record_event(
                        EngagementEvent(event_id=f"visit-{tag}", type=EventType.VISIT, at=datetime.now(UTC)),
                        email=stays,
                    )
                    await eventually(lambda: at(stays, "second"), timeout=60, what="waiting at second")
                    file.write_text(V2)
                    publish(settings, file, by="recorder", note="v2")
                    prepared = prepare(settings, "migrate-e2e", from_version=1, to_version=2, maps=["first=follow-up"])
                    svc = JourneyMigrationService(client, settings)

                    async def both_listed() -> bool:
                        return sum(r.leads for r in (await svc.dry_run(prepared)).steps) == 2

                    await eventually(both_listed, timeout=60, what="both leads listed by visibility")
                    run = await svc.run(prepared, leads_per_second=10)
                    print(run.report.moved, "moved,", run.report.refused, "refused")
                    assert (run.report.moved, run.report.refused) == (1, 1)
                    handle = client.get_workflow_handle_for(LeadJourneyWorkflow.run, captured[0].workflow_id)
                    print("moved lead:", (await handle.result()).outcome)
                    LEAD.write_text((await handle.fetch_history()).to_json())
                    MIGRATION.write_text(
                        (await client.get_workflow_handle(prepared.plan.migration_id).fetch_history()).to_json()
                    )
                    save_data_key(captured[0].lead_id)
                    print(f"recorded {LEAD.name} and {MIGRATION.name}")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
