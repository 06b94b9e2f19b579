"""A worker killed after Slack or LinkedIn accepted a post and before the activity
completed: the retry, on a new worker, finds the earlier post through the platform's own
read API and posts nothing (activities/post_once.py). Neither platform, nor the sandbox,
honours an idempotency key, so without the lookup the retry would post again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import WorkflowHistoryEventFilterType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from mops.settings import Settings
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.conftest import eventually, make_settings
from tests.e2e.post_once_probe import PostOnceProbe


def start_worker(settings: Settings) -> subprocess.Popen:
    env = {
        **os.environ,
        **{
            f"MOPS_{k.upper()}": str(v)
            for k, v in settings.model_dump(mode="json").items()
            if isinstance(v, str | int | float) and "token" not in k and "key" not in k
        },
    }
    return subprocess.Popen(
        [sys.executable, "-m", "starter.cli", "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def run_killed_mid_post(
    dev_env: WorkflowEnvironment,
    sandbox: SandboxServer,
    *,
    platform: str,
    path: str,
    activity: str,
    queue: Callable[[Settings], str],
    arg: dict[str, Any],
    effects: Callable[[SandboxAdmin], Awaitable[list[dict]]],
) -> tuple[dict[str, Any], list[dict], int]:
    """Run `activity` on a worker process that is killed -9 once the platform applied the
    post (and before it answered), then on a new one: (result, effects, attempts)."""
    settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host)
    probe_queue = f"post-once-probe-{uuid.uuid4().hex[:8]}"
    worker = start_worker(settings)
    async with (
        SandboxAdmin(sandbox.url) as admin,
        Worker(dev_env.client, task_queue=probe_queue, workflows=[PostOnceProbe]),
    ):
        # The platform applies the post, then takes 20 s to answer: the worker dies after
        # the post went out and before it heard so.
        await admin.set_faults(platform, latency_ms=20_000, latency_after_apply=True, path_prefix=path)
        try:
            handle = await dev_env.client.start_workflow(
                PostOnceProbe.run,
                args=[activity, queue(settings), arg],
                id=f"post-once-{uuid.uuid4().hex[:8]}",
                task_queue=probe_queue,
            )

            async def applied():
                return len(await effects(admin)) == 1

            # Wait for the platform to have the post, not just for the call to start: a kill
            # before the request arrived would make the retry the first post. (A worker
            # process starting on a busy machine can take a while to poll.)
            await eventually(applied, timeout=120, what=f"{platform} to apply the post")
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            await admin.clear_faults()
            worker = start_worker(settings)

            # The lost attempt times out (start_to_close) and is retried on the new worker.
            result = await handle.result()
            attempts = 0
            async for event in handle.fetch_history_events(event_filter_type=WorkflowHistoryEventFilterType.ALL_EVENT):
                if event.HasField("activity_task_started_event_attributes"):
                    attempts = event.activity_task_started_event_attributes.attempt
            return result, await effects(admin), attempts
        finally:
            await admin.clear_faults()
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)


async def test_worker_killed_mid_slack_post_posts_exactly_once(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer
) -> None:
    channel = f"#launch-{uuid.uuid4().hex[:8]}"  # by name: found through conversations.list
    key = f"campaign-{uuid.uuid4().hex[:8]}:alert"

    async def posts(admin: SandboxAdmin) -> list[dict]:
        return [e for e in await admin.effects("slack", "chat.post") if e["summary"]["channel"] == channel]

    result, effects, attempts = await run_killed_mid_post(
        dev_env,
        sandbox,
        platform="slack",
        path="/api/chat.postMessage",
        activity="chat.notify",
        queue=lambda s: s.chat_task_queue,
        arg={"idempotency_key": key, "text": "The spring launch is live", "channel": channel},
        effects=posts,
    )

    [post] = effects
    assert attempts >= 2, "the notify ran again on the new worker"
    assert result["ts"] == post["summary"]["ts"], "the retry answered with the earlier message"


async def test_worker_killed_mid_linkedin_post_posts_exactly_once(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer
) -> None:
    commentary = f"Spring launch {uuid.uuid4().hex[:8]} (beta): https://mops.example/spring/ #mops"

    async def posts(admin: SandboxAdmin) -> list[dict]:
        return [e for e in await admin.effects("linkedin", "post.create") if e["summary"]["text"] == commentary]

    result, effects, attempts = await run_killed_mid_post(
        dev_env,
        sandbox,
        platform="linkedin",
        path="/rest/posts",
        activity="social.post",
        queue=lambda s: s.social_task_queue,
        arg={"idempotency_key": f"campaign-{uuid.uuid4().hex[:8]}:linkedin", "commentary": commentary},
        effects=posts,
    )

    [post] = effects
    assert attempts >= 2, "the post ran again on the new worker"
    assert result["urn"] == post["summary"]["urn"], "the retry answered with the earlier post"
