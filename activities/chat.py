"""Chat activities (Slack Web API). Hosted on the chat task queue."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import CHAT_NOTIFY, ErrorType
from activities.errors import platform_errors
from activities.models import NotifyInput, NotifyResult
from activities.post_once import post_message_once
from integrations.slack import SlackClient


class ChatActivities:
    def __init__(self, slack: SlackClient) -> None:
        self._slack = slack

    @activity.defn(name=CHAT_NOTIFY.name)
    @platform_errors
    async def notify(self, inp: NotifyInput) -> NotifyResult:
        """Post to a channel, or to a person found by their work email, once per key
        (a retry looks for the earlier attempt's message first: `post_once`)."""
        channel = inp.channel
        if inp.user_email:
            channel = await self._slack.lookup_user_by_email(inp.user_email)
            if channel is None:
                raise ApplicationError("chat user not found", type=ErrorType.PLATFORM_REJECTED, non_retryable=True)
        if not channel:
            raise ApplicationError(
                "notify needs a channel or a user", type=ErrorType.PLATFORM_REJECTED, non_retryable=True
            )
        ts = await post_message_once(self._slack, channel, inp.text, idempotency_key=inp.idempotency_key)
        return NotifyResult(ts=ts, channel=channel)
