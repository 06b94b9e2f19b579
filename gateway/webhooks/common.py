"""Shared webhook plumbing: timestamp window, replay cache, refusals."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from fastapi import Request

from gateway.errors import ApiError
from gateway.state import ReplayCache, Replays

__all__ = ["ReplayCache", "Replays", "check_fresh", "signed_body", "forged", "replayed"]


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
    expected: Callable[[bytes, str], str],
    timestamp_header: str | None = None,
    tolerance: float = 0.0,
    unit: float = 1.0,
) -> tuple[bytes, str]:
    """The body of an HMAC-signed request and its signature, once the signature is
    present, the timestamp fresh and `expected(body, timestamp)` matches it (constant
    time). Platforms that sign no timestamp (Meta, LinkedIn) pass no `timestamp_header`:
    `expected` then gets "". Replay handling stays with each webhook: they remember at
    different points."""
    signature = request.headers.get(header)
    timestamp = request.headers.get(timestamp_header, "") if timestamp_header else ""  # missing: refused below
    if not signature:
        raise ApiError(401, "missing_signature", f"{header}: missing")
    if timestamp_header:
        check_fresh(timestamp, header=timestamp_header, tolerance=tolerance, unit=unit)
    body = await request.body()
    if not hmac.compare_digest(expected(body, timestamp).encode(), signature.encode()):
        raise forged(header)
    return body, signature


def forged(header: str) -> ApiError:
    return ApiError(401, "invalid_signature", f"{header}: signature does not match")


def replayed(header: str) -> ApiError:
    return ApiError(409, "replayed", f"{header}: this signed request was already received")
