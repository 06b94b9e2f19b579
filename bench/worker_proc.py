"""A mops worker process for the benchmarks: the workers of `workers.main.running_workers`, set
up like `mops worker` (tracing, metrics runtime, platform clients), with the configuration
under test. Settings come from the `MOPS_*` environment.

    .venv/bin/python bench/worker_proc.py              # mops: workers.tuning.worker_config(settings)
    .venv/bin/python bench/worker_proc.py --baseline   # the same with MOPS_WORKER_TUNING=false (SDK defaults)

Both take their configuration from `workers.tuning.worker_config`, the function every mops
worker process uses; `--set` and `--loop` change one part of it, for experiments.
Prints "mops bench worker ready" once every worker polls; stops gracefully on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mops.settings import Settings  # noqa: E402
from workers import tuning  # noqa: E402


async def serve(settings: Settings, config: tuning.WorkerConfig) -> None:
    from mops.metrics import MopsMetrics, build_runtime
    from mops.telemetry import setup_tracing
    from mops.temporal import connect
    from workers.main import configure_logging, running_workers

    configure_logging()  # the configuration line of running_workers, in the worker's log
    setup_tracing("mops-worker")
    runtime = build_runtime(settings)
    client = await connect(settings, runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_workers(client, settings, metrics=MopsMetrics(runtime.metric_meter), config=config) as workers:
        await asyncio.sleep(0.5)
        stopped = [w.task_queue for w in workers if not w.is_running]
        if stopped:  # a worker that failed to start
            raise RuntimeError(f"workers not running on {', '.join(stopped)}")
        print(
            f"mops bench worker ready ({type(loop).__module__}, {len(workers)} workers, "
            f"config {json.dumps(config.describe(settings))})",
            flush=True,
        )
        await stop.wait()


def experiment(config: tuning.WorkerConfig, key: str, value: Any) -> tuning.WorkerConfig:
    """`config` with one part changed (`--set KEY=JSON`)."""
    fields = {
        "cache_workflow_bytecode": "bytecode_cache",
        "shared_code": "shared_code",
        "gc_tuning": "gc_tuning",
        "max_cached_workflows": "max_cached_workflows",
    }
    if key in fields:
        return dataclasses.replace(config, **{fields[key]: value})
    raw: Any = value
    if key in ("workflow_task_poller_behavior", "activity_task_poller_behavior") and isinstance(value, list):
        from temporalio.worker import PollerBehaviorAutoscaling, PollerBehaviorSimpleMaximum

        raw = PollerBehaviorAutoscaling(*value[1:]) if value[0] == "auto" else PollerBehaviorSimpleMaximum(value[1])
    elif key == "sandbox_passthrough":  # modules not re-imported per workflow run
        from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

        key, raw = (
            "workflow_runner",
            SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*value)),
        )
    elif key == "unsandboxed" and value:  # the lower bound of workflow CPU
        from temporalio.worker import UnsandboxedWorkflowRunner

        key, raw = "workflow_runner", UnsandboxedWorkflowRunner()
    return dataclasses.replace(config, experiment={**config.experiment, key: raw})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--baseline",
        action="store_true",
        help="MOPS_WORKER_TUNING=false: SDK-default Worker options (cache 1000) on the asyncio loop",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="override one Worker option (or max_cached_workflows, cache_workflow_bytecode) of the configuration",
    )
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default=None, help="event loop (default: settings)")
    args = p.parse_args()
    settings = Settings()
    if args.baseline:
        settings = settings.model_copy(update={"worker_tuning": False})
    config = tuning.worker_config(settings)
    for item in args.set:
        key, _, value = item.partition("=")
        config = experiment(config, key, json.loads(value))
    if args.loop:
        config = dataclasses.replace(config, event_loop=args.loop)
    with contextlib.suppress(KeyboardInterrupt):
        tuning.run(serve(settings, config), config)


if __name__ == "__main__":
    main()
