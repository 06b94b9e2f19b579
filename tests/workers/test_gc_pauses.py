"""The worker's garbage-collection pauses: each timed with its generation, a slow one logged."""

from __future__ import annotations

import gc
import logging

import pytest

from workers.gc_pauses import GcPauses, watching_gc_pauses


def test_each_collection_is_timed_with_its_generation_while_watched() -> None:
    pauses: list[tuple[int, float]] = []
    with watching_gc_pauses(lambda generation, seconds: pauses.append((generation, seconds))):
        gc.collect(0)
        gc.collect(2)
    assert {g for g, _ in pauses} >= {0, 2} and all(s >= 0 for _, s in pauses), pauses
    assert any(g == 2 and s > 0 for g, s in pauses), pauses
    seen = len(pauses)
    gc.collect()
    assert len(pauses) == seen  # no longer watched


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_slow_pause_is_logged_with_what_the_process_held(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    pauses: list[tuple[int, float]] = []
    watch = GcPauses(lambda g, s: pauses.append((g, s)), held="a workflow cache of up to 5000 runs", clock=clock)
    caplog.set_level(logging.WARNING, logger="mops.worker.gc")

    watch("start", {"generation": 0})
    clock.now += 0.002
    watch("stop", {"generation": 0, "collected": 3})
    assert caplog.records == []  # a young collection's two milliseconds are only counted

    watch("start", {"generation": 2})
    clock.now += 4.8
    watch("stop", {"generation": 2, "collected": 1200})
    assert pauses == [(0, pytest.approx(0.002)), (2, pytest.approx(4.8))]
    [line] = [r.getMessage() for r in caplog.records]
    assert "generation 2" in line and "for 4.8 s" in line and "1200 objects freed" in line
    assert line.endswith("holding a workflow cache of up to 5000 runs")


def test_a_stop_without_its_start_records_nothing() -> None:
    pauses: list[tuple[int, float]] = []
    GcPauses(lambda g, s: pauses.append((g, s)))("stop", {"generation": 1, "collected": 0})
    assert pauses == []
