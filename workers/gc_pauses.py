"""The garbage collector's pauses in a worker process: timed, exported, and named in the log.

A collection of the oldest generation walks every object the process holds, and in a
worker most of them belong to the workflow cache: each cached run keeps its own module,
state and tasks. The collector holds the GIL while it walks, so every workflow task and
activity in the process waits, and a workflow task that was running when the collection
started can fail the SDK's deadlock check ("didn't yield within 2 second(s)"; the server
retries it). With 5,000 runs cached such a pause lasted seconds and came every few minutes
(bench/RESULTS.md, the list import of 2026-12-04), which nothing in the process showed.

`watching_gc_pauses(record, held=...)` times each collection through `gc.callbacks` and
hands its generation and seconds to `record` (a worker passes `MopsMetrics.gc_pause`, the
histogram `mops_gc_pause_seconds{generation}`). A pause of `SLOW_PAUSE_S` or more is also
logged, with what the process was holding (`held`, e.g. the workflow cache's size), so an
operator reading a stall in the latency sees its cause on the same minute.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterator

log = logging.getLogger("mops.worker.gc")

SLOW_PAUSE_S = 1.0

Record = Callable[[int, float], None]


class GcPauses:
    """A `gc.callbacks` callback: the time from each collection's start to its stop."""

    def __init__(
        self,
        record: Record,
        *,
        held: str = "",
        slow_s: float = SLOW_PAUSE_S,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._record = record
        self._held = held
        self._slow_s = slow_s
        self._clock = clock
        self._started: float | None = None

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = self._clock()
            return
        if self._started is None:  # installed while a collection ran
            return
        seconds = self._clock() - self._started
        self._started = None
        generation = info["generation"]
        self._record(generation, seconds)
        if seconds >= self._slow_s:
            # Once per slow pause, which are rare by nature: the collector is not reentrant,
            # so this logging cannot start another collection.
            log.warning(
                "garbage collection of generation %d stopped every workflow task and activity of this "
                "process for %.1f s (%d objects freed, %d frozen out of the scan)%s",
                generation,
                seconds,
                info.get("collected", 0),
                gc.get_freeze_count(),
                f"; holding {self._held}" if self._held else "",
            )


@contextlib.contextmanager
def watching_gc_pauses(record: Record, *, held: str = "", slow_s: float = SLOW_PAUSE_S) -> Iterator[GcPauses]:
    """Time this process's collections while the block runs."""
    watch = GcPauses(record, held=held, slow_s=slow_s)
    gc.callbacks.append(watch)
    try:
        yield watch
    finally:
        gc.callbacks.remove(watch)
