"""Platform errors → Temporal retry decisions, in one place for every platform.

- 429: retried after the platform's advertised delay (`next_retry_delay`).
- 5xx, timeouts, network errors: retried with the policy's backoff.
- other 4xx: non-retryable, with a typed `type=` the workflow can branch on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import wraps
from typing import ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError

from integrations.errors import PlatformError, PlatformRejected, RateLimited

P = ParamSpec("P")
T = TypeVar("T")

REJECTED = "PlatformRejected"
RATE_LIMITED = "PlatformRateLimited"
UNAVAILABLE = "PlatformUnavailable"
# A message that must not go out as it is (a template that cannot render, a blocking
# brand finding): retrying cannot fix it, a person must; the workflow parks on it.
UNSENDABLE = "EmailUnsendable"


def to_application_error(err: PlatformError) -> ApplicationError:
    message = f"{err.platform} {err.status or 'network'} {err.code}: {err.message}"
    if isinstance(err, RateLimited):
        delay = timedelta(seconds=max(err.retry_after or 1.0, 0.1))
        return ApplicationError(message, type=RATE_LIMITED, next_retry_delay=delay)
    if isinstance(err, PlatformRejected):
        return ApplicationError(message, err.code, type=REJECTED, non_retryable=True)
    return ApplicationError(message, type=UNAVAILABLE)


def platform_errors(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Decorate an activity so platform errors become the right ApplicationError."""

    @wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except PlatformError as err:
            raise to_application_error(err) from None

    return wrapper
