"""What differs between the platforms: paths, auth, error bodies, rate-limit headers.

HubSpot lives under `/crm/`, SendGrid under `/v3/`, Slack under `/api/`, WordPress
under `/wp-json/`, LinkedIn under `/rest/`, GA4 under `/v1beta/`, Meta's Graph API
under `/v<N>.0/` and Google Ads under `/v<N>/customers/`; the paths do not collide, so
one process serves them all.

Meta answers nearly every error with HTTP 400 and a Graph error body (`code`,
`error_subcode`, `is_transient`, `fbtrace_id`), throttling included: its ads-management
limit is code 80004 with the `X-Business-Use-Case-Usage` header saying, in minutes, when
access comes back (`estimated_time_to_regain_access`), and no `Retry-After`. The sandbox
writes the fault's `retry_after_s / 60` there, a fraction of a minute when a test wants
a short wait (Meta sends whole minutes). Permission errors (codes 10, 200) are HTTP 403.

Google Ads errors are Google's `{"error": {code, message, status, details}}` with a
`GoogleAdsFailure` in `details` naming the error (`{"quotaError": "RESOURCE_EXHAUSTED"}`)
and, for quota errors, `quotaErrorDetails.retryDelay`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from sandbox.oauth import OAuthBook
from sandbox.settings import SandboxTokens

PLATFORMS = ("hubspot", "sendgrid", "slack", "wordpress", "linkedin", "ga4", "meta", "google_ads")
# Braze (the CDP-shaped profile store) is served under /users/ too, outside fault injection.
_PREFIXES = {
    "/crm/": "hubspot",
    "/v3/": "sendgrid",
    "/api/": "slack",
    "/users/": "braze",
    "/wp-json/": "wordpress",
    "/rest/": "linkedin",
    "/v1beta/": "ga4",
}
META_PATH = re.compile(r"^/v\d+\.0/")  # Graph API versions are v<N>.0 (v21.0)
META_OAUTH_PATH = re.compile(r"^/v\d+\.0/oauth/")  # Graph's token exchange (sandbox.routes.oauth)
GOOGLE_ADS_PATH = re.compile(r"^/v\d+/customers/")  # Google Ads REST: /v18/customers/{id}/...

HUBSPOT_CATEGORIES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    409: "CONFLICT",
}
HUBSPOT_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
    "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
DEFAULT_MESSAGES = {
    400: "bad request",
    401: "authorization required",
    403: "access forbidden",
    404: "resource not found",
    409: "conflict",
    422: "unprocessable entity",
    429: "too many requests",
}
SLACK_CODES = {
    400: "invalid_arguments",
    401: "invalid_auth",
    403: "not_allowed_token_type",
    404: "unknown_method",
    409: "conflict",
    429: "ratelimited",
}
WORDPRESS_CODES = {
    400: "rest_invalid_param",
    401: "rest_not_logged_in",
    403: "rest_forbidden",
    404: "rest_no_route",
    409: "rest_conflict",
    429: "rest_too_many_requests",
}
WORDPRESS_MESSAGES = {
    401: "You are not currently logged in.",
    403: "Sorry, you are not allowed to do that.",
    404: "No route was found matching the URL and request method.",
    500: "There has been a critical error on this website.",
}
LINKEDIN_CODES = {
    400: "ILLEGAL_ARGUMENT",
    401: "INVALID_ACCESS_TOKEN",
    403: "ACCESS_DENIED",
    404: "NOT_FOUND",
    409: "CONFLICT",
    422: "UNPROCESSABLE_ENTITY",
    426: "NONEXISTENT_VERSION",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
LINKEDIN_SERVICE_CODES = {401: 65600, 403: 100, 422: 100, 429: 101}
GOOGLE_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
GOOGLE_MESSAGES = {
    400: "Request contains an invalid argument.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "The request was cancelled because the deadline was exceeded.",
}
GOOGLE_ADS_VERSION = "v18"
# A server error's GoogleAdsFailure, as Google Ads sends them.
GOOGLE_ADS_INTERNAL = {
    500: ("INTERNAL_ERROR", "An internal error has occurred."),
    503: ("TRANSIENT_ERROR", "The request failed due to a transient error. Please try again."),
    504: ("DEADLINE_EXCEEDED", "The request took longer than a deadline."),
}
# Graph API error codes and messages by HTTP status (for errors the routes do not spell out).
META_CODES = {400: 100, 401: 190, 403: 200, 404: 100, 409: 100, 422: 100, 429: 80004}
META_MESSAGES = {
    100: "Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    200: "(#200) Permissions error",
    2: "Service temporarily unavailable",
}
META_THROTTLE_MESSAGE = (
    "(#80004) There have been too many calls to this ad-account. Wait a bit and try again. "
    "For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management."
)
# The code a malformed request body gets (FastAPI's validation errors), per platform.
VALIDATION_CODES = {
    "hubspot": "VALIDATION_ERROR",
    "slack": "invalid_arguments",
    "wordpress": "rest_invalid_json",
    "linkedin": "ILLEGAL_ARGUMENT",
    "ga4": "INVALID_ARGUMENT",
    "meta": "100",
    "google_ads": "INVALID_ARGUMENT",
    "braze": "bad_request",
}
LINKEDIN_VERSION = re.compile(r"^(20\d{2})(0[1-9]|1[0-2])(\.\d{2})?$")  # YYYYMM, optionally .NN

# Advertised limits (the sandbox does not enforce them; faults simulate exhaustion).
HUBSPOT_WINDOW_MS, HUBSPOT_MAX, HUBSPOT_DAILY = 10_000, 190, 1_000_000
SENDGRID_WINDOW_S, SENDGRID_MAX = 60, 600
# Meta's ads-management business-use-case limit per ad account and hour (standard access).
META_WINDOW_S, META_CALLS_PER_HOUR = 3600, 100_000


class SandboxError(Exception):
    """Raised by route handlers; rendered as the platform's own error body."""

    def __init__(
        self, status: int, code: str | None = None, message: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        self.status, self.code, self.message, self.data = status, code, message, data


def platform_for_path(path: str) -> str | None:
    """The platform whose API serves `path`; None for the admin API, link targets and the
    OAuth token endpoints (which authenticate by the client's secret, not a bearer token)."""
    if META_OAUTH_PATH.match(path):
        return None
    if META_PATH.match(path):
        return "meta"
    found = next((p for prefix, p in _PREFIXES.items() if path.startswith(prefix)), None)
    if found is None and GOOGLE_ADS_PATH.match(path):
        return "google_ads"
    return found


def trace_id() -> str:
    """A Meta `fbtrace_id` / Google `requestId` look-alike."""
    return secrets.token_urlsafe(16)


def error_body(
    platform: str,
    status: int,
    code: str | None = None,
    message: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The platform's error JSON for `status` (defaults fill code and message; `data`
    is WordPress's extra error data, e.g. `params`)."""
    text = message or DEFAULT_MESSAGES.get(status, "internal error")
    if platform == "hubspot":
        body: dict[str, Any] = {"status": "error", "message": text, "correlationId": str(uuid.uuid4())}
        category = code or HUBSPOT_CATEGORIES.get(status)
        if category:
            body["category"] = category
        return body
    if platform == "sendgrid":
        return {"errors": [{"field": code, "message": text, "help": None}]}
    if platform == "wordpress":
        text = message or WORDPRESS_MESSAGES.get(status if status < 500 else 500) or text
        default = WORDPRESS_CODES.get(status, "internal_server_error" if status >= 500 else f"http_{status}")
        return {"code": code or default, "message": text, "data": {"status": status, **(data or {})}}
    if platform == "linkedin":
        body = {"status": status, "code": code or LINKEDIN_CODES.get(status, "INTERNAL_SERVER_ERROR"), "message": text}
        if status in LINKEDIN_SERVICE_CODES:
            body["serviceErrorCode"] = LINKEDIN_SERVICE_CODES[status]
        return body
    if platform == "ga4":
        google = code or GOOGLE_STATUSES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
        return {"error": {"code": status, "message": text, "status": google}}
    if platform == "meta":
        return _meta_error(status, code, message, data)
    if platform == "google_ads":
        return _google_ads_error(status, code, message, data)
    if platform == "braze":  # Braze: {"message": ...}, with "errors" for per-object problems
        return {"message": text, "errors": [code] if code else []}
    return {"ok": False, "error": code or SLACK_CODES.get(status, "internal_error")}


def _meta_error(status: int, code: str | None, message: str | None, data: dict[str, Any] | None) -> dict[str, Any]:
    """Graph API error: `code` is the numeric error code; `data` adds `error_subcode`,
    `error_user_title`, `error_user_msg`, `type` or `is_transient`."""
    number = int(code) if code and code.isdigit() else (2 if status >= 500 else META_CODES.get(status, 100))
    error: dict[str, Any] = {
        "message": message or META_MESSAGES.get(number, "An unknown error has occurred."),
        "type": "OAuthException",
        "code": number,
        "is_transient": status >= 500,
    }
    error.update(data or {})
    error["fbtrace_id"] = trace_id()
    return {"error": error}


def _google_ads_error(
    status: int, code: str | None, message: str | None, data: dict[str, Any] | None
) -> dict[str, Any]:
    """Google error with a GoogleAdsFailure: `data["errors"]` are its errors (a server
    error gets Google Ads' internalError one); `data["version"]` the API version."""
    google = code or GOOGLE_STATUSES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    text = message or GOOGLE_MESSAGES.get(status) or DEFAULT_MESSAGES.get(status, "internal error")
    body: dict[str, Any] = {"error": {"code": status, "message": text, "status": google}}
    errors = (data or {}).get("errors")
    if errors is None and status in GOOGLE_ADS_INTERNAL:
        value, detail = GOOGLE_ADS_INTERNAL[status]
        errors = [{"errorCode": {"internalError": value}, "message": detail}]
    if errors:
        body["error"]["details"] = [google_ads_failure(errors, (data or {}).get("version"))]
    return body


def google_ads_failure(errors: list[dict[str, Any]], version: str | None = None) -> dict[str, Any]:
    """A `GoogleAdsFailure` detail with `errors` (each `{"errorCode": {kind: VALUE}, "message", ...}`)."""
    kind = f"type.googleapis.com/google.ads.googleads.{version or GOOGLE_ADS_VERSION}.errors.GoogleAdsFailure"
    return {"@type": kind, "errors": errors, "requestId": trace_id()}


def meta_usage(account: str, call_count: int, minutes_to_regain: float = 0) -> str:
    """An `X-Business-Use-Case-Usage` value for the ad account (percentages, minutes)."""
    usage = {
        "type": "ads_management",
        "call_count": call_count,
        "total_cputime": call_count // 4,
        "total_time": call_count // 4,
        "estimated_time_to_regain_access": minutes_to_regain,
        "ads_api_access_tier": "standard_access",
    }
    return json.dumps({account: [usage]}, separators=(",", ":"))


def error_response(
    platform: str,
    status: int,
    code: str | None = None,
    message: str | None = None,
    data: dict[str, Any] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(platform, status, code, message, data), status_code=status)


def rate_limited_response(platform: str, retry_after_s: float, tokens: SandboxTokens | None = None) -> JSONResponse:
    """A 429 as each platform sends it (Meta: its HTTP 400 throttling error), advertising `retry_after_s`."""
    body: dict[str, Any]
    if platform == "hubspot":  # no Retry-After: the interval headers say when the window resets
        body = {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": "TEN_SECONDLY_ROLLING",
            "groupName": "sandbox",
        }
        headers = {
            "X-HubSpot-RateLimit-Max": str(HUBSPOT_MAX),
            "X-HubSpot-RateLimit-Remaining": "0",
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(retry_after_s * 1000)),
        }
    elif platform == "sendgrid":
        body = error_body("sendgrid", 429, message="too many requests")
        headers = {
            "X-RateLimit-Limit": str(SENDGRID_MAX),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(math.ceil(time.time() + retry_after_s)),
        }
    elif platform == "wordpress":  # core WordPress has no limits; hosts and WAFs answer like this
        body = error_body("wordpress", 429, message="Too many requests. Please slow down.")
        headers = {"Retry-After": str(math.ceil(retry_after_s))}
    elif platform == "linkedin":
        body = error_body(
            "linkedin",
            429,
            message="Resource level throttle APPLICATION DAY limit for calls to this resource is reached.",
        )
        headers = {"Retry-After": str(math.ceil(retry_after_s))}
    elif platform == "ga4":  # Google says when to come back in the error details, not in a header
        body = error_body("ga4", 429, message="Exhausted property tokens per hour for this project.")
        body["error"]["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after_s:g}s"}
        ]
        headers = {}
    elif platform == "meta":  # HTTP 400, no Retry-After: the usage header says when (see the module docstring)
        account = (tokens or SandboxTokens()).meta_account_number
        body = error_body("meta", 400, "80004", META_THROTTLE_MESSAGE, {"error_subcode": 2446079, "is_transient": True})
        minutes = round(retry_after_s / 60, 6)
        return JSONResponse(
            body, status_code=400, headers={"X-Business-Use-Case-Usage": meta_usage(account, 100, minutes)}
        )
    elif platform == "google_ads":  # the delay is in the GoogleAdsFailure's quotaErrorDetails
        delay = f"{retry_after_s:g}s"
        body = error_body(
            "google_ads",
            429,
            data={
                "errors": [
                    {
                        "errorCode": {"quotaError": "RESOURCE_EXHAUSTED"},
                        "message": f"Too many requests. Retry in {math.ceil(retry_after_s)} seconds.",
                        "details": {
                            "quotaErrorDetails": {
                                "rateScope": "DEVELOPER",
                                "rateName": "Number of operations for basic access per day",
                                "retryDelay": delay,
                            }
                        },
                    }
                ]
            },
        )
        headers = {}
    else:
        body = {"ok": False, "error": "ratelimited"}
        headers = {"Retry-After": str(math.ceil(retry_after_s))}
    return JSONResponse(body, status_code=429, headers=headers)


def check_auth(
    platform: str, request: Request, tokens: SandboxTokens, oauth: OAuthBook | None = None
) -> JSONResponse | None:
    """None when the credentials match, else the platform's authentication error. A token
    the OAuth stand-ins issued (`oauth`) passes until it expires, then gets the platform's
    expired-token answer; the static tokens of `tokens` always pass."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if oauth is not None and platform in OAUTH_EXPIRED:
        given = token if scheme.lower() == "bearer" else ""
        if platform == "meta":
            given = given or request.query_params.get("access_token", "")
        issued = oauth.status(platform, given.strip())
        if issued == "expired":
            return OAUTH_EXPIRED[platform]()
        if issued == "valid":
            return _check_google_ads(request, scheme, token, tokens, issued=True) if platform == "google_ads" else None
    if platform == "wordpress":
        return _check_wordpress(scheme, token.strip(), tokens)
    if platform == "google_ads":
        return _check_google_ads(request, scheme, token, tokens)
    if scheme.lower() == "bearer" and token and hmac.compare_digest(token, tokens.for_platform(platform)):
        return None
    if platform == "hubspot":
        return error_response("hubspot", 401, "INVALID_AUTHENTICATION", HUBSPOT_AUTH_MESSAGE)
    if platform == "sendgrid":
        return JSONResponse({"errors": [{"field": None, "message": "authorization required"}]}, status_code=401)
    if platform == "linkedin":
        if token:
            return error_response("linkedin", 401, "INVALID_ACCESS_TOKEN", "Invalid access token")
        body = {
            "status": 401,
            "serviceErrorCode": 65604,
            "code": "EMPTY_ACCESS_TOKEN",
            "message": "Empty oauth2 access token",
        }
        return JSONResponse(body, status_code=401)
    if platform == "braze":
        return JSONResponse({"message": "Invalid API key: " + ("****" if token else "missing")}, status_code=401)
    if platform == "meta":  # a wrong bearer token, or the token in the query string
        return _check_meta(request, token if scheme.lower() == "bearer" else "", tokens)
    if platform == "ga4":
        return error_response("ga4", 401, "UNAUTHENTICATED", _google_auth_message(bool(token)))
    return JSONResponse({"ok": False, "error": "invalid_auth" if token else "not_authed"})


def _google_auth_message(has_token: bool) -> str:
    if has_token:
        return (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
            "or other valid authentication credential."
        )
    return (
        "Request is missing required authentication credential. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential."
    )


def _check_meta(request: Request, bearer_token: str, tokens: SandboxTokens) -> JSONResponse | None:
    """A bearer token or the `access_token` query parameter (code 104 without, 190 when wrong)."""
    token = bearer_token or request.query_params.get("access_token", "")
    if token and hmac.compare_digest(token, tokens.for_platform("meta")):
        return None
    if not token:
        message = "An access token is required to request this resource."
        body = error_body("meta", 400, "104", message)
        challenge = f'OAuth "Facebook Platform" "invalid_request" "{message}"'
    else:
        body = error_body("meta", 400, "190", META_MESSAGES[190])
        challenge = 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token data."'
    return JSONResponse(body, status_code=400, headers={"WWW-Authenticate": challenge})


def _check_google_ads(
    request: Request, scheme: str, token: str, tokens: SandboxTokens, *, issued: bool = False
) -> JSONResponse | None:
    """OAuth bearer token (`issued`: one the token endpoint gave out, already checked), then
    the `developer-token` header (missing: 400, wrong: 401)."""
    if not issued and (
        scheme.lower() != "bearer" or not token or not hmac.compare_digest(token, tokens.for_platform("google_ads"))
    ):
        return error_response(
            "google_ads",
            401,
            "UNAUTHENTICATED",
            _google_auth_message(bool(token)),
            {
                "errors": [
                    {
                        "errorCode": {
                            "authenticationError": "OAUTH_TOKEN_INVALID" if token else "AUTHENTICATION_ERROR"
                        },
                        "message": "Oauth token in the header is not valid."
                        if token
                        else "Authentication of the request failed.",
                    }
                ]
            },
        )
    developer_token = request.headers.get("developer-token", "")
    if not developer_token:
        return error_response(
            "google_ads",
            400,
            "INVALID_ARGUMENT",
            None,
            {
                "errors": [
                    {
                        "errorCode": {"requestError": "DEVELOPER_TOKEN_PARAMETER_MISSING"},
                        "message": "developer-token parameter is missing.",
                    }
                ]
            },
        )
    if not hmac.compare_digest(developer_token, tokens.google_ads_developer_token.get_secret_value()):
        return error_response(
            "google_ads",
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
            {
                "errors": [
                    {
                        "errorCode": {"authenticationError": "DEVELOPER_TOKEN_INVALID"},
                        "message": "The developer token is not valid.",
                    }
                ]
            },
        )
    return None


def meta_expired() -> JSONResponse:
    """Graph's answer to an expired (or invalidated) user token: 400, OAuthException 190/463."""
    body = error_body("meta", 400, "190", "Error validating access token: Session has expired.")
    body["error"]["error_subcode"] = 463
    challenge = 'OAuth "Facebook Platform" "invalid_token" "Error validating access token: Session has expired."'
    return JSONResponse(body, status_code=400, headers={"WWW-Authenticate": challenge})


def _google_expired() -> JSONResponse:
    """Google answers an expired access token as any invalid one: 401 UNAUTHENTICATED."""
    return error_response("ga4", 401, "UNAUTHENTICATED", _google_auth_message(True))


def _google_ads_expired() -> JSONResponse:
    return error_response(
        "google_ads",
        401,
        "UNAUTHENTICATED",
        _google_auth_message(True),
        {"errors": [{"errorCode": {"authenticationError": "OAUTH_TOKEN_EXPIRED"}, "message": "Oauth token expired."}]},
    )


def _linkedin_expired() -> JSONResponse:
    body = {
        "status": 401,
        "serviceErrorCode": 65601,
        "code": "EXPIRED_ACCESS_TOKEN",
        "message": "The token used in the request has expired",
    }
    return JSONResponse(body, status_code=401)


# Each platform's answer to an access token that was issued by its token endpoint and has expired.
OAUTH_EXPIRED: dict[str, Callable[[], JSONResponse]] = {
    "ga4": _google_expired,
    "google_ads": _google_ads_expired,
    "linkedin": _linkedin_expired,
    "meta": meta_expired,
}


def _check_wordpress(scheme: str, token: str, tokens: SandboxTokens) -> JSONResponse | None:
    """HTTP Basic with an application password (WordPress ignores the spaces it shows in one)."""
    if scheme.lower() != "basic" or not token:
        return error_response("wordpress", 401, "rest_not_logged_in", "You are not currently logged in.")
    try:
        username, _, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return error_response("wordpress", 401, "rest_not_logged_in", "You are not currently logged in.")
    if not hmac.compare_digest(username.encode(), tokens.wordpress_user.encode()):
        return error_response(
            "wordpress", 401, "invalid_username", "Unknown username. Check again or try your email address."
        )
    expected = _app_password(tokens.for_platform("wordpress"))
    if not hmac.compare_digest(_app_password(password).encode(), expected.encode()):
        return error_response(
            "wordpress", 401, "incorrect_password", "The provided password is an invalid application password."
        )
    return None


def _app_password(password: str) -> str:
    return re.sub(r"[^a-z\d]", "", password, flags=re.IGNORECASE)


def check_protocol(platform: str, request: Request) -> JSONResponse | None:
    """Headers a platform insists on beyond auth: LinkedIn's `LinkedIn-Version` (YYYYMM)."""
    if platform != "linkedin":
        return None
    version = request.headers.get("linkedin-version")
    if not version:
        return error_response(
            "linkedin",
            400,
            "VERSION_MISSING",
            "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
        )
    if not LINKEDIN_VERSION.match(version):
        return error_response("linkedin", 426, "NONEXISTENT_VERSION", f"Requested version {version} is not active")
    return None


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

    def headers(self, platform: str, tokens: SandboxTokens | None = None) -> dict[str, str]:
        if platform == "meta":  # business-use-case usage of the ad account, in percent of the hourly limit
            _, used = self._hit(platform, META_WINDOW_S)
            account = (tokens or SandboxTokens()).meta_account_number
            return {"X-Business-Use-Case-Usage": meta_usage(account, min(used * 100 // META_CALLS_PER_HOUR, 99))}
        if platform == "hubspot":
            _, used = self._hit(platform, HUBSPOT_WINDOW_MS / 1000)
            return {
                "X-HubSpot-RateLimit-Max": str(HUBSPOT_MAX),
                "X-HubSpot-RateLimit-Remaining": str(max(HUBSPOT_MAX - used, 0)),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(HUBSPOT_WINDOW_MS),
                "X-HubSpot-RateLimit-Daily": str(HUBSPOT_DAILY),
                "X-HubSpot-RateLimit-Daily-Remaining": str(HUBSPOT_DAILY - self._daily(platform)),
            }
        if platform == "sendgrid":
            index, used = self._hit(platform, SENDGRID_WINDOW_S)
            return {
                "X-RateLimit-Limit": str(SENDGRID_MAX),
                "X-RateLimit-Remaining": str(max(SENDGRID_MAX - used, 0)),
                "X-RateLimit-Reset": str((index + 1) * SENDGRID_WINDOW_S),
            }
        return {}  # Slack and Google Ads send rate-limit information only with a 429
