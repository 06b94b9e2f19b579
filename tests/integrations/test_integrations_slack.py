"""SlackClient against the sandbox over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.errors import PlatformRejected, PlatformUnavailable, RateLimited
from integrations.slack import SlackClient


async def test_post_message_returns_ts_and_is_recorded(slack, admin):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Hot lead*"}}]
    ts = await slack.post_message("#sales-handoffs", "Hot lead for Ava", blocks=blocks)

    [post] = await admin.effects("slack", "chat.post")
    assert post["summary"]["channel"] == "#sales-handoffs"
    assert post["summary"]["text"] == "Hot lead for Ava"
    assert post["summary"]["blocks"] == blocks
    assert post["summary"]["ts"] == ts


async def test_post_twice_with_same_key_is_two_messages_as_on_slack(slack, admin):
    first = await slack.post_message("C0123456", "hello", idempotency_key="lead-1:notify")
    second = await slack.post_message("C0123456", "hello", idempotency_key="lead-1:notify")

    assert first != second
    posts = await admin.effects("slack", "chat.post")
    assert [p["key"] for p in posts] == ["lead-1:notify", "lead-1:notify"] and await admin.replays("slack") == 0


@pytest.mark.parametrize("channel", ["#launch-room", "C0LAUNCH1", "U00000101"])
async def test_posted_with_key_finds_the_message_in_history(slack, channel):
    since = datetime.now(UTC) - timedelta(minutes=1)
    await slack.post_message(channel, "other", idempotency_key="lead-2:notify")
    ts = await slack.post_message(channel, "hello", idempotency_key="lead-1:notify")
    await slack.post_message(channel, "no key")

    assert await slack.posted_with_key(channel, "lead-1:notify", since=since) == ts
    assert await slack.posted_with_key(channel, "lead-3:notify", since=since) is None
    assert await slack.posted_with_key(channel, "lead-1:notify", since=datetime.now(UTC) + timedelta(minutes=1)) is None


async def test_posted_with_key_pages_through_history(slack, monkeypatch):
    monkeypatch.setattr("integrations.slack.HISTORY_PAGE", 2)
    since = datetime.now(UTC) - timedelta(minutes=1)
    ts = await slack.post_message("#busy", "hello", idempotency_key="k")
    for n in range(5):
        await slack.post_message("#busy", f"later {n}")

    assert await slack.posted_with_key("#busy", "k", since=since) == ts


async def test_posted_with_key_in_a_channel_never_posted_to_is_none(slack):
    assert await slack.posted_with_key("#quiet", "k", since=datetime.now(UTC) - timedelta(minutes=1)) is None


async def test_lookup_user_by_email(slack):
    user_id = await slack.lookup_user_by_email("ava.patel@mops.example")
    assert user_id == "U00000101"
    assert await slack.post_message(user_id, "You have a new lead")  # a DM by user id
    assert await slack.lookup_user_by_email("nobody@elsewhere.example") is None, "not in the workspace"
    staff = await slack.lookup_user_by_email("new.hire@mops.example")
    assert staff and staff == await slack.lookup_user_by_email("new.hire@mops.example"), "staff: stable ids"


async def test_unknown_channel_is_rejected(slack, admin):
    with pytest.raises(PlatformRejected) as caught:
        await slack.post_message("sales-handoffs", "hi")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (200, "channel_not_found", False)
    assert await admin.effects("slack") == []


@pytest.mark.parametrize(("token", "code"), [("xoxb-wrong", "invalid_auth"), ("", "not_authed")])
async def test_bad_token_is_rejected(sandbox, token, code, assert_no_email):
    async with SlackClient(sandbox.url, token) as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.lookup_user_by_email("ava.patel@mops.example")
    assert (caught.value.code, caught.value.retryable) == (code, False)
    assert_no_email(caught.value)


async def test_rate_limit_uses_retry_after(slack, admin, assert_no_email):
    await admin.set_faults("slack", rate_limit_next=1, retry_after_s=2)

    with pytest.raises(RateLimited) as caught:
        await slack.lookup_user_by_email("ava.patel@mops.example")
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (429, "ratelimited", 2.0)
    assert_no_email(caught.value)


async def test_server_error_is_retryable(slack, admin):
    await admin.set_faults("slack", fail_next=1, error_status=500)

    with pytest.raises(PlatformUnavailable) as caught:
        await slack.post_message("#general", "hi")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (500, "internal_error", True)


async def test_lost_response_then_the_lookup_finds_the_post(slack, admin):
    """The answer is lost after Slack posted: what a retry finds (`post_once`) is that post."""
    since = datetime.now(UTC) - timedelta(minutes=1)
    await admin.set_faults("slack", fail_next=1, fail_after_apply=True)

    with pytest.raises(PlatformUnavailable):
        await slack.post_message("#general", "hi", idempotency_key="k1")

    [post] = await admin.effects("slack", "chat.post")
    assert await slack.posted_with_key("#general", "k1", since=since) == post["summary"]["ts"]


async def test_network_error_is_unavailable_with_status_zero(closed_url):
    async with SlackClient(closed_url, "xoxb-token") as client:
        with pytest.raises(PlatformUnavailable) as caught:
            await client.post_message("#general", "hi")
    assert (caught.value.status, caught.value.retryable) == (0, True)
