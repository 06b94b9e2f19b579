"""ASGI middleware of the gateway: the request body limit and span scrubbing.

Body limit: a declared `Content-Length` over the limit is answered 413 before the app
runs; an undeclared (chunked) body is counted while it streams and refused with 413 as
soon as it outgrows the limit.

Span scrubbing: FastAPI's native server span records `url.path` and `url.query`.
Paths that carry a credential (the one-click unsubscribe token) are replaced by their
route template, and anything shaped like an email address is redacted.
"""

from __future__ import annotations

import json

from opentelemetry import trace
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import BodyTooLarge
from mops.telemetry import redact

SECRET_PATH_PREFIXES = {"/v1/unsubscribe/": "/v1/unsubscribe/{token}"}


async def _send_json(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, paths: dict[str, int] | None = None) -> None:
        # `paths`: exact paths with a limit of their own (a file upload's).
        self.app, self.max_bytes, self.paths = app, max_bytes, paths or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope["path"], self.max_bytes)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await _send_json(send, 400, "bad_request", "content-length: not a number")
                return
            if too_big:
                await _send_json(send, 413, "payload_too_large", f"body: larger than the limit of {limit} bytes")
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _send_json(send, 413, "payload_too_large", str(exc.detail))


def scrub_path(path: str) -> str:
    for prefix, template in SECRET_PATH_PREFIXES.items():
        if path.startswith(prefix):
            return template
    return redact(path)


class SpanScrubMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            span = trace.get_current_span()
            if span.is_recording():
                path = scope.get("path", "")
                if (clean := scrub_path(path)) != path:
                    span.set_attribute("url.path", clean)
                query = scope.get("query_string", b"").decode("latin-1")
                if query and (clean_query := redact(query)) != query:
                    span.set_attribute("url.query", clean_query)
        await self.app(scope, receive, send)
