"""The session check every signed-in page makes (`gateway.sessions.SignInForms.signed_in`),
on each family of pages: who the header names, a stale cookie dropped with the sign-in
page, and the family's own 429 with Retry-After once the key's bucket is spent."""

from __future__ import annotations

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from gateway.app import create_app
from gateway.security import ApiKeyConfig, hash_key, new_key
from gateway.server import GatewayServer
from tests.gateway.conftest import Gateway

BURST = 3
# A bucket that does not refill within a test: about one token in 1,000 s.
RATE = 0.001

# (page, cookie, key signing in, whom the header names)
PAGES = [
    ("/approvals", "mops_approvals", "desk-7", "lena"),  # an approver key: the person it is bound to
    ("/previews", "mops_previews", "reader", "reader"),  # a read key: the key's id
    ("/journeys", "mops_journeys", "admin", "admin"),
]


@pytest.fixture(scope="module")
async def spent(gw: Gateway, dev_env: WorkflowEnvironment):
    """A gateway of its own whose keys have a bucket of `BURST` requests, with one more key:
    `desk-7`, an approver key bound to lena (its id is not her name)."""
    raw = {**gw.raw_keys, "desk-7": new_key()}
    desk = ApiKeyConfig(id="desk-7", sha256=hash_key(raw["desk-7"]), scopes=["approve"], approver="lena")
    settings = gw.settings.model_copy(
        update={
            "gateway_burst": BURST,
            "gateway_rate_per_second": RATE,
            "gateway_keys": [*gw.settings.gateway_keys, desk],
        }
    )
    async with GatewayServer(create_app(settings, dev_env.client)) as server:
        yield raw, server.url


@pytest.mark.parametrize(("page", "cookie", "key", "person"), PAGES)
async def test_a_signed_in_page_names_its_visitor_then_slows_them_down(spent, page, cookie, key, person) -> None:
    raw_keys, url = spent
    async with httpx.AsyncClient(base_url=url, timeout=15.0) as client:
        r = await client.post(f"{page}/sign-in", data={"token": raw_keys[key]})  # the bucket's first request
        assert r.status_code == 303, r.text
        for _ in range(BURST - 1):
            r = await client.get(page)
            assert r.status_code == 200 and f"Signed in as <strong>{person}</strong>" in r.text, r.text[:300]
        r = await client.get(page)
        assert r.status_code == 429 and "Too many requests" in r.text, r.text[:300]
        assert int(r.headers["retry-after"]) >= 1
        assert "Signed in as" not in r.text, "a refused request shows nothing of the session"
        assert cookie in client.cookies, "being slowed down is no sign-out"


@pytest.mark.parametrize(("page", "cookie", "key", "person"), PAGES)
async def test_a_stale_cookie_gets_the_sign_in_page_and_is_dropped(spent, page, cookie, key, person) -> None:
    _, url = spent
    async with httpx.AsyncClient(base_url=url, timeout=15.0) as client:
        client.cookies.set(cookie, "Zm9yZ2Vk.bm90LWEtc2lnbmF0dXJl", path=page)
        r = await client.get(page)
        assert r.status_code == 200 and 'name="token"' in r.text and "Signed in as" not in r.text
        dropped = r.headers.get("set-cookie", "")
        assert dropped.startswith(f"{cookie}=") and ("Max-Age=0" in dropped or f'{cookie}=""' in dropped), dropped
        assert f"Path={page}" in dropped
    async with httpx.AsyncClient(base_url=url, timeout=15.0) as client:
        r = await client.get(page)
        assert r.status_code == 200 and 'name="token"' in r.text
        assert "set-cookie" not in r.headers, "no cookie, nothing to drop"
