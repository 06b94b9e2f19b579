"""OpenTelemetry set-up shared by the CLI, workers, gateway and sandbox clients.

One trace runs from the CLI's start/signal through the workflow, each activity and
the outgoing HTTP call (Temporal's TracingInterceptor on the client, httpx
instrumentation in the activities). Spans are exported over OTLP only when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise an SDK provider still creates real
span contexts (so ids propagate) and nothing is printed.
"""

from __future__ import annotations

import os
import re

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanProcessor

_EMAIL = re.compile(r"[^/?&=\s@]+(@|%40)[^/?&=\s]+", re.IGNORECASE)
_configured = False


def redact(text: str) -> str:
    """Replace anything shaped like an email address (raw or %-encoded)."""
    return _EMAIL.sub("[redacted]", text)


def _scrub_http_span(span, request) -> None:
    # Some platform endpoints carry the address in the path or query (SendGrid
    # suppressions, Slack users.lookupByEmail); spans must never hold it.
    if span is None or not span.is_recording():
        return
    url = redact(str(request.url if hasattr(request, "url") else request[1]))
    for attribute in ("url.full", "http.url"):
        span.set_attribute(attribute, url)


def setup_tracing(service_name: str, *, extra_processor: SpanProcessor | None = None) -> TracerProvider:
    """Install the tracer provider once per process and instrument httpx."""
    global _configured
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(
            resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
        )
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    if not _configured:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument(request_hook=_scrub_http_span, async_request_hook=_async_scrub)
        _configured = True
    return provider


async def _async_scrub(span, request) -> None:
    _scrub_http_span(span, request)


def tracer():
    return trace.get_tracer("mops")


__all__ = ["setup_tracing", "redact", "tracer"]
