"""A short script that builds a Temporal client, uses a service and exits must exit 0.

The temporalio Client sits in a reference cycle; freed by the interpreter's last collection
it aborted the process (`Fatal Python error: PyGILState_Release`) or segfaulted in roughly
one run of five. mops.temporal.connect frees clients before finalization, so every run here
must exit cleanly. Several runs, because the crash was a race."""

from __future__ import annotations

import asyncio
import os
import sys

from temporalio.testing import WorkflowEnvironment

from tests.conftest import ROOT as PROJECT_ROOT

SCRIPT = """
import asyncio
from mops.settings import get_settings
from mops.temporal import connect
from starter.service.campaigns import CampaignNotFound, CampaignService

async def main():
    s = get_settings()
    for _ in range(4):
        svc = CampaignService(await connect(s), s)
        try:
            await svc.state("no-such-campaign")
        except CampaignNotFound:
            pass
    print("done")

asyncio.run(main())
"""

RUNS = 12


async def _run_once(env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SCRIPT,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode, output.decode(errors="replace")


async def test_script_using_campaign_service_exits_cleanly(dev_env: WorkflowEnvironment, tmp_path) -> None:
    env = {
        **os.environ,
        "MOPS_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "MOPS_DATA_DIR": str(tmp_path),
    }
    for _ in range(RUNS // 2):  # two at a time: quick, and still a handful of chances to hit the race
        for code, output in await asyncio.gather(_run_once(env), _run_once(env)):
            assert code == 0, f"exit {code}:\n{output}"
            assert output.strip().endswith("done")
