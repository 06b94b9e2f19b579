"""Integration health rules: what makes a check bad, hysteresis (one alert, one
recovery), and the report with its suggestions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.health import HealthPolicy, PlatformHealth, ProbeResult, percentile, problem, report, step

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
POLICY = HealthPolicy(max_error_rate=0.3, max_latency_ms=2000, recover_checks=2)


def result(
    minute: int = 0,
    *,
    failures: int = 0,
    throttled: int = 0,
    auth: bool = False,
    ms: float = 40,
    headroom: float | None = 0.9,
) -> ProbeResult:
    return ProbeResult(
        platform="sendgrid",
        at=T0 + timedelta(minutes=minute),
        requests=10,
        failures=failures,
        rate_limited=throttled,
        auth_failed=auth,
        latencies_ms=[ms] * 10,
        headroom=headroom,
        last_error="500" if failures else None,
    )


def test_what_makes_a_check_bad() -> None:
    assert problem(result(), POLICY) is None
    assert problem(result(failures=2), POLICY) is None, "20% is under the 30% threshold"
    assert problem(result(failures=3), POLICY) == "error rate 30% (3/10 probes failed)"
    assert problem(result(ms=2500), POLICY) == "median latency 2500 ms over 2000 ms"
    assert problem(result(auth=True), POLICY).startswith("authentication failing")
    assert problem(result(throttled=5), POLICY) is None, "throttling is headroom, not an outage"


def test_one_alert_then_one_recovery_after_two_good_checks() -> None:
    h, transitions = PlatformHealth(platform="sendgrid"), []
    # bad, bad, good, bad (flap), good, good, good, bad
    for minute, fails in enumerate([5, 6, 0, 4, 0, 0, 0, 5]):
        h, t = step(h, result(minute, failures=fails), POLICY, incident_id=f"sendgrid-{minute}")
        transitions.append(t)
    assert transitions == ["alert", None, None, None, None, "recovered", None, "alert"]
    assert h.state == "degraded" and h.incident_id == "sendgrid-7" and h.since == T0 + timedelta(minutes=7)


def test_report_percentiles_rates_and_suggestions() -> None:
    samples = [
        result(
            m,
            failures=1 if m % 2 else 0,
            throttled=1 if m == 3 else 0,
            ms=50 + m * 10,
            headroom=0.05 if m == 3 else 0.8,
        )
        for m in range(6)
    ]
    old = result(-120, failures=10)
    r = report("sendgrid", [old, *samples], since=T0, policy=POLICY)
    assert r.checks == 6 and r.requests == 60
    assert r.p50_ms == 70 and r.p95_ms == 100
    assert r.error_rate == 3 / 60 and r.throttle_rate == 1 / 60 and r.min_headroom == 0.05
    assert any("MOPS_EMAIL_MAX_PER_SECOND" in s for s in r.suggestions)
    quiet = report("sendgrid", [result(m, headroom=None) for m in range(3)], since=T0, policy=POLICY)
    assert quiet.suggestions == []


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3, 1, 2, 4], 50) == 2 and percentile([3, 1, 2, 4], 95) == 4 and percentile([7], 99) == 7


def test_every_rate_setting_named_in_suggestions_exists() -> None:
    from domain.health import RATE_SETTING
    from mops.settings import Settings

    fields = {f"MOPS_{name.upper()}" for name in Settings.model_fields}
    assert set(RATE_SETTING.values()) <= fields
