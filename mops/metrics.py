"""Metrics: the Temporal SDK's own metrics and mops' metrics through one Temporal Runtime.

Export: OTLP to `MOPS_OTLP_METRICS_ENDPOINT` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) when set,
else a Prometheus endpoint on `MOPS_METRICS_HOST:MOPS_METRICS_PORT` (`/metrics`).

mops metrics (names as Prometheus shows them; counters get `_total`):
- `mops_platform_requests_total{platform, outcome}`: every platform HTTP call, outcome
  ok / rate_limited / rejected / unavailable / network_error.
- `mops_platform_request_duration_seconds{platform}`: their latency (histogram).
- `mops_rate_limited_total{platform}`: 429s and platform throttling answers.
- `mops_platform_degraded_holds_total{platform}`: activities held because the platform is degraded.
- `mops_emails_sent_total{kind}`: journey emails and campaign sends handed to the email platform
  (emitted by activities/email.py on the activity's meter).
- `mops_gc_pause_seconds{generation}`: how long each garbage collection stopped the worker
  process (histogram; workers/gc_pauses.py): the oldest generation's walk grows with the
  workflow cache, and every task waits while it runs.
- `mops_leads{stage}`, `mops_approvals_waiting{kind}`, `mops_approval_age_seconds{kind}`:
  gauges read from Temporal visibility by the integration health check every minute.

The names are Prometheus-style (underscores, unit in the name) rather than dotted OTel
names because Temporal's Prometheus exporter accepts no dots; units are UCUM (`s`, `{request}`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from temporalio.common import MetricMeter
from temporalio.runtime import OpenTelemetryConfig, PrometheusConfig, Runtime, TelemetryConfig

from mops.settings import Settings

log = logging.getLogger("mops.metrics")


def build_runtime(settings: Settings) -> Runtime:
    """A Runtime that exports SDK and mops metrics (one per process)."""
    endpoint = settings.otlp_metrics_endpoint
    metrics: OpenTelemetryConfig | PrometheusConfig
    if endpoint:
        metrics = OpenTelemetryConfig(url=endpoint, durations_as_seconds=True)
    else:
        metrics = PrometheusConfig(
            bind_address=f"{settings.metrics_host}:{settings.metrics_port}",
            counters_total_suffix=True,
            unit_suffix=False,
            durations_as_seconds=True,
        )
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=metrics, global_tags={"service": "mops"}))
    except ValueError as err:  # e.g. the port is taken: run the workers anyway, without metrics
        log.error("metrics disabled: %s (set MOPS_METRICS_PORT to a free port)", err)
        return Runtime(telemetry=TelemetryConfig())


@dataclass
class MopsMetrics:
    """mops' own instruments on a Runtime's meter (no-op meter: nothing exported)."""

    meter: MetricMeter

    def __post_init__(self) -> None:
        m = self.meter
        self._requests = m.create_counter("mops_platform_requests", "Platform API calls by outcome", "{request}")
        self._duration = m.create_histogram_float(
            "mops_platform_request_duration_seconds", "Platform API call latency", "s"
        )
        self._rate_limited = m.create_counter("mops_rate_limited", "Platform throttling answers", "{response}")
        self._holds = m.create_counter(
            "mops_platform_degraded_holds", "Activities held because their platform is degraded", "{activity}"
        )
        pauses = m.create_histogram_float(
            "mops_gc_pause_seconds", "Time each garbage collection stopped the worker process", "s"
        )
        # Bound once per generation: recorded on every collection, a few hundred a second.
        self._gc_pauses = [pauses.with_additional_attributes({"generation": str(g)}) for g in range(3)]
        self._leads = m.create_gauge("mops_leads", "Open lead journeys by stage", "{lead}")
        self._waiting = m.create_gauge("mops_approvals_waiting", "Items waiting for an approval", "{item}")
        self._age = m.create_gauge_float(
            "mops_approval_age_seconds", "Age of the oldest item waiting for an approval", "s"
        )

    def platform_call(self, platform: str, outcome: str, seconds: float) -> None:
        self._requests.add(1, {"platform": platform, "outcome": outcome})
        self._duration.record(seconds, {"platform": platform})
        if outcome == "rate_limited":
            self._rate_limited.add(1, {"platform": platform})

    def degraded_hold(self, platform: str) -> None:
        self._holds.add(1, {"platform": platform})

    def gc_pause(self, generation: int, seconds: float) -> None:
        self._gc_pauses[generation].record(seconds)

    def leads(self, counts: dict[str, int]) -> None:
        for stage, n in counts.items():
            self._leads.set(n, {"stage": stage})

    def approvals(self, waiting: dict[str, int], oldest_age_s: dict[str, float]) -> None:
        for kind, n in waiting.items():
            self._waiting.set(n, {"kind": kind})
            self._age.set(oldest_age_s.get(kind, 0.0), {"kind": kind})
