"""The `mops` CLI: bad input is one line and starts nothing; a capture is one
trace from the command through the workflow and activity to the HTTP call."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner

from mops.settings import get_settings
from starter.cli import app
from tests.conftest import eventually
from tests.e2e.conftest import Stack


def cli_env(stack: Stack) -> dict[str, str]:
    s = stack.settings
    return {
        "MOPS_TEMPORAL_ADDRESS": s.temporal_address,
        "MOPS_HUBSPOT_BASE_URL": s.hubspot_base_url,
        "MOPS_WORKFLOW_TASK_QUEUE": s.workflow_task_queue,
        "MOPS_CRM_TASK_QUEUE": s.crm_task_queue,
        "MOPS_EMAIL_TASK_QUEUE": s.email_task_queue,
        "MOPS_CHAT_TASK_QUEUE": s.chat_task_queue,
        # The capturing process resolves the journey a new run pins: the CLI reads the
        # same (daytime) journeys as the stack's workers, or its welcome waits for morning.
        "MOPS_JOURNEYS_DIR": str(s.journeys_dir),
    }


async def run_cli(stack: Stack, *args: str):
    """Invoke the CLI as a user would (in a thread: it runs its own event loop)."""
    get_settings.cache_clear()
    try:
        return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=cli_env(stack))
    finally:
        get_settings.cache_clear()


async def lead_count(stack: Stack) -> int:
    return (await stack.client.count_workflows("WorkflowType = 'LeadJourney'")).count


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "not-an-email", "--source", "web_form", "--consent"], "email:"),
        (["--email", "a@b.example", "--source", "carrier_pigeon", "--consent"], "source:"),
        (["--email", "a@b.example", "--source", "web_form"], "consent:"),
        (["--email", "a@b.example", "--source", "web_form", "--consent", "--country", "Germany"], "country:"),
        (["--email", "a@b.example", "--source", "web_form", "--consent", "--timezone", "Mars/Olympus"], "timezone:"),
        (["--email", "a@b.example", "--source", "web_form", "--consent", "--journey", "nope"], "journey:"),
    ],
)
async def test_bad_capture_is_refused_and_starts_nothing(stack: Stack, args: list[str], message: str) -> None:
    before = await lead_count(stack)
    result = await run_cli(stack, "lead", "capture", *args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert "Traceback" not in result.output
    assert await lead_count(stack) == before
    if message != "email:":  # the id is derivable: no workflow exists under it
        with pytest.raises(RPCError) as err:
            await stack.client.get_workflow_handle(stack.leads.workflow_id(email=args[1])).describe()
        assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_event_for_unknown_lead_is_one_line(stack: Stack) -> None:
    result = await run_cli(
        stack, "lead", "event", "--email", f"ghost.{uuid.uuid4().hex[:6]}@x.example", "--type", "click"
    )
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: lead: no running journey")


async def test_trace_connects_cli_workflow_activity_and_http(stack: Stack, span_exporter: InMemorySpanExporter) -> None:
    email = f"trace.{uuid.uuid4().hex[:8]}@smallshop.example"
    span_exporter.clear()
    result = await run_cli(
        stack,
        "lead",
        "capture",
        "--email",
        email,
        "--source",
        "web_form",
        "--consent",
        "--first-name",
        "Tracy",
        "--json",
    )
    assert result.exit_code == 0, result.output

    def spans_of(trace_id: int) -> list:
        return [s for s in span_exporter.get_finished_spans() if s.context.trace_id == trace_id]

    async def traced():
        roots = [s for s in span_exporter.get_finished_spans() if s.name == "mops lead capture"]
        assert roots, "no CLI span"
        names = [s.name for s in spans_of(roots[0].context.trace_id)]
        assert any(n.startswith("RunActivity:email.send") for n in names), names
        assert any(n.startswith("POST") for n in names), names
        return roots[0].context.trace_id

    trace_id = await eventually(traced, what="the whole trace")
    spans = spans_of(trace_id)
    names = [s.name for s in spans]
    for expected in (
        "StartUpdateWithStartWorkflow:LeadJourney",
        "RunWorkflow:LeadJourney",
        "StartActivity:crm.upsert_lead",
        "RunActivity:crm.upsert_lead",
    ):
        assert any(n.startswith(expected) for n in names), (expected, names)
    http = [s for s in spans if s.attributes.get("http.request.method") or s.attributes.get("http.method")]
    urls = [str(s.attributes.get("url.full") or s.attributes.get("http.url")) for s in http]
    assert any("/crm/v3/objects/contacts/batch/upsert" in u for u in urls), urls
    assert any("/v3/mail/send" in u for u in urls), urls
    # No personal data in any span of the trace: not the address, not the name.
    for s in spans:
        blob = f"{s.name} {dict(s.attributes or {})} {[e.attributes for e in s.events]}"
        assert email not in blob and email.split("@")[0] not in blob and "Tracy" not in blob, s.name
