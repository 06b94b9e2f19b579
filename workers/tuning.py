"""Worker and runtime tuning for the mops workers, built from settings.

    options = worker_options(settings)           # extra Worker(...) keyword arguments
    workers = build_workers(client, settings, platforms, worker_options=options)
    run(serve(settings), settings)               # the worker process on uvloop when enabled

Every value here was chosen by a measurement in `bench/` (see bench/RESULTS.md); the
knobs are `MOPS_*` settings (the "Performance tuning" block of mops/settings.py).
`sdk_default_options()` is the benchmark baseline: a samples-style `Worker(...)`.

What the tuning does, and why:

- **Workflow cache** (`MOPS_MAX_CACHED_WORKFLOWS`, applied by build_workers): a cached
  workflow answers a signal with one small workflow task; an evicted one replays its whole
  history first. Sized for thousands of open journeys, bounded so worker RSS stays small.
- **Pollers**: a fixed number of long polls per worker and queue
  (`MOPS_WORKER_WORKFLOW_POLLERS`, `MOPS_WORKER_ACTIVITY_POLLERS`). A task that finds a
  poller waiting is handed over in memory; one that finds none is written to the
  database first. Poller autoscaling kept too few polls waiting here, so most tasks were
  written (1.2 task writes per operation against none with 10 fixed pollers).
- **Slots**: `MOPS_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS` workflow tasks and
  `MOPS_MAX_CONCURRENT_ACTIVITIES` activities at once per worker (fixed-size slot
  suppliers; activities are I/O-bound HTTP calls, so many fit on one event loop).
- **Event loop**: uvloop for the worker process (`MOPS_WORKER_EVENT_LOOP`).
- **Workflow bytecode** (`cache_workflow_bytecode`): the workflow sandbox imports a
  workflow's module afresh for every new workflow run and every cache miss. With no
  `.pyc` to read (`PYTHONDONTWRITEBYTECODE=1` with an editable install, as on the machine
  the benchmarks ran on; an installed wheel, as in the Docker image, has its `.pyc`) each
  of those imports compiled the module's source again: half the worker's CPU when
  journeys open. The modules are compiled once into a private cache
  (`sys.pycache_prefix`, under `MOPS_DATA_DIR`), never next to the sources.
- **Sandbox passthrough** (opt-in, `MOPS_WORKER_SANDBOX_PASSTHROUGH_WORKFLOWS`): the
  workflow modules are imported once and shared by every run instead of afresh per run.
  Less CPU per new run or cache miss and less memory per cached workflow, but the
  sandbox then no longer checks mops' own workflow modules for non-deterministic calls
  (e.g. `datetime.now()`), so it stays off by default; the test suite runs the workflows
  in the full sandbox either way.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import py_compile
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from temporalio.worker import PollerBehaviorSimpleMaximum
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from mops.settings import Settings

T = TypeVar("T")

SDK_DEFAULT_CACHE = 1000  # Worker(max_cached_workflows=...) default
SANDBOXED_PACKAGES = ("workflows",)  # re-imported into every workflow sandbox


def sdk_default_options() -> dict[str, Any]:
    """Options that put a mops worker back on the SDK's defaults (the benchmark baseline).
    Combine with `MOPS_MAX_CACHED_WORKFLOWS=1000`, the SDK's default cache."""
    return {"max_concurrent_activities": None}


def worker_options(settings: Settings) -> dict[str, Any]:
    """Extra `Worker(...)` keyword arguments for every mops worker (workflow and activity queues).

    Options that only concern workflows are ignored by activity-only workers and vice versa.
    `MOPS_WORKER_TUNING=false` returns the SDK defaults (see `sdk_default_options`)."""
    if not settings.worker_tuning:
        return sdk_default_options()
    options: dict[str, Any] = {
        "max_concurrent_activities": settings.max_concurrent_activities,
        "max_concurrent_workflow_tasks": settings.worker_max_concurrent_workflow_tasks,
        "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(settings.worker_workflow_pollers),
        "activity_task_poller_behavior": PollerBehaviorSimpleMaximum(settings.worker_activity_pollers),
    }
    if settings.worker_sandbox_passthrough_workflows:
        options["workflow_runner"] = SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOXED_PACKAGES)
        )
    return options


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def run(main: Coroutine[Any, Any, T], settings: Settings) -> T:
    """`asyncio.run(main)`, on uvloop when `MOPS_WORKER_EVENT_LOOP=uvloop` and it is installed."""
    if settings.worker_event_loop == "uvloop" and uvloop_available():
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def cache_workflow_bytecode(settings: Settings, packages: tuple[str, ...] = SANDBOXED_PACKAGES) -> Path | None:
    """Compile the workflow modules once, for the sandbox's imports to read, when Python
    writes no bytecode itself (`PYTHONDONTWRITEBYTECODE`). Returns the cache directory, or
    None when nothing was needed (Python keeps its own `.pyc` files). Call before the workers start."""
    if not sys.dont_write_bytecode:
        return None
    if sys.pycache_prefix is None:  # keep the caller's prefix when one is set
        sys.pycache_prefix = str(settings.data_dir / "pycache")
    for package in packages:
        for directory in importlib.import_module(package).__path__:
            for source in Path(directory).rglob("*.py"):
                # Timestamp-checked like any .pyc: an edited source is compiled afresh.
                py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)), quiet=2)
    return Path(sys.pycache_prefix)
