"""A retried Slack post or LinkedIn post looks for the earlier attempt's first
(activities/post_once.py), against the sandbox over real HTTP."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import ActivityEnvironment

from activities.post_once import create_post_once, earlier_attempts_since, post_message_once
from integrations.linkedin import LinkedInClient
from integrations.slack import SlackClient
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer


@pytest.fixture
async def admin(sandbox: SandboxServer):
    async with SandboxAdmin(sandbox.url) as admin:
        await admin.reset()
        yield admin
        await admin.reset()


@pytest.fixture
async def slack(sandbox: SandboxServer, admin):
    async with SlackClient(sandbox.url, sandbox.tokens.slack_token.get_secret_value(), timeout=5) as client:
        yield client


@pytest.fixture
async def linkedin(sandbox: SandboxServer, admin):
    tokens = sandbox.tokens
    async with LinkedInClient(
        sandbox.url, tokens.linkedin_token.get_secret_value(), author_urn=tokens.linkedin_author, timeout=5
    ) as client:
        yield client


def env(attempt: int, age: timedelta = timedelta(seconds=30)) -> ActivityEnvironment:
    """An attempt that started `age` after the activity was first scheduled (server clock)."""
    environment = ActivityEnvironment()
    started = datetime.now(UTC)
    environment.info = dataclasses.replace(
        environment.info, attempt=attempt, started_time=started, scheduled_time=started - age
    )
    return environment


@pytest.mark.parametrize("channel", ["#launch", "U00000101"])
async def test_a_retried_slack_post_answers_with_the_earlier_message(slack, admin, channel):
    key = f"k-{uuid.uuid4().hex[:6]}"
    earlier = await env(1).run(post_message_once, slack, channel, "hi", idempotency_key=key)

    again = await env(2).run(post_message_once, slack, channel, "hi", idempotency_key=key)

    assert again == earlier
    assert len(await admin.effects("slack", "chat.post")) == 1


async def test_a_retried_slack_post_with_nothing_earlier_posts(slack, admin):
    await slack.post_message("#launch", "another key", idempotency_key="other")

    ts = await env(3).run(post_message_once, slack, "#launch", "hi", idempotency_key="mine")

    posts = await admin.effects("slack", "chat.post")
    assert len(posts) == 2 and posts[-1]["summary"]["ts"] == ts


async def test_a_retried_linkedin_post_answers_with_the_earlier_post(linkedin, admin):
    text = f"Spring launch (beta) {uuid.uuid4().hex[:6]}: https://mops.example/spring/ #mops"
    earlier = await env(1).run(create_post_once, linkedin, text, idempotency_key="k")

    again = await env(2).run(create_post_once, linkedin, text, idempotency_key="k")

    assert again == earlier
    assert len(await admin.effects("linkedin", "post.create")) == 1


async def test_a_retried_linkedin_post_with_nothing_earlier_posts(linkedin, admin):
    await linkedin.create_post("Spring launch, another piece", idempotency_key="other")

    urn = await env(2).run(create_post_once, linkedin, "Spring launch", idempotency_key="k")

    posts = await admin.effects("linkedin", "post.create")
    assert len(posts) == 2 and posts[-1]["summary"]["urn"] == urn


def test_a_server_clock_ahead_widens_the_window_instead_of_missing_the_post():
    """The window is the activity's age on the server's clock, counted back from the
    worker's now: a skipped-ahead server makes it longer, never in the future."""
    environment = env(2, age=timedelta(days=3))
    since = earlier_attempts_since(environment.info)
    assert since <= datetime.now(UTC) - timedelta(days=3)
