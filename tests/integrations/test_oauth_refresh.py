"""OAuth refresh of Google Ads, GA4, LinkedIn and Meta against the sandbox's token endpoints
over real HTTP: access tokens that live seconds, refused with each platform's own error once
expired; the grants kept encrypted in a real SQLite token store."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from integrations.errors import PlatformRejected
from integrations.ga4 import GA4Client
from integrations.google_ads import GoogleAdsClient
from integrations.http import PlatformClient
from integrations.linkedin import LinkedInClient
from integrations.meta_ads import MetaAdsClient
from integrations.oauth import OAuthTokens
from mops.codec import shared_keyring
from mops.oauth_store import SqliteTokenStore
from mops.settings import Settings, SettingsError, load_settings
from sandbox.server import SandboxServer
from sandbox.settings import SandboxTokens
from tests.conftest import eventually
from workers.credentials import account_of, refresher_for, token_for, token_store

PLATFORMS = ("google_ads", "ga4", "linkedin", "meta")
TTL_S = 3  # the sandbox's access tokens live this long in the expiry test
MARGIN_S = 1.5  # refreshed this long before: Meta exchanges only a token still valid when it arrives


@pytest.fixture(scope="module")
async def short_lived():
    """A sandbox whose access tokens expire after TTL_S seconds."""
    async with SandboxServer(tokens=SandboxTokens(oauth_access_ttl_s=TTL_S)) as server:
        yield server


@pytest.fixture(scope="module")
async def slow_endpoint():
    """A sandbox whose tokens live an hour and whose token endpoints take a while to answer,
    so two refreshes at once would overlap there."""
    async with SandboxServer(tokens=SandboxTokens(oauth_token_latency_s=0.3)) as server:
        yield server


async def _reset(server: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        (await http.post("/_sandbox/reset")).raise_for_status()


async def _oauth_state(server: SandboxServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        return (await http.get("/_sandbox/oauth")).json()


async def _admin(server: SandboxServer, path: str) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        (await http.post(f"/_sandbox/oauth{path}")).raise_for_status()


async def _statuses(server: SandboxServer, platform: str) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        return (await http.get("/_sandbox/stats")).json()["requests"].get(platform, {})


def oauth_settings(server: SandboxServer, store: Path) -> Settings:
    """Every OAuth platform in `oauth` mode against the sandbox, seeded from settings."""
    t = server.tokens
    return Settings(
        google_ads_base_url=server.url,
        ga4_base_url=server.url,
        linkedin_base_url=server.url,
        meta_base_url=server.url,
        google_token_url=f"{server.url}/token",
        linkedin_token_url=f"{server.url}/oauth/v2/accessToken",
        google_client_id=t.google_client_id,
        google_client_secret=t.google_client_secret,
        linkedin_client_id=t.linkedin_client_id,
        linkedin_client_secret=t.linkedin_client_secret,
        meta_app_id=t.meta_app_id,
        meta_app_secret=t.meta_app_secret,
        google_ads_auth="oauth",
        ga4_auth="oauth",
        linkedin_auth="oauth",
        meta_auth="oauth",
        google_ads_refresh_token=t.google_ads_refresh_token,
        ga4_refresh_token=t.ga4_refresh_token,
        linkedin_refresh_token=t.linkedin_refresh_token,
        meta_refresh_token=t.meta_refresh_token,
        oauth_refresh_margin_seconds=MARGIN_S,
        oauth_store_path=store,
    )  # type: ignore[call-arg]


def client_for(settings: Settings, platform: str) -> tuple[PlatformClient, Callable[[], Awaitable[object]]]:
    """The platform's client on its OAuth tokens, and one cheap authenticated call."""
    tokens = token_for(settings, platform)
    assert isinstance(tokens, OAuthTokens)
    if platform == "google_ads":
        ads = GoogleAdsClient(
            settings.google_ads_base_url,
            tokens,
            customer_id=settings.google_ads_customer_id,
            developer_token=settings.google_ads_developer_token.get_secret_value(),
            timeout=5,
        )
        return ads, ads.customer
    if platform == "ga4":
        ga4 = GA4Client(settings.ga4_base_url, tokens, property_id=settings.ga4_property, timeout=5)
        return ga4, lambda: ga4.run_report(
            start_date="7daysAgo", end_date="today", dimensions=["date"], metrics=["sessions"]
        )
    if platform == "linkedin":
        linkedin = LinkedInClient(settings.linkedin_base_url, tokens, author_urn=settings.linkedin_author, timeout=5)
        return linkedin, linkedin.probe
    meta = MetaAdsClient(settings.meta_base_url, tokens, ad_account_id=settings.meta_ad_account_id, timeout=5)
    return meta, meta.account


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_client_keeps_working_past_several_expiries(short_lived, tmp_path, platform):
    await _reset(short_lived)
    client, call = client_for(oauth_settings(short_lived, tmp_path / "oauth.db"), platform)
    calls = 0

    async def three_refreshes() -> bool:
        nonlocal calls
        await call()  # raises if any call fails
        calls += 1
        return (await _oauth_state(short_lived))["refreshes"].get(platform, 0) >= 3

    async with client:
        await eventually(three_refreshes, timeout=8 * TTL_S, interval=0.1, what=f"{platform}: three refreshes")
    # Each token was used for many calls: refreshed when near its end, not per call.
    assert calls > 3


# Not Meta: Graph exchanges only a token that is still valid, so one it has ended early
# cannot be renewed (a new user token is needed: the revoked-grant test's loud error).
@pytest.mark.parametrize("platform", ["google_ads", "ga4", "linkedin"])
async def test_a_refused_token_is_refreshed_once_and_the_call_retried(slow_endpoint, tmp_path, platform):
    await _reset(slow_endpoint)
    client, call = client_for(oauth_settings(slow_endpoint, tmp_path / "oauth.db"), platform)
    async with client:
        await call()
        assert (await _oauth_state(slow_endpoint))["refreshes"] == {platform: 1}
        await _admin(slow_endpoint, f"/{platform}/expire")  # the platform ends the token early

        await call()

    assert (await _oauth_state(slow_endpoint))["refreshes"] == {platform: 2}
    assert (await _statuses(slow_endpoint, platform)).get("401") == 1


@pytest.mark.parametrize("platform", ["google_ads", "linkedin"])
async def test_a_fresh_token_refused_again_is_a_loud_error_not_a_loop(slow_endpoint, tmp_path, platform):
    await _reset(slow_endpoint)
    settings = oauth_settings(slow_endpoint, tmp_path / "oauth.db")
    client, call = client_for(settings, platform)
    async with client, httpx.AsyncClient(base_url=slow_endpoint.url) as http:
        await call()
        # The platform refuses the next three calls' tokens (a grant without the scope does so).
        faults = {"platform": platform, "fail_next": 3, "error_status": 401}
        (await http.post("/_sandbox/faults", json=faults)).raise_for_status()

        with pytest.raises(PlatformRejected) as raised:
            await call()

    err = raised.value
    assert (err.platform, err.code, err.retryable) == (platform, "token_refused_after_refresh", False)
    assert account_of(settings, platform) in err.message
    assert (await _oauth_state(slow_endpoint))["refreshes"] == {platform: 2}  # the first token, then one more
    assert (await _statuses(slow_endpoint, platform)).get("401") == 2  # the call, its one retry


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_revoked_grant_is_a_loud_error_naming_platform_and_account(slow_endpoint, tmp_path, platform):
    await _reset(slow_endpoint)
    settings = oauth_settings(slow_endpoint, tmp_path / "oauth.db")
    client, call = client_for(settings, platform)
    async with client:
        await call()
        await _admin(slow_endpoint, f"/{platform}/revoke")

        with pytest.raises(PlatformRejected) as raised:
            await call()

    err = raised.value
    assert not err.retryable
    assert err.platform == platform
    assert account_of(settings, platform) in err.message
    assert f"mops auth set {platform}" in err.message
    # One refresh was tried, then the call gave up: no loop.
    assert (await _oauth_state(slow_endpoint))["requests"] == {platform: 2}


@pytest.mark.parametrize("platform", ["google_ads", "meta"])
async def test_two_processes_needing_a_refresh_at_once_make_one_request(slow_endpoint, tmp_path, platform):
    """Two threads, each with its own event loop, token store connection and client, as two
    worker processes on one machine have: the store's lock lets one refresh."""
    await _reset(slow_endpoint)
    settings = oauth_settings(slow_endpoint, tmp_path / "oauth.db")
    token_store(settings)  # the file and its schema exist before the two start
    start = threading.Barrier(2)
    got: list[str] = []

    def worker_process() -> None:
        store = SqliteTokenStore(settings.oauth_store_file, shared_keyring(settings))
        tokens = OAuthTokens(
            platform,
            account_of(settings, platform),
            store,
            refresher_for(settings, platform),
            seed=getattr(settings, f"{platform}_refresh_token").get_secret_value(),
            margin_seconds=MARGIN_S,
        )
        start.wait()
        got.append(asyncio.run(tokens.access_token()))
        store.close()

    threads = [threading.Thread(target=worker_process) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        await asyncio.to_thread(t.join, 30)

    assert len(got) == 2 and got[0] == got[1]
    assert (await _oauth_state(slow_endpoint))["refreshes"] == {platform: 1}


async def test_tokens_at_rest_are_not_plaintext(slow_endpoint, tmp_path):
    await _reset(slow_endpoint)
    settings = oauth_settings(slow_endpoint, tmp_path / "oauth.db")
    tokens = token_for(settings, "linkedin")
    assert isinstance(tokens, OAuthTokens)
    access = await tokens.access_token()

    files = [p for p in tmp_path.iterdir() if p.name.startswith("oauth.db")]
    stored = b"".join(p.read_bytes() for p in files)  # the database and its write-ahead log
    assert stored, "nothing was stored"
    for secret in (access, settings.linkedin_refresh_token.get_secret_value()):  # type: ignore[union-attr]
        assert secret.encode() not in stored
    # What is shown of it: its expiry, never a token.
    [status] = token_store(settings).statuses()
    assert (status.platform, status.account, status.refreshes) == ("linkedin", settings.linkedin_author, 1)
    assert status.access_expires_at is not None and status.refresh_expires_at is not None


def test_oauth_mode_without_its_app_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv("MOPS_GOOGLE_ADS_AUTH", "oauth")
    with pytest.raises(SettingsError, match="MOPS_GOOGLE_ADS_AUTH=oauth needs MOPS_GOOGLE_CLIENT_ID"):
        load_settings()


def test_static_mode_is_the_token_as_it_is():
    settings = Settings()
    assert token_for(settings, "meta") == settings.meta_token.get_secret_value()


def test_auth_cli_stores_the_grant_encrypted_and_shows_it_without_the_token(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mops.settings import get_settings
    from starter.cli import app

    monkeypatch.setenv("MOPS_DATA_DIR", str(tmp_path))
    secret = "li-refresh-token-from-the-consent-screen"
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        stored = runner.invoke(app, ["auth", "set", "linkedin"], input=secret + "\n")
        assert stored.exit_code == 0, stored.output
        status = runner.invoke(app, ["auth", "status", "--json"])
        unknown = runner.invoke(app, ["auth", "set", "tiktok"], input=secret + "\n")
        empty = runner.invoke(app, ["auth", "set", "meta"], input="\n")
    finally:
        get_settings.cache_clear()

    assert status.exit_code == 0 and secret not in status.output
    rows = {r["platform"]: r for r in json.loads(status.output)}
    assert rows["linkedin"]["stored"] is True and rows["meta"]["stored"] is False
    assert (unknown.exit_code, empty.exit_code) == (2, 2)
    assert secret.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("oauth.db"))
    grant = token_store(Settings(data_dir=tmp_path)).get("linkedin", Settings().linkedin_author)  # type: ignore[call-arg]
    assert grant is not None and grant.refresh_token == secret and grant.access_token is None
