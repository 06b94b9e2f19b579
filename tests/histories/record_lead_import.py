"""Record a list import for the replay test.

    .venv/bin/python -m tests.histories.record_lead_import [--force]

Three rows imported into the default journey in batches of two, with a new run after each
batch, on a throwaway dev server and sandbox with the real workers. Writes
`lead_import_continued.json` (the first run: one batch, then continue-as-new) and
`lead_import.json` (the last run: the last batch and the finish) next to this file,
keeping files that exist unless `--force` (they are the old runs the replay test protects).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from mops.temporal import DATA_CONVERTER, client_interceptors
from sandbox.server import SandboxServer
from starter.service.lead_imports import LeadImportService, prepare_import
from tests.conftest import binary, make_settings
from workers.main import running_workers
from workflows.lead_import import LeadImportWorkflow
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTE_KEYS

HERE = Path(__file__).parent


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
            settings = make_settings(sandbox.url, client.service_client.config.target_host, import_batch_rows=2)
            tag = uuid.uuid4().hex[:8]
            data = "".join(f"recorded{i}.{tag}@acme.example,Row {i}\n" for i in (1, 2, 3))
            prepared = prepare_import(
                settings,
                f"Email,First\n{data}".encode(),
                file_name="recorded.csv",
                column_map="email=Email,first_name=First",
                journey_id="default-nurture",
                consent_source="recorder",
            )
            imports = LeadImportService(client, settings)
            inp = imports.start_input(prepared, rows_per_second=20).model_copy(
                update={"continue_as_new_after_batches": 1}
            )
            async with running_workers(client, settings):
                await imports.stage(prepared)
                handle = await client.start_workflow(
                    LeadImportWorkflow.run, inp, id=inp.import_id, task_queue=settings.workflow_task_queue
                )
                print(f"import result: {await handle.result()}")
                runs = [wf async for wf in client.list_workflows(f"WorkflowId = '{inp.import_id}'")]
                runs.sort(key=lambda wf: wf.start_time)
                for name, run in (("lead_import_continued", runs[0]), ("lead_import", runs[-1])):
                    path = HERE / f"{name}.json"
                    if path.exists() and not force:
                        continue
                    history = await client.get_workflow_handle(inp.import_id, run_id=run.run_id).fetch_history()
                    path.write_text(history.to_json())
                    print(f"recorded {path.name}")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
