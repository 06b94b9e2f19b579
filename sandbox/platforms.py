"""What differs between the platforms: paths, auth, error bodies, rate-limit headers.

HubSpot lives under `/crm/`, SendGrid under `/v3/`, Slack under `/api/`; the paths do
not collide, so one process serves all three.
"""

from __future__ import annotations

import hmac
import math
import time
import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from sandbox.settings import SandboxTokens

PLATFORMS = ("hubspot", "sendgrid", "slack")
_PREFIXES = {"/crm/": "hubspot", "/v3/": "sendgrid", "/api/": "slack"}

HUBSPOT_CATEGORIES = {400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES",
                      404: "OBJECT_NOT_FOUND", 409: "CONFLICT"}
HUBSPOT_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
    "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
DEFAULT_MESSAGES = {400: "bad request", 401: "authorization required", 403: "access forbidden",
                    404: "resource not found", 409: "conflict", 429: "too many requests"}
SLACK_CODES = {400: "invalid_arguments", 401: "invalid_auth", 403: "not_allowed_token_type",
               404: "unknown_method", 409: "conflict", 429: "ratelimited"}

# Advertised limits (the sandbox does not enforce them; faults simulate exhaustion).
HUBSPOT_WINDOW_MS, HUBSPOT_MAX, HUBSPOT_DAILY = 10_000, 190, 1_000_000
SENDGRID_WINDOW_S, SENDGRID_MAX = 60, 600


class SandboxError(Exception):
    """Raised by route handlers; rendered as the platform's own error body."""

    def __init__(self, status: int, code: str | None = None, message: str | None = None) -> None:
        self.status, self.code, self.message = status, code, message


def platform_for_path(path: str) -> str | None:
    return next((p for prefix, p in _PREFIXES.items() if path.startswith(prefix)), None)


def error_body(platform: str, status: int, code: str | None = None, message: str | None = None) -> dict[str, Any]:
    """The platform's error JSON for `status` (defaults fill code and message)."""
    text = message or DEFAULT_MESSAGES.get(status, "internal error")
    if platform == "hubspot":
        body = {"status": "error", "message": text, "correlationId": str(uuid.uuid4())}
        category = code or HUBSPOT_CATEGORIES.get(status)
        if category:
            body["category"] = category
        return body
    if platform == "sendgrid":
        return {"errors": [{"field": code, "message": text, "help": None}]}
    return {"ok": False, "error": code or SLACK_CODES.get(status, "internal_error")}


def error_response(platform: str, status: int, code: str | None = None, message: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(platform, status, code, message), status_code=status)


def rate_limited_response(platform: str, retry_after_s: float) -> JSONResponse:
    """A 429 as each platform sends it, advertising `retry_after_s`."""
    if platform == "hubspot":  # no Retry-After: the interval headers say when the window resets
        body = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
                "policyName": "TEN_SECONDLY_ROLLING", "groupName": "sandbox"}
        headers = {"X-HubSpot-RateLimit-Max": str(HUBSPOT_MAX), "X-HubSpot-RateLimit-Remaining": "0",
                   "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(retry_after_s * 1000))}
    elif platform == "sendgrid":
        body = error_body("sendgrid", 429, message="too many requests")
        headers = {"X-RateLimit-Limit": str(SENDGRID_MAX), "X-RateLimit-Remaining": "0",
                   "X-RateLimit-Reset": str(math.ceil(time.time() + retry_after_s))}
    else:
        body = {"ok": False, "error": "ratelimited"}
        headers = {"Retry-After": str(math.ceil(retry_after_s))}
    return JSONResponse(body, status_code=429, headers=headers)


def check_auth(platform: str, request: Request, tokens: SandboxTokens) -> JSONResponse | None:
    """None when the bearer token matches, else the platform's authentication error."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token and hmac.compare_digest(token, tokens.for_platform(platform)):
        return None
    if platform == "hubspot":
        return error_response("hubspot", 401, "INVALID_AUTHENTICATION", HUBSPOT_AUTH_MESSAGE)
    if platform == "sendgrid":
        return JSONResponse({"errors": [{"field": None, "message": "authorization required"}]}, status_code=401)
    return JSONResponse({"ok": False, "error": "invalid_auth" if token else "not_authed"})


class RateWindows:
    """Counts requests per fixed window to fill plausible rate-limit headers."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}  # platform -> (window index, count)
        self._days: dict[str, tuple[int, int]] = {}

    def _daily(self, platform: str) -> int:
        day = int(time.time() // 86_400)
        seen, count = self._days.get(platform, (day, 0))
        count = count + 1 if seen == day else 1
        self._days[platform] = (day, count)
        return count

    def _hit(self, platform: str, window_s: float) -> tuple[int, int]:
        index = int(time.time() // window_s)
        seen, count = self._windows.get(platform, (index, 0))
        count = count + 1 if seen == index else 1
        self._windows[platform] = (index, count)
        return index, count

    def headers(self, platform: str) -> dict[str, str]:
        if platform == "hubspot":
            _, used = self._hit(platform, HUBSPOT_WINDOW_MS / 1000)
            return {"X-HubSpot-RateLimit-Max": str(HUBSPOT_MAX),
                    "X-HubSpot-RateLimit-Remaining": str(max(HUBSPOT_MAX - used, 0)),
                    "X-HubSpot-RateLimit-Interval-Milliseconds": str(HUBSPOT_WINDOW_MS),
                    "X-HubSpot-RateLimit-Daily": str(HUBSPOT_DAILY),
                    "X-HubSpot-RateLimit-Daily-Remaining": str(HUBSPOT_DAILY - self._daily(platform))}
        if platform == "sendgrid":
            index, used = self._hit(platform, SENDGRID_WINDOW_S)
            return {"X-RateLimit-Limit": str(SENDGRID_MAX),
                    "X-RateLimit-Remaining": str(max(SENDGRID_MAX - used, 0)),
                    "X-RateLimit-Reset": str((index + 1) * SENDGRID_WINDOW_S)}
        return {}  # Slack sends rate-limit information only with a 429
