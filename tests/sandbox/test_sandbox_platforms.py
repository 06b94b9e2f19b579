"""The sandbox speaks each platform's wire format: auth, bodies, errors, headers."""

from __future__ import annotations

import pytest

UPSERT = "/crm/v3/objects/contacts/batch/upsert"


def contact_input(email: str, **props: str) -> dict:
    return {"inputs": [{"idProperty": "email", "id": email, "properties": props}]}


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("GET", "/crm/v3/owners", 401, {"category": "INVALID_AUTHENTICATION", "status": "error"}),
        ("POST", "/v3/mail/send", 401, {"errors": [{"field": None, "message": "authorization required"}]}),
        ("POST", "/api/chat.postMessage", 200, {"ok": False, "error": "not_authed"}),
    ],
)
async def test_missing_token_gets_the_platform_error(http, method, path, status, body):
    response = await http.request(method, path, json={})
    assert response.status_code == status
    assert body.items() <= response.json().items()


async def test_wrong_slack_token_is_invalid_auth(http):
    response = await http.post("/api/chat.postMessage", json={}, headers={"Authorization": "Bearer xoxb-nope"})
    assert response.json() == {"ok": False, "error": "invalid_auth"}


async def test_contact_upsert_shape_and_enrichment(http, auth):
    response = await http.post(
        UPSERT, json=contact_input("kim@smallshop.example", firstname="Kim"), headers=auth["hubspot"]
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "COMPLETE" and {"startedAt", "completedAt"} <= body.keys()
    [result] = body["results"]
    assert result["new"] is True and result["archived"] is False
    assert result["properties"]["numberofemployees"] == "12"
    assert result["properties"]["industry"] == "Retail"
    assert result["properties"]["hs_object_id"] == result["id"]
    assert response.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert int(response.headers["X-HubSpot-RateLimit-Remaining"]) < 190


async def test_given_properties_win_over_enrichment(http, auth):
    body = contact_input("kim@smallshop.example", jobtitle="Owner", company="Kim's")
    [result] = (await http.post(UPSERT, json=body, headers=auth["hubspot"])).json()["results"]
    assert (result["properties"]["jobtitle"], result["properties"]["company"]) == ("Owner", "Kim's")


async def test_upsert_validation_error_is_hubspot_shaped(http, auth):
    body = {"inputs": [{"idProperty": "firstname", "id": "x", "properties": {}}]}
    response = await http.post(UPSERT, json=body, headers=auth["hubspot"])
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR" and response.json()["correlationId"]


async def test_a_contact_property_the_portal_does_not_define_is_refused(http, auth):
    """As on HubSpot: a value for an undefined property fails the whole request, naming it."""
    body = contact_input("kim@smallshop.example", firstname="Kim", mops_favourite_colour="teal")
    response = await http.post(UPSERT, json=body, headers=auth["hubspot"])
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    message = response.json()["message"]
    assert message.startswith("Property values were not valid: ")
    assert "PROPERTY_DOESNT_EXIST" in message and '\\"mops_favourite_colour\\" does not exist' in message
    assert (await http.get("/_sandbox/state/hubspot")).json()["contacts"] == [], "nothing applied"


async def test_mops_custom_contact_properties_are_defined(http, auth):
    [contact] = (
        await http.post(
            UPSERT, json=contact_input("kim@smallshop.example", mops_lead_id="l-1"), headers=auth["hubspot"]
        )
    ).json()["results"]
    response = await http.patch(
        f"/crm/v3/objects/contacts/{contact['id']}", json={"properties": {"mops_score": "59"}}, headers=auth["hubspot"]
    )
    assert response.status_code == 200 and response.json()["properties"]["mops_score"] == "59"
    refused = await http.patch(
        f"/crm/v3/objects/contacts/{contact['id']}", json={"properties": {"mops_mood": "ok"}}, headers=auth["hubspot"]
    )
    assert refused.status_code == 400 and "PROPERTY_DOESNT_EXIST" in refused.json()["message"]


async def test_a_property_defined_through_the_properties_api_can_be_written(http, auth):
    definition = {"name": "mops_mood", "label": "Mood", "type": "string", "fieldType": "text", "groupName": "mops"}
    created = await http.post("/crm/v3/properties/contacts", json=definition, headers=auth["hubspot"])
    assert created.status_code == 201 and created.json()["hubspotDefined"] is False
    again = await http.post("/crm/v3/properties/contacts", json=definition, headers=auth["hubspot"])
    assert again.status_code == 409
    listed = (await http.get("/crm/v3/properties/contacts", headers=auth["hubspot"])).json()["results"]
    assert {"name": "mops_mood", "hubspotDefined": False} in listed
    assert {"name": "email", "hubspotDefined": True} in listed
    body = contact_input("kim@smallshop.example", mops_mood="ok")
    assert (await http.post(UPSERT, json=body, headers=auth["hubspot"])).status_code == 200


async def test_archived_owners_are_listed_separately(http, auth):
    response = await http.get("/crm/v3/owners", params={"archived": "true"}, headers=auth["hubspot"])
    [owner] = response.json()["results"]
    assert owner["id"] == "106" and owner["archived"] is True
    assert "paging" not in response.json()


async def test_owners_paging_links(http, auth):
    page = (await http.get("/crm/v3/owners", params={"limit": 4}, headers=auth["hubspot"])).json()
    assert [o["id"] for o in page["results"]] == ["101", "102", "103", "104"]
    assert page["paging"]["next"]["after"] == "4"
    rest = (await http.get("/crm/v3/owners", params={"limit": 4, "after": "4"}, headers=auth["hubspot"])).json()
    assert [o["id"] for o in rest["results"]] == ["105"] and "paging" not in rest


async def test_mail_send_is_202_with_message_id_and_rate_limit_headers(http, auth):
    body = {
        "personalizations": [{"to": [{"email": "a@initech.example"}]}],
        "from": {"email": "m@mops.example"},
        "subject": "Hi",
        "content": [{"type": "text/html", "value": "<p>Hi</p>"}],
    }
    response = await http.post("/v3/mail/send", json=body, headers=auth["sendgrid"])
    assert response.status_code == 202 and response.content == b""
    assert response.headers["X-Message-Id"]
    assert all(h in response.headers for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"))


async def test_mail_send_validation_error_is_sendgrid_shaped(http, auth):
    response = await http.post("/v3/mail/send", json={"personalizations": []}, headers=auth["sendgrid"])
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "personalizations" and error["message"]


async def test_per_address_group_suppressions_shape(http, auth):
    await http.post(
        "/v3/asm/groups/11/suppressions", json={"recipient_emails": ["a@initech.example"]}, headers=auth["sendgrid"]
    )
    await http.post(
        "/v3/asm/groups/12/suppressions", json={"recipient_emails": ["b@initech.example"]}, headers=auth["sendgrid"]
    )

    body = (await http.get("/v3/asm/suppressions/a@initech.example", headers=auth["sendgrid"])).json()
    assert [(g["id"], g["suppressed"]) for g in body["suppressions"]] == [(11, True), (12, False)]
    members = (await http.get("/v3/asm/groups/11/suppressions", headers=auth["sendgrid"])).json()
    assert members == ["a@initech.example"]
    assert (await http.get("/v3/asm/suppressions/global/a@initech.example", headers=auth["sendgrid"])).json() == {}


async def test_slack_post_message_shape(http, auth):
    response = await http.post(
        "/api/chat.postMessage", json={"channel": "#general", "text": "hi"}, headers=auth["slack"]
    )
    body = response.json()
    assert body["ok"] is True and body["channel"].startswith("C") and body["message"]["text"] == "hi"
    assert body["ts"] == body["message"]["ts"]
    missing = await http.post("/api/chat.postMessage", json={"channel": "#general"}, headers=auth["slack"])
    assert missing.json() == {"ok": False, "error": "no_text"}


async def test_slack_accepts_form_encoded_arguments(http, auth):
    response = await http.post(
        "/api/users.lookupByEmail", data={"email": "erin.walsh@mops.example"}, headers=auth["slack"]
    )
    assert response.json()["user"]["id"] == "U00000105"


LINKEDIN_POST = {
    "author": "urn:li:organization:1",
    "commentary": "hi",
    "visibility": "PUBLIC",
    "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
    "lifecycleState": "PUBLISHED",
    "isReshareDisabledByAuthor": False,
}
CREATES = {
    "slack": ("/api/chat.postMessage", {"channel": "#general", "text": "hi"}, "chat.post"),
    "linkedin": ("/rest/posts", LINKEDIN_POST, "post.create"),
    "wordpress": ("/wp-json/wp/v2/posts", {"title": "Hi", "content": "<p>hi</p>", "status": "draft"}, "post.create"),
    "meta": (
        "/v21.0/act_1234567890/campaigns",
        {"name": "Spring", "objective": "OUTCOME_LEADS", "status": "PAUSED", "special_ad_categories": []},
        "campaign.create",
    ),
    "sendgrid": (
        "/v3/mail/send",
        {
            "personalizations": [{"to": [{"email": "a@acme.example"}]}],
            "from": {"email": "news@mops.example"},
            "subject": "hi",
            "content": [{"type": "text/plain", "value": "hi"}],
        },
        "mail.send",
    ),
}


@pytest.mark.parametrize("platform", sorted(CREATES))
async def test_a_repeated_idempotency_key_makes_a_second_effect(http, auth, admin, platform):
    """None of the real APIs has an Idempotency-Key: a create sent twice with one is two creates."""
    path, body, kind = CREATES[platform]
    headers = {**auth[platform], "Idempotency-Key": "same"}
    first = await http.post(path, json=body, headers=headers)
    second = await http.post(path, json=body, headers=headers)

    assert first.status_code == second.status_code and 200 <= first.status_code < 300, second.text
    effects = await admin.effects(platform, kind)
    assert len(effects) == 2 and effects[0]["summary"] != effects[1]["summary"]  # two objects, two ids
    assert await admin.replays(platform) == 0


async def test_a_repeated_idempotency_key_on_google_ads_is_refused_as_a_duplicate(http, auth, admin):
    """Google Ads has no Idempotency-Key either: the repeat is a second create, refused for its name."""
    op = {
        "create": {"name": "Spring", "amountMicros": "20000000", "deliveryMethod": "STANDARD", "explicitlyShared": True}
    }
    headers = {**auth["google_ads"], "Idempotency-Key": "same"}
    path = "/v18/customers/1234567890/campaignBudgets:mutate"
    first = await http.post(path, json={"operations": [op]}, headers=headers)
    second = await http.post(path, json={"operations": [op]}, headers=headers)

    assert first.status_code == 200, first.text
    assert second.status_code == 400 and "DUPLICATE_NAME" in second.text
    assert len(await admin.effects("google_ads")) == 1 and await admin.replays("google_ads") == 0


async def test_a_repeated_idempotency_key_on_hubspot_is_a_second_upsert(http, auth, admin):
    """HubSpot has no Idempotency-Key: the repeat runs again, and the upsert by email finds the contact."""
    body = {"inputs": [{"idProperty": "email", "id": "a@acme.example", "properties": {"firstname": "A"}}]}
    headers = {**auth["hubspot"], "Idempotency-Key": "same"}
    path = "/crm/v3/objects/contacts/batch/upsert"
    first = await http.post(path, json=body, headers=headers)
    second = await http.post(path, json=body, headers=headers)

    assert first.json()["results"][0]["new"] is True and second.json()["results"][0]["new"] is False
    assert len(await admin.effects("hubspot")) == 1 and await admin.replays("hubspot") == 1  # ran, changed nothing


@pytest.mark.parametrize(
    ("platform", "path", "header", "value"),
    [
        ("hubspot", "/crm/v3/owners", "X-HubSpot-RateLimit-Interval-Milliseconds", "3000"),
        ("slack", "/api/users.lookupByEmail", "Retry-After", "3"),
    ],
)
async def test_rate_limit_headers_advertise_retry_after(http, auth, admin, platform, path, header, value):
    await admin.set_faults(platform, rate_limit_next=1, retry_after_s=3)
    response = await http.get(path, headers=auth[platform])
    assert response.status_code == 429
    assert response.headers[header] == value


async def test_hubspot_429_body(http, auth, admin):
    await admin.set_faults("hubspot", rate_limit_next=1)
    response = await http.get("/crm/v3/owners", headers=auth["hubspot"])
    body = response.json()
    assert (body["status"], body["errorType"]) == ("error", "RATE_LIMIT") and body["policyName"]
    assert "Retry-After" not in response.headers
