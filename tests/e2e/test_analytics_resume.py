"""A worker process killed in the middle of a collection: the retried activity resumes
after the last day it heartbeated on another worker process, days already loaded are not
fetched again, and the store ends with each day exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta

from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.analytics import Source
from integrations.analytics_store import DuckDBStore
from mops.queues import analytics_queues
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.conftest import eventually, free_port, make_settings
from workflows.analytics import AnalyticsCollectionWorkflow
from workflows.analytics_models import CollectionInput, SourceState

SINCE = date(2025, 6, 1)
DAYS = 12
UNTIL = SINCE + timedelta(days=DAYS - 1)


async def forget_health(env: WorkflowEnvironment, queue: str, schedule_id: str) -> None:
    """A worker process sets up the integration health check on its workflow queue: leave
    nothing behind that points at a queue nobody polls any more."""
    handle = env.client.get_schedule_handle(schedule_id)
    with contextlib.suppress(RPCError):
        if (await handle.describe()).schedule.action.task_queue == queue:
            await handle.delete()
    async for execution in env.client.list_workflows(f"TaskQueue = '{queue}' AND ExecutionStatus = 'Running'"):
        with contextlib.suppress(RPCError):
            await env.client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate("test over")


async def test_a_crash_mid_collection_resumes_from_the_cursor_without_duplicates(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer
) -> None:
    settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host)
    env = {
        **os.environ,
        **{
            f"MOPS_{k.upper()}": str(v)
            for k, v in settings.model_dump(mode="json").items()
            if isinstance(v, str | int | float) and "token" not in k and "key" not in k
        },
    }
    store = DuckDBStore(settings.analytics_store_file)

    elsewhere = f"{settings.workflow_task_queue}-elsewhere"

    def start_worker() -> subprocess.Popen:
        # The collection's activities run in these processes; its workflow runs in this one.
        return subprocess.Popen(
            [sys.executable, "-m", "starter.cli", "worker"],
            env={**env, "MOPS_METRICS_PORT": str(free_port()), "MOPS_WORKFLOW_TASK_QUEUE": elsewhere},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def loaded() -> dict[date, datetime]:
        return {x.day: x.loaded_at for x in store.loads(SINCE, UNTIL) if x.source == Source.GA4}

    # Two worker processes poll the same queues: the one running the collection is killed,
    # the other picks up the retry.
    workers = [start_worker(), start_worker()]
    async with (
        SandboxAdmin(sandbox.url) as admin,
        Worker(dev_env.client, task_queue=settings.workflow_task_queue, workflows=[AnalyticsCollectionWorkflow]),
    ):
        await admin.set_faults("ga4", latency_ms=250)  # each day of GA4 takes a while to answer
        try:
            inp = CollectionInput(
                since=SINCE,
                until=UNTIL,
                sources=["ga4"],
                journeys=False,
                queues=analytics_queues(settings),
                heartbeat_timeout=timedelta(seconds=2),
                retry_within=timedelta(0),
            )
            handle = await dev_env.client.start_workflow(
                AnalyticsCollectionWorkflow.run,
                inp,
                id=f"analytics-collect-crash-{uuid.uuid4().hex[:6]}",
                task_queue=settings.workflow_task_queue,
            )

            async def half_way() -> bool:
                return len(loaded()) >= DAYS // 2

            await eventually(half_way, timeout=60, interval=0.2, what="half of the days loaded")
            [running] = (await handle.describe()).raw_description.pending_activities
            pid = int(running.last_worker_identity.split("@")[0])
            [victim] = [w for w in workers if w.pid == pid]
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            killed_at = datetime.now(UTC)
            before = loaded()
            assert DAYS // 2 <= len(before) < DAYS, "killed mid-collection"
            # The cursor the server holds: the last day the dead attempt heartbeated.
            [pending] = (await handle.describe()).raw_description.pending_activities
            [cursor_text] = await dev_env.client.data_converter.decode(pending.heartbeat_details.payloads)
            cursor = date.fromisoformat(cursor_text)
            assert SINCE <= cursor <= max(before), (cursor, max(before))
            # The attempt times out on its heartbeat and is retried on the surviving worker.
            view = await asyncio.wait_for(handle.result(), timeout=60)
        finally:
            await admin.clear_faults()
            for w in workers:
                if w.poll() is None:
                    w.send_signal(signal.SIGTERM)
                    w.wait(timeout=30)
            await forget_health(dev_env, elsewhere, settings.health_check_schedule_id)

    [ga4] = view.sources
    assert ga4.state == SourceState.FRESH and ga4.result.attempt == 2
    assert ga4.result.resumed_from == cursor + timedelta(days=1)
    assert ga4.result.days == (UNTIL - cursor).days
    after = loaded()
    assert sorted(after) == [SINCE + timedelta(days=i) for i in range(DAYS)]
    # Days up to the cursor were not fetched again; the rest were (re)loaded by the new attempt.
    assert all(after[d] == before[d] for d in before if d <= cursor)
    assert all(after[d] > killed_at for d in after if d > cursor)
    facts = store.facts(SINCE, UNTIL, [Source.GA4])
    assert [f.day for f in facts] == sorted(after) and all(f.sessions > 0 for f in facts)
