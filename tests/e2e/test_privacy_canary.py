"""Canary: leads with marker addresses and names go through every workflow that handles
a lead (journey to sales hand-off and opt-out, owner router, contact sync, erasure,
reconciliation and compliance check); then everything Temporal keeps or mops emits is
searched for the marker without the codec: histories, workflow ids, search attributes,
memos, summaries, exported spans and logs. Zero hits. With the codec (and through the
codec server, as the `temporal` CLI uses it) the marker is there: the search can find it."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import subprocess
import uuid

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.converter import WorkflowSerializationContext
from temporalio.testing import WorkflowEnvironment

from domain.consent import Purpose
from domain.leads import EventType, LeadStage
from gateway.server import GatewayServer
from mops.codec_server import create_codec_app
from sandbox.server import SandboxServer
from starter.service.leads import build_event
from tests.conftest import binary
from tests.privacy.stack import capture, privacy_stack, stage, synced

MARK = "zq" + uuid.uuid4().hex[:12]  # "zq" keeps it from ever looking like hex ids or ciphertext


def span_text(span) -> str:
    parts = [span.name, repr(dict(span.attributes or {})), repr(dict(span.resource.attributes))]
    parts += [f"{e.name} {dict(e.attributes or {})}" for e in span.events]
    parts += [f"{link.context} {dict(link.attributes or {})}" for link in span.links]
    return " ".join(parts)


async def test_no_plaintext_personal_data_anywhere(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, span_exporter: InMemorySpanExporter, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    spans_before = len(span_exporter.get_finished_spans())
    hot = f"{MARK}.hot@acme.example"
    erased = f"{MARK}.erased@globex.example"
    async with privacy_stack(dev_env, sandbox) as stack:
        # A hot lead: captured with names, engages, handed to sales (owner router), gives ad
        # consent (audience), then opts out from one channel: it reaches every platform.
        res = await capture(
            stack, hot, first_name=f"{MARK}first", last_name=f"{MARK}last", company=f"{MARK}co", country="DE"
        )
        await stage(stack, hot, LeadStage.NURTURING)
        for kind in (EventType.FORM, EventType.REPLY, EventType.CLICK):
            await stack.leads.record_event(build_event(type=kind, detail=f"https://acme.example/?u={MARK}"), email=hot)
        await stage(stack, hot, LeadStage.SALES_ASSIGNED)
        await stack.privacy.grant(email=hot, purpose=Purpose.AD_AUDIENCES, source="canary")
        await stack.privacy.opt_out(email=hot, source="canary")
        await stage(stack, hot, LeadStage.UNSUBSCRIBED)
        await synced(stack, res.lead_id, lambda v: v.consent.granted(Purpose.AD_AUDIENCES) is False)
        # A second lead is erased; both kinds of reconciliation run over everyone.
        gone = await capture(stack, erased, first_name=f"{MARK}erased")
        await synced(stack, gone.lead_id)
        await stack.privacy.erase(erased, requested_by="canary", reason="canary test")
        await stack.privacy.reconcile("data")
        await stack.privacy.reconcile("compliance")

        client = stack.client
        query = f"TaskQueue = '{stack.settings.workflow_task_queue}'"
        runs = [wf async for wf in client.list_workflows(query)]
        types = {wf.workflow_type for wf in runs}
        assert {"LeadJourney", "OwnerRouter", "ContactSync", "LeadErasure", "Reconciliation"} <= types, types
        assert len({wf.id for wf in runs}) >= 7

        # --- without the codec: nothing ---------------------------------------------------------
        hits = []
        for wf in runs:
            handle = client.get_workflow_handle(wf.id, run_id=wf.run_id)
            history = await handle.fetch_history()
            raw = b"".join(e.SerializeToString() for e in history.events)  # every string and payload, verbatim
            description = (await handle.describe()).raw_description.SerializeToString()  # SAs, memo, summaries
            for what, blob in (
                ("history", raw),
                ("history json", history.to_json().encode()),
                ("description", description),
                ("id", wf.id.encode()),
                ("search attributes", repr(wf.search_attributes).encode()),
            ):
                if MARK.encode() in blob.lower():
                    hits.append(f"{wf.workflow_type} {wf.id}: {what}")
        spans = span_exporter.get_finished_spans()[spans_before:]
        assert len(spans) > 20, "the test exported spans to look at"
        hits += [f"span {s.name}" for s in spans if MARK in span_text(s).lower()]
        assert len(caplog.records) > 0
        hits += [f"log {r.name}: {r.levelname}" for r in caplog.records if MARK in r.getMessage().lower()]
        assert hits == [], hits

        # --- with the codec: the marker is there (the search above could have found it) --------
        journey = client.get_workflow_handle(res.workflow_id)
        history = await journey.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes.input
        decoded = await client.data_converter.with_context(_context(res.workflow_id)).decode(started.payloads)
        assert MARK in repr(decoded[0])

        # ... and an operator reads it with the `temporal` CLI through the codec server.
        settings = stack.settings
        async with GatewayServer(create_codec_app(settings)) as codec:
            shown = await _temporal_show(
                settings.temporal_address, res.workflow_id, codec.url, settings.codec_server_token.get_secret_value()
            )
            plain = await _temporal_show(settings.temporal_address, res.workflow_id, None, None)
        assert MARK in _payload_text(shown).lower(), "the codec server decodes for the CLI"
    assert MARK not in _payload_text(plain).lower() and MARK not in plain.lower()


def _payload_text(history_json: str) -> str:
    """Every payload's data in a `temporal workflow show --output json` history, decoded from base64."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("data"), str) and "metadata" in node:
                found.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    assert found, "the history has payloads"
    return "\n".join(found)


def _context(workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)


async def _temporal_show(address: str, workflow_id: str, codec_url: str | None, token: str | None) -> str:
    cmd = [
        binary("temporal"),
        "workflow",
        "show",
        "--workflow-id",
        workflow_id,
        "--address",
        address,
        "--output",
        "json",
    ]
    if codec_url:
        cmd += ["--codec-endpoint", codec_url, "--codec-auth", f"Bearer {token}"]

    def run() -> str:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-500:]
        return done.stdout

    return await asyncio.to_thread(run)
