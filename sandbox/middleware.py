"""The one place where auth, faults, idempotency and rate-limit headers are applied.

For a platform request, in order: check the credentials and any header the platform
insists on (LinkedIn's version); ask the fault book (latency, 429, failure before or
after the effect); replay the stored answer when the `Idempotency-Key` was already
applied (waiting if the same key is in flight); run the route; add the platform's
rate-limit headers; count the request by status.

SendGrid is the exception to the replay: its v3 API has no idempotency of any kind
(`POST /v3/mail/send` sends again, a Single Send create makes another draft), so its
requests run every time whatever headers they carry, as on the real service.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import Request
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from sandbox.platforms import (
    check_auth,
    check_protocol,
    error_response,
    platform_for_path,
    rate_limited_response,
)
from sandbox.state import SandboxState
from sandbox.store import Store, StoredResponse

_KEPT_HEADERS = ("content-type", "x-message-id", "x-restli-id", "location")
# Platforms whose real API ignores an Idempotency-Key header: the sandbox does too.
NO_IDEMPOTENCY = frozenset({"sendgrid"})


class PlatformMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        platform = platform_for_path(request.url.path)
        if platform is None:
            return await call_next(request)
        state: SandboxState = request.app.state.sandbox
        response = await self._handle(platform, request, call_next, state)
        if response.status_code != 429:  # a header the answer already has (Meta's throttling usage) stays
            for name, value in state.windows.headers(platform, state.tokens).items():
                response.headers.setdefault(name, value)
        state.store.requests[platform][str(response.status_code)] += 1
        return response

    async def _handle(
        self, platform: str, request: Request, call_next: RequestResponseEndpoint, state: SandboxState
    ) -> Response:
        denied = check_auth(platform, request, state.tokens, state.store.oauth) or check_protocol(platform, request)
        if denied is not None:
            return denied
        decision = state.faults.decide(platform, request.url.path)
        if decision.latency_s and not decision.latency_after_apply:
            await asyncio.sleep(decision.latency_s)
        if decision.action == "rate_limit":
            return rate_limited_response(platform, decision.retry_after_s, state.tokens)
        if decision.action == "fail" and not decision.after_apply:
            return error_response(platform, decision.status)
        response = await _apply_once(platform, request, call_next, state.store)
        if decision.action == "fail":  # the effect happened; the answer is lost
            return error_response(platform, decision.status)
        if decision.latency_after_apply:  # the effect happened; the answer is slow
            await asyncio.sleep(decision.latency_s)
        return response


async def _apply_once(platform: str, request: Request, call_next: RequestResponseEndpoint, store: Store) -> Response:
    """Run the route, unless this Idempotency-Key was already applied: then replay its answer."""
    key = request.headers.get("idempotency-key")
    if not key or platform in NO_IDEMPOTENCY:
        return await call_next(request)
    slot = (platform, key)
    while (pending := store.in_flight.get(slot)) is not None:
        await pending.wait()
    if (stored := store.idempotent.get(slot)) is not None:
        store.count_replay(platform)
        return _to_response(stored)
    done = store.in_flight[slot] = asyncio.Event()
    try:
        response = await call_next(request)
        # call_next answers starlette's private streaming response, typed as a plain Response
        body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        stored = StoredResponse(
            response.status_code, body, {k: v for k, v in response.headers.items() if k in _KEPT_HEADERS}
        )
        if _succeeded(platform, stored):
            store.idempotent[slot] = stored
        return _to_response(stored)
    finally:
        store.in_flight.pop(slot, None)
        done.set()


def _succeeded(platform: str, stored: StoredResponse) -> bool:
    if not 200 <= stored.status < 300:
        return False
    if platform != "slack":
        return True
    try:
        return bool(json.loads(stored.body).get("ok"))
    except (ValueError, AttributeError):
        return False


def _to_response(stored: StoredResponse) -> Response:
    return Response(stored.body, status_code=stored.status, headers=stored.headers)
