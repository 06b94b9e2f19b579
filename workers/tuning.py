"""The one place that decides how a mops worker process runs, from settings.

    config = worker_config(settings)             # everything a worker process applies
    run(serve(settings, config), config)         # the process's event loop (uvloop or asyncio)
    # serve / running_workers / build_workers apply the rest: the Worker(...) options
    # (`config.worker_options()`) and the workflow bytecode cache (`cache_workflow_bytecode`)

Every process that runs mops workers takes its configuration from `worker_config`: `mops
worker` (also the Docker image's default command and the k8s worker Deployment), `mops up`,
`mops demo`, the tests' workers and the benchmarks' `bench/worker_proc.py`.
`MOPS_WORKER_TUNING=false` gives the SDK's defaults everywhere (the benchmark baseline: a
samples-style `Worker(...)` on the asyncio loop); the individual knobs are then ignored.
`mops worker --print-config` prints the configuration; a starting worker logs the one it
really runs (`running_config`, read back from its `Worker`s and its loop).

Every tuned value was chosen by a measurement in `bench/` (see bench/RESULTS.md); the
knobs are `MOPS_*` settings (the "Performance tuning" block of mops/settings.py).

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
- **Event loop**: uvloop for the worker process (`MOPS_WORKER_EVENT_LOOP`). Configured but
  not installed is a refusal, never a quiet asyncio loop.
- **Workflow bytecode** (`cache_workflow_bytecode`): the workflow sandbox imports a
  workflow's module afresh for every new workflow run and every cache miss. With no
  `.pyc` to read (`PYTHONDONTWRITEBYTECODE=1` with an editable install, as on the machine
  the benchmarks ran on; an installed wheel, as in the Docker image, has its `.pyc`) each
  of those imports compiled the module's source again: half the worker's CPU when
  journeys open. The modules are compiled once into a private cache
  (`sys.pycache_prefix`, under `MOPS_DATA_DIR`), never next to the sources. When Python
  already has fresh `.pyc` files for them (the wheel's), nothing is compiled and the
  prefix is left alone: a prefix would hide those files from every later import.
- **Shared workflow code** (`share_workflow_code`): even with bytecode on disk, every
  sandbox import read the module's `.pyc` and unmarshalled it again; for the journey's
  module that was a third of what opening a workflow run costs (profiled at 5 leads/s,
  bench/RESULTS.md). The workflow modules' code objects are kept in memory, one per
  source file, and every sandbox import executes that same code into its own fresh
  module: code objects are immutable, so each run still gets its own module globals and
  the sandbox's restricted imports and checks, exactly as before. A source file whose
  size or mtime changed is compiled afresh.
- **Garbage collector** (`GC_YOUNG_THRESHOLD`, applied by `run` and `running_workers`): a
  worker allocates many short-lived objects per task (payloads, protobufs, pydantic
  models, each run's fresh module), and Python's default of a young collection every 700
  allocations, with a full collection scanning every long-lived object (the imported
  modules, the cached workflows), cost about 5% of the worker's CPU at 5 leads/s. A
  worker process collects its young objects every `GC_YOUNG_THRESHOLD` allocations, and
  what it holds once started (modules, workers, their definitions) is frozen out of the
  collector's scans (`gc.freeze`). Only in processes started through `run` (the ones that
  are worker processes); reference counting frees everything else as before, and cycles
  are still collected. What the collector still costs shows as `mops_gc_pause_seconds`
  (workers/gc_pauses.py): a full collection walks every cached workflow run.
- **Sandbox passthrough** (opt-in, `MOPS_WORKER_SANDBOX_PASSTHROUGH_WORKFLOWS`): the
  workflow modules are imported once and shared by every run instead of afresh per run.
  Less CPU per new run or cache miss and less memory per cached workflow, but the
  sandbox then no longer checks mops' own workflow modules for non-deterministic calls
  (e.g. `datetime.now()`), so it stays off by default; the test suite runs the workflows
  in the full sandbox either way.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import importlib.machinery
import importlib.util
import inspect
import py_compile
import sys
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from temporalio.worker import PollerBehaviorSimpleMaximum, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from mops.settings import Settings, SettingsError

T = TypeVar("T")
EventLoop = Literal["uvloop", "asyncio"]

SANDBOXED_PACKAGES = ("workflows",)  # re-imported into every workflow sandbox
# The SDK's own defaults, read from `Worker(...)` itself so they cannot drift from it.
_SDK = inspect.signature(Worker.__init__).parameters
SDK_DEFAULT_CACHE: int = _SDK["max_cached_workflows"].default
SDK_DEFAULT_WORKFLOW_POLLERS: int = _SDK["workflow_task_poller_behavior"].default.maximum
SDK_DEFAULT_ACTIVITY_POLLERS: int = _SDK["activity_task_poller_behavior"].default.maximum
SDK_DEFAULT_SLOTS = 100  # the fixed slot supplier the SDK builds for an unset max_concurrent_*
PYTHON_PYC = "python's own .pyc"
NO_BYTECODE = "none: compiled from source at every sandbox import"
GC_YOUNG_THRESHOLD = 10_000  # allocations between young collections (Python's default: 700)


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a mops worker process applies; made by `worker_config(settings)` only.

    `experiment` holds raw `Worker(...)` options put on top, for the benchmarks' experiments
    (`bench/worker_proc.py --set`); mops itself never sets it."""

    tuning: bool  # False: the SDK's defaults (MOPS_WORKER_TUNING=false)
    max_cached_workflows: int
    max_concurrent_workflow_tasks: int
    max_concurrent_activities: int
    workflow_pollers: int  # fixed long polls per worker (sticky and not)
    activity_pollers: int  # fixed long polls per activity worker
    event_loop: EventLoop
    bytecode_cache: bool  # compile the workflow modules once when Python has no bytecode for them
    shared_code: bool  # the workflow modules' code objects kept in memory for every sandbox import
    gc_tuning: bool  # worker processes: fewer young collections, the started heap frozen
    sandbox_passthrough: bool  # mops' workflow modules shared by every run (opt-in)
    experiment: Mapping[str, Any] = field(default_factory=dict)

    def worker_options(self) -> dict[str, Any]:
        """The `Worker(...)` keyword arguments of every mops worker (workflow and activity
        queues alike: options that only concern workflows are ignored by activity-only
        workers and vice versa)."""
        options: dict[str, Any] = {
            "max_cached_workflows": self.max_cached_workflows,
            "max_concurrent_workflow_tasks": self.max_concurrent_workflow_tasks,
            "max_concurrent_activities": self.max_concurrent_activities,
            "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(self.workflow_pollers),
            "activity_task_poller_behavior": PollerBehaviorSimpleMaximum(self.activity_pollers),
        }
        if self.sandbox_passthrough:
            options["workflow_runner"] = SandboxedWorkflowRunner(
                restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOXED_PACKAGES)
            )
        options.update(self.experiment)
        return options

    def describe(self, settings: Settings) -> dict[str, Any]:
        """The configuration a worker started now would run, with the keys of `running_config`
        (what `mops worker --print-config` prints)."""
        planned = bytecode_plan(settings) if self.bytecode_cache else None
        described: dict[str, Any] = {
            "tuning": self.tuning,
            "max_cached_workflows": self.max_cached_workflows,
            "workflow_pollers": self.workflow_pollers,
            "activity_pollers": self.activity_pollers,
            "max_concurrent_workflow_tasks": self.max_concurrent_workflow_tasks,
            "max_concurrent_activities": self.max_concurrent_activities,
            "event_loop": self.event_loop,
            "bytecode_cache": str(planned) if planned else bytecode_in_use(),
            "shared_code": self.shared_code,
            "gc": gc_plan(self),
            "sandbox_passthrough": self.sandbox_passthrough,
        }
        if self.experiment:
            described["experiment"] = sorted(self.experiment)
        return described


def worker_config(settings: Settings) -> WorkerConfig:
    """The configuration of every mops worker process, from settings. Refuses (SettingsError)
    an event loop that is configured but not installed."""
    if not settings.worker_tuning:
        return WorkerConfig(
            tuning=False,
            max_cached_workflows=SDK_DEFAULT_CACHE,
            max_concurrent_workflow_tasks=SDK_DEFAULT_SLOTS,
            max_concurrent_activities=SDK_DEFAULT_SLOTS,
            workflow_pollers=SDK_DEFAULT_WORKFLOW_POLLERS,
            activity_pollers=SDK_DEFAULT_ACTIVITY_POLLERS,
            event_loop="asyncio",
            bytecode_cache=False,
            shared_code=False,
            gc_tuning=False,
            sandbox_passthrough=False,
        )
    loop = cast(EventLoop, settings.worker_event_loop)
    require_event_loop(loop)
    return WorkerConfig(
        tuning=True,
        max_cached_workflows=settings.max_cached_workflows,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.max_concurrent_activities,
        workflow_pollers=settings.worker_workflow_pollers,
        activity_pollers=settings.worker_activity_pollers,
        event_loop=loop,
        bytecode_cache=True,
        shared_code=True,
        gc_tuning=True,
        sandbox_passthrough=settings.worker_sandbox_passthrough_workflows,
    )


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def require_event_loop(loop: EventLoop) -> None:
    if loop == "uvloop" and not uvloop_available():
        raise SettingsError(
            "MOPS_WORKER_EVENT_LOOP=uvloop: uvloop is not installed "
            "(install mops with its dependencies, or set MOPS_WORKER_EVENT_LOOP=asyncio)"
        )


def run(main: Coroutine[Any, Any, T], config: WorkerConfig) -> T:
    """Run the worker process's `main` on the configured event loop; never another one."""
    try:
        require_event_loop(config.event_loop)
    except SettingsError:
        main.close()  # never awaited: no "coroutine was never awaited" warning on top
        raise
    if config.gc_tuning:
        tune_gc()
    if config.event_loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def running_config(config: WorkerConfig, workers: Sequence[Worker]) -> dict[str, Any]:
    """What this process really runs, read back from its `Worker`s, its event loop and the
    interpreter (the keys of `WorkerConfig.describe`). Call it on the workers' loop."""
    configs = [w.config() for w in workers]
    workflow = next(c for c in configs if c.get("workflows"))
    activity = next((c for c in configs if not c.get("workflows")), workflow)
    running: dict[str, Any] = {
        "tuning": config.tuning,
        "max_cached_workflows": workflow.get("max_cached_workflows", SDK_DEFAULT_CACHE),
        "workflow_pollers": _polls(workflow.get("workflow_task_poller_behavior"), SDK_DEFAULT_WORKFLOW_POLLERS),
        "activity_pollers": _polls(activity.get("activity_task_poller_behavior"), SDK_DEFAULT_ACTIVITY_POLLERS),
        "max_concurrent_workflow_tasks": workflow.get("max_concurrent_workflow_tasks") or SDK_DEFAULT_SLOTS,
        "max_concurrent_activities": activity.get("max_concurrent_activities") or SDK_DEFAULT_SLOTS,
        "event_loop": type(asyncio.get_running_loop()).__module__.partition(".")[0],
        "bytecode_cache": bytecode_in_use(),
        "shared_code": sharing_workflow_code(),
        "gc": gc_in_use(),
        "sandbox_passthrough": _passes_through(workflow.get("workflow_runner")),
    }
    if config.experiment:
        running["experiment"] = sorted(config.experiment)
    return running


def _polls(behavior: object, sdk_default: int) -> int | str:
    if behavior is None:
        return sdk_default
    return behavior.maximum if isinstance(behavior, PollerBehaviorSimpleMaximum) else repr(behavior)


def _passes_through(runner: object) -> bool:
    if not isinstance(runner, SandboxedWorkflowRunner):
        return False
    return all(p in runner.restrictions.passthrough_modules for p in SANDBOXED_PACKAGES)


# ---------------------------------------------------------------- workflow bytecode
def bytecode_plan(settings: Settings, packages: tuple[str, ...] = SANDBOXED_PACKAGES) -> Path | None:
    """Where `cache_workflow_bytecode` would compile the workflow modules, or None when Python
    has their bytecode itself (it writes `.pyc` files, or fresh ones are there: a wheel's)."""
    if not sys.dont_write_bytecode or _has_bytecode(packages):
        return None
    return Path(sys.pycache_prefix) if sys.pycache_prefix else settings.data_dir / "pycache"


def cache_workflow_bytecode(
    settings: Settings, config: WorkerConfig, packages: tuple[str, ...] = SANDBOXED_PACKAGES
) -> Path | None:
    """Compile the workflow modules once, for the sandbox's imports to read, when the
    configuration asks for it and Python has no bytecode for them. Returns the cache
    directory, or None when nothing was done. Call before the workers start."""
    target = bytecode_plan(settings, packages) if config.bytecode_cache else None
    if target is None:
        return None
    own_prefix = sys.pycache_prefix is None
    if own_prefix:  # keep the caller's prefix when one is set
        sys.pycache_prefix = str(target)
    try:
        for source in _sources(packages):
            # Timestamp-checked like any .pyc: an edited source is compiled afresh.
            py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)), quiet=2)
    except OSError as err:
        if own_prefix:
            sys.pycache_prefix = None
        raise SettingsError(
            f"MOPS_DATA_DIR: cannot write the workflow bytecode cache under {target} ({err.strerror}); "
            "make it writable, or install mops as a wheel (its .pyc files are used as they are)"
        ) from None
    return target


def bytecode_in_use(packages: tuple[str, ...] = SANDBOXED_PACKAGES) -> str:
    """Where the sandbox's imports of the workflow modules read their bytecode from, now."""
    if not sys.dont_write_bytecode:
        return PYTHON_PYC
    if not _has_bytecode(packages):
        return NO_BYTECODE
    return sys.pycache_prefix or PYTHON_PYC


def _sources(packages: tuple[str, ...]) -> Iterator[Path]:
    for package in packages:
        for directory in importlib.import_module(package).__path__:
            yield from sorted(Path(directory).rglob("*.py"))


def _has_bytecode(packages: tuple[str, ...]) -> bool:
    """Every module has a `.pyc` where Python looks now (`sys.pycache_prefix` included) that
    Python would use: its magic number, and the source's mtime and size (or hash)."""
    return all(_fresh(source, Path(importlib.util.cache_from_source(str(source)))) for source in _sources(packages))


def _fresh(source: Path, cached: Path) -> bool:
    try:
        with cached.open("rb") as f:
            head = f.read(16)
        stat = source.stat()
    except OSError:
        return False
    if len(head) < 16 or head[:4] != importlib.util.MAGIC_NUMBER:
        return False
    flags = int.from_bytes(head[4:8], "little")
    if flags & 0b01:  # hash-based: an unchecked one is used as is, a checked one if the hash matches
        return not flags & 0b10 or head[8:16] == importlib.util.source_hash(source.read_bytes())
    mtime, size = int.from_bytes(head[8:12], "little"), int.from_bytes(head[12:16], "little")
    return mtime == int(stat.st_mtime) & 0xFFFFFFFF and size == stat.st_size & 0xFFFFFFFF


# ---------------------------------------------------------------- shared workflow code
class _SharedCodeLoader(importlib.machinery.SourceFileLoader):
    """A source loader whose code objects are kept per source file while the source's
    mtime and size stay the same (the checks Python's own `.pyc` validation makes)."""

    _code: dict[str, tuple[tuple[int, int], Any]] = {}

    def get_code(self, fullname: str) -> Any:
        stats = self.path_stats(self.path)
        stamp = (int(stats["mtime"]), int(stats.get("size", -1)))
        kept = self._code.get(self.path)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        code = super().get_code(fullname)
        self._code[self.path] = (stamp, code)
        return code


class _SharedCodeFinder:
    """First on `sys.meta_path`: finds the workflow packages' modules as Python would, and
    hands them the loader that keeps their code objects."""

    def __init__(self, packages: tuple[str, ...]) -> None:
        self.packages = packages

    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: object = None) -> Any:
        if fullname.partition(".")[0] not in self.packages:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = getattr(spec, "loader", None)
        if spec is not None and type(loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _SharedCodeLoader(loader.name, loader.path)
        return spec


def share_workflow_code(config: WorkerConfig, packages: tuple[str, ...] = SANDBOXED_PACKAGES) -> bool:
    """Keep the workflow modules' code objects in memory for every sandbox import, when the
    configuration asks for it (once per process). Returns whether they are shared now."""
    if config.shared_code and not sharing_workflow_code(packages):
        sys.meta_path.insert(0, cast(Any, _SharedCodeFinder(packages)))
    return sharing_workflow_code(packages)


def sharing_workflow_code(packages: tuple[str, ...] = SANDBOXED_PACKAGES) -> bool:
    return any(isinstance(f, _SharedCodeFinder) and set(packages) <= set(f.packages) for f in sys.meta_path)


# ---------------------------------------------------------------- garbage collector
PYTHON_GC = "python's defaults"
TUNED_GC = f"young every {GC_YOUNG_THRESHOLD}, started heap frozen"


def tune_gc() -> None:
    """This process is a worker process: young collections every `GC_YOUNG_THRESHOLD`
    allocations, and what it holds now frozen out of the collector's scans."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    freeze_started_heap()


def freeze_started_heap() -> None:
    """In a process `tune_gc` tuned (nothing else: a test process keeps Python's collector
    as it is), freeze what is alive now, e.g. the workers just built."""
    if gc.get_threshold()[0] == GC_YOUNG_THRESHOLD:
        gc.collect()  # garbage first: a frozen object is never collected
        gc.freeze()


def gc_plan(config: WorkerConfig) -> str:
    return TUNED_GC if config.gc_tuning else PYTHON_GC


def gc_in_use() -> str:
    """How this process's collector runs now."""
    young = gc.get_threshold()[0]
    if young != GC_YOUNG_THRESHOLD:
        return PYTHON_GC if young == 700 else f"young every {young}"  # 700: Python's own default
    return TUNED_GC if gc.get_freeze_count() else f"young every {young}"
