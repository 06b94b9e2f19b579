"""An incoming `traceparent` continues through the gateway into the workflow's spans,
and no span attribute carries an address or an unsubscribe token."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from domain.unsubscribe import mint_token
from tests.conftest import eventually
from tests.gateway.conftest import Gateway, unique_email


def attribute_text(span) -> str:
    return " ".join(f"{k}={v}" for k, v in (span.attributes or {}).items()) + " " + span.name


async def test_traceparent_continues_into_the_workflow(gw: Gateway, span_exporter: InMemorySpanExporter) -> None:
    # The caller's side: a span of its own; its (instrumented) httpx client sends `traceparent`.
    email = unique_email()
    with trace.get_tracer("caller").start_as_current_span("caller: capture lead") as caller:
        trace_id = format(caller.get_span_context().trace_id, "032x")
        r = await gw.http.post(
            "/v1/leads", json={"email": email, "source": "web_form", "consent": True}, headers=gw.auth("ingest")
        )
    assert r.status_code == 200, r.text
    lead_id = r.json()["lead_id"]

    def ours():
        return [s for s in span_exporter.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id]

    async def reached_workflow():
        names = [s.name for s in ours()]
        return any(n.startswith("RunWorkflow:LeadJourney") for n in names) and names

    names = await eventually(reached_workflow, what="workflow spans in the caller's trace")
    server = next(s for s in ours() if s.name == "POST /v1/leads")
    assert server.parent is not None and server.parent.is_remote, "the gateway continued the incoming trace"
    assert any(n.startswith("RunActivity:") for n in names) or len(names) > 2
    for span in ours():
        assert email not in attribute_text(span) and email.split("@")[0] not in attribute_text(span), span.name

    # The unsubscribe token is a credential: it never reaches a span, only the route template does.
    token = mint_token(gw.settings.gateway_unsubscribe_secret.get_secret_value(), lead_id)
    r = await gw.http.post(
        f"/v1/unsubscribe/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    # An address put in a path or query is redacted too.
    await gw.http.get(f"/v1/leads/{email}", params={"who": email}, headers=gw.auth("reader"))

    async def server_spans():
        spans = [
            s
            for s in span_exporter.get_finished_spans()
            if (s.attributes or {}).get("http.route") in ("/v1/unsubscribe/{token}", "/v1/leads/{lead_id}")
        ]
        return len(spans) >= 2 and spans

    for span in await eventually(server_spans, what="the server spans"):
        text = attribute_text(span)
        assert token not in text and token.split(".")[1] not in text and email not in text, text
