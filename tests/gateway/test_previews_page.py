"""The email previews page `/previews`: sign-in with a read key (401 without a session, 403
for a key without read), the index of journeys and email steps, a preview per step and
sample lead rendered by the same path as `mops journeys preview`, 404 for what is not
there, 422 with the one-line problem for a template that cannot render; and a headless
Chromium run that reads the email inside its sandboxed frame."""

from __future__ import annotations

import html
import os
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from gateway.app import create_app
from gateway.approvals_render import SECURITY_HEADERS
from gateway.server import GatewayServer
from starter.service.previews import EXAMPLE_LEAD, SAMPLES, PreviewService, read_lead_file
from tests.conftest import ROOT
from tests.gateway.conftest import Gateway
from tests.gateway.test_approval_page import CHROMIUM, CHROMIUM_ARGS

WELCOME = "/previews/default-nurture/welcome"


@asynccontextmanager
async def signed_in(base_url: str, token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=15.0) as client:
        r = await client.post("/previews/sign-in", data={"token": token})
        assert r.status_code == 303, r.text
        yield client


def srcdoc(page: str) -> str:
    """The email HTML the page hands its sandboxed frame, unescaped as a browser reads it."""
    match = re.search(r'<iframe class="email"[^>]* sandbox=""[^>]* srcdoc="([^"]*)"', page)
    assert match, "no sandboxed email frame on the page"
    return html.unescape(match.group(1))


def text_part(page: str) -> str:
    match = re.search(r'<pre class="text">(.*?)</pre>', page, re.S)
    assert match, "no text part on the page"
    return html.unescape(match.group(1))


def assert_secure(r: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, name
    assert r.headers["content-type"].startswith("text/html")


async def test_sign_in_needs_a_key_with_the_read_scope(gw: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gw.url, timeout=15.0) as client:
        r = await client.get("/previews")
        assert r.status_code == 200 and 'name="token"' in r.text and "default-nurture" not in r.text
        assert_secure(r)
        r = await client.get(f"{WELCOME}?lead=example")
        assert r.status_code == 401 and 'name="token"' in r.text and "Hi Ada" not in r.text
        assert f'name="next" value="{WELCOME}?lead=example"' in r.text, "sign-in returns to the asked-for preview"
        assert_secure(r)
        for token, status, text in [
            ("mops_not-a-key", 401, "token: unknown API key."),
            ("", 422, "token: enter your API key."),
            (gw.raw_keys["ingest"], 403, "it needs the read scope"),
            (gw.raw_keys["sofia"], 403, "it needs the read scope"),  # an approver without read
        ]:
            r = await client.post("/previews/sign-in", data={"token": token})
            assert r.status_code == status, (token[:8], r.text)
            assert text in r.text and "set-cookie" not in r.headers
        assert not client.cookies

        r = await client.post("/previews/sign-in", data={"token": gw.raw_keys["reader"], "next": WELCOME})
        assert r.status_code == 303 and r.headers["location"] == WELCOME
        cookie = r.headers["set-cookie"]
        assert "Path=/previews" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
        assert gw.raw_keys["reader"] not in cookie
        assert (await client.get(WELCOME)).status_code == 200
        # Sign-in sends nowhere but the previews.
        r = await client.post(
            "/previews/sign-in", data={"token": gw.raw_keys["reader"], "next": "https://evil.example/"}
        )
        assert r.headers["location"] == "/previews"

        # Sign-out ends the session; the old cookie, replayed, is no session.
        old = client.cookies["mops_previews"]
        page = (await client.get("/previews")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        assert (await client.post("/previews/sign-out", data={"csrf": "forged"})).status_code == 403
        r = await client.post("/previews/sign-out", data={"csrf": csrf})
        assert r.status_code == 200 and 'name="token"' in r.text
    async with httpx.AsyncClient(base_url=gw.url, timeout=15.0) as replay:
        replay.cookies.set("mops_previews", old, path="/previews")
        assert (await replay.get(WELCOME)).status_code == 401

    # An approval-page session is no preview session (each page signs its own cookie).
    async with httpx.AsyncClient(base_url=gw.url, timeout=15.0) as approver:
        r = await approver.post("/approvals/sign-in", data={"token": gw.raw_keys["omar"]})
        assert r.status_code == 303
        approver.cookies.set("mops_previews", approver.cookies["mops_approvals"], path="/previews")
        assert (await approver.get(WELCOME)).status_code == 401
    # omar's approver token has read too: it signs in here as well, as do admin keys.
    for who in ("omar", "admin"):
        async with signed_in(gw.url, gw.raw_keys[who]) as client:
            assert (await client.get(WELCOME)).status_code == 200


async def test_the_index_lists_every_journey_and_its_email_steps(gw: Gateway) -> None:
    async with signed_in(gw.url, gw.raw_keys["reader"]) as client:
        r = await client.get("/previews")
    assert r.status_code == 200, r.text
    assert_secure(r)
    for journey in PreviewService(gw.settings).journeys():
        assert f'data-journey-id="{journey.journey_id}"' in r.text
        for step in journey.steps:
            assert f'<a href="/previews/{journey.journey_id}/{step.step_id}">{step.step_id}</a>' in r.text
            assert f"<code>{step.template}</code>" in r.text and html.escape(step.subject) in r.text
    assert "Welcome - here is where to start" in r.text and "nurture-welcome" in r.text
    assert "/previews/default-nurture/qualify" not in r.text, "a branch step is no email"


async def test_a_preview_is_the_email_each_sample_lead_would_get(gw: Gateway) -> None:
    service = PreviewService(gw.settings)
    async with signed_in(gw.url, gw.raw_keys["reader"]) as client:
        unknown = await client.get(WELCOME)
        ada = await client.get(f"{WELCOME}?lead=example")
        hot = await client.get("/previews/default-nurture/product-update?lead=enterprise-hot")
        cold = await client.get("/previews/default-nurture/product-update?lead=smb-cold")
        enterprise = await client.get("/previews/default-nurture/case-study?lead=enterprise-hot")
    for r in (unknown, ada, hot, cold, enterprise):
        assert r.status_code == 200, r.text
        assert_secure(r)

    # No lead chosen: the unknown lead, every fallback.
    assert text_part(unknown.text).startswith("Hi there,") and "<p>Hi there,</p>" in srcdoc(unknown.text)
    assert 'class="subject">Welcome - here is where to start<' in unknown.text
    assert 'class="preheader">Three short steps to your first automated workflow.<' in unknown.text
    assert "No brand findings." in unknown.text
    # Exactly what the CLI's rendering gives (one path), footer and all.
    same = service.render("default-nurture", "welcome", SAMPLES["example"].fields)
    assert srcdoc(ada.text) == same.message.html and text_part(ada.text) == same.message.text
    assert "<p>Hi Ada,</p>" in srcdoc(ada.text) and "from Acme Analytics" in srcdoc(ada.text)
    assert "Priya Shah" in text_part(ada.text), "the owner signs"
    assert re.search(r'href="[^"]*/v1/unsubscribe/PREVIEW"', srcdoc(ada.text)), "the footer's unsubscribe link"
    assert "<p>Hi Ada,</p>" not in ada.text, "the email's HTML only ever sits escaped inside srcdoc"
    assert '<option value="example" selected>' in ada.text
    # The dynamic blocks follow the sample's score band and segment.
    assert "just reply" in text_part(hot.text) and "just reply" not in text_part(cold.text)
    assert "regional approvals" in srcdoc(enterprise.text)


def test_the_example_sample_is_examples_lead_yaml() -> None:
    assert read_lead_file(ROOT / "examples" / "lead.yaml") == EXAMPLE_LEAD


async def test_what_is_not_there_gets_a_page_naming_it(gw: Gateway) -> None:
    async with signed_in(gw.url, gw.raw_keys["reader"]) as client:
        for url, status, text in [
            ("/previews/no-such-journey/welcome", 404, "journey: no journey &#x27;no-such-journey&#x27;"),
            ("/previews/default-nurture/nope", 404, "step: default-nurture has no email step &#x27;nope&#x27;"),
            ("/previews/default-nurture/qualify", 404, "has no email step &#x27;qualify&#x27;"),  # a branch
            (f"/previews/{'x' * 300}/welcome", 404, "journey: no such journey"),
            (f"{WELCOME}?lead=nobody", 422, "lead: no sample lead &#x27;nobody&#x27;"),
            ("/previews/default-nurture/nope?lead=nobody", 404, "has no email step &#x27;nope&#x27;"),
        ]:
            r = await client.get(url)
            assert r.status_code == status, (url, r.text)
            assert text in r.text and "<iframe" not in r.text, url
            assert_secure(r)


@dataclass
class Edited:
    """A second gateway on a copy of the journeys whose templates a test may break."""

    url: str
    templates: Path


@pytest.fixture(scope="module")
async def edited(gw: Gateway, dev_env: WorkflowEnvironment, tmp_path_factory) -> AsyncIterator[Edited]:
    journeys = tmp_path_factory.mktemp("preview-journeys") / "journeys"
    shutil.copytree(gw.settings.journeys_dir, journeys)
    settings = gw.settings.model_copy(update={"journeys_dir": journeys})
    async with GatewayServer(create_app(settings, dev_env.client)) as server:
        yield Edited(server.url, journeys / "templates")


async def test_a_template_that_cannot_render_shows_its_problem(gw: Gateway, edited: Edited) -> None:
    html_file = edited.templates / "nurture-checkin.html"
    source = html_file.read_text()
    html_file.write_text(source.replace("{{ m.signature() }}", "{{ m.signature() }}{{ lnk('x') }}", 1))
    line = next(i for i, text in enumerate(html_file.read_text().splitlines(), 1) if "lnk(" in text)
    async with signed_in(edited.url, gw.raw_keys["reader"]) as client:
        r = await client.get("/previews/default-nurture/checkin?lead=example")
        assert r.status_code == 422, r.text
        assert f"{html_file}:{line}: &#x27;lnk&#x27; is undefined" in r.text
        assert "<iframe" not in r.text and '<pre class="text">' not in r.text, "never an empty preview"
        assert "<code>nurture-checkin</code>" in r.text and 'name="lead"' in r.text
        assert_secure(r)
        # Fixed on disk, it shows on the next request: no restart.
        html_file.write_text(source)
        r = await client.get("/previews/default-nurture/checkin?lead=example")
        assert r.status_code == 200 and "Hi Ada" in srcdoc(r.text)


async def test_a_journey_file_that_does_not_load_is_listed_with_its_problem(gw: Gateway, edited: Edited) -> None:
    broken = edited.templates.parent / "half-written.yaml"
    broken.write_text("id: half-written\nversion: 0\n")
    try:
        async with signed_in(edited.url, gw.raw_keys["reader"]) as client:
            r = await client.get("/previews")
            assert r.status_code == 200, r.text
            assert 'data-journey-id="half-written"' in r.text and f"{broken}: " in r.text
            assert '<a href="/previews/default-nurture/welcome">welcome</a>' in r.text, "the others still listed"
            r = await client.get("/previews/half-written/welcome")
            assert r.status_code == 422 and f"{broken}: " in r.text and "<iframe" not in r.text
    finally:
        broken.unlink()


async def test_brand_findings_show_with_severity_rule_and_message(gw: Gateway, edited: Edited) -> None:
    text = edited.templates / "nurture-buyers-guide.txt"
    text.write_text(text.read_text().replace("Use it with any vendor", "Click here to use it with any vendor"))
    async with signed_in(edited.url, gw.raw_keys["reader"]) as client:
        r = await client.get("/previews/default-nurture/buyers-guide")
    assert r.status_code == 200, r.text
    row = re.search(
        r'<tr><td><span class="sev sev-warning">warning</span></td><td><code>click-here</code></td>\s*<td>([^<]+)',
        r.text,
    )
    assert row and row.group(1).strip(), "the finding's severity, rule and message"
    assert "No brand findings." not in r.text and "Click here to use it" in text_part(r.text)


async def test_chromium_reads_the_email_inside_its_sandboxed_frame(gw: Gateway, edited: Edited) -> None:
    """A real headless Chromium signs in, opens a preview, reads the greeting and the footer's
    unsubscribe link inside the frame; the email's own script runs neither there nor on the page."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (CI does) to run the browser test")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("the playwright Python package is missing: pip install playwright (its driver ships in the wheel)")

    welcome = edited.templates / "nurture-welcome.html"
    welcome.write_text(
        welcome.read_text().replace(
            "{% block body %}",
            "{% block body %}<script>document.body.dataset.ran = 'yes'; parent.document.title = 'scripted';</script>",
            1,
        )
    )
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page()
            response = await page.goto(f"{edited.url}{WELCOME}?lead=example")
            assert response is not None and response.status == 401
            await page.fill("#token", gw.raw_keys["reader"])
            await page.click("button:has-text('Sign in')")
            await page.wait_for_selector("text=Signed in as")
            assert page.url.endswith(f"{WELCOME}?lead=example"), page.url
            assert await page.locator(".subject").inner_text() == "Welcome - here is where to start"

            frame = page.frame_locator("iframe.email")
            await frame.get_by_text("Hi Ada,").wait_for()
            unsubscribe = frame.get_by_role("link", name="Unsubscribe")
            assert (await unsubscribe.get_attribute("href") or "").endswith("/v1/unsubscribe/PREVIEW")
            assert await frame.locator("body").get_attribute("data-ran") is None, "the email's script ran"
            assert "scripted" not in await page.title()
            assert await page.evaluate("document.cookie") == "", "the session cookie is HttpOnly"

            # Another sample lead, picked in the page's own form.
            await page.select_option("#lead", "unknown")
            await page.click("button:has-text('Show')")
            await page.frame_locator("iframe.email").get_by_text("Hi there,").wait_for()

            headers = await (await page.goto(f"{edited.url}{WELCOME}")).all_headers()  # type: ignore[union-attr]
            for name, value in SECURITY_HEADERS.items():
                assert headers.get(name.lower()) == value, name
        finally:
            await browser.close()
