"""Record a paced campaign and its pacing budget run for the replay test.

    .venv/bin/python -m tests.histories.record_pacing [--force]

A 10-day campaign with a `pacing:` section on the time-skipping server, with the
workflow tests' fake platforms: the first day spends four times its budget, so pacing
asks for a lower daily total that waits for dana's approval (given); after it the spend
follows the budgets, later changes wait for approvals nobody gives, and pacing stops the
campaign before the total is overrun by more than one day's spend. Writes
`campaign_paced.json` (code of the `campaign-pacing-v1` patch) and `budget_paced.json`
next to this file, keeping files that exist unless `--force`.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.approvals import Decision
from mops.temporal import DATA_CONVERTER
from starter.stack import register_search_attributes
from tests.conftest import binary, eventually
from tests.decisions import proven
from tests.workflows.campaign_fakes import FakeCampaignPlatforms
from tests.workflows.test_campaign_pacing import DIRECTOR
from tests.workflows.test_campaign_timers import launch, new_queues, running
from workflows.budget import BudgetReallocationWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.campaign_models import BudgetStatus

HERE = Path(__file__).parent
FILES = (HERE / "campaign_paced.json", HERE / "budget_paced.json")


async def main(force: bool) -> None:
    if not force and any(f.exists() for f in FILES):
        print("histories exist; --force to re-record")
        return
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=DATA_CONVERTER
    )
    await register_search_attributes(env.client)
    fake, q = FakeCampaignPlatforms(), new_queues()
    for ch in fake.paid.values():
        ch.spend_factor = Decimal(4)
    now = (await env.get_current_time()).replace(microsecond=0)
    try:
        async with running(env, fake, q):
            handle = await launch(
                env,
                q,
                start=None,
                end=(now + timedelta(days=10)).isoformat(),
                pacing={"curve": "even", "max_step_pct": 20, "tolerance_pct": 5},
                reallocation={"approval": [DIRECTOR]},
                guardrails={},
            )

            async def waiting():
                v = await handle.query(CampaignWorkflow.state)
                run = v.pacing_run and env.client.get_workflow_handle_for(BudgetReallocationWorkflow.run, v.pacing_run)
                b = run and await run.query(BudgetReallocationWorkflow.state)
                return b and b.status == BudgetStatus.AWAITING_APPROVAL and run

            run = await eventually(waiting, what="the pacing change to wait for approval")
            for ch in fake.paid.values():
                ch.spend_factor = Decimal(1)
            await run.execute_update(
                BudgetReallocationWorkflow.decide,
                await proven(env, run, Decision(approver="dana", kind="approve", revision=1)),
            )
            view = await handle.result()
            print(f"campaign {view.status.value}: {view.outcome}")
            FILES[0].write_text((await handle.fetch_history()).to_json())
            FILES[1].write_text((await run.fetch_history()).to_json())
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main("--force" in sys.argv[1:]))
