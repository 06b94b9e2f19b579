"""One email per send key, on a platform that keeps no idempotency (SendGrid's mail/send).

SendGrid sends again when asked again. A worker that dies after SendGrid accepted an
email and before the activity completed leaves the server retrying the activity, and a
plain retry would be a second email. So an activity that sends mail does this:

- Attempt 1 sends: nothing can have gone out with its key before.
- A later attempt first asks SendGrid's Email Activity feed for a message carrying the
  key (the custom arg `mops_idempotency_key`, `SendGridClient.sent_with_key`). Found: the
  earlier attempt sent it, and this one answers with that message, sending nothing.
- Not found means "not sent" only once the feed has had time to show the earlier
  attempt's email: the feed lags the send, by up to `settle`
  (`Settings.sendgrid_activity_settle_seconds`), counted from when the earlier attempts
  were surely over. Before that the attempt fails with the retryable
  `ErrorType.EMAIL_SEND_UNSETTLED`, saying when it looks again (`next_retry_delay`), and
  leaves a heartbeat mark so the next attempt keeps counting from the same instant
  instead of starting the window over. A feed that cannot be read (no Email Activity
  add-on, a refused query) is the same retryable error with the reason: never a re-send.
- A send SendGrid answered with a refusal (4xx, 429) took nothing: that attempt leaves
  the mark "never sent", and the next one sends at once.
- An attempt starts a send only before its own deadline (start-to-close timeout), so an
  attempt the server has given up on does not send long after the next one began. A
  send started just before the deadline is answered (or abandoned) within the HTTP
  timeout: the window (ten minutes by default) covers that and the feed's lag (about a
  minute) together.

The window is counted on the worker's clock from the start of an attempt; the clocks of
the workers must agree to well within it. A mark is left only by an attempt that then
fails without sending, so the mark an attempt inherits never hides a send.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import ErrorType
from integrations.errors import PlatformError, PlatformRejected, RateLimited
from integrations.sendgrid import SendGridClient

# "No attempt ever sent": what an attempt whose send SendGrid refused (4xx, 429) leaves.
NEVER_SENT = datetime.min.replace(tzinfo=UTC)


class QuietMark(BaseModel):
    """Heartbeat details of an attempt that failed without sending: no attempt up to and
    including `attempt` sent anything after `quiet_since`."""

    attempt: int
    quiet_since: datetime


def _unsettled(message: str, delay: timedelta | None = None) -> ApplicationError:
    return ApplicationError(message, type=ErrorType.EMAIL_SEND_UNSETTLED, next_retry_delay=delay)


def _inherited(info: activity.Info) -> datetime | None:
    """The previous attempt's mark, if it left one (it then sent nothing)."""
    if not info.heartbeat_details:
        return None
    try:
        mark = QuietMark.model_validate(info.heartbeat_details[0])
    except ValidationError:
        return None
    return mark.quiet_since if mark.attempt == info.attempt - 1 else None


def _mark(info: activity.Info, quiet_since: datetime) -> None:
    activity.heartbeat(QuietMark(attempt=info.attempt, quiet_since=quiet_since).model_dump(mode="json"))


class EmailOnce:
    """Where an activity's attempts look before they send, and how long they wait."""

    def __init__(self, sendgrid: SendGridClient, *, settle: timedelta) -> None:
        self._sendgrid = sendgrid
        self._settle = settle

    def attempt(self) -> Attempt:
        """Called first thing in the activity: the attempt's clock starts now."""
        return Attempt(self._sendgrid, self._settle, activity.info(), datetime.now(UTC))


class Attempt:
    """The feed check and the deadline-bound send of one activity attempt."""

    def __init__(self, sendgrid: SendGridClient, settle: timedelta, info: activity.Info, began: datetime) -> None:
        self._sendgrid, self._settle, self._info, self._began = sendgrid, settle, info, began

    async def sent_earlier(self, key: str) -> str | None:
        """On a retry, the X-Message-Id an earlier attempt's email with `key` got; None
        when nothing went out (on attempt 1 at once, later once the feed can tell)."""
        info = self._info
        if info.attempt == 1:
            return None
        # Earlier attempts were over when this one began (each ends before the next is
        # scheduled; `send` keeps a given-up attempt from sending late).
        quiet_since = _inherited(info) or self._began
        if quiet_since == NEVER_SENT:
            return None  # the previous attempt's send was refused, and nothing went out before
        try:
            found = await self._sendgrid.sent_with_key(key)
        except PlatformRejected as err:
            _mark(info, quiet_since)
            raise _unsettled(
                "an earlier attempt may have sent this email, and SendGrid's Email Activity feed "
                f"cannot be read ({err.status} {err.code}: {err.message}; the account needs the Email "
                "Activity add-on and the API key its scope): not re-sending until it can"
            ) from None
        except PlatformError:
            _mark(info, quiet_since)
            raise
        if found:
            return found[0].x_message_id
        settled_at = quiet_since + self._settle
        now = datetime.now(UTC)
        if now < settled_at:
            _mark(info, quiet_since)
            raise _unsettled(
                "an earlier attempt may have sent this email, and SendGrid's Email Activity feed "
                f"shows a send only up to {self._settle.total_seconds():g} s after it: not in the feed "
                f"yet, looking again at {settled_at:%Y-%m-%d %H:%M:%S} UTC (not re-sent before)",
                settled_at - now,
            )
        return None

    async def once(self, key: str, send: Callable[[], Awaitable[str]]) -> str:
        """The X-Message-Id of the one email with `key`: an earlier attempt's, else `send`'s
        (for sends with nothing to decide between the look and the send)."""
        earlier = await self.sent_earlier(key)
        return earlier if earlier is not None else await self.send(send)

    async def send(self, send: Callable[[], Awaitable[str]]) -> str:
        """Run `send`, unless this attempt is past its deadline (start-to-close timeout):
        the server has then given up on it and the next attempt may have looked already.

        A send SendGrid refused (a 4xx or 429 answer: it took nothing) leaves the mark
        "never sent", so the next attempt sends without waiting for the feed; a 5xx or no
        answer at all leaves none (the email may be out)."""
        timeout = self._info.start_to_close_timeout
        if timeout and datetime.now(UTC) >= self._began + timeout:
            raise _unsettled("this attempt is past its deadline: not sending (the next attempt looks first)")
        try:
            return await send()
        except (PlatformRejected, RateLimited):
            # Reached only when nothing earlier was sent either (attempt 1, or the feed said so).
            _mark(self._info, NEVER_SENT)
            raise
