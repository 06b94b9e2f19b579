"""Record a campaign whose Meta ad has an image, for the replay test.

    .venv/bin/python -m tests.histories.record_campaign_image [--force] [--out NAME]

A two-day campaign of the workflow tests (tests/workflows/test_campaign_timers.py, its
Meta channel with `tests/ad_fixtures.py`'s ad) on the time-skipping server with their
fake platforms: created, live, monitored, ended at its end date. Its start input holds
the ad's image as the code that ran made it. Writes `<NAME>.json` next to this file
(default `campaign_meta_image`), keeping a file that exists unless `--force`.

`campaign_meta_image.json` holds the image as a reference (path relative to the campaign
assets directory, SHA-256, size). `campaign_meta_image_path.json` was recorded by this
script run in a checkout of the version before references (commit 7c72c21, with
`--out campaign_meta_image_path`): its input holds the absolute path the loader made, the
shape campaigns launched before references have in their histories. The script uses only
helpers both versions have, so it runs in either.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from mops.temporal import DATA_CONVERTER
from starter.stack import register_search_attributes
from tests.conftest import binary
from tests.workflows.campaign_fakes import FakeCampaignPlatforms
from tests.workflows.test_campaign_timers import launch, new_queues, running

HERE = Path(__file__).parent


async def main(path: Path, force: bool) -> None:
    if path.exists() and not force:
        print(f"{path.name} exists; --force to re-record")
        return
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=DATA_CONVERTER
    )
    await register_search_attributes(env.client)
    fake, q = FakeCampaignPlatforms(), new_queues()
    now = (await env.get_current_time()).replace(microsecond=0)
    try:
        async with running(env, fake, q):
            handle = await launch(env, q, start=None, end=(now + timedelta(days=2)).isoformat())
            view = await handle.result()
            print(f"campaign {view.status.value}: {view.outcome}")
            path.write_text((await handle.fetch_history()).to_json())
            print(f"recorded {path.name}")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--out", default="campaign_meta_image")
    args = parser.parse_args()
    asyncio.run(main(HERE / f"{args.out}.json", args.force))
