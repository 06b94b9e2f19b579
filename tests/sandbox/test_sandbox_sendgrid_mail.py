"""SendGrid v3 mail/send in the sandbox keeps whole messages and refuses what SendGrid refuses."""

from __future__ import annotations

import pytest

TEXT = {"type": "text/plain", "value": "Hi Ada"}
HTML = {"type": "text/html", "value": "<p>Hi Ada</p>"}


def mail(**overrides) -> dict:
    body = {
        "personalizations": [{"to": [{"email": "ada@acme.example"}], "custom_args": {"mops_lead_id": "L1"}}],
        "from": {"email": "marketing@mops.example"},
        "subject": "Hello",
        "content": [TEXT, HTML],
        "headers": {"List-Unsubscribe": "<https://gw.example/v1/unsubscribe/t>"},
        "asm": {"group_id": 4242},
        "categories": ["mops"],
    }
    body.update(overrides)
    return body


async def test_whole_message_is_kept(http, auth, admin) -> None:
    response = await http.post("/v3/mail/send", json=mail(), headers={**auth["sendgrid"], "Idempotency-Key": "k1"})
    assert response.status_code == 202
    [effect] = await admin.effects("sendgrid", "mail.send")
    summary = effect["summary"]
    assert summary["content"] == [TEXT, HTML] and summary["content_types"] == ["text/plain", "text/html"]
    assert summary["subject"] == "Hello" and summary["to"] == ["ada@acme.example"]
    assert summary["headers"] == {"List-Unsubscribe": "<https://gw.example/v1/unsubscribe/t>"}
    assert summary["custom_args"] == {"mops_lead_id": "L1"} and summary["asm_group_id"] == 4242


async def test_the_same_idempotency_key_twice_is_two_emails(http, auth, admin) -> None:
    """SendGrid keeps no idempotency: the header changes nothing, each request is an email."""
    headers = {**auth["sendgrid"], "Idempotency-Key": "same-key"}
    first = await http.post("/v3/mail/send", json=mail(), headers=headers)
    second = await http.post("/v3/mail/send", json=mail(), headers=headers)

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.headers["X-Message-Id"] != second.headers["X-Message-Id"]
    sent = await admin.effects("sendgrid", "mail.send")
    assert [e["summary"]["message_id"] for e in sent] == [first.headers["X-Message-Id"], second.headers["X-Message-Id"]]
    assert all(e["summary"]["content"] == [TEXT, HTML] and e["summary"]["to"] == ["ada@acme.example"] for e in sent)
    assert await admin.replays("sendgrid") == 0


@pytest.mark.parametrize(
    ("content", "field", "says"),
    [
        ([HTML, TEXT], "content.0.type", "text/plain content must be first"),
        ([{"type": "text/plain", "value": ""}, HTML], "content.0.value", "at least one character"),
        ([TEXT, {"type": "text/html"}], "content.1.value", "at least one character"),
        ([TEXT, TEXT], "content.1.type", "only be provided once"),
        ([{"value": "x"}], "content.0.type", "content type"),
        ([TEXT, {"type": "text/calendar", "value": "x"}, HTML], "content", "text/html content must follow text/plain"),
        ("<p>x</p>", "content", "must be an array"),
        ([], "content", "content parameter is required"),
    ],
)
async def test_content_sendgrid_refuses_is_refused(http, auth, admin, content, field, says) -> None:
    response = await http.post("/v3/mail/send", json=mail(content=content), headers=auth["sendgrid"])
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field and says in error["message"]
    assert await admin.effects("sendgrid", "mail.send") == [], "a refused message is not sent"


async def test_custom_args_and_headers_must_be_strings(http, auth) -> None:
    body = mail(personalizations=[{"to": [{"email": "a@x.example"}], "custom_args": {"n": 1}}])
    response = await http.post("/v3/mail/send", json=body, headers=auth["sendgrid"])
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "personalizations.0.custom_args"
    response = await http.post("/v3/mail/send", json=mail(headers={"X-N": 1}), headers=auth["sendgrid"])
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "headers"
