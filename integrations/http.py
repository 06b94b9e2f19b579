"""Shared HTTP plumbing for the platform clients.

`build_client` makes the `httpx.AsyncClient` (base URL, timeout, auth, user agent);
`PlatformClient` is the small base class every client extends: it sends requests,
turns transport failures into `PlatformUnavailable(status=0)` and non-2xx answers into
the client's own error mapping, and supports `async with`.

A client authenticates with a static token (a `str`) or a `TokenSource` (OAuth tokens,
`integrations/oauth.py`): then each request carries the source's current access token, and
an answer saying that token is refused (`_token_refused`: 401, Meta's error 190) gets one
refresh and one retry; refused again, the call fails for good, naming platform and account.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, Self

import httpx

from integrations.errors import PlatformError, PlatformRejected, PlatformUnavailable, RateLimited, redact

USER_AGENT = "mops/0.1"


class RedactEmails(logging.Filter):
    """Strip e-mail addresses from log records (httpx logs every request URL at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


if not any(isinstance(f, RedactEmails) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(RedactEmails())


def build_client(
    base_url: str,
    *,
    authorization: str | None,
    timeout: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient for one platform: base URL, timeout, `Authorization` and user agent."""
    defaults = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if authorization:
        defaults["Authorization"] = authorization
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"), timeout=timeout, transport=transport, headers={**defaults, **(headers or {})}
    )


def bearer(token: str) -> str | None:
    """`Bearer <token>`, or None for an empty token (the platform then answers "not authenticated")."""
    return f"Bearer {token}" if token else None


def basic(username: str, password: str) -> str | None:
    """`Basic <base64(username:password)>`, or None when either part is empty."""
    if not username or not password:
        return None
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def error_for_status(
    platform: str, status: int, code: str, message: str, retry_after: float | None = None
) -> PlatformError:
    """The error class that carries the retry decision for an HTTP status."""
    if status == 429:
        return RateLimited(platform, status, code, message, retry_after=retry_after)
    if status >= 500:
        return PlatformUnavailable(platform, status, code, message, retry_after=retry_after)
    return PlatformRejected(platform, status, code, message)


def retry_after_header(headers: httpx.Headers) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP date), if any."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when the body is empty or not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def outcome_of(error: PlatformError) -> str:
    """How a failed call is counted: rate_limited / unavailable / rejected."""
    if isinstance(error, RateLimited):
        return "rate_limited"
    if isinstance(error, PlatformUnavailable):
        return "unavailable"
    return "rejected"


Observer = Callable[[str, str, float], None]  # (platform, outcome, seconds)


class TokenSource(Protocol):
    """Access tokens that change (`integrations.oauth.OAuthTokens`)."""

    platform: str
    account: str

    async def access_token(self) -> str: ...

    async def after_refusal(self, refused: str) -> str: ...


class _TokenRefused(Exception):
    """The platform refused the access token sent (carries the mapped error)."""

    def __init__(self, error: PlatformError) -> None:
        self.error = error


class PlatformClient:
    """Base class: one AsyncClient per platform, error mapping in `_error`.

    `observer`, when set (the worker sets it to its metrics), is told the outcome and
    latency of every HTTP call: ok / rate_limited / unavailable / rejected / network_error.
    """

    platform: ClassVar[str]
    observer: Observer | None = None
    last_headers: httpx.Headers | None = None  # the latest answer's headers (rate-limit headroom)

    def __init__(
        self,
        base_url: str,
        token: str | TokenSource,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`token` is the platform's credential: a static one, which `authorization()` turns
        into the `Authorization` header (a bearer token unless a client says otherwise), or a
        `TokenSource` asked for the access token of each request."""
        self._tokens = None if isinstance(token, str) else token
        static = self.authorization(token) if isinstance(token, str) else None
        self._http = build_client(base_url, authorization=static, timeout=timeout, transport=transport)

    def authorization(self, token: str) -> str | None:
        """The `Authorization` header value for `token` (None sends none). Bearer by
        default (HubSpot, SendGrid, Slack, LinkedIn, GA4); WordPress overrides it."""
        return bearer(token)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; raise a `PlatformError` for transport failures and non-2xx answers."""
        if self._tokens is None:
            return await self._send(method, path, **kwargs)
        token = await self._tokens.access_token()
        try:
            return await self._send(method, path, token=token, **kwargs)
        except _TokenRefused:
            pass
        token = await self._tokens.after_refusal(token)
        try:
            return await self._send(method, path, token=token, **kwargs)
        except _TokenRefused as refused:
            error = refused.error
            raise PlatformRejected(
                self.platform,
                error.status,
                "token_refused_after_refresh",
                f"account {self._tokens.account}: a freshly refreshed access token was refused too "
                f"({error.code}: {error.message}); check the grant's scopes and the account's access",
            ) from error

    async def _send(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        """One HTTP exchange; with `token` (OAuth), a refusal of it is `_TokenRefused`."""
        if token is not None:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": self.authorization(token) or ""}
        started = time.perf_counter()
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            self._observe("network_error", started)
            raise PlatformUnavailable(self.platform, 0, "timeout", type(exc).__name__) from exc
        except httpx.LocalProtocolError as exc:  # we built an invalid request: retrying cannot help
            self._observe("rejected", started)
            raise PlatformRejected(self.platform, 0, "invalid_request", type(exc).__name__) from exc
        except httpx.TransportError as exc:
            self._observe("network_error", started)
            raise PlatformUnavailable(self.platform, 0, "network_error", f"{type(exc).__name__}: {exc}") from exc
        self.last_headers = response.headers
        if response.is_success:
            self._observe("ok", started)
            return response
        error = self._error(response)
        self._observe(outcome_of(error), started)
        if token is not None and self._token_refused(response):
            raise _TokenRefused(error)
        raise error

    def _token_refused(self, response: httpx.Response) -> bool:
        """Whether the answer says the access token is expired or invalid (a 401 on most
        platforms; Meta overrides it)."""
        return response.status_code == 401

    def _observe(self, outcome: str, started: float) -> None:
        if self.observer is not None:
            self.observer(self.platform, outcome, time.perf_counter() - started)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        """`_request` and decode a JSON object body (a malformed body is retryable)."""
        response = await self._request(method, path, **kwargs)
        body = json_body(response)
        if body is None:
            raise PlatformUnavailable(self.platform, response.status_code, "invalid_response", "response is not JSON")
        return body

    def _error(self, response: httpx.Response) -> PlatformError:
        """Map a non-2xx response; clients override to read their platform's error body."""
        return error_for_status(
            self.platform,
            response.status_code,
            f"HTTP_{response.status_code}",
            response.reason_phrase or "error",
            retry_after_header(response.headers),
        )
