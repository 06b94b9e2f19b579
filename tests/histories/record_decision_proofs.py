"""Record a content item whose review saw a decision without proof, for the replay test.

    .venv/bin/python -m tests.histories.record_decision_proofs [--force]

On the time-skipping server with the workflow tests' fake platforms: a raw `decide` in
omar's name with no proof is refused by the handler and recorded (the `approval-proof-v1`
patch's marker, the refusal's note), then omar and lena approve with signed decisions and
the item is published and tracked. Writes `content_proof_refused.json` next to this file,
keeping it if it exists unless `--force`.

The run's workflow id is the file's stem: a proof is signed for one workflow id, and the
replay test replays each file under its stem (`mops replay` uses the real ids).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.approvals import Decision
from mops.temporal import DATA_CONVERTER
from starter.stack import register_search_attributes
from tests.conftest import binary
from tests.decisions import proven
from tests.workflows.content_fakes import FakeContentPlatforms
from tests.workflows.test_content_timers import in_review, new_queues, running, submit
from workflows.content import ContentWorkflow

FILE = Path(__file__).parent / "content_proof_refused.json"


async def main(force: bool) -> None:
    if FILE.exists() and not force:
        print("history exists; --force to re-record")
        return
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=DATA_CONVERTER
    )
    await register_search_attributes(env.client)
    fake, q = FakeContentPlatforms(), new_queues()
    try:
        async with running(env, fake, q):
            handle = await submit(env, q, workflow_id=FILE.stem)
            await in_review(handle)
            try:
                await handle.execute_update(
                    ContentWorkflow.decide, Decision(approver="omar", kind="approve", revision=1)
                )
            except WorkflowUpdateFailedError:
                pass  # refused and recorded, as intended
            else:
                raise SystemExit("the unproven decision was accepted")
            for who in ("omar", "lena"):
                decision = Decision(approver=who, kind="approve", revision=1)
                await handle.execute_update(ContentWorkflow.decide, await proven(env, handle, decision))
            view = await handle.result()
            print(f"content {view.stage.value}: {len(view.refused_decisions)} refused decision(s)")
            FILE.write_text((await handle.fetch_history()).to_json())
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main("--force" in sys.argv[1:]))
