"""Every error the gateway answers is JSON `{"error": {"code", "message"}}`, with a
one-line message that names the field. This module is the one place that maps
exceptions (ours, FastAPI's, Starlette's, the services') to statuses."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from temporalio.service import RPCError

from starter.service.campaigns import CampaignInputError, CampaignNotFound, CampaignRefused
from starter.service.content import ContentInputError, ContentNotFound, ContentRefused
from starter.service.leads import LeadInputError, LeadNotFound

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


# --- the one mapping of workflow refusals (update validators) to HTTP --------------------
# Reasons come from domain/approvals.py `refusal` and the validators in workflows/content.py,
# workflows/approval.py (campaign launches, budget proposals) and workflows/campaign.py (stop).

_REFUSALS: list[tuple[re.Pattern[str], int, str, str]] = [
    (re.compile(r"^authors cannot decide"), 403, "author_cannot_decide", "approver"),
    (re.compile(r"^requesters cannot approve their own request"), 403, "requester_cannot_decide", "approver"),
    (re.compile(r"is not an approver of stage"), 403, "not_an_approver", "approver"),
    (re.compile(r"^decision is for revision \d+, the current revision is"), 409, "stale_revision", "revision"),
    (re.compile(r"already decided on revision"), 409, "already_decided", "approver"),
    (re.compile(r"^not waiting for decisions"), 409, "not_waiting_for_decisions", "stage"),
    (re.compile(r"^only the author"), 403, "not_the_author", "author"),
    (re.compile(r"^no revision expected"), 409, "no_revision_expected", "stage"),
    (re.compile(r"^revision: "), 422, "invalid_revision", "revision"),
    (re.compile(r"^nothing to retract"), 409, "nothing_to_retract", "stage"),
    (re.compile(r"may not retract this item"), 403, "may_not_retract", "requested_by"),
    (re.compile(r"^nothing to stop"), 409, "nothing_to_stop", "status"),
    (re.compile(r"may not stop this campaign"), 403, "may_not_stop", "requested_by"),
]


def refusal_status(reason: str) -> tuple[int, str, str]:
    """(status, code, message) for a workflow's refusal reason; unknown reasons are 409."""
    for pattern, status, code, field in _REFUSALS:
        if pattern.search(reason):
            message = reason if reason.startswith(f"{field}: ") else f"{field}: {reason}"
            return status, code, message
    return 409, "refused", reason


def not_found_code(exc: CampaignNotFound) -> str:
    """`CampaignNotFound` covers campaigns and budget proposals; tell them apart for callers."""
    text = str(exc)
    return "budget_proposal_not_found" if text.startswith(("budget:", "reallocation ")) else "campaign_not_found"


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

    @app.exception_handler(LeadInputError)
    async def lead_input(request: Request, exc: LeadInputError) -> JSONResponse:
        return error_response(422, "invalid_input", str(exc))

    @app.exception_handler(ContentInputError)
    async def content_input(request: Request, exc: ContentInputError) -> JSONResponse:
        return error_response(422, "invalid_input", str(exc))

    @app.exception_handler(CampaignInputError)
    async def campaign_input(request: Request, exc: CampaignInputError) -> JSONResponse:
        return error_response(422, "invalid_input", str(exc))

    @app.exception_handler(LeadNotFound)
    async def lead_not_found(request: Request, exc: LeadNotFound) -> JSONResponse:
        return error_response(404, "lead_not_found", str(exc))

    @app.exception_handler(ContentNotFound)
    async def content_not_found(request: Request, exc: ContentNotFound) -> JSONResponse:
        return error_response(404, "content_not_found", str(exc))

    @app.exception_handler(CampaignNotFound)
    async def campaign_not_found(request: Request, exc: CampaignNotFound) -> JSONResponse:
        return error_response(404, not_found_code(exc), str(exc))

    @app.exception_handler(ContentRefused)
    async def content_refused(request: Request, exc: ContentRefused) -> JSONResponse:
        return error_response(*refusal_status(str(exc)))

    @app.exception_handler(CampaignRefused)
    async def campaign_refused(request: Request, exc: CampaignRefused) -> JSONResponse:
        return error_response(*refusal_status(str(exc)))

    @app.exception_handler(RPCError)
    async def temporal_error(request: Request, exc: RPCError) -> JSONResponse:
        log.warning("temporal call failed: %s on %s", exc.status.name if exc.status else "?", route_of(request))
        return error_response(503, "temporal_unavailable", "temporal: the workflow service did not answer")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, route_of(request))
        return error_response(500, "internal", "server: unexpected error (see the gateway's log)")
