"""SendGrid's Email Activity feed in the sandbox: found by custom arg only after its lag,
rate limited, a paid add-on, and refusing what it cannot parse."""

from __future__ import annotations

import httpx

from sandbox.server import SandboxServer
from sandbox.settings import SandboxTokens
from tests.conftest import SANDBOX_FEED_LAG_S, eventually

QUERY = "unique_args['mops_idempotency_key']=\"{}\""


def mail(key: str, to: str = "ada@acme.example") -> dict:
    return {
        "personalizations": [{"to": [{"email": to}], "custom_args": {"mops_idempotency_key": key}}],
        "from": {"email": "marketing@mops.example"},
        "subject": "Hello",
        "content": [{"type": "text/html", "value": "<p>Hi</p>"}],
    }


async def test_a_message_is_found_by_its_custom_arg_once_the_lag_has_passed(http, auth) -> None:
    sent = await http.post("/v3/mail/send", json=mail("k-1"), headers=auth["sendgrid"])
    await http.post("/v3/mail/send", json=mail("k-2", "bob@acme.example"), headers=auth["sendgrid"])

    async def found() -> list[dict]:
        response = await http.get("/v3/messages", params={"query": QUERY.format("k-1")}, headers=auth["sendgrid"])
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    [message] = await eventually(found, interval=SANDBOX_FEED_LAG_S, what="the message in the feed")
    assert message["msg_id"].split(".")[0] == sent.headers["X-Message-Id"]
    assert (message["to_email"], message["subject"], message["status"]) == ("ada@acme.example", "Hello", "delivered")
    assert {"from_email", "opens_count", "clicks_count", "last_event_time"} <= message.keys()
    both = await http.get(
        "/v3/messages",
        params={"query": f'(from_email="marketing@mops.example") AND {QUERY.format("k-1").replace("=", "!=", 1)}'},
        headers=auth["sendgrid"],
    )
    assert [m["to_email"] for m in both.json()["messages"]] == ["bob@acme.example"]


async def test_an_accepted_message_is_not_in_the_feed_before_its_lag() -> None:
    async with (
        SandboxServer(tokens=SandboxTokens(sendgrid_activity_lag_s=3600)) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url) as http,
    ):
        auth = {"Authorization": f"Bearer {sandbox.tokens.sendgrid_api_key.get_secret_value()}"}
        assert (await http.post("/v3/mail/send", json=mail("k-late"), headers=auth)).status_code == 202
        response = await http.get("/v3/messages", params={"query": QUERY.format("k-late")}, headers=auth)
    assert (response.status_code, response.json()) == (200, {"messages": []})


async def test_the_feed_is_six_requests_a_minute(http, auth) -> None:
    params = {"query": QUERY.format("k-any")}
    answers = [(await http.get("/v3/messages", params=params, headers=auth["sendgrid"])).status_code for _ in range(7)]
    assert answers == [200] * 6 + [429]
    throttled = await http.get("/v3/messages", params=params, headers=auth["sendgrid"])
    assert throttled.headers["X-RateLimit-Remaining"] == "0" and int(throttled.headers["X-RateLimit-Reset"]) > 0
    assert throttled.json() == {"errors": [{"field": None, "message": "too many requests"}]}


async def test_the_feed_refuses_what_it_cannot_answer(http, auth) -> None:
    async def ask(**params) -> httpx.Response:
        return await http.get("/v3/messages", params=params, headers=auth["sendgrid"])

    missing = await ask()
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "query"
    unknown = await ask(query='bad_field="x"')
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["message"] == "invalid syntax: 'bad_field' is not a known field"
    assert (await ask(query="subject=unquoted")).status_code == 400
    assert (await ask(query=QUERY.format("k"), limit=0)).status_code == 400
    assert (await ask(query=QUERY.format("k"), limit=1001)).status_code == 400


async def test_an_account_without_the_email_activity_add_on_is_refused() -> None:
    async with (
        SandboxServer(tokens=SandboxTokens(sendgrid_email_activity=False)) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url) as http,
    ):
        auth = {"Authorization": f"Bearer {sandbox.tokens.sendgrid_api_key.get_secret_value()}"}
        response = await http.get("/v3/messages", params={"query": QUERY.format("k")}, headers=auth)
    assert response.status_code == 403 and response.json()["errors"][0]["message"] == "access forbidden"
