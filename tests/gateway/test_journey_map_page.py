"""The journey map page `/journeys`: sign-in with a read key (401 without a session, 403 for a
key without read, another page's cookie is no session here), the journey drawn as a graph
(steps, split variants with weights, waits' ways out), and per step the running leads there
now with a link to the Temporal Web UI filtered to them; checked over HTTP and in headless
Chromium, with leads driven by the real workers on the dev server."""

from __future__ import annotations

import html
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.journeys import load_journey
from domain.leads import EngagementEvent, EventType, LeadStage
from gateway.app import create_app
from gateway.server import GatewayServer
from starter.service.journey_map import step_query
from starter.service.leads import LeadService, build_capture
from tests.conftest import eventually
from tests.gateway.conftest import Gateway
from tests.gateway.test_approval_page import CHROMIUM, CHROMIUM_ARGS
from tests.gateway.test_previews_page import assert_secure

MAP_JOURNEY = """
id: map-e2e
version: 2
name: Mapped
from_email: marketing@mops.example
unsubscribe_group_id: 4242
scoring: default
handoff: {sla: 1d}
steps:
  - {id: welcome, type: send_email, template: nurture-welcome, subject: Welcome}
  - id: offer
    type: split
    variants:
      - {id: roi, weight: 50, goto: mail-roi}
      - {id: guide, weight: 50, goto: mail-guide}
  - {id: mail-roi, type: send_email, template: nurture-roi-calculator, subject: Build the case, next: await-open}
  - {id: mail-guide, type: send_email, template: nurture-buyers-guide, subject: The guide}
  - {id: await-open, type: wait_for_event, events: [open], timeout: 30d, on_event: await-click, on_timeout: done}
  - {id: await-click, type: wait_for_event, events: [click], timeout: 30d, on_event: done, on_timeout: done}
  - {id: done, type: goal, outcome: clicked}
"""
MAP = "/journeys/map-e2e"


@dataclass
class Mapped:
    url: str
    client: Client
    expected: dict[str, int]  # step id -> leads there


def steps_on(page: str) -> dict[str, tuple[int, str, str]]:
    """step id -> (leads, the query it carries, its link) as the page draws them."""
    found = re.findall(
        r'<a class="step" data-step-id="([^"]+)" data-leads="(\d+)" data-query="([^"]*)" href="([^"]*)"', page
    )
    return {s: (int(n), html.unescape(q), html.unescape(u)) for s, n, q, u in found}


def link_query(url: str) -> str:
    [query] = parse_qs(urlsplit(url).query)["query"]
    return query


@pytest.fixture(scope="module")
async def mapped(gw: Gateway, dev_env: WorkflowEnvironment, tmp_path_factory) -> AsyncIterator[Mapped]:
    journeys = tmp_path_factory.mktemp("map-journeys") / "journeys"
    shutil.copytree(gw.settings.journeys_dir, journeys)
    (journeys / "map-e2e.yaml").write_text(MAP_JOURNEY)
    settings = gw.settings.model_copy(update={"journeys_dir": journeys})
    leads = LeadService(dev_env.client, settings)  # the package's workers run them
    emails = {who: f"map.{who}.{uuid.uuid4().hex[:8]}@map.example" for who in ("opened", "waits", "clicked")}
    for e in emails.values():
        await leads.capture(build_capture(settings, email=e, source="web_form", consent=True, journey_id="map-e2e"))

    async def at(email: str, step: str) -> bool:
        return (await leads.state(email=email)).next_step == step

    for e in emails.values():
        await eventually(lambda e=e: at(e, "await-open"), what="the lead waiting for an open")

    def event(kind: EventType) -> EngagementEvent:
        return EngagementEvent(event_id=f"sg:{uuid.uuid4().hex[:12]}", type=kind, at=datetime.now(UTC))

    await leads.record_event(event(EventType.OPEN), email=emails["opened"])
    await leads.record_event(event(EventType.OPEN), email=emails["clicked"])
    await eventually(lambda: at(emails["clicked"], "await-click"), what="the opener at await-click")
    await leads.record_event(event(EventType.CLICK), email=emails["clicked"])
    await eventually(lambda: at(emails["opened"], "await-click"), what="the other opener at await-click")

    async def done() -> bool:
        return (await leads.state(email=emails["clicked"])).stage == LeadStage.COMPLETED

    await eventually(done, what="the clicker's journey over")
    spec = load_journey(journeys, "map-e2e")
    expected = {s.id: 0 for s in spec.steps} | {"await-open": 1, "await-click": 1}
    async with GatewayServer(create_app(settings, dev_env.client)) as server:
        yield Mapped(server.url, dev_env.client, expected)


async def signed_in_page(base_url: str, token: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=15.0) as client:
        r = await client.post("/journeys/sign-in", data={"token": token, "next": path})
        assert r.status_code == 303 and r.headers["location"] == path, r.text
        return await client.get(path)


async def test_the_map_needs_a_read_session(gw: Gateway, mapped: Mapped) -> None:
    async with httpx.AsyncClient(base_url=mapped.url, timeout=15.0) as client:
        r = await client.get(MAP)
        assert r.status_code == 401 and 'name="token"' in r.text and "data-step-id" not in r.text
        assert f'name="next" value="{MAP}"' in r.text, "sign-in returns to the asked-for map"
        assert_secure(r)
        for token, status, text in [
            ("mops_not-a-key", 401, "token: unknown API key."),
            ("", 422, "token: enter your API key."),
            (gw.raw_keys["ingest"], 403, "it needs the read scope"),
            (gw.raw_keys["sofia"], 403, "it needs the read scope"),
        ]:
            r = await client.post("/journeys/sign-in", data={"token": token})
            assert r.status_code == status, (token[:8], r.text)
            assert text in r.text and "set-cookie" not in r.headers
        r = await client.post(
            "/journeys/sign-in", data={"token": gw.raw_keys["reader"], "next": "https://evil.example/"}
        )
        assert r.headers["location"] == "/journeys"
        assert "Path=/journeys" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    # A previews session is no session here (each page signs its own cookie).
    async with httpx.AsyncClient(base_url=mapped.url, timeout=15.0) as other:
        r = await other.post("/previews/sign-in", data={"token": gw.raw_keys["reader"]})
        assert r.status_code == 303
        other.cookies.set("mops_journeys", other.cookies["mops_previews"], path="/journeys")
        assert (await other.get(MAP)).status_code == 401


async def test_the_map_shows_the_leads_at_each_step_and_links_to_them(gw: Gateway, mapped: Mapped) -> None:
    async def counted() -> dict[str, tuple[int, str, str]] | None:
        r = await signed_in_page(mapped.url, gw.raw_keys["reader"], MAP)
        assert r.status_code == 200, r.text
        steps = steps_on(r.text)
        return steps if {s: n for s, (n, _, _) in steps.items()} == mapped.expected else None

    steps = await eventually(counted, interval=0.5, what="the map's counts to match the leads")
    for position, step_id in enumerate(mapped.expected, start=1):
        _, query, url = steps[step_id]
        assert query == step_query("map-e2e", 2, position)
        assert url.startswith(f"{gw.settings.web_ui_url}/namespaces/{gw.settings.temporal_namespace}/workflows?")
        assert link_query(url) == query
        assert (await mapped.client.count_workflows(query)).count == mapped.expected[step_id]
    r = await signed_in_page(mapped.url, gw.raw_keys["reader"], MAP)
    assert_secure(r)
    page = r.text
    # The graph: the split's arms with their weights, a wait's two ways out, no script.
    for source, target, label in [
        ("offer", "mail-roi", "roi 50%"),
        ("offer", "mail-guide", "guide 50%"),
        ("await-open", "await-click", "open"),
        ("await-open", "done", "timeout"),
    ]:
        assert re.search(rf'data-from="{source}" data-to="{target}">\s*<path[^>]*/>\s*<text[^>]*>{label}</text>', page)
    assert "wait for open, up to 30 days" in page and "<script" not in page
    index = (await signed_in_page(mapped.url, gw.raw_keys["reader"], "/journeys")).text
    assert '<a href="/journeys/map-e2e">map-e2e</a>' in index
    missing = await signed_in_page(mapped.url, gw.raw_keys["reader"], "/journeys/no-such-journey")
    assert missing.status_code == 404 and "journey: no journey &#x27;no-such-journey&#x27;" in missing.text


async def test_chromium_shows_the_counts_and_the_web_ui_links(gw: Gateway, mapped: Mapped) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (CI does) to run the browser test")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("the playwright Python package is missing: pip install playwright (its driver ships in the wheel)")

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(f"{mapped.url}{MAP}")
            assert await page.locator("svg.map").count() == 0, "nothing drawn before sign-in"
            await page.fill("#token", gw.raw_keys["reader"])
            await page.click("button:has-text('Sign in')")
            await page.wait_for_selector("svg.map")

            async def shown() -> dict[str, str] | None:
                texts = {}
                for step_id in mapped.expected:
                    step = page.locator(f'a.step[data-step-id="{step_id}"]')
                    texts[step_id] = await step.locator("text.here").text_content()
                if texts != {s: f"{n} here" for s, n in mapped.expected.items()}:
                    await page.reload()
                    return None
                return texts

            await eventually(shown, interval=0.5, what="the counts in the browser")
            for position, step_id in enumerate(mapped.expected, start=1):
                href = await page.locator(f'a.step[data-step-id="{step_id}"]').get_attribute("href")
                assert href is not None and link_query(href) == step_query("map-e2e", 2, position)
            box = await page.locator('a.step[data-step-id="await-open"] rect').bounding_box()
            assert box is not None and box["width"] > 100, "the step is drawn"
        finally:
            await browser.close()
