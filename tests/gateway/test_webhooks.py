"""Signed webhooks in: SendGrid (ECDSA), HubSpot (v3 HMAC), Slack (v0 HMAC). Each
refuses forged, stale, replayed and oversized requests and starts nothing; a
redelivered event has one effect."""

from __future__ import annotations

import dataclasses
import json
import random
import time
import uuid
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from domain.leads import LeadStage
from gateway.webhooks.deals import DealLookup
from tests.conftest import eventually
from tests.gateway.conftest import Gateway, capture, dumps
from tests.gateway.test_rest_content import submitted_in_review
from tests.gateway.test_rest_leads import error

BIG = 1024 * 1024 + 1


async def events_recorded(gw: Gateway, lead_id: str, n: int) -> None:
    async def check():
        st = await gw.leads.state(lead_id=lead_id)
        assert st.events_recorded == n, st.events_recorded
        return True

    await eventually(check, what=f"{n} events recorded")


async def marker(gw: Gateway, lead_id: str) -> None:
    """A last event through the API: once it is counted, everything sent before it was handled."""
    r = await gw.http.post(f"/v1/leads/{lead_id}/events", json={"type": "visit"}, headers=gw.auth("ingest"))
    assert r.status_code == 202


async def oversized(gw: Gateway, path: str, headers: dict[str, str]) -> None:
    r = await gw.http.post(path, content=b"x" * BIG, headers=headers)
    assert r.status_code == 413 and error(r)["code"] == "payload_too_large"

    async def chunks():  # no Content-Length: refused while streaming
        for _ in range(20):
            yield b"y" * 65536

    r = await gw.http.post(path, content=chunks(), headers=headers)
    assert r.status_code == 413 and error(r)["code"] == "payload_too_large"


# --- SendGrid -----------------------------------------------------------------------


def sg_event(lead_id: str, event: str = "open", **extra) -> dict:
    return {
        "email": "someone@acme.example",
        "timestamp": int(time.time()),
        "event": event,
        "sg_event_id": uuid.uuid4().hex,
        "sg_message_id": "m1.filter",
        "mops_lead_id": lead_id,
        "mops_step": "welcome",
        **extra,
    }


async def test_sendgrid_event_delivered_three_times_has_one_effect(gw: Gateway) -> None:
    lid = (await capture(gw))["lead_id"]
    body = dumps(
        [
            sg_event(lid, "click", url="https://acme.example/x?utm_campaign=spring&utm_content=email"),
            sg_event(lid, "delivered"),
            sg_event("not-ours", "open"),
        ]
    )
    answers, now = [], int(time.time())
    for i in range(3):  # SendGrid redelivers: a fresh timestamp and signature each time
        r = await gw.http.post("/webhooks/sendgrid", content=body, headers=gw.sendgrid_headers(body, timestamp=now - i))
        assert r.status_code == 200, r.text
        answers.append(r.json())
    assert answers[0] == {"received": 3, "applied": 1, "duplicates": 0, "ignored": 2}
    assert answers[1] == answers[2] == {"received": 3, "applied": 0, "duplicates": 1, "ignored": 2}
    await marker(gw, lid)
    await events_recorded(gw, lid, 2)  # the click once, plus the marker
    path = (await gw.leads.state(lead_id=lid)).touch_path
    assert [(t.kind, t.utm.campaign) for t in path if t.kind == "click"] == [("click", "spring")], path


async def test_sendgrid_refuses_forged_stale_replayed_oversized(gw: Gateway) -> None:
    lid = (await capture(gw))["lead_id"]
    body = dumps([sg_event(lid, "open")])
    url = "/webhooks/sendgrid"

    r = await gw.http.post(url, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and error(r)["code"] == "missing_signature"
    other = ec.generate_private_key(ec.SECP256R1())
    r = await gw.http.post(url, content=body, headers=gw.sendgrid_headers(body, key=other))
    assert r.status_code == 401 and error(r)["code"] == "invalid_signature"
    headers = gw.sendgrid_headers(body)
    r = await gw.http.post(url, content=body.replace(b"open", b"click"), headers=headers)
    assert r.status_code == 401 and error(r)["code"] == "invalid_signature", "a tampered body fails"
    stale = gw.sendgrid_headers(body, timestamp=int(time.time()) - 3600)
    r = await gw.http.post(url, content=body, headers=stale)
    assert r.status_code == 401 and error(r)["code"] == "stale_request"
    await oversized(gw, url, gw.sendgrid_headers(b""))
    await marker(gw, lid)
    await events_recorded(gw, lid, 1)  # none of the refused requests started anything

    r = await gw.http.post(url, content=body, headers=headers)
    assert r.status_code == 200 and r.json()["applied"] == 1
    r = await gw.http.post(url, content=body, headers=headers)  # the same signed request again
    assert r.status_code == 409 and error(r)["code"] == "replayed"
    await events_recorded(gw, lid, 2)

    r = await gw.http.post(url, content=b'{"not": "a list"}', headers=gw.sendgrid_headers(b'{"not": "a list"}'))
    assert r.status_code == 400 and error(r)["code"] == "invalid_payload"


async def test_sendgrid_unsubscribe_and_spamreport_stop_the_journey(gw: Gateway) -> None:
    for kind in ("unsubscribe", "spamreport"):
        lid = (await capture(gw))["lead_id"]
        body = dumps([sg_event(lid, kind)])
        r = await gw.http.post("/webhooks/sendgrid", content=body, headers=gw.sendgrid_headers(body))
        assert r.status_code == 200 and r.json()["applied"] == 1

        async def unsubscribed(lid=lid):
            st = await gw.leads.state(lead_id=lid)
            return st.stage == LeadStage.UNSUBSCRIBED and st

        st = await eventually(unsubscribed, what=f"{kind} to unsubscribe the lead")
        assert st.outcome == f"unsubscribed (sendgrid:{kind})"


# --- HubSpot ------------------------------------------------------------------------


async def lead_with_deal(gw: Gateway):
    lid = (await capture(gw))["lead_id"]

    async def welcomed():
        return (await gw.leads.state(lead_id=lid)).emails_sent == 1

    await eventually(welcomed, what="the welcome email")
    for kind in ("form", "reply", "click"):
        r = await gw.http.post(f"/v1/leads/{lid}/events", json={"type": kind}, headers=gw.auth("ingest"))
        assert r.status_code == 202

    async def assigned():
        st = await gw.leads.state(lead_id=lid)
        return st.stage == LeadStage.SALES_ASSIGNED and st.deal_id and st

    return lid, await eventually(assigned, what="the hand-off to sales")


def deal_stage_event(deal_id: str, stage: str) -> dict:
    return {
        "eventId": random.randint(1, 2**40),
        "subscriptionId": 4242,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": int(deal_id) if deal_id.isdigit() else deal_id,
        "propertyName": "dealstage",
        "propertyValue": stage,
        "changeSource": "CRM",
    }


async def test_hubspot_deal_stage_becomes_the_sales_decision(gw: Gateway) -> None:
    lid, st = await lead_with_deal(gw)
    accepted = deal_stage_event(st.deal_id, gw.settings.hubspot_accepted_stage)
    unrelated = deal_stage_event(st.deal_id, "presentationscheduled")
    body = dumps([unrelated, accepted])
    url = "/webhooks/hubspot"

    r = await gw.http.post(url, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and error(r)["code"] == "missing_signature"
    r = await gw.http.post(url, content=body, headers=gw.hubspot_headers(body, secret="not-the-secret"))
    assert r.status_code == 401 and error(r)["code"] == "invalid_signature"
    r = await gw.http.post(url, content=body, headers=gw.hubspot_headers(body, path="/webhooks/other"))
    assert r.status_code == 401 and error(r)["code"] == "invalid_signature", "the URI is part of the signature"
    stale = gw.hubspot_headers(body, timestamp_ms=int((time.time() - 600) * 1000))
    r = await gw.http.post(url, content=body, headers=stale)
    assert r.status_code == 401 and error(r)["code"] == "stale_request"
    await oversized(gw, url, gw.hubspot_headers(b""))
    assert (await gw.leads.state(lead_id=lid)).stage == LeadStage.SALES_ASSIGNED, "nothing started"

    headers = gw.hubspot_headers(body)
    r = await gw.http.post(url, content=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"received": 2, "applied": 1, "duplicates": 0, "ignored": 1}
    r = await gw.http.post(url, content=body, headers=headers)
    assert r.status_code == 409 and error(r)["code"] == "replayed"
    again = gw.hubspot_headers(body, timestamp_ms=int(headers["X-HubSpot-Request-Timestamp"]) - 5)
    r = await gw.http.post(url, content=body, headers=again)  # HubSpot's retry: same eventId, new signature
    assert r.status_code == 200 and r.json()["duplicates"] == 1

    async def converted():
        s = await gw.leads.state(lead_id=lid)
        return s.stage == LeadStage.CONVERTED and s

    final = await eventually(converted, what="the lead converted by the deal stage")
    assert final.outcome == "converted"


# --- Slack --------------------------------------------------------------------------


def slack_body(user: str, value: str) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "x", "team_id": "T1"},
        "actions": [{"action_id": "mops_decide", "block_id": "b1", "value": value, "type": "button"}],
        "response_url": "https://hooks.slack.example/actions/1",
        "trigger_id": uuid.uuid4().hex,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


async def test_slack_buttons_decide_as_the_mapped_person(gw: Gateway) -> None:
    cid = await submitted_in_review(gw)
    url = "/webhooks/slack"
    body = slack_body("U0OMAR", f"approve:{cid}:1")

    r = await gw.http.post(url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 401 and error(r)["code"] == "missing_signature"
    r = await gw.http.post(url, content=body, headers=gw.slack_headers(body, secret="wrong"))
    assert r.status_code == 401 and error(r)["code"] == "invalid_signature"
    r = await gw.http.post(url, content=body, headers=gw.slack_headers(body, timestamp=int(time.time()) - 600))
    assert r.status_code == 401 and error(r)["code"] == "stale_request"
    await oversized(gw, url, gw.slack_headers(b""))
    assert (await gw.content.state(cid)).decisions == [], "nothing started"

    headers = gw.slack_headers(body)
    r = await gw.http.post(url, content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["text"] == f"You approved revision 1 of {cid} (brand: pending)."
    r = await gw.http.post(url, content=body, headers=headers)
    assert r.status_code == 409 and error(r)["code"] == "replayed"
    # A retry Slack signs afresh (a different timestamp than the first delivery, so not a replay).
    again = gw.slack_headers(body, timestamp=int(headers["X-Slack-Request-Timestamp"]) - 1)
    r = await gw.http.post(url, content=body, headers=again)
    assert r.status_code == 200 and "already decided" in r.json()["text"]

    for user, value, expect in [
        ("U0MAYA", f"approve:{cid}:1", "authors cannot decide"),
        ("U0SOFIA", f"approve:{cid}:7", "current revision is 1"),
        ("U0SOFIA", f"reject:{cid}:1", "a reason is required"),
        ("U0NOBODY", f"approve:{cid}:1", "not linked"),
        ("U0SOFIA", "something-else", "not a mops decision"),
    ]:
        b = slack_body(user, value)
        r = await gw.http.post(url, content=b, headers=gw.slack_headers(b))
        assert r.status_code == 200 and expect in r.json()["text"], (user, value, r.json())
    decisions = (await gw.content.state(cid)).decisions
    assert [(d.approver, d.kind.value) for d in decisions] == [("omar", "approve")]


async def test_hubspot_deal_moved_by_someone_else_is_refused_and_changes_nothing(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    lid, st = await lead_with_deal(gw)
    original = DealLookup.deal

    async def reassigned_in_crm(self, deal_id: str):  # HubSpot says the deal belongs to another owner
        ref = await original(self, deal_id)
        return dataclasses.replace(ref, owner_id=f"{st.owner_id}9")

    monkeypatch.setattr(DealLookup, "deal", reassigned_in_crm)
    body = dumps([deal_stage_event(st.deal_id, gw.settings.hubspot_accepted_stage)])
    r = await gw.http.post("/webhooks/hubspot", content=body, headers=gw.hubspot_headers(body))
    assert r.status_code == 200 and r.json() == {"received": 1, "applied": 0, "duplicates": 0, "ignored": 1}
    after = await gw.leads.state(lead_id=lid)
    assert (after.stage, after.owner_id) == (LeadStage.SALES_ASSIGNED, st.owner_id), "the refusal changed nothing"

    monkeypatch.setattr(DealLookup, "deal", original)
    body = dumps([deal_stage_event(st.deal_id, gw.settings.hubspot_accepted_stage)])
    r = await gw.http.post("/webhooks/hubspot", content=body, headers=gw.hubspot_headers(body))
    assert r.status_code == 200 and r.json()["applied"] == 1

    async def converted():
        return (await gw.leads.state(lead_id=lid)).stage == LeadStage.CONVERTED

    await eventually(converted, what="the owner's own deal move converts the lead")
