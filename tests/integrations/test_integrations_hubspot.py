"""HubSpotClient against the sandbox over real HTTP."""

from __future__ import annotations

import pytest

from integrations.errors import PlatformRejected, PlatformUnavailable, RateLimited
from integrations.hubspot import HubSpotClient

EMAIL = "jane.doe@acme.example"
TASK = {
    "hs_task_subject": "Call the lead",
    "hs_timestamp": "1767225600000",
    "hubspot_owner_id": "101",
    "hs_task_status": "NOT_STARTED",
    "hs_task_priority": "HIGH",
}


async def test_upsert_contact_enriches_and_is_idempotent_by_email(hubspot, admin):
    first = await hubspot.upsert_contact(EMAIL, {"firstname": "Jane", "lifecyclestage": "lead"})
    again = await hubspot.upsert_contact(EMAIL.upper(), {"firstname": "Jane", "lifecyclestage": "lead"})

    assert first.new is True and again.new is False
    assert again.id == first.id
    assert first.properties["industry"] == "Software"
    assert first.properties["numberofemployees"] == "5000"
    assert first.properties["company"] == "Acme Corp"
    assert first.properties["createdate"] == first.properties["lastmodifieddate"]
    effects = await admin.effects("hubspot", "contact.upsert")
    assert len(effects) == 1 and effects[0]["summary"]["id"] == first.id
    assert EMAIL not in (effects[0]["key"] or "")  # the key is a hash, not the address
    assert await admin.replays("hubspot") == 1


async def test_get_update_and_search_contact(hubspot, admin):
    contact = await hubspot.upsert_contact(EMAIL, {"firstname": "Jane"})

    fetched = await hubspot.get_contact(contact.id, ["industry", "jobtitle"])
    assert fetched.id == contact.id
    assert fetched.properties["industry"] == "Software" and fetched.properties["jobtitle"]
    assert "firstname" not in fetched.properties  # only what was asked for (plus defaults)

    updated = await hubspot.update_contact(contact.id, {"hs_lead_status": "IN_PROGRESS"})
    assert updated.properties["hs_lead_status"] == "IN_PROGRESS"
    [effect] = await admin.effects("hubspot", "contact.update")
    assert effect["summary"]["properties"] == {"hs_lead_status": "IN_PROGRESS"}

    found = await hubspot.search_contacts("email", EMAIL, ["hs_lead_status"])
    assert [c.id for c in found] == [contact.id]
    assert found[0].properties["hs_lead_status"] == "IN_PROGRESS"
    assert await hubspot.search_contacts("email", "nobody@acme.example") == []


async def test_upsert_deal_twice_with_same_key_is_one_deal(hubspot, admin):
    contact = await hubspot.upsert_contact(EMAIL, {})
    props = {
        "dealname": "Acme – inbound",
        "pipeline": "default",
        "dealstage": "appointmentscheduled",
        "hubspot_owner_id": "102",
    }

    first = await hubspot.upsert_deal("lead-1:handoff:deal", props, contact.id)
    second = await hubspot.upsert_deal("lead-1:handoff:deal", props, contact.id)

    assert first == second
    [deal] = await admin.effects("hubspot", "deal.upsert")
    assert deal["key"] == "lead-1:handoff:deal"
    assert deal["summary"]["properties"]["dealstage"] == "appointmentscheduled"
    [link] = await admin.effects("hubspot", "association.create")
    assert link["summary"] == {"from": f"deals/{first}", "to": f"contacts/{contact.id}", "associationTypeId": 3}


async def test_upsert_task_is_idempotent_and_needs_a_timestamp(hubspot, admin):
    contact = await hubspot.upsert_contact(EMAIL, {})

    first = await hubspot.upsert_task("lead-1:handoff:task", TASK, contact.id)
    assert first == await hubspot.upsert_task("lead-1:handoff:task", TASK, contact.id)
    [task] = await admin.effects("hubspot", "task.upsert")
    assert task["summary"]["properties"]["hs_task_subject"] == "Call the lead"
    [link] = await admin.effects("hubspot", "association.create")
    assert link["summary"]["associationTypeId"] == 204

    with pytest.raises(PlatformRejected) as caught:
        await hubspot.upsert_task("lead-2:handoff:task", {"hs_task_subject": "x"}, contact.id)
    assert (caught.value.status, caught.value.code) == (400, "VALIDATION_ERROR")


async def test_list_owners_follows_pagination(hubspot, admin):
    owners = await hubspot.list_owners(page_size=2)

    assert [o.id for o in owners] == ["101", "102", "103", "104", "105"]  # archived 106 left out
    assert owners[0].first_name == "Ava" and owners[0].user_id == 9101 and not owners[0].archived
    assert (await admin.stats())["requests"]["hubspot"] == {"200": 3}


async def test_unknown_contact_is_rejected_not_found(hubspot):
    with pytest.raises(PlatformRejected) as caught:
        await hubspot.get_contact("999999", ["email"])
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (404, "OBJECT_NOT_FOUND", False)


async def test_wrong_token_is_rejected_and_not_retryable(sandbox, assert_no_email):
    async with HubSpotClient(sandbox.url, "wrong-token") as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.upsert_contact(EMAIL, {})
    err = caught.value
    assert (err.platform, err.status, err.code, err.retryable) == ("hubspot", 401, "INVALID_AUTHENTICATION", False)
    assert_no_email(err)


async def test_rate_limit_advertises_the_interval(hubspot, admin, assert_no_email):
    await admin.set_faults("hubspot", rate_limit_next=1, retry_after_s=2)

    with pytest.raises(RateLimited) as caught:
        await hubspot.upsert_contact(EMAIL, {})
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (429, "RATE_LIMIT", 2.0)
    assert caught.value.retryable
    assert_no_email(caught.value)
    assert (await hubspot.upsert_contact(EMAIL, {})).new  # the storm is over; nothing was applied before


async def test_server_error_is_retryable(hubspot, admin):
    await admin.set_faults("hubspot", fail_next=1, error_status=503)

    with pytest.raises(PlatformUnavailable) as caught:
        await hubspot.list_owners()
    assert (caught.value.status, caught.value.retryable) == (503, True)


async def test_lost_response_then_retry_creates_one_deal(hubspot, admin):
    contact = await hubspot.upsert_contact(EMAIL, {})
    await admin.set_faults("hubspot", fail_next=1, fail_after_apply=True)

    with pytest.raises(PlatformUnavailable):
        await hubspot.upsert_deal("lead-1:deal", {"dealname": "Acme"}, contact.id)
    deal_id = await hubspot.upsert_deal("lead-1:deal", {"dealname": "Acme"}, contact.id)

    [deal] = await admin.effects("hubspot", "deal.upsert")
    assert deal["summary"]["id"] == deal_id
    assert len(await admin.effects("hubspot", "association.create")) == 1


async def test_network_error_is_unavailable_with_status_zero(closed_url, assert_no_email):
    async with HubSpotClient(closed_url, "token") as client:
        with pytest.raises(PlatformUnavailable) as caught:
            await client.upsert_contact(EMAIL, {})
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (0, "network_error", True)
    assert_no_email(caught.value)


async def test_timeout_is_unavailable_with_status_zero(sandbox, admin):
    await admin.set_faults("hubspot", latency_ms=500)
    async with HubSpotClient(sandbox.url, sandbox.tokens.hubspot_token.get_secret_value(), timeout=0.1) as client:
        with pytest.raises(PlatformUnavailable) as caught:
            await client.list_owners()
    assert (caught.value.status, caught.value.code) == (0, "timeout")
