"""Lead ads through the gateway, Meta's and LinkedIn's. Meta: the sandbox, as Meta, stores a person's instant-form
submission and delivers the signed `leadgen` change to `/webhooks/meta`; the gateway reads the
lead from Graph and starts its journey (the welcome email arrives, addressed by the form's
answers). A redelivery is the same lead; a forged delivery, a form that is not listed and a
lead without the consent its journey requires start nothing. LinkedIn's Lead Sync the same
way, with its endpoint validation and its notification signature."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from gateway.webhooks.meta_leads import hub_signature
from starter.service.leads import LeadNotFound
from tests.conftest import eventually
from tests.gateway.conftest import Gateway, unique_email

FORM = "1122334455667788"  # policies/lead-ad-forms.yaml: default-nurture, consent by checkbox


async def submit(gw: Gateway, email: str, *, form: str = FORM, opt_in: bool = True, deliver: bool = True) -> dict:
    """A person submits the instant form (the sandbox delivers it as Meta does)."""
    async with httpx.AsyncClient(base_url=gw.sandbox_url, timeout=30) as http:
        r = await http.post(
            "/_sandbox/meta/leads",
            json={
                "form_id": form,
                "answers": {"email": email, "first_name": "Ada", "company_name": "Analytical Engines"},
                "checkboxes": {"marketing_opt_in": opt_in},
                "ad_id": "23851234567890123",
                "campaign_id": "23851234567890001",
                **({"callback_url": f"{gw.url}/webhooks/meta"} if deliver else {}),
            },
        )
    assert r.status_code == 200, r.text
    return r.json()


async def mails_to(gw: Gateway, email: str) -> list[dict]:
    return [e["summary"] for e in await gw.admin.effects("sendgrid", "mail.send") if email in e["summary"]["to"]]


async def no_lead(gw: Gateway, email: str) -> bool:
    try:
        await gw.leads.state(email=email)
    except LeadNotFound:
        return True
    return False


async def test_the_subscription_handshake_echoes_only_for_our_verify_token(gw: Gateway) -> None:
    token = gw.settings.meta_webhook_verify_token.get_secret_value()
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": token}
    r = await gw.http.get("/webhooks/meta", params=query)
    assert r.status_code == 200 and r.text == "1158201444"
    r = await gw.http.get("/webhooks/meta", params={**query, "hub.verify_token": "guess"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "verification_failed"


async def test_a_lead_ad_submission_starts_its_journey_once(gw: Gateway) -> None:
    email = unique_email("analytical.example")
    sent = await submit(gw, email)
    assert sent["delivered"]["status"] == 200, sent
    answer = json.loads(sent["delivered"]["body"])
    assert (answer["captured"], answer["refused"]) == (1, []), answer
    assert email not in sent["body"], "Meta's delivery names the lead, not the person"

    async def welcomed():
        mails = await mails_to(gw, email)
        return mails and mails

    (mail,) = await eventually(welcomed, timeout=60, what="the welcome email to the lead-ad lead")
    assert mail["content"][0]["value"].startswith("Hi Ada,")
    state = await gw.leads.state(email=email)
    assert state.consent and state.journey_id == "default-nurture"
    touch = state.touch_path[0]
    assert touch.kind == "capture:paid_social" and touch.utm is not None
    assert (touch.utm.source, touch.utm.medium, touch.utm.campaign) == ("facebook", "lead_ad", "spring-launch-2027")
    assert touch.utm.content == "23851234567890123"

    # Meta redelivers until it gets a 2xx: the same body and signature is the same lead.
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sent["signature"]}
    again = await gw.http.post("/webhooks/meta", content=sent["body"].encode(), headers=headers)
    assert again.status_code == 200 and again.json()["duplicates"] == 1 and again.json()["captured"] == 0
    state = await gw.leads.state(email=email)
    assert state.touches == 1 and len(await mails_to(gw, email)) == 1


async def test_a_forged_delivery_is_refused_and_starts_nothing(gw: Gateway) -> None:
    email = unique_email()
    sent = await submit(gw, email, deliver=False)
    body = sent["body"].encode()
    for headers, code in (
        ({}, "missing_signature"),
        ({"X-Hub-Signature-256": hub_signature("not-the-app-secret", body)}, "invalid_signature"),
        ({"X-Hub-Signature-256": sent["signature"]}, "invalid_signature"),  # a valid signature, another body
    ):
        content = (
            body if headers.get("X-Hub-Signature-256") != sent["signature"] else body.replace(b"leadgen", b"leadgeN")
        )
        r = await gw.http.post(
            "/webhooks/meta", content=content, headers={"Content-Type": "application/json", **headers}
        )
        assert r.status_code == 401 and r.json()["error"]["code"] == code, r.text
    assert await no_lead(gw, email)


async def test_leads_mops_cannot_capture_are_answered_with_the_reason_and_start_nothing(gw: Gateway) -> None:
    unlisted, refused = unique_email(), unique_email()
    sent = await submit(gw, unlisted, form="9988776655")
    answer = json.loads(sent["delivered"]["body"])
    assert sent["delivered"]["status"] == 200 and answer["captured"] == 0
    assert answer["refused"][0]["reason"] == "form 9988776655: not a meta lead form listed in lead-ad-forms.yaml"

    sent = await submit(gw, refused, opt_in=False)  # default-nurture requires marketing consent
    answer = json.loads(sent["delivered"]["body"])
    assert answer["captured"] == 0 and answer["refused"][0]["reason"].startswith("consent: journey 'default-nurture'")
    assert await no_lead(gw, unlisted) and await no_lead(gw, refused)


# --- LinkedIn Lead Sync --------------------------------------------------------------------

LINKEDIN_FORM = "1234567"  # policies/lead-ad-forms.yaml


async def submit_linkedin(gw: Gateway, email: str, *, opt_in: bool = True, deliver: bool = True) -> dict:
    async with httpx.AsyncClient(base_url=gw.sandbox_url, timeout=30) as http:
        r = await http.post(
            "/_sandbox/linkedin/leads",
            json={
                "form_id": LINKEDIN_FORM,
                "answers": {"email": email, "first_name": "Grace", "company": "Navy"},
                "consents": {"marketing_opt_in": opt_in},
                "creative_id": "9876543",
                **({"callback_url": f"{gw.url}/webhooks/linkedin"} if deliver else {}),
            },
        )
    assert r.status_code == 200, r.text
    return r.json()


async def test_linkedin_validates_the_endpoint_with_the_client_secret(gw: Gateway) -> None:
    r = await gw.http.get("/webhooks/linkedin", params={"challengeCode": "890e4665-4dfe-4ab1-b689-ed553bceeed3"})
    secret = gw.settings.linkedin_client_secret.get_secret_value().encode()
    expected = hmac.new(secret, b"890e4665-4dfe-4ab1-b689-ed553bceeed3", hashlib.sha256).hexdigest()
    assert r.status_code == 200 and r.json()["challengeResponse"] == expected


async def test_a_linkedin_lead_starts_its_journey_once_and_a_forgery_nothing(gw: Gateway) -> None:
    email = unique_email("navy.example")
    sent = await submit_linkedin(gw, email)
    answer = json.loads(sent["delivered"]["body"])
    assert sent["delivered"]["status"] == 200 and (answer["captured"], answer["refused"]) == (1, []), sent
    assert email not in sent["body"]

    async def welcomed():
        return await mails_to(gw, email)

    (mail,) = await eventually(welcomed, timeout=60, what="the welcome email to the LinkedIn lead")
    assert mail["content"][0]["value"].startswith("Hi Grace,")
    touch = (await gw.leads.state(email=email)).touch_path[0]
    assert touch.kind == "capture:paid_social" and touch.utm is not None
    assert (touch.utm.source, touch.utm.campaign, touch.utm.content) == ("linkedin", "spring-launch-2027", "9876543")

    headers = {"Content-Type": "application/json", "X-LI-Signature": sent["signature"]}
    again = await gw.http.post("/webhooks/linkedin", content=sent["body"].encode(), headers=headers)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert len(await mails_to(gw, email)) == 1

    other = unique_email()
    forged_body = (await submit_linkedin(gw, other, deliver=False))["body"].encode()
    for signature in ("", "hmacsha256=" + "0" * 64, sent["signature"]):
        r = await gw.http.post(
            "/webhooks/linkedin",
            content=forged_body,
            headers={"Content-Type": "application/json", **({"X-LI-Signature": signature} if signature else {})},
        )
        assert r.status_code == 401, r.text
    assert await no_lead(gw, other)

    no_consent = unique_email()
    answer = json.loads((await submit_linkedin(gw, no_consent, opt_in=False))["delivered"]["body"])
    assert answer["captured"] == 0 and answer["refused"][0]["reason"].startswith("consent: journey")
    assert await no_lead(gw, no_consent)
