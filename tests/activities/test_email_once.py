"""A retried email send looks in SendGrid's Email Activity feed before it sends again
(activities/email_once.py), against the sandbox over real HTTP."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.contracts import ErrorType
from activities.email_once import NEVER_SENT, EmailOnce, QuietMark
from activities.policies import PLATFORM_TIMEOUT
from integrations.errors import PlatformUnavailable, RateLimited
from integrations.sendgrid import SendGridClient
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from sandbox.settings import SandboxTokens

SETTLE = timedelta(minutes=10)


@pytest.fixture(scope="module")
async def instant_feed():
    """A sandbox whose feed shows a message as soon as it is accepted."""
    async with SandboxServer(tokens=SandboxTokens(sendgrid_activity_lag_s=0)) as server:
        yield server


@pytest.fixture
async def sendgrid(instant_feed: SandboxServer):
    async with SandboxAdmin(instant_feed.url) as admin:
        await admin.reset()
    async with SendGridClient(instant_feed.url, instant_feed.tokens.sendgrid_api_key.get_secret_value()) as client:
        yield client


async def mails(server: SandboxServer) -> list[dict]:
    async with SandboxAdmin(server.url) as admin:
        return [e["summary"] for e in await admin.effects("sendgrid", "mail.send")]


def env(attempt: int, mark: QuietMark | None = None) -> tuple[ActivityEnvironment, list[Any]]:
    environment, beats = ActivityEnvironment(), []
    environment.info = dataclasses.replace(
        environment.info,
        attempt=attempt,
        start_to_close_timeout=PLATFORM_TIMEOUT,
        heartbeat_details=[mark.model_dump(mode="json")] if mark else [],
    )
    environment.on_heartbeat = lambda *details: beats.extend(details)
    return environment, beats


def send_once(sendgrid: SendGridClient, key: str):
    once = EmailOnce(sendgrid, settle=SETTLE)

    async def activity_body() -> str:
        attempt = once.attempt()
        earlier = await attempt.sent_earlier(key)
        if earlier is not None:
            return f"earlier:{earlier}"
        return await attempt.send(
            lambda: sendgrid.send_mail(
                to_email="ada@acme.example",
                from_email="marketing@mops.example",
                subject="Hello",
                html="<p>Hello Ada</p>",
                asm_group_id=None,
                categories=[],
                custom_args={},
                idempotency_key=key,
            )
        )

    return activity_body


async def test_a_retry_finds_the_earlier_attempts_email_and_sends_nothing(sendgrid, instant_feed) -> None:
    key = f"k-{uuid.uuid4().hex}"
    first = await env(1)[0].run(send_once(sendgrid, key))
    again = await env(2)[0].run(send_once(sendgrid, key))

    assert again == f"earlier:{first}"
    [mail] = await mails(instant_feed)
    assert mail["content"] == [{"type": "text/html", "value": "<p>Hello Ada</p>"}]


async def test_a_retry_does_not_conclude_not_sent_before_the_feed_could_show_it(sendgrid, instant_feed) -> None:
    environment, beats = env(2)
    with pytest.raises(ApplicationError) as raised:
        await environment.run(send_once(sendgrid, f"k-{uuid.uuid4().hex}"))

    err = raised.value
    assert err.type == ErrorType.EMAIL_SEND_UNSETTLED and not err.non_retryable
    assert err.next_retry_delay is not None and SETTLE - timedelta(seconds=30) < err.next_retry_delay <= SETTLE
    assert "not re-sent before" in err.message
    [mark] = [QuietMark.model_validate(b) for b in beats]
    assert mark.attempt == 2 and mark.quiet_since <= datetime.now(UTC)
    assert await mails(instant_feed) == []


async def test_the_next_attempt_counts_from_the_same_instant_and_then_sends(sendgrid, instant_feed) -> None:
    key = f"k-{uuid.uuid4().hex}"
    long_ago = QuietMark(attempt=2, quiet_since=datetime.now(UTC) - SETTLE - timedelta(seconds=1))
    message_id = await env(3, long_ago)[0].run(send_once(sendgrid, key))

    [mail] = await mails(instant_feed)
    assert mail["message_id"] == message_id


async def test_a_mark_of_an_older_attempt_is_not_inherited(sendgrid, instant_feed) -> None:
    """Attempt 3 may have sent after attempt 2's mark: attempt 4 starts the window anew."""
    stale = QuietMark(attempt=2, quiet_since=datetime.now(UTC) - SETTLE - timedelta(seconds=1))
    with pytest.raises(ApplicationError) as raised:
        await env(4, stale)[0].run(send_once(sendgrid, f"k-{uuid.uuid4().hex}"))
    assert raised.value.type == ErrorType.EMAIL_SEND_UNSETTLED
    assert await mails(instant_feed) == []


async def test_a_feed_that_cannot_be_read_never_means_not_sent() -> None:
    async with (
        SandboxServer(tokens=SandboxTokens(sendgrid_email_activity=False)) as server,
        SendGridClient(server.url, server.tokens.sendgrid_api_key.get_secret_value()) as sendgrid,
    ):
        long_ago = QuietMark(attempt=1, quiet_since=datetime.now(UTC) - SETTLE * 10)
        with pytest.raises(ApplicationError) as raised:
            await env(2, long_ago)[0].run(send_once(sendgrid, f"k-{uuid.uuid4().hex}"))
        assert raised.value.type == ErrorType.EMAIL_SEND_UNSETTLED and not raised.value.non_retryable
        assert "Email Activity add-on" in raised.value.message
        assert await mails(server) == []


async def test_a_send_sendgrid_refused_is_retried_without_waiting_for_the_feed(sendgrid, instant_feed) -> None:
    key = f"k-{uuid.uuid4().hex}"
    async with SandboxAdmin(instant_feed.url) as admin:
        await admin.set_faults("sendgrid", rate_limit_next=1, retry_after_s=1, path_prefix="/v3/mail/send")
    environment, beats = env(1)
    with pytest.raises(RateLimited):
        await environment.run(send_once(sendgrid, key))
    [mark] = [QuietMark.model_validate(b) for b in beats]
    assert mark.attempt == 1 and mark.quiet_since == NEVER_SENT

    message_id = await env(2, mark)[0].run(send_once(sendgrid, key))
    [mail] = await mails(instant_feed)
    assert mail["message_id"] == message_id


async def test_a_send_without_an_answer_leaves_no_mark(sendgrid, instant_feed) -> None:
    """A 5xx may come after SendGrid took the email: the next attempt must wait for the feed."""
    async with SandboxAdmin(instant_feed.url) as admin:
        await admin.set_faults("sendgrid", fail_next=1, error_status=503, path_prefix="/v3/mail/send")
    environment, beats = env(1)
    with pytest.raises(PlatformUnavailable):
        await environment.run(send_once(sendgrid, f"k-{uuid.uuid4().hex}"))
    assert beats == []
