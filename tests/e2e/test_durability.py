"""Faults that must lose nothing and duplicate nothing: the Temporal server restarted
mid-journey (the embedded stack's own SQLite file), and a worker process killed
while an email send is in flight."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.leads import LeadStage
from mops.settings import Settings
from mops.temporal import connect
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from starter.service.leads import LeadService, build_capture
from starter.stack import EmbeddedStack
from tests.conftest import eventually, make_settings
from workers.main import running_workers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def mails_to(admin: SandboxAdmin, email: str) -> list[dict]:
    return [e for e in await admin.effects("sendgrid", "mail.send") if email in e["summary"]["to"]]


async def test_server_restart_keeps_timers_and_sends_once(sandbox: SandboxServer, tmp_path: Path) -> None:
    port = int(sandbox.url.rsplit(":", 1)[1])
    settings = make_settings(
        sandbox.url, f"127.0.0.1:{free_port()}", data_dir=tmp_path, temporal_ui_port=free_port(), sandbox_port=port
    )
    email = f"restart.{uuid.uuid4().hex[:8]}@smallshop.example"
    stack = EmbeddedStack(settings)
    await stack.start()
    try:
        client = await connect(settings)
        leads = LeadService(client, settings)
        async with running_workers(client, settings), SandboxAdmin(sandbox.url) as admin:
            await leads.capture(
                build_capture(settings, email=email, source="web_form", consent=True, journey_id="demo")
            )

            async def in_first_wait():
                st = await leads.state(email=email)
                return st.emails_sent == 1 and st.next_step == "settle-in"

            await eventually(in_first_wait, what="the welcome email and the first timer")
            stack.stop()  # the server goes away with the timer pending
            await stack.start()  # same SQLite file

            async def after_timer():
                st = await leads.state(email=email)
                return st.emails_sent >= 2 and st

            st = await eventually(after_timer, timeout=60, what="the timer to fire after the restart")
            assert st.stage == LeadStage.NURTURING
            steps = [m["summary"]["custom_args"]["mops_step"] for m in await mails_to(admin, email)]
            assert steps[:2] == ["welcome", "case-study"] and steps.count("welcome") == 1
    finally:
        stack.stop()


async def test_worker_killed_mid_send_sends_exactly_once(dev_env: WorkflowEnvironment, sandbox: SandboxServer) -> None:
    settings: Settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host)
    env = {
        **os.environ,
        **{
            f"MOPS_{k.upper()}": str(v)
            for k, v in settings.model_dump(mode="json").items()
            if isinstance(v, str | int | float) and "token" not in k and "key" not in k
        },
    }

    def start_worker() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "starter.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    email = f"killed.{uuid.uuid4().hex[:8]}@smallshop.example"
    leads = LeadService(dev_env.client, settings)
    worker = start_worker()
    async with SandboxAdmin(sandbox.url) as admin:
        # The platform applies each send, then takes 10 s to answer: the worker dies
        # after the email went out and before it heard so.
        await admin.set_faults("sendgrid", latency_ms=10_000, latency_after_apply=True, path_prefix="/v3/mail/send")
        replays_before = await admin.replays("sendgrid")
        try:
            res = await leads.capture(
                build_capture(settings, email=email, source="web_form", consent=True, journey_id="demo")
            )

            async def applied():
                return len(await mails_to(admin, email)) == 1

            # Wait for the platform to have the email, not just for the send to start: on a busy
            # machine the kill could land before the request reached the platform, and the retry
            # would then be the first send.
            await eventually(applied, what="the platform to apply the send")
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            await admin.clear_faults()
            worker = start_worker()

            async def welcomed():
                # Until the server gives up on the killed worker's sticky queue, a query can
                # wait there and the RPC time out: that is "not yet", not a failure.
                try:
                    state = await leads.state(email=email)
                except RPCError as err:
                    raise AssertionError(f"query not answered yet: {err}") from err
                return state.emails_sent == 1

            # The lost attempt times out (start_to_close) and is retried by the new worker.
            await eventually(welcomed, timeout=90, what="the send to complete on the new worker")
            mails = await mails_to(admin, email)
            assert len(mails) == 1, "one email although the send ran twice"
            key = mails[0]["key"]
            assert key.startswith(res.workflow_id + ":"), key
            assert await admin.replays("sendgrid") >= replays_before + 1, (
                "the retry reached the platform and was replayed"
            )
        finally:
            await admin.clear_faults()
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
