"""The approval page `/approvals`: sign-in with an approver token, the session cookie,
CSRF, the items waiting for the signed-in person, decisions through ContentService
(refusals shown on the page), sign-out; and one real headless-browser run (Chromium)."""

from __future__ import annotations

import os
import re
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.conftest import eventually
from tests.gateway.conftest import Gateway, awaiting_launch_approval, campaign_status
from tests.gateway.test_rest_content import brief, wait_stage

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TITLE = 'Launch <b>checklist</b> & "friends"'  # must come out escaped
CHEAP_BODY = (
    "Our launch checklist is a cheap way for small teams to ship campaigns on time.\n\nRead the [guide]({link})."
)


async def submit_for(gw: Gateway, approvers: list[str], **fields) -> str:
    """An item by maya whose single review stage waits for `approvers`; in review."""
    data = brief(gw, approval=[{"name": "brand", "approvers": approvers}], **fields)
    r = await gw.http.post("/v1/content", json=data, headers=gw.auth("maya"))
    assert r.status_code == 201, r.text
    await wait_stage(gw, data["content_id"], "in_review")
    return data["content_id"]


@asynccontextmanager
async def browser_client(gw: Gateway):
    async with httpx.AsyncClient(base_url=gw.url, timeout=15.0) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/approvals/sign-in", data={"token": token})


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def page_listing(client: httpx.AsyncClient, cid: str) -> str:
    async def listed():
        r = await client.get("/approvals")
        assert r.status_code == 200, r.text
        assert f'data-content-id="{cid}"' in r.text, "not listed yet"
        return r.text

    return await eventually(listed, what=f"{cid} on the approval page")


async def test_sign_in_refusals(gw: Gateway) -> None:
    async with browser_client(gw) as client:
        r = await client.get("/approvals")
        assert r.status_code == 200 and 'name="token"' in r.text
        assert r.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        for token, status, text in [
            ("mops_not-a-key", 401, "Unknown token."),
            ("", 422, "Enter your approver token."),
            (gw.raw_keys["reader"], 403, "cannot approve"),  # no approve scope
            (gw.raw_keys["admin"], 403, "cannot approve"),  # every scope, but bound to nobody
            (gw.raw_keys["ingest"], 403, "cannot approve"),
        ]:
            r = await sign_in(client, token)
            assert r.status_code == status, (token[:8], r.text)
            assert text in r.text and "set-cookie" not in r.headers
        assert not client.cookies
        # Without a session: no decisions, no listing.
        r = await client.post("/approvals/x-1/decide", data={"kind": "approve", "revision": "1", "csrf": "x"})
        assert r.status_code == 401 and "sign in again" in r.text


async def test_session_cookie_and_listing(gw: Gateway) -> None:
    mine = await submit_for(gw, ["omar"], title=TITLE, body=CHEAP_BODY.format(link=f"{gw.sandbox_url}/_links/ok/guide"))
    others = await submit_for(gw, ["sofia"])
    async with browser_client(gw) as client:
        r = await sign_in(client, gw.raw_keys["omar"])
        assert r.status_code == 303 and r.headers["location"] == "/approvals"
        cookie = r.headers["set-cookie"]
        attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
        assert {"httponly", "max-age", "path"} <= attrs and "samesite=strict" in cookie.lower()
        assert "Path=/approvals" in cookie and "Max-Age=1800" in cookie
        value = client.cookies["mops_approvals"]
        assert gw.raw_keys["omar"] not in value and gw.raw_keys["omar"][5:20] not in value

        html = await page_listing(client, mine)
        assert "Signed in as <strong>omar</strong>" in html
        assert f'data-content-id="{others}"' not in html, "sofia's item is not omar's"
        assert "Launch &lt;b&gt;checklist&lt;/b&gt; &amp; &quot;friends&quot;" in html and "<b>checklist" not in html
        assert "sev-warning" in html and "cheap" in html  # the brand finding, with its severity
        assert "revision 1" in html and "in_review" in html
        view = await gw.content.state(mine)
        if view.draft_link:
            assert "Draft: <a href=" in html or "Draft: <code>" in html
        # Every item listed waits for omar right now.
        for cid in re.findall(r'data-content-id="([^"]+)"', html):
            assert "omar" in (await gw.content.state(cid)).pending_approvers, cid

        # A forged or tampered cookie is no session.
        payload, _, sig = value.partition(".")
    async with browser_client(gw) as forged:
        forged.cookies.set("mops_approvals", payload + "." + sig[:-2] + "AA", path="/approvals")
        r = await forged.get("/approvals")
        assert r.status_code == 200 and 'name="token"' in r.text and "Signed in" not in r.text


async def test_csrf_form_errors_and_refusals(gw: Gateway) -> None:
    cid = await submit_for(gw, ["omar", "sofia"])
    async with browser_client(gw) as client:
        assert (await sign_in(client, gw.raw_keys["omar"])).status_code == 303
        html = await page_listing(client, cid)
        csrf = csrf_of(html)

        r = await client.post(f"/approvals/{cid}/decide", data={"kind": "approve", "revision": "1"})
        assert r.status_code == 403 and "CSRF" in r.text
        r = await client.post(f"/approvals/{cid}/decide", data={"kind": "approve", "revision": "1", "csrf": "forged"})
        assert r.status_code == 403 and "CSRF" in r.text
        # Another session's token does not fit this session.
        async with browser_client(gw) as other:
            await sign_in(other, gw.raw_keys["omar"])
            other_csrf = csrf_of((await other.get("/approvals")).text)
        assert other_csrf != csrf
        r = await client.post(f"/approvals/{cid}/decide", data={"kind": "approve", "revision": "1", "csrf": other_csrf})
        assert r.status_code == 403

        r = await client.post(f"/approvals/{cid}/decide", data={"kind": "reject", "revision": "1", "csrf": csrf})
        assert r.status_code == 422 and "A reason is required to reject." in r.text
        r = await client.post(
            f"/approvals/{cid}/decide", data={"kind": "request_changes", "revision": "1", "comment": "  ", "csrf": csrf}
        )
        assert r.status_code == 422 and "A comment is required to request changes." in r.text
        r = await client.post(f"/approvals/{cid}/decide", data={"kind": "approve", "revision": "2", "csrf": csrf})
        assert r.status_code == 409 and "stale revision" in r.text
        assert (await gw.content.state(cid)).decisions == [], "refused decisions leave no trace"

        # The author has an approve key too, but the workflow refuses her decision.
        async with browser_client(gw) as maya:
            assert (await sign_in(maya, gw.raw_keys["maya"])).status_code == 303
            maya_csrf = csrf_of((await maya.get("/approvals")).text)
            r = await maya.post(
                f"/approvals/{cid}/decide", data={"kind": "approve", "revision": "1", "csrf": maya_csrf}
            )
            assert r.status_code == 403 and "authors cannot decide" in r.text and "author cannot decide" in r.text
        # raj is no approver of this stage.
        async with browser_client(gw) as raj:
            await sign_in(raj, gw.raw_keys["raj"])
            raj_csrf = csrf_of((await raj.get("/approvals")).text)
            r = await raj.post(f"/approvals/{cid}/decide", data={"kind": "approve", "revision": "1", "csrf": raj_csrf})
            assert r.status_code == 403 and "not an approver" in r.text
        assert (await gw.content.state(cid)).decisions == []

        # A decision with a comment, then the same again: already decided.
        r = await client.post(
            f"/approvals/{cid}/decide",
            data={"kind": "approve", "revision": "1", "comment": "Fine <by> me", "csrf": csrf},
        )
        assert r.status_code == 200 and f"You approved {cid} (revision 1)" in r.text
        r = await client.post(f"/approvals/{cid}/decide", data={"kind": "approve", "revision": "1", "csrf": csrf})
        assert r.status_code == 409 and "already decided" in r.text
        decisions = (await gw.content.state(cid)).decisions
        assert [(d.approver, d.kind.value, d.comment) for d in decisions] == [("omar", "approve", "Fine <by> me")]

    # sofia sees omar's earlier decision, comment escaped.
    async with browser_client(gw) as sofia:
        await sign_in(sofia, gw.raw_keys["sofia"])
        html = await page_listing(sofia, cid)
        assert "<strong>omar</strong> approve" in html and "Fine &lt;by&gt; me" in html


async def test_sign_out(gw: Gateway) -> None:
    async with browser_client(gw) as client:
        assert (await sign_in(client, gw.raw_keys["sofia"])).status_code == 303
        html = (await client.get("/approvals")).text
        assert "Signed in as <strong>sofia</strong>" in html
        old = client.cookies["mops_approvals"]
        r = await client.post("/approvals/sign-out", data={})
        assert r.status_code == 403, "sign-out needs the CSRF token too"
        r = await client.post("/approvals/sign-out", data={"csrf": csrf_of(html)})
        assert r.status_code == 200 and "Signed out." in r.text and 'name="token"' in r.text
        assert 'mops_approvals=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
        assert "mops_approvals" not in client.cookies
        r = await client.get("/approvals")
        assert 'name="token"' in r.text and "Signed in" not in r.text
    # The signed-out cookie, replayed, is no session any more.
    async with browser_client(gw) as replay:
        replay.cookies.set("mops_approvals", old, path="/approvals")
        r = await replay.get("/approvals")
        assert 'name="token"' in r.text and "Signed in" not in r.text


async def test_browser_approves_an_item(gw: Gateway) -> None:
    """A real headless Chromium signs in, finds the item and clicks Approve."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (CI does) to run the browser test")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("the playwright Python package is missing: pip install playwright (its driver ships in the wheel)")

    cid = await submit_for(gw, ["sofia"])
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(f"{gw.url}/approvals")
            await page.fill("#token", gw.raw_keys["sofia"])
            await page.click("button:has-text('Sign in')")
            await page.wait_for_selector("text=Signed in as")
            cookies = await page.context.cookies()
            session = next(c for c in cookies if c["name"] == "mops_approvals")
            assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/approvals"
            assert gw.raw_keys["sofia"] not in session["value"]
            assert await page.evaluate("document.cookie") == "", "the session cookie is HttpOnly"

            item = page.locator(f'article[data-content-id="{cid}"]')

            async def shown():
                if await item.count() == 0:
                    await page.reload()
                    return False
                return True

            await eventually(shown, interval=0.5, what=f"{cid} in the browser")
            await item.locator("button[value='approve']").click()
            await page.wait_for_selector(f"text=You approved {cid}")
            assert "Stage brand: approved" in await page.locator(".notice").inner_text()
        finally:
            await browser.close()

    view = await gw.content.state(cid)
    assert [(d.approver, d.kind.value, d.revision) for d in view.decisions] == [("sofia", "approve", 1)]
    assert view.decisions[0].proof is not None and view.refused_decisions == [], "signed by the page's sign-in"

    async def moved_on():
        stage = (await gw.content.state(cid)).stage.value
        assert stage in ("approved", "scheduled", "publishing", "published"), stage
        return stage

    await eventually(moved_on, what="the single-approver item to move on")
    await wait_stage(gw, cid, "published")


async def test_browser_approves_a_campaign(gw: Gateway) -> None:
    """Chromium: dana sees the campaign's name, budget, channels and dates next to her other
    items, refuses to reject without a reason, then approves; the campaign goes live."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (CI does) to run the browser test")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("the playwright Python package is missing: pip install playwright (its driver ships in the wheel)")

    cid = await awaiting_launch_approval(
        gw, name="Autumn <push>", total_budget="4500.00", start=None, end="2031-06-30T18:00:00+00:00"
    )
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(f"{gw.url}/approvals")
            await page.fill("#token", gw.raw_keys["dana"])
            await page.click("button:has-text('Sign in')")
            await page.wait_for_selector("text=Signed in as")
            card = page.locator(f'article[data-campaign-id="{cid}"]')

            async def shown():
                if await card.count() == 0:
                    await page.reload()
                    return False
                return True

            await eventually(shown, interval=0.5, what=f"campaign {cid} in the browser")
            assert await card.locator("h2").inner_text() == "Autumn <push>"
            assert await card.locator(".budget").inner_text() == "4,500.00 EUR in total"
            assert await card.locator(".channels").inner_text() == "landing_page, meta_ads, google_ads"
            dates = await card.locator(".dates").inner_text()
            assert dates.endswith("→ 2031-06-30 18:00 UTC"), dates
            assert "stage director" in await card.locator(".meta").first.inner_text()

            await card.locator("button[value='reject']").click()
            await page.wait_for_selector("text=A reason is required to reject.")
            assert (await gw.campaigns.state(cid)).approval.decisions == []

            card = page.locator(f'article[data-campaign-id="{cid}"]')
            await card.locator("textarea[name='comment']").fill("Budget fits the plan")
            await card.locator("button[value='approve']").click()
            await page.wait_for_selector(f"text=You approved campaign {cid}")
            assert "Stage director: approved." in await page.locator(".notice").inner_text()
        finally:
            await browser.close()

    view = await gw.campaigns.state(cid)
    assert [(d.approver, d.kind.value, d.comment) for d in view.approval.decisions] == [
        ("dana", "approve", "Budget fits the plan")
    ]
    await campaign_status(gw, cid, "live")
    await gw.campaigns.stop(cid, requested_by="maya", reason="test over")
