"""Shared webhook plumbing: timestamp window, replay cache, refusals."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from gateway.errors import ApiError


class ReplayCache:
    """Bounded memory of recently seen keys (signatures, event ids), each kept `ttl` seconds.

    Per process: with several gateway replicas a replay can reach another one, which is
    why signatures also carry a timestamp window and the workflows dedupe by event id."""

    def __init__(self, max_size: int, ttl: float, clock=time.monotonic) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._max, self._ttl, self._clock = max_size, ttl, clock
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at <= self._ttl and len(self._seen) <= self._max:
                break
            self._seen.popitem(last=False)

    def seen(self, key: str) -> bool:
        with self._lock:
            now = self._clock()
            self._expire(now)
            return key in self._seen

    def add(self, key: str) -> bool:
        """Remember `key`; False if it was already there (a replay)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if key in self._seen:
                return False
            self._seen[key] = now
            self._expire(now)
            return True


def check_fresh(timestamp: str | None, *, header: str, tolerance: float, unit: float = 1.0) -> float:
    """The timestamp in seconds, if within `tolerance` of now (unit: 1 for seconds, 1000 for ms)."""
    if not timestamp:
        raise ApiError(401, "missing_signature", f"{header}: missing")
    try:
        at = int(timestamp) / unit
    except ValueError:
        raise ApiError(401, "invalid_timestamp", f"{header}: not a unix timestamp") from None
    if abs(time.time() - at) > tolerance:
        raise ApiError(401, "stale_request", f"{header}: outside the {int(tolerance)}s window")
    return at


def forged(header: str) -> ApiError:
    return ApiError(401, "invalid_signature", f"{header}: signature does not match")


def replayed(header: str) -> ApiError:
    return ApiError(409, "replayed", f"{header}: this signed request was already received")
