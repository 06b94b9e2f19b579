"""The API docs at /docs work without internet access: the page names only the gateway's own
URLs, the gateway serves Swagger UI's script, stylesheet and icon itself, and a real headless
Chromium that may reach nothing but the gateway renders the operations list."""

from __future__ import annotations

import os
import re
from urllib.parse import urljoin, urlsplit

import pytest

from tests.gateway.conftest import Gateway
from tests.gateway.test_approval_page import CHROMIUM, CHROMIUM_ARGS

ASSET_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


def referenced_urls(html: str) -> list[str]:
    """Every URL the page loads: src/href attributes and Swagger UI's spec `url: '...'`."""
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    urls += re.findall(r"\burl: '([^']+)'", html)
    return urls


async def test_docs_page_loads_only_the_gateways_own_assets(gw: Gateway) -> None:
    r = await gw.http.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = referenced_urls(r.text)
    assert "/openapi.json" in urls, urls
    assets = [u for u in urls if u != "/openapi.json"]
    assert {os.path.splitext(u)[1] for u in assets} == set(ASSET_TYPES), assets
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), f"{url} is not the gateway's own"
    for url in assets:
        asset = await gw.http.get(url)
        assert asset.status_code == 200, url
        assert ASSET_TYPES[os.path.splitext(url)[1]] in asset.headers["content-type"], (url, asset.headers)
        assert len(asset.content) > 1000, url
    assert "SwaggerUIBundle" in (await gw.http.get(next(u for u in assets if u.endswith(".js")))).text
    # Swagger UI's validator badge would load an image from swagger.io.
    assert '"validatorUrl": null' in r.text


async def test_redoc_is_not_a_second_docs_page(gw: Gateway) -> None:
    assert (await gw.http.get("/redoc")).status_code == 404


async def test_browser_renders_the_docs_offline(gw: Gateway) -> None:
    """Chromium with every request outside the gateway refused renders the operations list."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (CI does) to run the browser test")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("the playwright Python package is missing: pip install playwright (its driver ships in the wheel)")

    own = urlsplit(gw.url).netloc
    outside: list[str] = []
    loaded: list[str] = []

    async def only_the_gateway(route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == own:
            loaded.append(url)
            await route.continue_()
        else:
            outside.append(url)
            await route.abort()

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context()
            await context.route("**/*", only_the_gateway)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            await page.goto(urljoin(gw.url, "/docs"))
            await page.wait_for_selector(".opblock", timeout=30_000)
            assert "mops gateway" in await page.locator(".info .title").inner_text()
            paths = await page.locator(".opblock-summary-path").all_inner_texts()
            assert any("/v1/leads" in path for path in paths), paths
            assert any("/v1/content" in path for path in paths), paths
        finally:
            await browser.close()
    assert outside == [], f"the docs page reached beyond the gateway: {outside}"
    assert errors == [], errors
    assert any(u.endswith("/openapi.json") for u in loaded) and any(u.endswith(".js") for u in loaded), loaded
