"""The one place where auth, faults and rate-limit headers are applied.

For a platform request, in order: check the credentials and any header the platform
insists on (LinkedIn's version); ask the fault book (latency, 429, failure before or
after the effect); run the route; add the platform's rate-limit headers; count the
request by status.

No `Idempotency-Key` is honoured, on any platform: none of the real APIs the sandbox
stands in for has one (Slack Web API, LinkedIn Posts, Meta Graph, Google Ads, WordPress
REST, HubSpot CRM v3, Braze REST, GA4, SendGrid v3), so a request sent twice takes
effect twice, as on the real service. What keeps mops to one effect is its own lookup
before a retried create (a Slack message's metadata in `conversations.history`, a
LinkedIn post's commentary in the author finder, a WordPress slug, a Meta or Google Ads
name, a SendGrid custom arg in the Email Activity feed), or an upsert by a unique
property where the platform has one (HubSpot, Braze).
"""

from __future__ import annotations

import asyncio

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
        response = await call_next(request)
        if decision.action == "fail":  # the effect happened; the answer is lost
            return error_response(platform, decision.status)
        if decision.latency_after_apply:  # the effect happened; the answer is slow
            await asyncio.sleep(decision.latency_s)
        return response
