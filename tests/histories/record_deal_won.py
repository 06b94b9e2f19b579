"""Record an analytics collection that sends won deals, for the replay test.

    .venv/bin/python -m tests.histories.record_deal_won [--force]

The CRM collection on the time-skipping server with the stand-ins of
`tests/workflows/test_deal_conversions.py`: two won deals due on Meta and Google Ads;
one sent, one refused, one not sent for want of a click id, one left for the next
collection after its bounded retries. Writes `analytics_deal_won.json` (code of the
`analytics-deal-won-v1` patch) next to this file, keeping it if it exists unless
`--force`.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import date
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.conversions import ConversionPlan
from mops.temporal import DATA_CONVERTER
from tests.conftest import binary
from tests.workflows.test_deal_conversions import ACTION, FakeDeals, queues, running
from workflows.analytics import AnalyticsCollectionWorkflow
from workflows.analytics_models import CollectionInput

FILE = Path(__file__).parent / "analytics_deal_won.json"


async def main(force: bool) -> None:
    if not force and FILE.exists():
        print("history exists; --force to re-record")
        return
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=DATA_CONVERTER
    )
    deals, q = FakeDeals(), queues()
    plan = ConversionPlan(
        on=["deal_won"], meta_pixel_id="123456", google_customer_id="1234567890", google_conversion_action=ACTION
    )
    try:
        async with running(env, deals, q):
            handle = await env.client.start_workflow(
                AnalyticsCollectionWorkflow.run,
                CollectionInput(
                    since=date(2026, 3, 2), until=date(2026, 3, 8), queues=q, sources=["hubspot"], conversions=plan
                ),
                id=f"analytics-collect-{uuid.uuid4().hex[:6]}",
                task_queue=q.workflows,
            )
            view = await handle.result()
            print(f"collection {view.status.value}: {len(view.deal_conversions)} deal conversion(s) recorded")
            FILE.write_text((await handle.fetch_history()).to_json())
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main("--force" in sys.argv[1:]))
