"""`mops replay`: a live run fetched from the server replays against this code, and a
code change that would break runs in flight is reported with its first differing command
and exit 1, before anything is deployed."""

from __future__ import annotations

import json
import uuid

import pytest
from temporalio.worker import Worker

import workers.main
from starter.service.leads import build_capture
from tests.conftest import eventually
from tests.e2e.conftest import Stack
from tests.e2e.replay_probe import ProbeAsChanged, ProbeAsDeployed
from tests.e2e.test_cli import run_cli


async def test_a_running_journey_replays_against_this_code(stack: Stack) -> None:
    email = f"replay.{uuid.uuid4().hex[:8]}@acme.example"
    res = await stack.leads.capture(build_capture(stack.settings, email=email, source="web_form", consent=True))
    await eventually(lambda: _emails(stack, email), what="the welcome email")

    one = await run_cli(stack, "replay", res.workflow_id)
    assert one.exit_code == 0, one.output
    assert f"LeadJourney {res.workflow_id}" in one.output and ": replays" in one.output

    query = f"WorkflowId = '{res.workflow_id}' OR WorkflowId = 'contact-sync-{res.lead_id}'"
    many = await run_cli(stack, "replay", "--query", query, "--json")
    assert many.exit_code == 0, many.output
    report = json.loads(many.output)
    assert report["broken"] == 0
    assert sorted(r["workflow_type"] for r in report["runs"]) == ["ContactSync", "LeadJourney"]
    assert all(r["ok"] and r["events"] > 3 for r in report["runs"])


async def _emails(stack: Stack, email: str) -> bool:
    return (await stack.leads.state(email=email)).emails_sent >= 1


async def test_a_change_that_breaks_runs_in_flight_is_reported(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = f"replay-probe-{uuid.uuid4().hex[:6]}"
    async with Worker(stack.client, task_queue=queue, workflows=[ProbeAsDeployed]):
        wf_id = f"replay-probe-{uuid.uuid4().hex[:6]}"
        await stack.client.execute_workflow(ProbeAsDeployed.run, id=wf_id, task_queue=queue)

    monkeypatch.setattr(workers.main, "WORKFLOWS", [ProbeAsDeployed])
    same = await run_cli(stack, "replay", wf_id)
    assert same.exit_code == 0, same.output

    monkeypatch.setattr(workers.main, "WORKFLOWS", [ProbeAsChanged])
    changed = await run_cli(stack, "replay", wf_id)
    assert changed.exit_code == 1, changed.output
    assert f"ReplayProbe {wf_id}" in changed.output and "does not replay" in changed.output
    assert "Nondeterminism" in changed.output and "0 of 1 run(s) replay" in changed.output
    assert "Traceback" not in changed.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "error: replay: give a WORKFLOW_ID or --query"),
        (["x", "--query", "WorkflowType = 'LeadJourney'"], 2, "error: replay: give a WORKFLOW_ID or --query"),
        (["--query", "WorkflowType = 'LeadJourney'", "--run-id", "r"], 2, "error: run_id:"),
        (["no-such-workflow-anywhere"], 1, "error: workflow_id: no workflow 'no-such-workflow-anywhere'"),
        (["--query", "NoSuchField = 1"], 2, "error: query:"),
    ],
)
async def test_bad_replay_input_is_one_line(stack: Stack, args: list[str], code: int, message: str) -> None:
    result = await run_cli(stack, "replay", *args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == code and len(lines) == 1 and lines[0].startswith(message), result.output
