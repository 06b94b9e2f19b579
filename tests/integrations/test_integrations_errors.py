"""Error mapping details that the sandbox does not exercise (mock transports)."""

from __future__ import annotations

import pickle

import httpx
import pytest

from integrations.errors import PlatformRejected, PlatformUnavailable, RateLimited, redact
from integrations.hubspot import HubSpotClient
from integrations.slack import SlackClient


def test_redact_hides_addresses():
    assert redact("Contact with email a.b+c@x-y.example already exists") == "Contact with email <email> already exists"


def test_errors_survive_pickling_with_retry_after():
    err = pickle.loads(pickle.dumps(RateLimited("slack", 429, "ratelimited", "slow down", retry_after=3.0)))
    assert isinstance(err, RateLimited) and err.retry_after == 3.0 and err.retryable


async def test_platform_messages_echoing_an_email_are_redacted(assert_no_email):
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"status": "error", "category": "CONFLICT", "message": "Contact already exists: jane@acme.example"}
        return httpx.Response(409, json=body)

    async with HubSpotClient("https://api.hubapi.com", "t", transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.upsert_contact("jane@acme.example", {})
    assert caught.value.code == "CONFLICT"
    assert_no_email(caught.value)


async def test_requests_carry_auth_and_user_agent():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True, "channel": "C1", "ts": "1.000001"})

    async with SlackClient("https://slack.com", "xoxb-1", transport=httpx.MockTransport(handler)) as client:
        assert await client.post_message("C1", "hi") == "1.000001"
    [request] = seen
    assert request.url == "https://slack.com/api/chat.postMessage"
    assert request.headers["authorization"] == "Bearer xoxb-1"
    assert request.headers["user-agent"] == "mops/0.1"
    assert request.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("code", ["internal_error", "fatal_error"])
async def test_slack_transient_ok_false_is_retryable(code):
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": False, "error": code}))
    async with SlackClient("https://slack.com", "xoxb-1", transport=transport) as client:
        with pytest.raises(PlatformUnavailable) as caught:
            await client.post_message("C1", "hi")
    assert caught.value.code == code and caught.value.retryable


async def test_non_json_gateway_error_is_unavailable():
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="<html>Bad gateway</html>"))
    async with HubSpotClient("https://api.hubapi.com", "t", transport=transport) as client:
        with pytest.raises(PlatformUnavailable) as caught:
            await client.list_owners()
    assert (caught.value.status, caught.value.code) == (502, "HTTP_502")


async def test_hubspot_retry_after_header_wins_over_interval():
    headers = {"Retry-After": "7", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    transport = httpx.MockTransport(
        lambda request: httpx.Response(429, headers=headers, json={"status": "error", "errorType": "RATE_LIMIT"})
    )
    async with HubSpotClient("https://api.hubapi.com", "t", transport=transport) as client:
        with pytest.raises(RateLimited) as caught:
            await client.list_owners()
    assert caught.value.retry_after == 7.0
