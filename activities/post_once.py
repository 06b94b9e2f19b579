"""One Slack message and one LinkedIn post per key, on platforms that keep no idempotency.

Neither Slack's `chat.postMessage` nor LinkedIn's `POST /rest/posts` takes an
idempotency key: asked again, they post again. A worker that dies after the platform
accepted and before the activity completed leaves the server retrying the activity,
and a plain retry would be a second message or post. So:

- Attempt 1 posts: nothing can have gone out with its key before.
- A later attempt first looks for what an earlier one made, through the platform's own
  read API, among what was made since the first attempt was scheduled
  (`earlier_attempts_since`): a Slack message carrying the key in its metadata
  (`SlackClient.posted_with_key`), a LinkedIn post of the author with exactly this
  commentary (`LinkedInClient.post_with_commentary`; the workflows make a post's
  commentary unique per piece). Found: the attempt answers with it and posts nothing.
- Not found: nothing went out, and it posts. Both platforms show a message or post in
  these reads as soon as they have answered its create (unlike SendGrid's Email Activity
  feed, which lags: see `email_once`), so there is nothing to wait for.

A lookup the platform refuses (a token without the read scope) fails the attempt with
the platform's error: never a blind re-post.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import activity

from integrations.linkedin import LinkedInClient
from integrations.slack import SlackClient

# How far the worker's and the platform's clocks may disagree (and the server's with both
# over the activity's life); the lookup window starts this much earlier to cover it.
CLOCK_SLACK = timedelta(minutes=5)


def earlier_attempts_since(info: activity.Info) -> datetime:
    """The earliest instant, on the worker's clock, an earlier attempt can have made its
    effect: when the first attempt was scheduled. Counted as an age on the server's clock
    (this attempt's start minus the first scheduling), so a server whose clock is ahead
    (the time-skipping test server) widens the window instead of missing the post."""
    return datetime.now(UTC) - (info.started_time - info.scheduled_time) - CLOCK_SLACK


async def post_message_once(slack: SlackClient, channel: str, text: str, *, idempotency_key: str) -> str:
    """Post to a Slack channel or user, unless an earlier attempt already did: the `ts`."""
    info = activity.info()
    if info.attempt > 1:
        found = await slack.posted_with_key(channel, idempotency_key, since=earlier_attempts_since(info))
        if found is not None:
            activity.logger.info("an earlier attempt posted %s already (ts %s)", idempotency_key, found)
            return found
    return await slack.post_message(channel, text, idempotency_key=idempotency_key)


async def create_post_once(linkedin: LinkedInClient, commentary: str, *, idempotency_key: str) -> str:
    """Publish a LinkedIn post, unless an earlier attempt already did: the post's URN."""
    info = activity.info()
    if info.attempt > 1:
        found = await linkedin.post_with_commentary(commentary, since=earlier_attempts_since(info))
        if found is not None:
            activity.logger.info("an earlier attempt published %s already", found)
            return found
    return await linkedin.create_post(commentary, idempotency_key=idempotency_key)
