"""Record the demo scenario's workflow histories for the replay test.

    .venv/bin/python -m tests.histories.record

Runs the scenario on a throwaway embedded stack (temp dir, free ports) and writes
one JSON history per workflow next to this file. Re-record only when a change is
meant to be incompatible (then keep the old files and guard with workflow.patched()).
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
from pathlib import Path

from mops.settings import Settings
from starter.demo import demo_content_id, demo_leads, run_scenario

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main() -> None:
    sandbox = f"http://127.0.0.1:{(sandbox_port := free_port())}"
    with tempfile.TemporaryDirectory() as tmp:
        urls = {name: sandbox for name in Settings.model_fields if name.endswith("_base_url")}
        settings = Settings(
            data_dir=Path(tmp), temporal_address=f"127.0.0.1:{free_port()}", temporal_ui_port=free_port(),
            sandbox_port=sandbox_port, **urls,
        )
        leads = demo_leads()
        content_id = demo_content_id()

        async def save(client) -> None:
            for name, lead in leads.items():
                history = await client.get_workflow_handle(lead.workflow_id).fetch_history()
                (HERE / f"lead_journey_{name}.json").write_text(history.to_json())
            router = await client.get_workflow_handle("owner-router").fetch_history()
            (HERE / "owner_router.json").write_text(router.to_json())
            content = await client.get_workflow_handle(f"content-{content_id}").fetch_history()
            (HERE / "content_published.json").write_text(content.to_json())

        await run_scenario(settings, leads, content_id, after=save)


if __name__ == "__main__":
    asyncio.run(main())
