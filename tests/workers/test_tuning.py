"""workers/tuning.py decides every worker's configuration: what `worker_config` makes of
settings, that `build_workers` applies it to every Worker, and when the workflow modules'
bytecode is compiled (only when Python has none of its own)."""

from __future__ import annotations

import dataclasses
import os
import py_compile
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PollerBehaviorSimpleMaximum
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from mops.settings import Settings, SettingsError
from sandbox.server import SandboxServer
from tests.conftest import make_settings
from workers import tuning
from workers.main import PlatformClients, build_workers


def test_tuning_comes_from_the_settings() -> None:
    s = Settings(
        max_cached_workflows=123,
        worker_workflow_pollers=7,
        worker_activity_pollers=3,
        worker_max_concurrent_workflow_tasks=40,
        max_concurrent_activities=50,
        worker_event_loop="asyncio",
        worker_sandbox_passthrough_workflows=True,
    )
    config = tuning.worker_config(s)
    assert (config.max_cached_workflows, config.workflow_pollers, config.activity_pollers) == (123, 7, 3)
    assert (config.max_concurrent_workflow_tasks, config.max_concurrent_activities) == (40, 50)
    assert config.event_loop == "asyncio" and config.bytecode_cache and config.sandbox_passthrough
    options = config.worker_options()
    assert options["workflow_task_poller_behavior"] == PollerBehaviorSimpleMaximum(7)
    assert options["activity_task_poller_behavior"] == PollerBehaviorSimpleMaximum(3)
    runner = options["workflow_runner"]
    assert isinstance(runner, SandboxedWorkflowRunner) and "workflows" in runner.restrictions.passthrough_modules


def test_tuning_off_is_the_sdk_defaults_whatever_the_knobs_say() -> None:
    config = tuning.worker_config(Settings(worker_tuning=False, max_cached_workflows=123, worker_workflow_pollers=7))
    assert not config.tuning
    assert (config.max_cached_workflows, config.workflow_pollers, config.activity_pollers) == (1000, 5, 5)
    assert (config.max_concurrent_workflow_tasks, config.max_concurrent_activities) == (100, 100)
    assert config.event_loop == "asyncio" and not config.bytecode_cache and not config.sandbox_passthrough
    assert "workflow_runner" not in config.worker_options()


def test_a_missing_uvloop_is_refused_not_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tuning, "uvloop_available", lambda: False)
    with pytest.raises(SettingsError, match="MOPS_WORKER_EVENT_LOOP=uvloop: uvloop is not installed"):
        tuning.worker_config(Settings(worker_event_loop="uvloop"))
    config = dataclasses.replace(tuning.worker_config(Settings(worker_event_loop="asyncio")), event_loop="uvloop")

    async def main() -> None:
        raise AssertionError("never run")

    with pytest.raises(SettingsError, match="uvloop is not installed"):
        tuning.run(main(), config)


async def test_every_worker_is_built_with_the_configuration(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer
) -> None:
    for tuned in (True, False):
        settings = make_settings(sandbox.url, "unused:7233", worker_tuning=tuned)
        expected = tuning.worker_config(settings).worker_options()
        platforms = PlatformClients.from_settings(settings)
        try:
            workers = build_workers(dev_env.client, settings, platforms)  # no config given: settings decide
            assert len(workers) > 5
            for worker in workers:
                built = worker.config()
                assert {k: built.get(k) for k in expected} == expected, worker.task_queue
        finally:
            await platforms.aclose()


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A workflow-like package on sys.path, in a process that writes no bytecode."""
    name = f"flows_{uuid.uuid4().hex[:8]}"  # its own name: a module imported once stays in sys.modules
    root = tmp_path / "src"
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text("")
    (root / name / "one.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "pycache_prefix", None)
    return name


def test_bytecode_python_has_is_used_as_it_is(package: str, tmp_path: Path) -> None:
    sources = list((tmp_path / "src" / package).rglob("*.py"))
    for source in sources:  # as a wheel installs them: .pyc beside the sources
        py_compile.compile(str(source), doraise=True)
    s = Settings(data_dir=tmp_path / "data")
    config = tuning.worker_config(s)
    assert tuning.bytecode_plan(s, (package,)) is None
    assert tuning.cache_workflow_bytecode(s, config, (package,)) is None
    assert sys.pycache_prefix is None, "a prefix would hide the wheel's .pyc from every later import"
    assert tuning.bytecode_in_use((package,)) == tuning.PYTHON_PYC

    edited = sources[0]
    edited.write_text("X = 2  # edited\n")
    os.utime(edited, (edited.stat().st_atime, edited.stat().st_mtime + 10))
    assert tuning.bytecode_plan(s, (package,)) == tmp_path / "data" / "pycache"


def test_without_bytecode_the_modules_are_compiled_once_into_the_data_dir(package: str, tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data")
    config = tuning.worker_config(s)
    assert tuning.bytecode_in_use((package,)) == tuning.NO_BYTECODE
    assert tuning.bytecode_plan(s, (package,)) == tmp_path / "data" / "pycache"
    target = tuning.cache_workflow_bytecode(s, config, (package,))
    assert target == tmp_path / "data" / "pycache" and sys.pycache_prefix == str(target)
    assert list(target.rglob(f"{package}/one.*.pyc")), "compiled under the prefix, never beside the sources"
    assert not list((tmp_path / "src").rglob("*.pyc"))
    assert tuning.bytecode_in_use((package,)) == str(target)


def test_an_unwritable_bytecode_cache_is_refused_with_the_setting(package: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    s = Settings(data_dir=blocker / "data")  # a directory under a file cannot be made
    with pytest.raises(SettingsError, match="MOPS_DATA_DIR: cannot write the workflow bytecode cache"):
        tuning.cache_workflow_bytecode(s, tuning.worker_config(s), (package,))
    assert sys.pycache_prefix is None


COUNTED = """\
from temporalio import workflow

RUNS = []


@workflow.defn(name="Counted")
class Counted:
    @workflow.run
    async def run(self) -> int:
        RUNS.append(1)  # a module global: each sandboxed run must see its own
        return len(RUNS)
"""


@pytest.fixture
def own_meta_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # the finder goes with the test


def test_workflow_code_is_shared_by_every_import_and_compiled_afresh_when_edited(
    package: str, own_meta_path: None
) -> None:
    import importlib.util

    def fresh_import():
        spec = importlib.util.find_spec(f"{package}.one")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    config = tuning.worker_config(Settings(worker_event_loop="asyncio"))
    assert config.shared_code and not tuning.sharing_workflow_code((package,))
    source = Path(fresh_import().__file__ or "")
    source.write_text("def f():\n    return 1\n")
    assert tuning.share_workflow_code(config, (package,)) and tuning.sharing_workflow_code((package,))
    first, second = fresh_import(), fresh_import()
    assert first is not second and first.f is not second.f  # each import its own module and globals
    assert first.f.__code__ is second.f.__code__  # one code object, compiled once

    source.write_text("def f():\n    return 22\n")  # a different size: compiled afresh
    os.utime(source, (source.stat().st_atime, source.stat().st_mtime + 5))
    edited = fresh_import()
    assert edited.f() == 22 and edited.f.__code__ is not first.f.__code__


def test_tuning_off_shares_no_workflow_code(package: str, own_meta_path: None) -> None:
    config = tuning.worker_config(Settings(worker_tuning=False))
    assert not config.shared_code
    assert not tuning.share_workflow_code(config, (package,))


async def test_runs_of_shared_workflow_code_keep_their_own_sandboxed_globals(
    dev_env: WorkflowEnvironment, package: str, own_meta_path: None
) -> None:
    import importlib

    from temporalio.worker import Worker

    (Path(importlib.import_module(package).__path__[0]) / "counted.py").write_text(COUNTED)
    assert tuning.share_workflow_code(tuning.worker_config(Settings(worker_event_loop="asyncio")), (package,))
    counted = importlib.import_module(f"{package}.counted")
    queue = f"counted-{uuid.uuid4().hex[:8]}"
    async with Worker(dev_env.client, task_queue=queue, workflows=[counted.Counted], max_cached_workflows=0):
        runs = [await dev_env.client.execute_workflow("Counted", id=f"{queue}-{i}", task_queue=queue) for i in range(3)]
    assert runs == [1, 1, 1], "every run re-executes the module into fresh globals, as without shared code"
    assert counted.RUNS == []  # and the sandbox's imports never touched the process's own module
    assert counted.__file__ in tuning._SharedCodeLoader._code  # the sandbox imported the shared code


@pytest.fixture
def own_gc() -> Iterator[None]:
    """The collector as the test found it, afterwards (thresholds, nothing frozen)."""
    import gc

    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()


def test_a_worker_process_collects_less_often_and_freezes_its_started_heap(own_gc: None) -> None:
    import gc

    config = tuning.worker_config(Settings(worker_event_loop="asyncio"))
    assert config.gc_tuning and config.describe(Settings(worker_event_loop="asyncio"))["gc"] == tuning.TUNED_GC
    kept = [object() for _ in range(3)]  # alive when the process froze its heap

    async def main() -> tuple[int, int]:
        return gc.get_threshold()[0], gc.get_freeze_count()

    young, frozen = tuning.run(main(), config)
    assert young == tuning.GC_YOUNG_THRESHOLD and frozen > len(kept)
    assert tuning.gc_in_use() == tuning.TUNED_GC
    before = gc.get_freeze_count()
    tuning.freeze_started_heap()  # what running_workers does once the workers are built
    assert gc.get_freeze_count() >= before


def test_other_processes_keep_pythons_collector(own_gc: None) -> None:
    import gc

    threshold = gc.get_threshold()
    tuning.freeze_started_heap()  # running_workers in a test process: nothing changes
    assert gc.get_threshold() == threshold and gc.get_freeze_count() == 0

    async def main() -> tuple[int, int]:
        return gc.get_threshold()[0], gc.get_freeze_count()

    config = tuning.worker_config(Settings(worker_tuning=False))
    assert not config.gc_tuning and config.describe(Settings(worker_tuning=False))["gc"] == tuning.PYTHON_GC
    assert tuning.run(main(), config) == (threshold[0], 0)
