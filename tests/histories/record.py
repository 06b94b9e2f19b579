"""Record the demo scenario's workflow histories for the replay test.

    .venv/bin/python -m tests.histories.record [--force]

Runs the scenario on a throwaway embedded stack (temp dir, free ports) and writes
one JSON history per workflow next to this file. Files that exist are kept (they are
the old runs the replay test protects) unless `--force`. Re-record only when a change
is meant to be incompatible (then keep the old files and guard with workflow.patched()).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from mops.settings import Settings
from starter.demo import demo_content_id, demo_leads, run_scenario
from tests.conftest import free_port

HERE = Path(__file__).parent


async def main() -> None:
    sandbox = f"http://127.0.0.1:{(sandbox_port := free_port())}"
    with tempfile.TemporaryDirectory() as tmp:
        urls = {name: sandbox for name in Settings.model_fields if name.endswith("_base_url")}
        settings = Settings(
            data_dir=Path(tmp),
            temporal_address=f"127.0.0.1:{free_port()}",
            temporal_ui_port=free_port(),
            sandbox_port=sandbox_port,
            mail_sender_postal="mops recorder, 1 Sandbox Street, 10115 Berlin, Germany",
            mail_preferences_url="https://www.mops.example/email-preferences",
            **urls,
        )
        leads = demo_leads()
        content_id = demo_content_id()

        force = "--force" in sys.argv

        async def save(client) -> None:
            async def write(workflow_id: str, name: str) -> None:
                path = HERE / f"{name}.json"
                if path.exists() and not force:
                    return
                path.write_text((await client.get_workflow_handle(workflow_id).fetch_history()).to_json())
                print(f"recorded {path.name}")

            for name, lead in leads.items():
                await write(lead.workflow_id, f"lead_journey_{name}")
            await write("owner-router", "owner_router")
            await write(f"content-{content_id}", "content_published")
            runs = [wf async for wf in client.list_workflows("WorkflowType = 'BudgetReallocation'")]
            await write(runs[0].id, "budget_applied")
            await write(f"campaign-{runs[0].id.split('-', 1)[1].rsplit('-', 1)[0]}", "campaign_stopped")

        await run_scenario(settings, leads, content_id, after=save)


if __name__ == "__main__":
    asyncio.run(main())
