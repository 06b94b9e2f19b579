"""SendGridClient against the sandbox over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from integrations.errors import PlatformRejected, PlatformUnavailable, RateLimited
from integrations.sendgrid import SendGridClient
from tests.conftest import SANDBOX_FEED_LAG_S, eventually

TO = "lead@globex.example"


def mail(key: str = "lead-1:welcome", **overrides) -> dict:
    return {
        "to_email": TO,
        "from_email": "marketing@mops.example",
        "subject": "Welcome",
        "html": "<p>Hi</p>",
        "asm_group_id": 4242,
        "categories": ["mops", "default-nurture"],
        "custom_args": {"mops_lead_id": "lead-1"},
        "idempotency_key": key,
        **overrides,
    }


async def test_send_mail_twice_with_same_key_is_two_sends_found_by_key(sendgrid, admin):
    """SendGrid keeps no idempotency: the key only travels as a custom arg, by which the
    Email Activity feed finds every message that carries it (after the feed's lag)."""
    first = await sendgrid.send_mail(**mail())
    second = await sendgrid.send_mail(**mail())

    assert first and second and first != second
    sent = await admin.effects("sendgrid", "mail.send")
    assert [e["summary"]["message_id"] for e in sent] == [first, second]
    summary = sent[0]["summary"]
    assert summary["to"] == [TO] and summary["subject"] == "Welcome"
    assert summary["categories"] == ["mops", "default-nurture"] and summary["asm_group_id"] == 4242
    assert summary["custom_args"] == {"mops_lead_id": "lead-1", "mops_idempotency_key": "lead-1:welcome"}
    assert summary["dropped"] == []

    async def both_in_the_feed():
        return len(found := await sendgrid.sent_with_key("lead-1:welcome")) == 2 and found

    found = await eventually(both_in_the_feed, interval=SANDBOX_FEED_LAG_S, what="both sends in the feed")
    assert [m.x_message_id for m in found] == [second, first], "newest first"
    assert {m.to_email for m in found} == {TO}
    assert await sendgrid.sent_with_key("lead-1:other") == []


async def test_a_key_the_feed_cannot_quote_is_refused_before_sending(sendgrid, admin):
    with pytest.raises(ValueError, match="idempotency_key"):
        await sendgrid.send_mail(**mail('lead-1:"welcome"'))
    assert await admin.effects("sendgrid", "mail.send") == []


async def test_different_keys_are_different_sends(sendgrid, admin):
    assert await sendgrid.send_mail(**mail("a")) != await sendgrid.send_mail(**mail("b"))
    assert len(await admin.effects("sendgrid", "mail.send")) == 2


async def test_group_suppression(sendgrid, admin):
    assert not await sendgrid.is_suppressed(TO, 4242)

    await sendgrid.add_suppression(4242, TO)
    await sendgrid.add_suppression(4242, TO)  # already there: no second effect

    assert await sendgrid.is_suppressed(TO, 4242)
    assert await sendgrid.is_suppressed(TO.upper(), 4242)
    assert not await sendgrid.is_suppressed(TO, 7)
    assert not await sendgrid.is_suppressed(TO, None)
    [effect] = await admin.effects("sendgrid", "suppression.add")
    assert effect["summary"] == {"group_id": 4242, "email": TO}
    await sendgrid.send_mail(**mail())
    [sent] = await admin.effects("sendgrid", "mail.send")
    assert sent["summary"]["dropped"] == [TO]  # accepted, then dropped like SendGrid does


async def test_global_unsubscribe_suppresses_every_group(sandbox, sendgrid):
    key = sandbox.tokens.sendgrid_api_key.get_secret_value()
    async with httpx.AsyncClient(base_url=sandbox.url, headers={"Authorization": f"Bearer {key}"}) as http:
        response = await http.post("/v3/asm/suppressions/global", json={"recipient_emails": ["x+tag@globex.example"]})
        assert response.status_code == 201

    assert await sendgrid.is_suppressed("x+tag@globex.example", None)
    assert await sendgrid.is_suppressed("x+tag@globex.example", 4242)
    assert not await sendgrid.is_suppressed(TO, None)


async def test_wrong_key_is_rejected(sandbox, assert_no_email):
    async with SendGridClient(sandbox.url, "SG.wrong") as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.send_mail(**mail())
    err = caught.value
    assert (err.status, err.code, err.message, err.retryable) == (401, "unauthorized", "authorization required", False)
    assert_no_email(err)


async def test_invalid_payload_is_rejected_with_the_field(sendgrid, admin):
    with pytest.raises(PlatformRejected) as caught:
        await sendgrid.send_mail(**mail(from_email=""))
    assert (caught.value.status, caught.value.code) == (400, "bad_request")
    assert caught.value.message.startswith("from.email:")
    assert await admin.effects("sendgrid") == []


async def test_rate_limit_reads_the_reset_epoch(sendgrid, admin, assert_no_email):
    await admin.set_faults("sendgrid", rate_limit_next=1, retry_after_s=3)

    with pytest.raises(RateLimited) as caught:
        await sendgrid.send_mail(**mail())
    assert caught.value.status == 429 and caught.value.retryable
    assert 2.0 <= caught.value.retry_after <= 4.0  # X-RateLimit-Reset is whole epoch seconds
    assert_no_email(caught.value)
    assert await admin.effects("sendgrid") == []


async def test_server_error_is_retryable(sendgrid, admin):
    await admin.set_faults("sendgrid", fail_next=1, error_status=500)

    with pytest.raises(PlatformUnavailable) as caught:
        await sendgrid.is_suppressed(TO, 4242)
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (500, "server_error", True)


async def test_lost_response_then_retry_sends_again(sendgrid, admin):
    """A send whose answer was lost, sent again, is a second email: what makes a retry
    safe is the activity's look in the Email Activity feed (activities/email_once.py)."""
    await admin.set_faults("sendgrid", fail_next=1, fail_after_apply=True, error_status=502)

    with pytest.raises(PlatformUnavailable):
        await sendgrid.send_mail(**mail())
    message_id = await sendgrid.send_mail(**mail())

    lost, again = await admin.effects("sendgrid", "mail.send")
    assert again["summary"]["message_id"] == message_id != lost["summary"]["message_id"]
    assert await admin.replays("sendgrid") == 0


async def test_network_error_is_unavailable_with_status_zero(closed_url, assert_no_email):
    async with SendGridClient(closed_url, "SG.key") as client:
        with pytest.raises(PlatformUnavailable) as caught:
            await client.is_suppressed(TO, 1)
    assert (caught.value.status, caught.value.retryable) == (0, True)
    assert_no_email(caught.value)


async def test_request_logs_carry_no_address(sendgrid, slack, caplog):
    caplog.set_level("INFO", logger="httpx")
    await sendgrid.is_suppressed("private.person@globex.example", 4242)
    await slack.lookup_user_by_email("private.person@globex.example")
    assert caplog.records, "httpx logged nothing: the check would be vacuous"
    assert "private.person" not in caplog.text
