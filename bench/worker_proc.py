"""A mops worker process for the benchmarks: the workers of `workers.main.build_workers`, set
up like `mops worker` (tracing, metrics runtime, platform clients), with the Worker options
of the configuration under test. Settings come from the `MOPS_*` environment.

    .venv/bin/python bench/worker_proc.py              # mops: workers.tuning.worker_options(settings)
    .venv/bin/python bench/worker_proc.py --baseline   # SDK-default Worker(...) options, asyncio loop

Prints "mops bench worker ready" once every worker polls; stops gracefully on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mops.settings import Settings  # noqa: E402
from workers import tuning  # noqa: E402


async def serve(settings: Settings, options: dict, bytecode_cache: bool) -> None:
    from mops.telemetry import setup_tracing
    from mops.temporal import connect
    from workers.main import PlatformClients, build_workers

    setup_tracing("mops-worker")
    if bytecode_cache:
        tuning.cache_workflow_bytecode(settings)
    metrics = runtime = None
    try:  # the metrics runtime of `mops worker`, when this checkout has it
        from mops.metrics import MopsMetrics, build_runtime

        runtime = build_runtime(settings)
        metrics = MopsMetrics(runtime.metric_meter)
    except ImportError:
        pass
    client = await connect(settings, runtime) if runtime is not None else await connect(settings)
    kwargs = {"metrics": metrics} if "metrics" in inspect.signature(build_workers).parameters else {}
    pkw = {"metrics": metrics} if "metrics" in inspect.signature(PlatformClients.from_settings).parameters else {}
    platforms = PlatformClients.from_settings(settings, **pkw)
    workers = build_workers(client, settings, platforms, worker_options=options, **kwargs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    await asyncio.sleep(0.5)
    for t in tasks:
        if t.done():
            t.result()  # a worker that failed to start raises here
    print(
        f"mops bench worker ready ({type(loop).__module__}, {len(workers)} workers, options "
        f"{sorted(options)}, cache {settings.max_cached_workflows})",
        flush=True,
    )
    await stop.wait()
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    await asyncio.gather(*tasks, return_exceptions=True)
    await platforms.aclose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--baseline",
        action="store_true",
        help="SDK-default Worker options (max_cached_workflows 1000) on the asyncio loop",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="override one Worker option (or max_cached_workflows) of the tuning",
    )
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default=None, help="event loop (default: settings)")
    args = p.parse_args()
    settings = Settings()
    if args.baseline:
        settings = settings.model_copy(
            update={"max_cached_workflows": tuning.SDK_DEFAULT_CACHE, "worker_event_loop": "asyncio"}
        )
        options = tuning.sdk_default_options()
    else:
        options = tuning.worker_options(settings)
    bytecode_cache = not args.baseline
    for item in args.set:
        key, _, value = item.partition("=")
        value = json.loads(value)
        if key == "cache_workflow_bytecode":
            bytecode_cache = bool(value)
        elif key == "max_cached_workflows":
            settings = settings.model_copy(update={"max_cached_workflows": value})
        elif key in ("workflow_task_poller_behavior", "activity_task_poller_behavior") and isinstance(value, list):
            from temporalio.worker import PollerBehaviorAutoscaling, PollerBehaviorSimpleMaximum

            options[key] = (
                PollerBehaviorAutoscaling(*value[1:]) if value[0] == "auto" else PollerBehaviorSimpleMaximum(value[1])
            )
        elif key == "sandbox_passthrough":  # experiment: modules not re-imported per workflow run
            from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

            options["workflow_runner"] = SandboxedWorkflowRunner(
                restrictions=SandboxRestrictions.default.with_passthrough_modules(*value)
            )
        elif key == "unsandboxed" and value:  # experiment: the lower bound of workflow CPU
            from temporalio.worker import UnsandboxedWorkflowRunner

            options["workflow_runner"] = UnsandboxedWorkflowRunner()
        elif value is None:
            options.pop(key, None)
        else:
            options[key] = value
    if args.loop:
        settings = settings.model_copy(update={"worker_event_loop": args.loop})
    with contextlib.suppress(KeyboardInterrupt):
        tuning.run(serve(settings, options, bytecode_cache), settings)


if __name__ == "__main__":
    main()
