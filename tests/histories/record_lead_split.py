"""Record lead journeys through a split step, for the replay test.

    .venv/bin/python -m tests.histories.record_lead_split [--force]

The e2e test's journey (a split with a 50% holdout, `tests/e2e/test_journey_split.py`) on
the time-skipping server with the real workers and the sandbox: one lead in the variant
(the `lead-split-v1` marker, its JourneyVariant upsert, its email) and one in the holdout
(the marker, the upsert, the journey's end). Writes `lead_journey_split.json` and
`lead_journey_split_holdout.json` next to this file, kept when they exist unless `--force`.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.journeys import SplitStep, load_journey
from domain.leads import lead_key
from domain.splits import HOLDOUT
from mops.temporal import DATA_CONVERTER, client_interceptors
from sandbox.server import SandboxServer
from starter.service.leads import LeadService, build_capture
from starter.stack import register_search_attributes
from tests.conftest import binary, daytime_journeys, make_settings
from tests.e2e.test_journey_split import SPLIT_JOURNEY
from tests.histories.record_lead_sync import save_data_key
from workers.main import running_workers
from workflows.lead_journey import LeadJourneyWorkflow

HERE = Path(__file__).parent
NAMES = {"roi": "lead_journey_split", HOLDOUT: "lead_journey_split_holdout"}


async def main() -> None:
    paths = {arm: HERE / f"{name}.json" for arm, name in NAMES.items()}
    if all(p.exists() for p in paths.values()) and "--force" not in sys.argv:
        print("the split histories exist (--force to record them again)")
        return
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
        interceptors=client_interceptors(),
    )
    try:
        await register_search_attributes(env.client)
        with tempfile.TemporaryDirectory() as tmp:
            journeys = Path(tmp) / "journeys"
            shutil.copytree(daytime_journeys(), journeys)
            (journeys / "split-e2e.yaml").write_text(SPLIT_JOURNEY)
            split = load_journey(journeys, "split-e2e").step("offer-test")
            assert isinstance(split, SplitStep)
            async with SandboxServer() as sandbox:
                settings = make_settings(
                    sandbox.url, env.client.service_client.config.target_host, journeys_dir=journeys
                )
                secret = settings.lead_id_secret.get_secret_value()
                arms: dict[str, str] = {}
                while len(arms) < len(NAMES):
                    email = f"recorded.{uuid.uuid4().hex[:8]}@split.example"
                    arms.setdefault(split.assign("split-e2e", lead_key(email, secret)), email)
                leads = LeadService(env.client, settings)
                async with running_workers(env.client, settings):
                    for arm, email in arms.items():
                        capture = build_capture(
                            settings, email=email, source="web_form", consent=True, journey_id="split-e2e"
                        )
                        res = await leads.capture(capture)
                        handle = env.client.get_workflow_handle_for(LeadJourneyWorkflow.run, res.workflow_id)
                        print(arm, (await handle.result()).outcome)
                        paths[arm].write_text((await handle.fetch_history()).to_json())
                        print(f"recorded {paths[arm].name}")
                        save_data_key(res.lead_id)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
