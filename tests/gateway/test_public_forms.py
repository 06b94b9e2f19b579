"""Public forms: a person fills a form the gateway serves (`/f/<id>`) in a real headless
Chromium and their journey starts (the welcome email arrives, with their name); every spam
defence refuses, names its field and starts nothing; one page is one capture."""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.forms import confirm_link, confirmation_id, issue_token
from domain.leads import lead_key
from gateway.app import create_app
from gateway.server import GatewayServer
from gateway.settings import GatewaySettings
from starter.service.leads import LeadNotFound
from tests.conftest import ROOT, eventually
from tests.gateway.conftest import Gateway, unique_email
from tests.gateway.test_approval_page import CHROMIUM, CHROMIUM_ARGS
from workflows.form_confirmation import FormConfirmationWorkflow

LANDING = "https://landing.example"
FORMS = f"""
forms:
  - id: test-signup
    title: Join <the> list
    journey: default-nurture
    fields:
      - {{name: email, label: Work email, maps: email, required: true, type: email}}
      - {{name: first_name, label: First name, maps: first_name}}
    consent: {{text: "Yes, email me.", version: "t-1", required: true}}
    allowed_origins: ["{LANDING}"]
    min_fill_seconds: 0
    limits: {{per_ip_per_minute: 1000, per_form_per_minute: 1000}}
  - id: slow-form
    title: Slow
    journey: default-nurture
    fields: [{{name: email, label: Email, maps: email, required: true}}]
    allowed_origins: ["{LANDING}"]
    min_fill_seconds: 600
  - id: tight-form
    title: Tight
    journey: default-nurture
    fields: [{{name: email, label: Email, maps: email, required: true}}]
    consent: {{text: "Yes", version: "t-2", required: true}}
    allowed_origins: ["{LANDING}"]
    min_fill_seconds: 0
    limits: {{per_ip_per_minute: 2, per_form_per_minute: 1000}}
  - id: confirm-signup
    title: Confirmed list
    journey: default-nurture
    fields:
      - {{name: email, label: Work email, maps: email, required: true, type: email}}
      - {{name: first_name, label: First name, maps: first_name}}
    consent: {{text: "Yes, email me the news.", version: "t-3", required: true}}
    allowed_origins: ["{LANDING}"]
    min_fill_seconds: 0
    limits: {{per_ip_per_minute: 1000, per_form_per_minute: 1000}}
    double_opt_in: {{within_hours: 24, subject: "Confirm your subscription"}}
  - id: confirm-redirect
    title: Confirmed list, own pages
    journey: default-nurture
    fields: [{{name: email, label: Email, maps: email, required: true}}]
    consent: {{text: "Yes, email me the news.", version: "t-4", required: true}}
    allowed_origins: ["{LANDING}"]
    min_fill_seconds: 0
    limits: {{per_ip_per_minute: 1000, per_form_per_minute: 1000}}
    redirect: "{LANDING}/check-your-inbox"
    double_opt_in: {{subject: "Confirm your subscription", confirmed_redirect: "{LANDING}/welcome"}}
"""


@dataclass
class Forms:
    url: str
    http: httpx.AsyncClient
    settings: GatewaySettings
    gw: Gateway
    client: Client

    def token(self, form: str, *, age: float = 10) -> str:
        secret = self.settings.gateway_form_secret.get_secret_value()
        return issue_token(secret, form, time.time() - age, uuid.uuid4().hex[:16])

    async def post(self, form: str, data: dict, *, origin: str | None = LANDING, as_json: bool = True):
        headers = {"Origin": origin} if origin else {}
        if as_json:
            return await self.http.post(f"/f/{form}", json=data, headers=headers)
        return await self.http.post(f"/f/{form}", data=data, headers=headers)


@pytest.fixture
async def forms(gw: Gateway, dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Forms]:
    """A gateway over a copy of the policies with the test's forms (the package's workers run them)."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    (policies / "forms.yaml").write_text(FORMS)
    settings = gw.settings.model_copy(update={"policies_dir": policies})
    async with (
        GatewayServer(create_app(settings, dev_env.client)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=15) as http,
    ):
        settings = settings.model_copy(update={"gateway_public_url": server.url})
        server.app.state.settings = settings  # links and the form's action name this server
        yield Forms(server.url, http, settings, gw, dev_env.client)


async def no_lead(gw: Gateway, email: str) -> bool:
    try:
        await gw.leads.state(email=email)
    except LeadNotFound:
        return True
    return False


async def mails_to(gw: Gateway, email: str) -> list[dict]:
    return [e["summary"] for e in await gw.admin.effects("sendgrid", "mail.send") if email in e["summary"]["to"]]


async def test_a_person_fills_the_form_in_chromium_and_their_journey_starts(forms: Forms) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (CI does) to run the browser test")
    from playwright.async_api import async_playwright

    email = unique_email("forms.example")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page()
            response = await page.goto(f"{forms.url}/f/test-signup")
            assert response is not None and response.status == 200
            assert await page.locator("h1").inner_text() == "Join <the> list", "the title is shown, escaped"
            box = await page.locator("#website").bounding_box()
            assert box is not None and box["x"] + box["width"] < 0, "the honeypot is out of sight"
            await page.fill("#f-email", email)
            await page.fill("#f-first_name", "Ada")
            await page.check("input[name=consent]")
            await page.click("button[type=submit]")
            await page.wait_for_selector("text=Thank you")
        finally:
            await browser.close()

    async def welcomed():
        return await mails_to(forms.gw, email)

    (mail,) = await eventually(welcomed, timeout=60, what="the welcome email to the form's lead")
    assert mail["content"][0]["value"].startswith("Hi Ada,")
    state = await forms.gw.leads.state(email=email)
    assert state.consent and state.touch_path[0].kind == "capture:web_form"
    record = state.consents["email_marketing"]
    assert record.granted and record.source == "capture:web_form:form test-signup, text t-1"


async def test_the_snippet_frames_the_form_and_only_its_sites_may(forms: Forms) -> None:
    snippet = await forms.http.get("/f/test-signup/snippet")
    assert snippet.status_code == 200 and f'<iframe src="{forms.url}/f/test-signup"' in snippet.text
    page = await forms.http.get("/f/test-signup")
    csp = page.headers["content-security-policy"]
    assert f"frame-ancestors 'self' {LANDING}" in csp and "script-src" not in csp
    assert "x-frame-options" not in page.headers
    missing = await forms.http.get("/f/no-such-form")
    assert (
        missing.status_code == 404
        and missing.json()["error"]["message"] == "form_id: no form 'no-such-form' in forms.yaml"
    )


@pytest.mark.parametrize(
    ("form", "change", "status", "message"),
    [
        ("test-signup", {"origin": None}, 403, "origin: not a site this form may be posted from"),
        ("test-signup", {"origin": "https://evil.example"}, 403, "origin: not a site this form may be posted from"),
        ("test-signup", {"website": "http://spam.example"}, 400, "website: this field must stay empty"),
        ("test-signup", {"form_token": "test-signup.1.abc.0000"}, 400, "form_token: not issued by this gateway"),
        ("test-signup", {"form_token": "tight-form"}, 400, "form_token: not issued by this gateway for this form"),
        ("test-signup", {"age": 3 * 86400}, 422, "form_token: the page has expired: load it again"),
        ("slow-form", {}, 422, "too fast for a person"),
        ("test-signup", {"consent": ""}, 422, "consent: the consent box must be ticked to send this form"),
        ("test-signup", {"email": "not an address"}, 422, "email:"),
    ],
)
async def test_each_defence_refuses_and_starts_nothing(
    forms: Forms, form: str, change: dict, status: int, message: str
) -> None:
    email = unique_email()
    origin = change.pop("origin", LANDING)
    token = forms.token(form, age=change.pop("age", 10 if form != "slow-form" else 1))
    if change.get("form_token") == "tight-form":
        change["form_token"] = forms.token("tight-form")
    data = {"email": email, "consent": "yes", "form_token": token, "website": "", **change}
    r = await forms.post(form, data, origin=origin)
    assert r.status_code == status and message in r.json()["error"]["message"], r.text
    assert "\n" not in r.json()["error"]["message"]
    assert await no_lead(forms.gw, email)


async def test_a_browser_post_refused_gets_the_form_again_with_the_reason(forms: Forms) -> None:
    r = await forms.post(
        "test-signup",
        {"email": unique_email(), "first_name": "Bo", "form_token": forms.token("test-signup")},
        as_json=False,
    )
    assert r.status_code == 422 and "consent: the consent box must be ticked" in r.text
    assert 'value="Bo"' in r.text, "what the person typed is kept"


async def test_the_rate_limit_per_address_refuses_with_retry_after(forms: Forms) -> None:
    answers = []
    for _ in range(3):
        data = {"email": unique_email(), "consent": "yes", "form_token": forms.token("tight-form")}
        answers.append(await forms.post("tight-form", data))
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["message"].startswith("rate: too many submissions from this address")
    assert int(answers[2].headers["retry-after"]) >= 1


async def test_one_page_sent_twice_is_one_capture(forms: Forms) -> None:
    email = unique_email()
    data = {"email": email, "consent": "yes", "form_token": forms.token("test-signup")}
    assert (await forms.post("test-signup", data)).status_code == 200
    assert (await forms.post("test-signup", data)).status_code == 200

    async def captured():
        return (await forms.gw.leads.state(email=email)).touches == 1

    await eventually(captured, what="the lead's one capture")
    assert (await forms.gw.leads.state(email=email)).touches == 1


# --- double opt-in ---------------------------------------------------------------------------


def confirmation_handle(forms: Forms, email: str):
    key = lead_key(email, forms.settings.lead_id_secret.get_secret_value())
    return forms.client.get_workflow_handle(confirmation_id("confirm-signup", key))


async def emailed_link(forms: Forms, email: str, *, form: str = "confirm-signup") -> str:
    """The link in the one confirmation email the SendGrid stand-in took for `email`."""

    async def confirmation_mail():
        return [m for m in await mails_to(forms.gw, email) if m["subject"] == "Confirm your subscription"]

    (mail,) = await eventually(confirmation_mail, timeout=60, what="the confirmation email")
    text = next(c["value"] for c in mail["content"] if c["type"] == "text/plain")
    html = next(c["value"] for c in mail["content"] if c["type"] == "text/html")
    (link,) = re.findall(r"Confirm: (\S+)", text)
    assert f'href="{escape(link)}"' in html, "the HTML part carries the same link"
    assert link.startswith(f"{forms.url}/f/{form}/confirm?") and email not in link
    return link


async def test_double_opt_in_starts_the_journey_only_once_the_emailed_link_is_followed(forms: Forms) -> None:
    email = unique_email("optin.example")
    posted = await forms.post(
        "confirm-signup",
        {"email": email, "first_name": "Ada", "consent": "yes", "form_token": forms.token("confirm-signup")},
    )
    assert posted.status_code == 200 and posted.json() == {"status": "confirmation_sent", "form_id": "confirm-signup"}
    link = await emailed_link(forms, email)
    assert await no_lead(forms.gw, email), "no journey before the link is followed"
    pending = await confirmation_handle(forms, email).describe()
    # A second post while it is pending finds the same run: no second email.
    again = await forms.post(
        "confirm-signup", {"email": email, "consent": "yes", "form_token": forms.token("confirm-signup")}
    )
    assert again.status_code == 200
    assert (await confirmation_handle(forms, email).describe()).run_id == pending.run_id

    # Opening the link (as a mail scanner would) shows the button and confirms nothing.
    opened = await forms.http.get(link.removeprefix(forms.url))
    assert opened.status_code == 200 and "Confirm my subscription</button>" in opened.text
    assert await no_lead(forms.gw, email), "no journey from a GET of the link"
    query = dict(parse_qsl(urlsplit(link).query))
    page = await forms.http.post(link.removeprefix(forms.url), data=query)
    assert page.status_code == 200 and "Thank you: your subscription is confirmed." in page.text
    state = await forms.gw.leads.state(email=email)
    assert state.touch_path[0].kind == "capture:web_form"
    confirmation = await confirmation_handle(forms, email).query(FormConfirmationWorkflow.state)
    assert confirmation.status == "confirmed" and confirmation.confirmed_at is not None
    record = state.consents["email_marketing"]
    assert record.granted and record.source == "capture:web_form:form confirm-signup, text t-3, double opt-in confirmed"
    assert record.at == confirmation.confirmed_at, "the consent is dated by the confirmation"

    twice = await forms.http.post(link.removeprefix(forms.url), data=query)
    assert twice.status_code == 200 and "confirmed" in twice.text
    state = await forms.gw.leads.state(email=email)
    assert state.touches == 1, "the link followed twice is one capture of one journey"

    async def welcomed():
        return [m for m in await mails_to(forms.gw, email) if m["subject"] != "Confirm your subscription"]

    (welcome,) = await eventually(welcomed, timeout=60, what="the journey's welcome email")
    assert welcome["content"][0]["value"].startswith("Hi Ada,"), "the journey has the post's fields"
    sent = [m for m in await mails_to(forms.gw, email) if m["subject"] == "Confirm your subscription"]
    assert len(sent) == 1, "one confirmation email for two posts"


async def test_a_double_opt_in_forms_redirects_send_the_browser_to_the_sites_pages(forms: Forms) -> None:
    """`redirect` answers the browser's post, `confirmed_redirect` the pressed button; the
    journey still starts only on the button."""
    email = unique_email("optin.example")
    posted = await forms.post(
        "confirm-redirect",
        {"email": email, "consent": "yes", "form_token": forms.token("confirm-redirect")},
        as_json=False,
    )
    assert posted.status_code == 303 and posted.headers["location"] == f"{LANDING}/check-your-inbox"
    link = await emailed_link(forms, email, form="confirm-redirect")
    assert await no_lead(forms.gw, email)
    pressed = await forms.http.post(link.removeprefix(forms.url), data=dict(parse_qsl(urlsplit(link).query)))
    assert pressed.status_code == 303 and pressed.headers["location"] == f"{LANDING}/welcome"
    state = await forms.gw.leads.state(email=email)
    assert state.consents["email_marketing"].source.endswith("form confirm-redirect, text t-4, double opt-in confirmed")


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"sig": "0" * 32}, 400, "link: not issued by this gateway for this form"),
        ({"k": "someone-else"}, 400, "link: not issued by this gateway for this form"),
        ({"until": "far-future"}, 400, "link: incomplete"),
        ({"until": None}, 410, "link: expired: send the form again for a new link"),
    ],
)
async def test_a_forged_or_expired_link_is_refused_and_starts_nothing(
    forms: Forms, change: dict, status: int, message: str
) -> None:
    email = unique_email("optin.example")
    posted = await forms.post(
        "confirm-signup", {"email": email, "consent": "yes", "form_token": forms.token("confirm-signup")}
    )
    assert posted.status_code == 200
    query = dict(parse_qsl(urlsplit(await emailed_link(forms, email)).query))
    if change == {"until": None}:
        # Genuinely signed, but its time has passed (the signature check's clock is the
        # gateway's; an hour ago is before it whatever the machine).
        secret = forms.settings.gateway_form_secret.get_secret_value()
        query = confirm_link(secret, "confirm-signup", query["k"], int(time.time()) - 3600)
    else:
        query.update(change)
    page = await forms.http.get("/f/confirm-signup/confirm", params=query)
    assert page.status_code == status and message in page.text, page.text
    assert "<button" not in page.text, "a refused link shows no confirm button"
    pressed = await forms.http.post("/f/confirm-signup/confirm", data=query)
    assert pressed.status_code == status and message in pressed.text, pressed.text
    assert await no_lead(forms.gw, email)
    assert (await confirmation_handle(forms, email).query(FormConfirmationWorkflow.state)).status == "pending"


async def test_a_form_without_double_opt_in_starts_the_journey_at_once(forms: Forms) -> None:
    email = unique_email()
    data = {"email": email, "consent": "yes", "form_token": forms.token("test-signup")}
    r = await forms.post("test-signup", data)
    assert r.status_code == 200 and r.json()["status"] == "received"
    state = await forms.gw.leads.state(email=email)
    assert state.consents["email_marketing"].source == "capture:web_form:form test-signup, text t-1"
    key = lead_key(email, forms.settings.lead_id_secret.get_secret_value())
    with pytest.raises(RPCError):
        await forms.client.get_workflow_handle(confirmation_id("test-signup", key)).describe()


async def test_a_person_confirms_by_double_opt_in_in_chromium(forms: Forms) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (CI does) to run the browser test")
    from playwright.async_api import async_playwright

    email = unique_email("optin.example")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(f"{forms.url}/f/confirm-signup")
            await page.fill("#f-email", email)
            await page.fill("#f-first_name", "Grace")
            await page.check("input[name=consent]")
            await page.click("button[type=submit]")
            await page.wait_for_selector("text=we've emailed you a link to confirm")
            assert await no_lead(forms.gw, email)
            link = await emailed_link(forms, email)
            response = await page.goto(link)
            assert response is not None and response.status == 200
            assert await no_lead(forms.gw, email), "opening the link confirms nothing"
            await page.click("button[type=submit]")
            await page.wait_for_selector("[role=status]")
            assert "your subscription is confirmed" in await page.locator("[role=status]").inner_text()
        finally:
            await browser.close()
    state = await forms.gw.leads.state(email=email)
    assert (
        state.consents["email_marketing"].source
        == "capture:web_form:form confirm-signup, text t-3, double opt-in confirmed"
    )
