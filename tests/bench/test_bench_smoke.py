"""The benchmark scripts stay runnable: each answers --help, the pairing of clicks with
emails and of captures with welcome emails is right, and two scripts run end to end on a
real stack in a few seconds (no figures asserted: speed is measured by bench/, never by
tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import lead_capture  # noqa: E402
import lib  # noqa: E402

SCRIPTS = [
    "event_latency.py",
    "platform_ops.py",
    "open_journeys.py",
    "timers.py",
    "gateway_latency.py",
    "tuning_ablation.py",
    "bulk_send.py",
    "lead_import.py",
    "lead_capture.py",
    "worker_proc.py",
    "plain_worker.py",
    "sandbox_proc.py",
]


def test_every_script_answers_help() -> None:
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(BENCH / name), "--help"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for name in SCRIPTS
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"{name} --help: {err[-500:]}"
        assert "usage:" in out, name


def test_clicks_pair_with_the_emails_they_caused() -> None:
    run = lib.EventRun()
    run.sent["aa"] = [10.0, 20.0, 30.0]  # the third click got no email
    run.sent["bb"] = [11.0]

    def email(lead: str, step: str, at: str) -> dict:
        # As the sandbox records a journey email: keyed by its message id, the lead and the
        # step in the custom args.
        args = {"mops_lead_id": lead, "mops_step": step}
        return {"key": "k2Qx9mQwTqKz1aB3cD4eF5", "at": f"1970-01-01T00:00:{at}Z", "summary": {"custom_args": args}}

    effects = [
        email("aa", "follow-up", "10.250"),
        email("aa", "follow-up", "21.000"),
        email("bb", "follow-up", "11.040"),
        email("bb", "other-step", "12.000"),
        {"key": "m", "at": "1970-01-01T00:00:10.500Z", "summary": {"custom_args": {}}},  # not a journey's
    ]
    paired = lib.pair_actions(run, effects)
    assert sorted(round(lat, 3) for _, lat in paired["latencies"]) == [0.04, 0.25, 1.0]
    assert paired["unanswered"] == [30.0]
    s = lib.stats([1000.0, 40.0, 250.0])
    assert (s["p50"], s["max"], s["avg"]) == (250.0, 1000.0, pytest.approx(430.0))
    s = lib.stats([40.0, 250.0], missing=1)  # a click never answered counts as infinitely late
    assert (s["n"], s["p99"], s["avg"]) == (3, float("inf"), pytest.approx(145.0))


def test_one_script_runs_end_to_end(tmp_path: Path) -> None:
    env = {**__import__("os").environ, "MOPS_BENCH_SETTLE_LIMIT": "0"}
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "event_latency.py"),
            "--configs",
            "mops",
            "--leads",
            "2",
            "--rate",
            "2",
            "--seconds",
            "1",
            "--warmup",
            "0",
            "--no-results",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| mops | 2 | 0 |" in proc.stdout  # two clicks measured, each answered by its email (latency not asserted)


def test_captures_pair_with_their_first_email_and_duplicates_are_counted() -> None:
    step = lead_capture.Step("plain", rate=1.0, seconds=3.0)
    step.scheduled = {"a@x.example": 10.0, "b@x.example": 11.0, "c@x.example": 12.0}
    arrivals = {"a@x.example": [10.25, 10.5], "b@x.example": [11.04], "z@x.example": [12.0]}
    cpu = {"cores": {"server": 0.5, "worker": 0.25, "sandbox": 0.0}, "wall_s": 6.0, "busy_pct": 50.0}
    r = lead_capture.summarize(step, arrivals, cpu)
    assert (r["emails"], r["missing"], r["dupes"], r["ok"]) == (2, 1, 1, False)  # c got none, a got two
    assert r["lat"]["p50"] == pytest.approx(250.0) and r["lat"]["p99"] == float("inf")
    assert r["cpu_s_per_lead"]["server"] == pytest.approx(1.0)  # 0.5 cores × 6 s ÷ 3 leads
    steps = [{"step": lead_capture.Step("m", r_, 1.0), "ok": ok} for r_, ok in ((5, True), (10, True), (20, False))]
    assert lead_capture.max_rate(steps) == 10


def test_lead_capture_runs_both_configurations_end_to_end(tmp_path: Path) -> None:
    env = {**__import__("os").environ, "MOPS_BENCH_SETTLE_LIMIT": "0"}
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "lead_capture.py"),
            "--rates",
            "2",
            "--seconds",
            "1",
            "--leads-per-count",
            "1",
            "--drain",
            "120",  # a loaded machine delays the emails, never loses them
            "--warmup",
            "0.5",  # one unrecorded lead per configuration
            "--no-results",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("mops", "plain"):
        assert f"| {name} | 2 | 2 | 2 | 0 | 0 |" in proc.stdout, proc.stdout  # both leads emailed, once each
        assert f"{name}: workflow tasks per lead until the first email" in proc.stdout
    assert "history events per lead" in proc.stdout


def test_history_counts_stop_at_the_task_that_handled_the_email() -> None:
    from temporalio.api.enums.v1 import EventType as T
    from temporalio.api.history.v1 import HistoryEvent

    def ev(n: int, kind: int, **attrs) -> HistoryEvent:
        return HistoryEvent(event_id=n, event_type=kind, **attrs)

    sched = T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    events = [
        ev(1, T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
        ev(2, T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        ev(3, sched, activity_task_scheduled_event_attributes={"activity_type": {"name": "crm"}}),
        ev(4, T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, activity_task_completed_event_attributes={"scheduled_event_id": 3}),
        ev(5, T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        ev(6, sched, activity_task_scheduled_event_attributes={"activity_type": {"name": "send"}}),
        ev(7, T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, activity_task_completed_event_attributes={"scheduled_event_id": 6}),
        ev(8, T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        ev(9, T.EVENT_TYPE_TIMER_STARTED),  # after the email: not counted
        ev(10, T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    ]
    assert lead_capture.count_events(events, "send") == (3, 8)
    assert lead_capture.count_events(events, None) == (4, 10)  # a whole history (the contact sync)
    assert lead_capture.count_events(events[:6], "send") is None  # no email yet
