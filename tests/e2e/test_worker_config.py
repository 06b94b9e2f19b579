"""`mops worker` runs the configuration of workers/tuning.py, read from the running process
itself: the configuration line it logs (built from its Worker objects and its event loop),
the uvloop extension mapped into it, the pollers Temporal's Prometheus metrics show really
polling its queues, and the workflow bytecode it compiled. `MOPS_WORKER_TUNING=false` gives
the SDK's defaults on the same path, and a configured but missing uvloop is refused."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from mops.settings import Settings
from sandbox.server import SandboxServer
from tests.conftest import eventually, free_port, make_settings
from workers import tuning
from workflows.privacy_models import ReconcileInput

CONFIG_LINE = re.compile(r"mops worker configuration (\{.*\})$", re.M)


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `mops worker` process with these settings (secrets keep their defaults)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MOPS_")},
        **{
            f"MOPS_{k.upper()}": str(v)
            for k, v in settings.model_dump(mode="json").items()
            if isinstance(v, str | int | float) and "token" not in k and "key" not in k
        },
        **extra,
    }


def print_config(env: dict[str, str]) -> dict:
    res = subprocess.run(
        [sys.executable, "-m", "starter.cli", "worker", "--print-config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


class Worker:
    """A `mops worker` subprocess, its stderr in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "starter.cli", "worker"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    async def config_line(self) -> dict:
        async def logged():
            assert self.proc.poll() is None, f"mops worker exited {self.proc.returncode}: {self.log.read_text()}"
            found = CONFIG_LINE.search(self.log.read_text())
            return found and json.loads(found.group(1))

        return await eventually(logged, timeout=120, what="the worker's configuration line")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


def pollers(metrics_port: int, task_queue: str) -> dict[str, float]:
    """`temporal_num_pollers` of one task queue by poller type, from the worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    found: dict[str, float] = {}
    for labels, value in re.findall(r"^temporal_num_pollers\{(.*)\} (\S+)$", text, flags=re.M):
        tags = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if tags.get("task_queue") == task_queue:
            found[tags["poller_type"]] = float(value)
    return found


def uvloop_mapped(pid: int) -> bool:
    """uvloop's event-loop extension is loaded into the process."""
    return any("uvloop/loop" in line for line in Path(f"/proc/{pid}/maps").read_text().splitlines())


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator:
    started: list[Worker] = []

    def start(env: dict[str, str]) -> Worker:
        worker = Worker(env, tmp_path / f"worker{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


async def test_mops_worker_runs_the_tuned_configuration(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path, worker_factory
) -> None:
    settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host, data_dir=tmp_path)
    metrics_port = free_port()
    bytecode = tmp_path / "bytecode"  # empty: Python has no bytecode for the workflow modules there
    env = worker_env(
        settings,
        MOPS_METRICS_PORT=str(metrics_port),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPYCACHEPREFIX=str(bytecode),
    )
    printed = print_config(env)
    worker = worker_factory(env)
    running = await worker.config_line()

    assert running == printed, "the process runs what --print-config says"
    assert running == {
        "tuning": True,
        "max_cached_workflows": settings.max_cached_workflows,
        "workflow_pollers": settings.worker_workflow_pollers,
        "activity_pollers": settings.worker_activity_pollers,
        "max_concurrent_workflow_tasks": settings.worker_max_concurrent_workflow_tasks,
        "max_concurrent_activities": settings.max_concurrent_activities,
        "event_loop": "uvloop",
        "bytecode_cache": str(bytecode),
        "shared_code": True,
        "gc": tuning.TUNED_GC,
        "sandbox_passthrough": False,
    }
    assert uvloop_mapped(worker.proc.pid)
    compiled = list(bytecode.rglob("workflows/lead_journey.*.pyc"))  # the prefix mirrors the source tree
    assert compiled, f"the workflow modules were compiled into {bytecode}"

    # The fixed pollers really poll: every activity queue holds all of its long polls open,
    # and the workflow queue all of its own (split between its normal and sticky queues).
    async def activity_polls():
        return pollers(metrics_port, settings.crm_task_queue).get("activity_task") == settings.worker_activity_pollers

    await eventually(activity_polls, timeout=60, what=f"{settings.worker_activity_pollers} activity pollers on crm")

    async def workflow_polls():
        found = pollers(metrics_port, settings.workflow_task_queue)
        polls = found.get("workflow_task", 0) + found.get("sticky_workflow_task", 0)
        assert polls == settings.worker_workflow_pollers, found
        return found

    await eventually(workflow_polls, timeout=60, what=f"{settings.worker_workflow_pollers} workflow-task pollers")


async def test_worker_tuning_false_runs_the_sdk_defaults(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path, worker_factory
) -> None:
    settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host, data_dir=tmp_path)
    metrics_port = free_port()
    env = worker_env(settings, MOPS_METRICS_PORT=str(metrics_port), MOPS_WORKER_TUNING="false")
    printed = print_config(env)
    worker = worker_factory(env)
    running = await worker.config_line()

    assert running == printed
    sdk = {"max_cached_workflows": 1000, "workflow_pollers": 5, "activity_pollers": 5}
    assert {k: running[k] for k in sdk} == sdk
    assert running["max_concurrent_workflow_tasks"] == running["max_concurrent_activities"] == 100
    assert running["tuning"] is False and running["event_loop"] == "asyncio"
    assert running["sandbox_passthrough"] is False and running["shared_code"] is False
    assert running["gc"] == tuning.PYTHON_GC
    assert not uvloop_mapped(worker.proc.pid)

    async def sdk_polls():
        crm, flows = pollers(metrics_port, settings.crm_task_queue), pollers(metrics_port, settings.workflow_task_queue)
        assert crm.get("activity_task") == 5, crm
        assert flows.get("workflow_task", 0) + flows.get("sticky_workflow_task", 0) == 5, flows
        return True

    await eventually(sdk_polls, timeout=60, what="the SDK's 5 pollers on the crm and workflow queues")


def test_a_configured_uvloop_that_is_missing_is_refused() -> None:
    # The real CLI in a process where uvloop cannot be imported (as if not installed).
    code = "import sys; sys.modules['uvloop'] = None; from starter.cli import app; app()"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOPS_")}
    env.update(
        MOPS_WORKER_EVENT_LOOP="uvloop",
        MOPS_MAIL_SENDER_POSTAL="mops test, 1 Sandbox Street, 10115 Berlin, Germany",
        MOPS_MAIL_PREFERENCES_URL="https://www.mops.example/email-preferences",
        MOPS_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",  # nothing listens: it must not get that far
    )
    for args in (["worker"], ["worker", "--print-config"]):
        res = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "MOPS_WORKER_EVENT_LOOP=uvloop: uvloop is not installed" in lines[0], lines
        assert res.stdout == ""


async def test_mops_worker_makes_the_accuracy_schedules(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path, worker_factory
) -> None:
    """The compliance check and the data reconciliation run on Schedules that a starting worker
    makes (as `mops up` does, on the same path), each with the deployment's objective."""
    settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host, data_dir=tmp_path)
    env = worker_env(settings, MOPS_COMPLIANCE_CHECK_EVERY="1h", MOPS_RECONCILE_EVERY="1d")
    worker = worker_factory(env)
    await worker.config_line()
    client = dev_env.client
    expected = {settings.compliance_schedule_id: ("compliance", 3600), settings.reconcile_schedule_id: ("data", 86400)}
    try:

        async def made():
            found = {}
            for schedule_id in expected:
                try:
                    described = await client.get_schedule_handle(schedule_id).describe()
                except RPCError as err:  # not made yet: the worker makes them once its workers run
                    raise AssertionError(f"{schedule_id}: {err}") from None
                action = described.schedule.action
                assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "Reconciliation"
                (inp,) = await client.data_converter.decode(action.args, [ReconcileInput])  # raw payloads
                found[schedule_id] = (inp.mode, described.schedule.spec.intervals[0].every.total_seconds())
                assert inp.objective == 0.995 and inp.task_queue == settings.workflow_task_queue
            return found

        assert await eventually(made, timeout=60, what="the two accuracy Schedules") == expected
    finally:
        for schedule_id in expected:
            with contextlib.suppress(Exception):
                await client.get_schedule_handle(schedule_id).delete()


def test_an_accuracy_interval_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="compliance_check_every") as err:
        Settings(compliance_check_every="hourly")
    assert "invalid duration 'hourly'" in str(err.value)
    assert Settings(reconcile_every="off").reconcile_interval is None
