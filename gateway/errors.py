"""Every error the gateway answers is JSON `{"error": {"code", "message"}}`, with a
one-line message that names the field. Ours, FastAPI's and Starlette's exceptions are
answered here; the services' (refusals included) through `starter.service.errors.failure`,
the one map every surface shares."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from temporalio.service import RPCError

from starter.service.errors import KNOWN, failure

log = logging.getLogger("mops.gateway")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A router's OpenAPI `responses`: each of `statuses` answered with an ErrorBody."""
    return {s: {"model": ErrorBody} for s in statuses}


class ApiError(Exception):
    """An answer other than success: status, a stable code, one line naming the field."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class BodyTooLarge(HTTPException):
    """Raised while reading a body that outgrows the limit (an HTTPException, so FastAPI's
    body parsing re-raises it instead of turning it into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body: larger than the limit of {limit} bytes")


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message.splitlines()[0] if message else code))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def validation_message(err: Mapping[str, Any]) -> str:
    if err.get("type") == "json_invalid":
        pos = err.get("loc", ("body", "?"))[-1]
        return f"body: not valid JSON (at character {pos})"
    loc = [str(p) for p in err.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path", "header"):
        kind, loc = loc[0], loc[1:]
        if not loc:
            loc = [kind]
    field = ".".join(loc) or "body"
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{field}: {msg}"


def route_of(request: Request) -> str:
    """The matched route's template (never the raw path: it may carry tokens)."""
    route = request.scope.get("route")
    return getattr(route, "path", "?")


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Only location and message: never the input (it may hold personal data).
        errors = exc.errors()
        message = validation_message(errors[0]) if errors else "body: invalid request"
        return error_response(422, "invalid_request", message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        status = exc.status_code
        if status == 404 and exc.detail == "Not Found":
            message = f"path: no endpoint at {request.url.path}" if "@" not in request.url.path else "path: not found"
        elif status == 405:
            message = f"method: {request.method} is not allowed here"
        else:
            message = str(exc.detail)
        return error_response(status, _HTTP_CODES.get(status, "error"), message, dict(exc.headers or {}))

    async def service_error(request: Request, exc: Exception) -> JSONResponse:
        answer = failure(exc)
        assert answer is not None, f"registered only for the types `failure` maps, not {type(exc).__name__}"
        if isinstance(exc, RPCError):
            log.warning("temporal call failed: %s on %s", exc.status.name if exc.status else "?", route_of(request))
        return error_response(answer.status, answer.code, answer.message)

    for kind in KNOWN:
        app.add_exception_handler(kind, service_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, route_of(request))
        return error_response(500, "internal", "server: unexpected error (see the gateway's log)")
