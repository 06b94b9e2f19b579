"""Errors raised by every platform client.

Three classes carry the retry decision, so callers never look at raw HTTP:

- `RateLimited` (429, or a platform's own "rate limited" answer): retry after `retry_after`.
- `PlatformUnavailable` (5xx, timeouts, network errors; `status == 0` without a response):
  retry with backoff.
- `PlatformRejected` (other 4xx, Slack `ok: false`): do not retry; `code` says why.

Messages never carry personal data: e-mail addresses are redacted on construction,
because platforms like to echo the input back in their error text.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def redact(text: str) -> str:
    """Replace anything that looks like an e-mail address with `<email>`."""
    return _EMAIL.sub("<email>", text)


class PlatformError(Exception):
    """A platform call failed. `status` is the HTTP status, 0 when no response arrived."""

    def __init__(
        self,
        platform: str,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
    ) -> None:
        self.platform = platform
        self.status = status
        self.code = redact(code)
        self.message = redact(message)
        self.retry_after = retry_after
        super().__init__(f"{platform} {status or 'network'} {self.code}: {self.message}")

    @property
    def retryable(self) -> bool:
        return self.status == 0 or self.status == 429 or self.status >= 500

    def __reduce__(self):  # keep keyword-only retry_after through pickling
        return (_rebuild, (type(self), self.platform, self.status, self.code, self.message, self.retry_after))


def _rebuild(cls, platform, status, code, message, retry_after):
    return cls(platform, status, code, message, retry_after=retry_after)


class RateLimited(PlatformError):
    """The platform asked us to slow down; `retry_after` is its advertised delay in seconds."""

    @property
    def retryable(self) -> bool:
        return True


class PlatformUnavailable(PlatformError):
    """Server error, timeout or network failure: worth retrying with backoff."""

    @property
    def retryable(self) -> bool:
        return True


class PlatformRejected(PlatformError):
    """The platform refused the request (bad input, auth, not found): retrying will not help."""

    @property
    def retryable(self) -> bool:
        return False
