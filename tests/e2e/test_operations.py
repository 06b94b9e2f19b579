"""Operations against the real dev server + sandbox: metrics readable from the worker's
Prometheus endpoint, one alert and one recovery notice for a platform at 50 % errors,
workflows held on a degraded platform resuming with exactly one effect each, and a
graceful shutdown that completes the activity in flight."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI, Request
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.contracts import HEALTH_NOTIFY
from domain.health import ProbeResult
from gateway.server import GatewayServer
from mops.metrics import MopsMetrics, build_runtime
from mops.temporal import connect
from starter.service.health import check_now, health_availability, health_state
from starter.service.leads import build_capture
from tests.conftest import eventually, free_port
from tests.e2e.conftest import Stack
from workers.health_registry import start_registry
from workers.main import running_workers
from workflows.health import HealthReport, IntegrationHealthWorkflow

# The SDK's names the alert rules and the dashboard read.
SDK_METRICS = (
    "temporal_workflow_task_schedule_to_start_latency_bucket",
    "temporal_activity_schedule_to_start_latency_bucket",
    "temporal_activity_execution_latency_bucket",
    "temporal_workflow_task_execution_latency_bucket",
)


async def test_sdk_and_mops_metrics_are_served_on_the_prometheus_endpoint(
    dev_env: WorkflowEnvironment, stack: Stack
) -> None:
    port = free_port()
    settings = stack.settings.model_copy(update={"metrics_port": port})
    runtime = build_runtime(settings)
    client = await connect(
        settings.model_copy(update={"temporal_address": dev_env.client.service_client.config.target_host}), runtime
    )
    email = f"metrics-{uuid.uuid4().hex[:6]}@acme.example"
    # A second set of workers (same queues) on the metrics runtime: the stack's own workers are idle-competing,
    # so drive enough work that this process certainly runs some of it.
    async with running_workers(client, settings, metrics=MopsMetrics(runtime.metric_meter)):
        captured = 0

        async def capture() -> None:
            nonlocal captured
            await stack.leads.capture(
                build_capture(settings, email=f"{captured}-{email}", source="web_form", consent=True)
            )
            captured += 1

        for _ in range(4):
            await capture()

        async def scraped():
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            hubspot_ok = any(
                'platform="hubspot"' in line and 'outcome="ok"' in line
                for line in text.splitlines()
                if line.startswith("mops_platform_requests_total{")
            )
            if not hubspot_ok and captured < 40:
                await capture()  # the CRM upserts all went to the other workers so far: one more lead
            # An activity's execution latency is recorded when it completes, after its HTTP
            # call is counted: every name asserted below is waited for.
            gc_timed = "mops_gc_pause_seconds_bucket{" in text
            return hubspot_ok and gc_timed and all(f"{name}{{" in text for name in SDK_METRICS) and text

        text = await eventually(scraped, timeout=30, what="SDK and mops metrics on /metrics")
    lines = [line for line in text.splitlines() if line.startswith("mops_platform_requests_total{")]
    assert any('platform="hubspot"' in line and 'outcome="ok"' in line for line in lines), lines
    assert "mops_platform_request_duration_seconds_bucket{" in text
    # The workers' process times its garbage collections (young ones happen all the time).
    gc_lines = [line for line in text.splitlines() if line.startswith("mops_gc_pause_seconds_count{")]
    assert any('generation="0"' in line for line in gc_lines), gc_lines
    # The names the alert rules and the dashboard read (deploy/prometheus/alerts.yml,
    # tests/ops SDK_METRICS): seconds, no unit suffix, on this runtime's endpoint.
    served = {line.split("{")[0] for line in text.splitlines() if line and not line.startswith("#")}
    for name in SDK_METRICS:
        assert name in served, f"{name} not served: {sorted(n for n in served if n.startswith('temporal_'))}"
    assert 'service="mops"' in text


async def webhook_sink():
    received: list[dict] = []
    app = FastAPI()

    @app.post("/alerts")
    async def alerts(request: Request) -> dict:
        received.append({"key": request.headers.get("idempotency-key"), **(await request.json())})
        return {"ok": True}

    return GatewayServer(app), received


async def alerts_posted(stack: Stack, channel: str) -> list[dict]:
    return [e for e in await stack.admin.effects("slack", "chat.post") if e["summary"].get("channel") == channel]


async def test_half_the_calls_failing_raises_one_alert_and_clearing_it_one_recovery(stack: Stack) -> None:
    server, received = await webhook_sink()
    async with server:
        channel = f"#alerts-{uuid.uuid4().hex[:6]}"
        settings = stack.settings.model_copy(
            update={"alert_webhook_url": f"{server.url}/alerts", "alert_chat_channel": channel}
        )
        handle = stack.client.get_workflow_handle_for(IntegrationHealthWorkflow.run, settings.health_registry_id)
        await check_now(stack.client, settings)
        view = await health_state(stack.client, settings)
        assert set(view.platforms) == {
            "hubspot",
            "sendgrid",
            "slack",
            "wordpress",
            "linkedin",
            "ga4",
            "meta",
            "google_ads",
        }
        assert all(h.state == "healthy" for h in view.platforms.values()), view.platforms

        await stack.admin.set_faults("sendgrid", error_rate=0.5, seed=7)
        for _ in range(3):  # three checks in the bad state: still one alert
            await check_now(stack.client, settings)
        view = await health_state(stack.client, settings)
        assert view.platforms["sendgrid"].state == "degraded" and "error rate" in view.platforms["sendgrid"].reason
        assert all(h.state == "healthy" for p, h in view.platforms.items() if p != "sendgrid")
        assert await handle.query(IntegrationHealthWorkflow.degraded) == {"sendgrid": view.platforms["sendgrid"].reason}

        await stack.admin.clear_faults()
        for _ in range(4):
            await check_now(stack.client, settings)

        async def two_notices():
            posts = await alerts_posted(stack, channel)
            return len(posts) == 2 and len(received) == 2 and posts

        await eventually(two_notices, what="one alert and one recovery, on chat and the webhook")
        assert [r["kind"] for r in received] == ["alert", "recovered"]
        assert [r["key"] for r in received] == ["sendgrid-1:alert", "sendgrid-1:recovered"]
        view = await health_state(stack.client, settings)
        assert view.platforms["sendgrid"].state == "healthy"
        assert [(i.id, i.ended is not None) for i in view.incidents] == [("sendgrid-1", True)]
        assert len(await alerts_posted(stack, channel)) == 2, "no storm"


def report_for(platform: str, *, bad: bool) -> HealthReport:
    result = ProbeResult(
        platform=platform, at=datetime.now(UTC), requests=10, failures=10 if bad else 0, latencies_ms=[5.0] * 10
    )
    return HealthReport(check_id=uuid.uuid4().hex, results=[result])


async def test_workflows_hold_on_a_degraded_platform_and_resume_with_one_effect_each(stack: Stack) -> None:
    settings = stack.settings
    await start_registry(stack.client, settings)
    registry = stack.client.get_workflow_handle(settings.health_registry_id)
    await registry.signal("report", report_for("sendgrid", bad=True))

    emails = [f"hold-{i}-{uuid.uuid4().hex[:6]}@acme.example" for i in range(3)]
    for email in emails:
        await stack.leads.capture(build_capture(settings, email=email, source="web_form", consent=True))

    async def held():
        for email in emails:
            desc = await stack.leads.handle(email=email).describe()
            pending = desc.raw_description.pending_activities
            if not any(
                p.activity_type.name == "email.send" and p.attempt >= 2 and "degraded" in p.last_failure.message
                for p in pending
            ):
                return False
        return True

    await eventually(held, timeout=30, what="every welcome email held while sendgrid is degraded")
    sent_before = await stack.admin.effects("sendgrid", "mail.send")

    for _ in range(settings.health_recover_checks):
        await registry.signal("report", report_for("sendgrid", bad=False))

    async def sent_once():
        states = [await stack.leads.state(email=e) for e in emails]
        return all(s.emails_sent >= 1 for s in states) and states

    await eventually(sent_once, timeout=30, what="the held emails sent after recovery")
    sends = await stack.admin.effects("sendgrid", "mail.send")
    new = [e for e in sends if e not in sent_before]
    keys = [e["key"] for e in new]
    assert len(keys) == len(set(keys)) >= 3, "exactly one send per held step"


async def test_graceful_shutdown_completes_the_activity_in_flight(
    dev_env: WorkflowEnvironment, stack: Stack, sandbox
) -> None:
    from tests.conftest import make_settings

    settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host)
    client: Client = dev_env.client
    await stack.admin.set_faults("hubspot", latency_ms=1500, path_prefix="/crm/v3/objects/contacts/batch/upsert")
    email = f"drain-{uuid.uuid4().hex[:6]}@acme.example"
    from starter.service.leads import LeadService

    leads = LeadService(client, settings)
    async with running_workers(client, settings):
        await leads.capture(build_capture(settings, email=email, source="web_form", consent=True))

        async def in_flight():
            desc = await leads.handle(email=email).describe()
            return any(
                p.activity_type.name == "crm.upsert_lead" and p.state == 2  # STARTED
                for p in desc.raw_description.pending_activities
            )

        await eventually(in_flight, what="the CRM upsert in flight")

    # Leaving the block shut the workers down: it waited for the upsert instead of abandoning it.
    # The completion may still be on its way to the server when shutdown returns, so it is
    # waited for; with no worker left, an abandoned or cancelled upsert would never complete.
    async def upsert_events():
        history = await leads.handle(email=email).fetch_history()
        upsert = next(
            e.event_id
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == "crm.upsert_lead"
        )
        mine = [e for e in history.events if _scheduled_event(e) == upsert]
        done = any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED for e in mine)
        assert done, f"the upsert has not completed: {[EventType.Name(e.event_type) for e in mine]}"
        return mine

    events = await eventually(upsert_events, timeout=60, what="the in-flight upsert completed during shutdown")
    started = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert [e.activity_task_started_event_attributes.attempt for e in started] == [1], "no retry was needed"
    await stack.admin.clear_faults()


def _scheduled_event(e) -> int | None:
    """The ActivityTaskScheduled event an activity's started/completed/failed event points at
    (other events point at their own kind of scheduled event, never at an activity's)."""
    kind = e.WhichOneof("attributes")
    return getattr(getattr(e, kind), "scheduled_event_id", None) if kind else None


async def test_mops_health_prints_states_incidents_and_the_report(stack: Stack) -> None:
    import asyncio
    import json

    from typer.testing import CliRunner

    from mops.settings import get_settings
    from starter.cli import app

    s = stack.settings
    env = {
        "MOPS_TEMPORAL_ADDRESS": s.temporal_address,
        "MOPS_HEALTH_REGISTRY_ID": s.health_registry_id,
        "MOPS_HEALTH_TASK_QUEUE": s.health_task_queue,
        "MOPS_WORKFLOW_TASK_QUEUE": s.workflow_task_queue,
    }

    async def cli(*args: str):
        get_settings.cache_clear()
        try:
            return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
        finally:
            get_settings.cache_clear()

    missing = await cli("health")
    assert missing.exit_code == 1 and "no health registry yet" in missing.output
    await stack.admin.set_faults("ga4", rate_limit_next=3, retry_after_s=1)
    result = await cli("health", "--check", "--json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.output)
    assert view["checks"] == 1 and view["platforms"]["hubspot"]["state"] == "healthy"
    report = await cli("health", "--report", "--window", "1h", "--json")
    rows = {r["platform"]: r for r in json.loads(report.output)["platforms"]}
    assert rows["ga4"]["throttle_rate"] == 0.3 and any(
        "MOPS_ANALYTICS_MAX_PER_SECOND" in t for t in rows["ga4"]["suggestions"]
    )
    assert rows["hubspot"]["p50_ms"] is not None and rows["hubspot"]["error_rate"] == 0
    human = await cli("health", "--report")
    assert "Integration report" in human.output and "ga4" in human.output
    bad = await cli("health", "--report", "--window", "soon")
    assert bad.exit_code == 2 and "window:" in bad.output


def probe(platform: str, at: datetime, *, bad: bool = False) -> ProbeResult:
    return ProbeResult(
        platform=platform, at=at, requests=10, failures=10 if bad else 0, latencies_ms=[5.0] * (10 if not bad else 0)
    )


async def test_availability_counts_checks_and_missed_checks_and_pages_a_fast_burn_once(stack: Stack) -> None:
    """The registry counts a minute per scheduled check for each component, each missed check as
    a bad workers minute on its own UTC day, and pages once when the workers' budget burns
    fast; a platform already paged for its incident is not paged again for its budget."""
    suffix = uuid.uuid4().hex[:6]
    settings = stack.settings.model_copy(
        update={"health_registry_id": f"integration-health-av-{suffix}", "alert_chat_channel": f"#av-{suffix}"}
    )
    await start_registry(stack.client, settings)
    registry = stack.client.get_workflow_handle(settings.health_registry_id)
    # The checks' times are data: one a minute from 23:52 to 23:58, then none until 00:03.
    day1 = datetime(2026, 11, 10, 23, 52, tzinfo=UTC)
    times = [day1 + timedelta(minutes=i) for i in range(7)] + [datetime(2026, 11, 11, 0, 3, tzinfo=UTC)]
    for at in times:
        results = [probe("hubspot", at), probe("gateway", at)]
        await registry.signal("report", HealthReport(check_id=uuid.uuid4().hex, results=results))
    # A check by hand counts no minute, and a bad HubSpot minute is paged as its incident.
    hand = HealthReport(check_id=uuid.uuid4().hex, results=[probe("hubspot", times[-1])], measured=False)
    await registry.signal("report", hand)
    bad = times[-1] + timedelta(minutes=1)
    await registry.signal(
        "report",
        HealthReport(check_id=uuid.uuid4().hex, results=[probe("hubspot", bad, bad=True), probe("gateway", bad)]),
    )

    async def counted():
        rows = {a.component: a for a in await health_availability(stack.client, settings, 30)}
        assert rows and rows["workers"].minutes == 13, rows
        return rows

    rows = await eventually(counted, what="the availability of every component")
    assert list(rows) == ["workers", "gateway", "hubspot"]
    workers = rows["workers"]
    # 23:59 missed on the 10th; 00:00, 00:01 and 00:02 on the 11th.
    assert [(d.day, d.minutes, d.bad_minutes) for d in workers.days] == [("2026-11-10", 8, 1), ("2026-11-11", 5, 3)]
    assert workers.bad_minutes == 4 and workers.availability == 9 / 13 and not workers.met
    assert workers.budget_minutes == round(0.001 * 13, 2) and workers.budget_left_minutes == round(0.013 - 4, 2)
    assert rows["gateway"].minutes == 9 and rows["gateway"].bad_minutes == 0 and rows["gateway"].met
    assert rows["hubspot"].minutes == 9 and rows["hubspot"].bad_minutes == 1

    async def paged():
        posts = await alerts_posted(stack, settings.alert_chat_channel)
        return len(posts) == 2 and posts

    posts = await eventually(paged, what="the workers' budget alert and HubSpot's incident alert")
    texts = sorted(p["summary"]["text"] for p in posts)
    assert texts[0].startswith(":fire: workers is burning its error budget fast"), texts
    assert "99.9% objective" in texts[0]
    assert texts[1].startswith(":rotating_light: hubspot is degraded"), texts
    # More bad minutes in the same episode: no second page.
    later = bad + timedelta(minutes=1)
    await registry.signal("report", HealthReport(check_id=uuid.uuid4().hex, results=[probe("gateway", later)]))

    async def last_counted():
        rows = {a.component: a for a in await health_availability(stack.client, settings, 30)}
        return rows["workers"].minutes == 14

    await eventually(last_counted, what="the last check counted")
    # The check's workflow task is done (the query saw it): any notice it made is scheduled.
    history = await registry.fetch_history()
    notices = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == HEALTH_NOTIFY.name
    ]
    assert len(notices) == 2, "one page per episode"
    await registry.terminate("test over")
