"""Shared webhook plumbing: timestamp window, replay cache, refusals."""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from fastapi import Request

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


async def signed_body(
    request: Request,
    *,
    header: str,
    timestamp_header: str,
    tolerance: float,
    expected: Callable[[bytes, str], str],
    unit: float = 1.0,
) -> tuple[bytes, str]:
    """The body of an HMAC-signed request and its signature, once the signature is
    present, the timestamp fresh and `expected(body, timestamp)` matches it (constant
    time). Replay handling stays with each webhook: they remember at different points."""
    signature = request.headers.get(header)
    timestamp = request.headers.get(timestamp_header, "")  # missing: refused by check_fresh
    if not signature:
        raise ApiError(401, "missing_signature", f"{header}: missing")
    check_fresh(timestamp, header=timestamp_header, tolerance=tolerance, unit=unit)
    body = await request.body()
    if not hmac.compare_digest(expected(body, timestamp).encode(), signature.encode()):
        raise forged(header)
    return body, signature


def forged(header: str) -> ApiError:
    return ApiError(401, "invalid_signature", f"{header}: signature does not match")


def replayed(header: str) -> ApiError:
    return ApiError(409, "replayed", f"{header}: this signed request was already received")
