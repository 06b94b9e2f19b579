"""LinkChecker against the sandbox's link targets over real HTTP."""

from __future__ import annotations

import time

import httpx

from integrations.links import LinkChecker


async def test_ok(sandbox, links):
    status = await links.check(f"{sandbox.url}/_links/ok/pricing")
    assert (status.ok, status.status, status.error) == (True, 200, None)


async def test_redirect_is_followed(sandbox, links):
    status = await links.check(f"{sandbox.url}/_links/redirect/old-page")
    assert (status.ok, status.status) == (True, 200)
    assert status.final_url == f"{sandbox.url}/_links/ok/old-page"


async def test_broken(sandbox, links):
    status = await links.check(f"{sandbox.url}/_links/broken/gone")
    assert (status.ok, status.status, status.error) == (False, 404, None)


async def test_head_refused_falls_back_to_get(sandbox, links):
    status = await links.check(f"{sandbox.url}/_links/nohead/page")
    assert (status.ok, status.status) == (True, 200)


async def test_redirect_loop_stops(sandbox, links):
    status = await links.check(f"{sandbox.url}/_links/loop/page")
    assert (status.ok, status.status, status.error) == (False, 0, "too_many_redirects")


async def test_unreachable_host_is_not_ok(closed_url, links):
    status = await links.check(f"{closed_url}/page")
    assert (status.ok, status.status) == (False, 0)
    assert status.error and "ConnectError" in status.error


async def test_timeout(sandbox):
    started = time.monotonic()
    async with LinkChecker(timeout=0.2) as checker:
        status = await checker.check(f"{sandbox.url}/_links/slow/page")
    assert (status.ok, status.status, status.error) == (False, 0, "timeout")
    assert time.monotonic() - started < 2


async def test_not_a_web_address(links):
    status = await links.check("mailto:team@mops.example")
    assert (status.ok, status.error) == (False, "invalid_url")


async def test_check_all_keeps_order_and_checks_each_url_once(sandbox):
    hits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(str(request.url))
        return httpx.Response(404 if "bad" in request.url.path else 200)

    urls = ["https://a.example/1", "https://a.example/bad", "https://a.example/1", "https://a.example/2"]
    async with LinkChecker(transport=httpx.MockTransport(handler)) as checker:
        statuses = await checker.check_all(urls, concurrency=2)
    assert [(s.url, s.ok) for s in statuses] == list(zip(urls, [True, False, True, True], strict=True))
    assert sorted(hits) == sorted(set(urls))


async def test_check_all_against_the_sandbox(sandbox, links):
    urls = [f"{sandbox.url}/_links/{kind}/x" for kind in ("ok", "redirect", "broken", "nohead")]
    assert [s.ok for s in await links.check_all(urls)] == [True, True, False, True]
