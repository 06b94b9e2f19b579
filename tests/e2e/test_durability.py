"""Faults that must lose nothing and duplicate nothing: the Temporal server restarted
mid-journey (the embedded stack's own SQLite file), a worker process killed while an
email send is in flight, and a send whose answer was lost while SendGrid's Email
Activity feed does not show it yet.

SendGrid keeps no idempotency (the sandbox neither): one email per send key rests on
the retry looking for the earlier attempt's email in the feed (activities/email_once.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.leads import LeadStage
from mops.settings import Settings
from mops.temporal import connect
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from sandbox.settings import SandboxTokens
from starter.service.leads import LeadService, build_capture
from starter.stack import EmbeddedStack
from tests.conftest import eventually, free_port, make_settings
from workers.main import running_workers


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


async def email_send_attempts(client: Client, workflow_id: str) -> list[tuple[int, str]]:
    """(attempt, last failure's message) of each `email.send` in the journey's history
    (failures are encrypted like payloads: decoded with the client's converter)."""
    scheduled: set[int] = set()
    found = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        attrs = event.activity_task_scheduled_event_attributes
        if event.HasField("activity_task_scheduled_event_attributes") and attrs.activity_type.name == "email.send":
            scheduled.add(event.event_id)
        started = event.activity_task_started_event_attributes
        if event.HasField("activity_task_started_event_attributes") and started.scheduled_event_id in scheduled:
            failure = await client.data_converter.decode_failure(started.last_failure)
            found.append((started.attempt, str(failure)))
    return found


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
        try:
            res = await leads.capture(
                build_capture(
                    settings, email=email, source="web_form", consent=True, journey_id="demo", first_name="Killian"
                )
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

            # The lost attempt times out (start_to_close) and is retried by the new worker,
            # which finds the email in SendGrid's Email Activity feed instead of sending it again.
            await eventually(welcomed, timeout=90, what="the send to complete on the new worker")
            mails = [m["summary"] for m in await mails_to(admin, email)]
            assert len(mails) == 1, "one email although the send ran twice"
            mail = mails[0]
            assert mail["subject"] == "Welcome - here is where to start"
            text, html = (part["value"] for part in mail["content"])
            assert text.startswith("Hi Killian,") and "<p>Hi Killian,</p>" in html
            assert mail["custom_args"]["mops_idempotency_key"].startswith(res.workflow_id + ":")
            [(attempt, _)] = await email_send_attempts(dev_env.client, res.workflow_id)
            assert attempt >= 2, "the send ran again on the new worker"
        finally:
            await admin.clear_faults()
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)


async def test_lost_answer_while_the_feed_lags_is_not_sent_again(dev_env: WorkflowEnvironment) -> None:
    """SendGrid applied the send and the answer was lost; the retry comes a second later,
    before the feed shows the email: it waits out the window instead of sending again."""
    # The settle window covers the feed's lag; the lag is far longer than the first retry
    # interval (1 s), so the retry comes while the feed does not show the email yet.
    lag, settle = 10.0, 12.0
    async with SandboxServer(tokens=SandboxTokens(sendgrid_activity_lag_s=lag)) as sandbox:
        settings = make_settings(
            sandbox.url, dev_env.client.service_client.config.target_host, sendgrid_activity_settle_seconds=settle
        )
        email = f"lagging.{uuid.uuid4().hex[:8]}@smallshop.example"
        leads = LeadService(dev_env.client, settings)
        async with SandboxAdmin(sandbox.url) as admin, running_workers(dev_env.client, settings):
            await admin.set_faults(
                "sendgrid", fail_next=1, error_status=503, fail_after_apply=True, path_prefix="/v3/mail/send"
            )
            res = await leads.capture(
                build_capture(
                    settings, email=email, source="web_form", consent=True, journey_id="demo", first_name="Lagrange"
                )
            )

            async def welcomed():
                return (await leads.state(email=email)).emails_sent == 1

            await eventually(welcomed, timeout=60, what="the welcome email despite the lost answer")
            mails = [m["summary"] for m in await mails_to(admin, email)]
            assert len(mails) == 1, "one email although the send ran twice"
            assert mails[0]["content"][0]["value"].startswith("Hi Lagrange,")
            [(attempt, last_failure)] = await email_send_attempts(dev_env.client, res.workflow_id)
            assert attempt >= 3, "a retry waited for the feed before the one that found the email"
            assert "Email Activity feed" in last_failure and "not re-sent before" in last_failure
