"""What a lead receives, read back from the sandbox: for each shipped journey the emails
arrive whole (text and HTML, personalised, footer), and the footer's unsubscribe link,
followed as a mail client does (RFC 8058 one-click), unsubscribes the lead."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from domain.leads import LeadStage
from tests.conftest import eventually
from tests.gateway.conftest import Gateway, capture, unique_email


async def mails_to(gw: Gateway, email: str) -> list[dict]:
    return [e["summary"] for e in await gw.admin.effects("sendgrid", "mail.send") if email in e["summary"]["to"]]


def parts(mail: dict) -> tuple[str, str]:
    assert mail["content_types"] == ["text/plain", "text/html"]
    return mail["content"][0]["value"], mail["content"][1]["value"]


@pytest.mark.parametrize(
    ("journey", "steps"),
    [("default-nurture", ["welcome"]), ("demo", ["welcome", "case-study"])],
)
async def test_a_lead_receives_whole_personalised_emails_and_can_unsubscribe(
    gw: Gateway, journey: str, steps: list[str]
) -> None:
    email = unique_email("analytical.example")
    lead = await capture(gw, email, first_name="Ada", company="Analytical Engines", journey_id=journey)

    async def received():
        mails = await mails_to(gw, email)
        return len(mails) >= len(steps) and mails

    mails = await eventually(received, timeout=60, what=f"{len(steps)} email(s) of {journey}")
    assert [m["custom_args"]["mops_step"] for m in mails[: len(steps)]] == steps
    base = gw.settings.unsubscribe_base_url()
    for mail in mails:
        text, html = parts(mail)
        assert text.startswith("Hi Ada,") and "<p>Hi Ada,</p>" in html
        assert f"utm_campaign={journey}" in text
        assert gw.settings.mail_sender_postal in text and gw.settings.mail_sender_postal in html
        assert f"Email preferences: {gw.settings.mail_preferences_url}" in text
        link = mail["headers"]["List-Unsubscribe"].strip("<>")
        assert link.startswith(f"{base}/v1/unsubscribe/") and f"Unsubscribe: {link}" in text
        assert f'href="{link}"' in html
    welcome_text, _ = parts(mails[0])
    assert "Thanks for joining us from Analytical Engines." in welcome_text

    # Follow the footer's link as the mail client does for List-Unsubscribe-Post.
    path = urlsplit(link).path
    r = await gw.http.post(
        path, content=b"List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 200 and r.json()["lead_id"] == lead["lead_id"]

    async def unsubscribed():
        st = await gw.leads.state(lead_id=lead["lead_id"])
        return st.stage == LeadStage.UNSUBSCRIBED and st

    await eventually(unsubscribed, what="the footer link to unsubscribe the lead")
    suppressions = [e["summary"] for e in await gw.admin.effects("sendgrid", "suppression.add")]
    assert any(s["email"] == email for s in suppressions), "the opt-out reaches the email platform"
