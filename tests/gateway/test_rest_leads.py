"""REST /v1 leads over real HTTP against the real dev server and workers."""

from __future__ import annotations

import uuid

from domain.leads import LeadStage
from domain.unsubscribe import mint_token, unsubscribe_url
from tests.conftest import eventually
from tests.gateway.conftest import Gateway, capture, unique_email


def error(r) -> dict:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert "\n" not in body["error"]["message"]
    return body["error"]


async def test_capture_is_idempotent_by_email(gw: Gateway) -> None:
    email = unique_email()
    first = await capture(gw, email, capture_id="cap-1-" + uuid.uuid4().hex)
    assert first["created"] is True and first["touches"] == 1 and first["workflow_id"] == f"lead-{first['lead_id']}"
    assert email.split("@")[0] not in first["workflow_id"]
    touch = await capture(gw, email.upper(), source="event")
    assert touch["created"] is False and touch["lead_id"] == first["lead_id"] and touch["touches"] == 2
    # A retried request with the same capture_id gets the original answer and counts no touch.
    body = {"email": email, "source": "web_form", "consent": True, "capture_id": "retry-" + uuid.uuid4().hex}
    a = await gw.http.post("/v1/leads", json=body, headers=gw.auth("ingest"))
    b = await gw.http.post("/v1/leads", json=body, headers=gw.auth("ingest"))
    assert a.status_code == b.status_code == 200 and a.json() == b.json() and a.json()["touches"] == 3


async def test_capture_refusals_name_the_field_and_never_echo_the_email(gw: Gateway) -> None:
    h = gw.auth("ingest")
    cases = [
        ({"email": "ada@acme.example", "source": "web_form"}, "consent"),  # default journey needs consent
        ({"email": "not-an-address", "source": "web_form", "consent": True}, "email"),
        ({"email": "ada@acme.example", "source": "carrier-pigeon", "consent": True}, "source"),
        (
            {"email": "ada@acme.example", "source": "web_form", "consent": True, "journey_id": "no-such-journey"},
            "journey",
        ),
        ({"email": "ada@acme.example", "source": "web_form", "consent": True, "country": "Germany"}, "country"),
        ({"email": "ada@acme.example", "source": "web_form", "consent": True, "favourite": "x"}, "favourite"),
        ({"source": "web_form"}, "email"),
    ]
    for body, field in cases:
        r = await gw.http.post("/v1/leads", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        err = error(r)
        assert err["message"].startswith(f"{field}:"), err
        assert "ada@acme.example" not in r.text and "not-an-address" not in r.text
    r = await gw.http.post("/v1/leads", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422 and error(r)["message"].startswith("body")


async def test_auth_missing_unknown_and_missing_scope(gw: Gateway) -> None:
    body = {"email": unique_email(), "source": "web_form", "consent": True}
    r = await gw.http.post("/v1/leads", json=body)
    assert r.status_code == 401 and error(r)["code"] == "unauthenticated" and r.headers["www-authenticate"] == "Bearer"
    r = await gw.http.post("/v1/leads", json=body, headers={"Authorization": "Bearer mops_not-a-key"})
    assert r.status_code == 401 and "unknown API key" in error(r)["message"]
    r = await gw.http.post("/v1/leads", json=body, headers=gw.auth("reader"))
    assert r.status_code == 403 and "'ingest'" in error(r)["message"]
    r = await gw.http.get(f"/v1/leads/{'0' * 24}", headers=gw.auth("ingest"))
    assert r.status_code == 403 and "'read'" in error(r)["message"]
    # admin holds every scope
    r = await gw.http.get(f"/v1/leads/{'0' * 24}", headers=gw.auth("admin"))
    assert r.status_code == 404


async def test_events_are_idempotent_by_event_id(gw: Gateway) -> None:
    lead = await capture(gw)
    lid = lead["lead_id"]
    for _ in range(2):
        r = await gw.http.post(
            f"/v1/leads/{lid}/events", json={"type": "click", "event_id": "evt-1"}, headers=gw.auth("ingest")
        )
        assert r.status_code == 202 and r.json() == {"lead_id": lid, "accepted": True, "event_id": "evt-1"}
    r = await gw.http.post(
        f"/v1/leads/lead-{lid}/events", json={"type": "visit", "event_id": "evt-2"}, headers=gw.auth("ingest")
    )
    assert r.status_code == 202

    async def recorded():
        st = (await gw.http.get(f"/v1/leads/{lid}", headers=gw.auth("reader"))).json()
        assert st["events_recorded"] == 2, st["events_recorded"]
        return st

    await eventually(recorded, what="two distinct events recorded")
    r = await gw.http.post(f"/v1/leads/{lid}/events", json={"type": "wink"}, headers=gw.auth("ingest"))
    assert r.status_code == 422 and error(r)["message"].startswith("type:")
    r = await gw.http.post(f"/v1/leads/{'f' * 24}/events", json={"type": "click"}, headers=gw.auth("ingest"))
    assert r.status_code == 404 and error(r)["code"] == "lead_not_found"
    r = await gw.http.post("/v1/leads/ada@acme.example/events", json={"type": "click"}, headers=gw.auth("ingest"))
    assert r.status_code == 422 and error(r)["message"].startswith("lead_id:") and "ada@" not in r.text


async def test_state_and_not_found(gw: Gateway) -> None:
    lead = await capture(gw)
    r = await gw.http.get(f"/v1/leads/{lead['lead_id']}", headers=gw.auth("reader"))
    assert r.status_code == 200
    st = r.json()
    assert st["lead_id"] == lead["lead_id"] and st["consent"] is True and "email" not in st
    r = await gw.http.get(f"/v1/leads/{'a' * 24}", headers=gw.auth("reader"))
    assert r.status_code == 404 and error(r)["code"] == "lead_not_found"


async def test_list_by_stage_from_visibility(gw: Gateway) -> None:
    email = unique_email()
    lead = await capture(gw, email)

    async def listed():
        r = await gw.http.get("/v1/leads", params={"stage": "nurturing", "limit": 500}, headers=gw.auth("reader"))
        assert r.status_code == 200, r.text
        return next((x for x in r.json()["leads"] if x["lead_id"] == lead["lead_id"]), None)

    row = await eventually(listed, what="the lead listed as nurturing")
    assert set(row) == {"lead_id", "workflow_id", "stage", "score", "segment", "owner_id", "status"}
    assert row["stage"] == "nurturing" and row["status"] == "running"
    r = await gw.http.get("/v1/leads", params={"stage": "nurturing", "limit": 1}, headers=gw.auth("reader"))
    assert len(r.json()["leads"]) == 1
    r = await gw.http.get("/v1/leads", params={"stage": "asleep"}, headers=gw.auth("reader"))
    assert r.status_code == 422 and error(r)["message"].startswith("stage:")
    r = await gw.http.get("/v1/leads", params={"stage": "new", "limit": 0}, headers=gw.auth("reader"))
    assert r.status_code == 422 and error(r)["message"].startswith("limit:")


async def test_unsubscribe_via_api(gw: Gateway) -> None:
    lead = await capture(gw)
    lid = lead["lead_id"]
    r = await gw.http.post(f"/v1/leads/{lid}/unsubscribe", headers=gw.auth("ingest"))
    assert r.status_code == 202 and r.json() == {"lead_id": lid, "accepted": True}

    async def unsubscribed():
        st = await gw.leads.state(lead_id=lid)
        return st.unsubscribed and st

    await eventually(unsubscribed, what="the lead unsubscribed")


async def test_one_click_unsubscribe(gw: Gateway) -> None:
    lead = await capture(gw)
    lid = lead["lead_id"]
    url = unsubscribe_url(gw.url, gw.settings.gateway_unsubscribe_secret.get_secret_value(), lid)
    assert url.startswith(f"{gw.url}/v1/unsubscribe/{lid}.")
    token = url.rsplit("/", 1)[1]
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    forged = mint_token("another-secret", lid)
    r = await gw.http.post(f"/v1/unsubscribe/{forged}", content=b"List-Unsubscribe=One-Click", headers=form)
    assert r.status_code == 404 and error(r)["code"] == "unknown_token"
    r = await gw.http.post(f"/v1/unsubscribe/{token}", content=b"List-Unsubscribe=Later", headers=form)
    assert r.status_code == 422 and error(r)["message"].startswith("List-Unsubscribe:")
    r = await gw.http.post(f"/v1/unsubscribe/{token}", json={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 415
    assert not (await gw.leads.state(lead_id=lid)).unsubscribed, "refused requests change nothing"

    r = await gw.http.post(url, content=b"List-Unsubscribe=One-Click", headers=form)  # no API key: the token is it
    assert r.status_code == 200 and r.json() == {"lead_id": lid, "accepted": True}

    async def unsubscribed():
        st = await gw.leads.state(lead_id=lid)
        return st.stage == LeadStage.UNSUBSCRIBED and st

    st = await eventually(unsubscribed, what="one-click unsubscribe to reach the journey")
    assert st.outcome == "unsubscribed (one-click)"


async def test_framework_errors_are_json(gw: Gateway) -> None:
    r = await gw.http.get("/v1/nothing-here", headers=gw.auth("reader"))
    assert r.status_code == 404 and error(r)["code"] == "not_found"
    r = await gw.http.delete("/v1/leads", headers=gw.auth("reader"))
    assert r.status_code == 405 and error(r)["code"] == "method_not_allowed" and r.headers["allow"]
    r = await gw.http.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert (await gw.http.get("/docs")).status_code == 200
    spec = (await gw.http.get("/openapi.json")).json()
    assert "/v1/content/{content_id}/decisions" in spec["paths"] and "/webhooks/sendgrid" in spec["paths"]
    assert (
        "access-control-allow-origin"
        not in (await gw.http.get("/healthz", headers={"Origin": "https://evil.example"})).headers
    ), "CORS is off by default"


async def test_campaign_parameters_put_touches_on_the_lead_path(gw: Gateway) -> None:
    email = unique_email()
    lid = (
        await capture(
            gw, email, utm={"source": "facebook", "medium": "paid_social", "campaign": "spring", "content": "meta_ads"}
        )
    )["lead_id"]
    click = {"type": "click", "detail": "https://site.example/s?utm_campaign=spring&utm_content=email"}
    r = await gw.http.post(f"/v1/leads/{lid}/events", json=click, headers=gw.auth("ingest"))
    assert r.status_code == 202, r.text
    r = await gw.http.post(
        "/v1/leads",
        json={"email": email, "source": "web_form", "utm": {"campaign": "x" * 201}},
        headers=gw.auth("ingest"),
    )
    assert r.status_code == 422 and "utm.campaign" in error(r)["message"]

    async def path():
        r = await gw.http.get(f"/v1/leads/{lid}", headers=gw.auth("reader"))
        touches = r.json()["touch_path"]
        return len(touches) == 2 and touches

    touches = await eventually(path, what="two touches")
    assert [(t["kind"], t["utm"]["campaign"], t["utm"]["content"]) for t in touches] == [
        ("capture:web_form", "spring", "meta_ads"),
        ("click", "spring", "email"),
    ]


async def test_capture_takes_ad_click_ids_and_refuses_garbage_naming_the_field(gw: Gateway) -> None:
    h = gw.auth("ingest")
    base = {"email": unique_email(), "source": "paid_search", "consent": True}
    ok = await gw.http.post(
        "/v1/leads",
        json={
            **base,
            "click_ids": {"fbp": "fb.1.1700000000000.123456789"},
            "landing_url": "https://site.example/spring?utm_campaign=spring&gclid=Cj0KCQiA1234567890abc",
        },
        headers=h,
    )
    assert ok.status_code == 200, ok.text
    cases = [
        ({**base, "click_ids": {"gclid": "<script>"}}, "click_ids.gclid"),
        ({**base, "click_ids": {"fbc": "IwAR2abcdefghijk"}}, "click_ids.fbc"),
        ({**base, "click_ids": {"msclkid": "x"}}, "click_ids.msclkid"),
        ({**base, "landing_url": "https://site.example/?fbclid=%3Cscript%3E"}, "landing_url.fbclid"),
    ]
    for body, field in cases:
        r = await gw.http.post("/v1/leads", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert error(r)["message"].startswith(f"{field}:"), r.text
        assert "script" not in r.text, "the input is never echoed"
