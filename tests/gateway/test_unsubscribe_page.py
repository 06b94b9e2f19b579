"""The footer's unsubscribe link opened in a browser: a GET shows a confirmation page and
unsubscribes nobody; the page's button POSTs and unsubscribes; a bad token gets a 404 page."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import pytest

from domain.leads import LeadStage
from tests.conftest import eventually
from tests.gateway.conftest import Gateway, capture, unique_email
from tests.gateway.test_approval_page import CHROMIUM, CHROMIUM_ARGS
from tests.gateway.test_emails import mails_to


async def test_the_footer_link_in_a_browser_confirms_before_unsubscribing(gw: Gateway) -> None:
    email = unique_email("browser.example")
    lead = await capture(gw, email, first_name="Ada", journey_id="default-nurture")

    async def received():
        return await mails_to(gw, email) or False

    mail = (await eventually(received, timeout=60, what="the welcome email"))[0]
    html = mail["content"][1]["value"]
    link = re.search(r'href="([^"]*/v1/unsubscribe/[^"]+)"', html).group(1)
    path = urlsplit(link).path

    r = await gw.http.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<script" not in r.text and "default-src 'none'" in r.headers["content-security-policy"]
    action = re.search(r'<form method="post" action="([^"]+)"', r.text).group(1)
    assert action == f"{path}/confirm"
    assert email not in r.text, "the page shows no lead data"
    # The GET went through the gateway fully; the lead is still subscribed.
    assert (await gw.leads.state(lead_id=lead["lead_id"])).stage != LeadStage.UNSUBSCRIBED

    r = await gw.http.post(action)
    assert r.status_code == 200 and "You are unsubscribed" in r.text

    async def unsubscribed():
        st = await gw.leads.state(lead_id=lead["lead_id"])
        return st.stage == LeadStage.UNSUBSCRIBED and st

    await eventually(unsubscribed, what="the confirmed unsubscribe")


async def test_a_bad_token_gets_a_page_naming_it(gw: Gateway) -> None:
    for token in ["lead-abc.forged", "x" * 300, "nodot"]:
        for method, url in [("GET", f"/v1/unsubscribe/{token}"), ("POST", f"/v1/unsubscribe/{token}/confirm")]:
            r = await gw.http.request(method, url)
            assert r.status_code == 404, (method, token[:20], r.text)
            assert "token: this unsubscribe link is not valid" in r.text and "<form" not in r.text


async def test_chromium_follows_the_footer_link_and_unsubscribes(gw: Gateway) -> None:
    """A real headless Chromium opens the link from the HTML part the sandbox kept and clicks."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (CI does) to run the browser test")
    from playwright.async_api import async_playwright

    email = unique_email("chromium.example")
    lead = await capture(gw, email, first_name="Ada", journey_id="default-nurture")

    async def received():
        return await mails_to(gw, email) or False

    html = (await eventually(received, timeout=60, what="the welcome email"))[0]["content"][1]["value"]
    path = urlsplit(re.search(r'href="([^"]*/v1/unsubscribe/[^"]+)"', html).group(1)).path
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(f"{gw.url}{path}")
            await page.wait_for_selector("text=Unsubscribe?")
            assert (await gw.leads.state(lead_id=lead["lead_id"])).stage != LeadStage.UNSUBSCRIBED
            await page.click("button:has-text('Unsubscribe')")
            await page.wait_for_selector("text=You are unsubscribed")
        finally:
            await browser.close()

    async def unsubscribed():
        st = await gw.leads.state(lead_id=lead["lead_id"])
        return st.stage == LeadStage.UNSUBSCRIBED and st

    await eventually(unsubscribed, what="the unsubscribe clicked in Chromium")
