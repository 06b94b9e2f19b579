"""SendGrid Marketing Campaigns Single Sends against the sandbox over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from integrations.errors import PlatformRejected, PlatformUnavailable
from integrations.sendgrid import SendGridClient


def single_send(**overrides) -> dict:
    return {
        "name": "Q3 launch",
        "subject": "It's here",
        "html": "<p>Hi</p>",
        "list_ids": ["list-customers"],
        "sender_id": 1,
        "suppression_group_id": 4242,
        **overrides,
    }


async def test_create_and_schedule_now(sendgrid, admin):
    single_send_id = await sendgrid.create_single_send(**single_send())

    [created] = await admin.effects("sendgrid", "singlesend.create")
    [scheduled] = await admin.effects("sendgrid", "singlesend.schedule")
    assert created["key"] == scheduled["key"] == single_send_id
    assert created["summary"] == {
        "id": single_send_id,
        "name": "Q3 launch",
        "list_ids": ["list-customers"],
        "subject": "It's here",
        "sender_id": 1,
        "suppression_group_id": 4242,
    }
    assert scheduled["summary"]["id"] == single_send_id and scheduled["summary"]["status"] == "triggered"
    [state] = (await admin.state("sendgrid"))["singlesends"]
    assert (state["id"], state["status"]) == (single_send_id, "triggered")
    assert state["email_config"]["html_content"] == "<p>Hi</p>"


async def test_the_same_single_send_created_twice_mails_twice(sendgrid, admin):
    """Single Sends have no idempotency on SendGrid: the list send's lookup by name is what
    keeps a retry from mailing the lists again (activities/list_audience.py)."""
    first = await sendgrid.create_single_send(**single_send())
    second = await sendgrid.create_single_send(**single_send())

    assert first != second
    assert len(await admin.effects("sendgrid", "singlesend.create")) == 2
    assert len(await admin.effects("sendgrid", "singlesend.schedule")) == 2
    assert await admin.replays("sendgrid") == 0


async def test_a_lost_create_answer_leaves_a_draft_found_by_name(sendgrid, admin):
    await admin.set_faults(
        "sendgrid", fail_next=1, fail_after_apply=True, error_status=502, path="/v3/marketing/singlesends"
    )
    draft = single_send()
    with pytest.raises(PlatformUnavailable):
        await sendgrid.draft_single_send(**draft)

    found = await sendgrid.find_single_send(draft["name"])
    [created] = await admin.effects("sendgrid", "singlesend.create")
    assert found == (created["summary"]["id"], "draft")


async def test_cancel_after_sending_is_recorded_but_cannot_recall(sendgrid, admin):
    single_send_id = await sendgrid.create_single_send(**single_send())

    assert await sendgrid.cancel_single_send(single_send_id) is False, "already sent: not recalled"

    [cancel] = await admin.effects("sendgrid", "singlesend.cancel")
    assert cancel["summary"] == {"id": single_send_id, "cancelled": False, "status": "triggered"}


async def test_cancel_a_scheduled_send_then_again(sandbox, sendgrid, admin, auth_sendgrid):
    async with httpx.AsyncClient(base_url=sandbox.url, headers=auth_sendgrid) as http:
        created = await http.post(
            "/v3/marketing/singlesends",
            json={
                "name": "later",
                "send_to": {"list_ids": ["l1"]},
                "email_config": {"subject": "s", "html_content": "<p/>", "sender_id": 1, "suppression_group_id": 1},
            },
        )
        single_send_id = created.json()["id"]
        scheduled = await http.put(
            f"/v3/marketing/singlesends/{single_send_id}/schedule", json={"send_at": "2099-01-01T09:00:00Z"}
        )
        assert scheduled.status_code == 201 and scheduled.json()["status"] == "scheduled"

    assert await sendgrid.cancel_single_send(single_send_id) is True
    assert await sendgrid.cancel_single_send(single_send_id) is True  # nothing scheduled any more: 404, fine

    [cancel] = await admin.effects("sendgrid", "singlesend.cancel")
    assert cancel["summary"] == {"id": single_send_id, "cancelled": True, "status": "draft"}
    [state] = (await admin.state("sendgrid"))["singlesends"]
    assert (state["status"], state["send_at"]) == ("draft", None)


async def test_cancel_unknown_is_fine(sendgrid, admin):
    await sendgrid.cancel_single_send("00000000-0000-0000-0000-000000000000")
    assert await admin.effects("sendgrid") == []


async def test_incomplete_single_send_cannot_be_scheduled(sendgrid, admin):
    with pytest.raises(PlatformRejected) as caught:
        await sendgrid.create_single_send(**single_send(list_ids=[]))
    assert (caught.value.status, caught.value.code) == (400, "bad_request")
    assert caught.value.message.startswith("send_to:")
    assert await admin.effects("sendgrid", "singlesend.schedule") == []


@pytest.fixture
def auth_sendgrid(sandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.tokens.sendgrid_api_key.get_secret_value()}"}


async def test_wrong_key_is_rejected(sandbox, admin):
    async with SendGridClient(sandbox.url, "SG.wrong") as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.create_single_send(**single_send())
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (401, "unauthorized", False)
