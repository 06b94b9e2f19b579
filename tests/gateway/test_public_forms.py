"""Public forms: a person fills a form the gateway serves (`/f/<id>`) in a real headless
Chromium and their journey starts (the welcome email arrives, with their name); every spam
defence refuses, names its field and starts nothing; one page is one capture."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.forms import issue_token
from gateway.app import create_app
from gateway.server import GatewayServer
from gateway.settings import GatewaySettings
from starter.service.leads import LeadNotFound
from tests.conftest import ROOT, eventually
from tests.gateway.conftest import Gateway, unique_email
from tests.gateway.test_approval_page import CHROMIUM, CHROMIUM_ARGS

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
"""


@dataclass
class Forms:
    url: str
    http: httpx.AsyncClient
    settings: GatewaySettings
    gw: Gateway

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
        yield Forms(server.url, http, settings, gw)


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
