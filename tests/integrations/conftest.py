"""Clients for each platform, pointed at the shared sandbox (real HTTP), reset per test."""

from __future__ import annotations

import re
import socket

import pytest

from integrations.ga4 import GA4Client
from integrations.google_ads import GoogleAdsClient
from integrations.hubspot import HubSpotClient
from integrations.linkedin import LinkedInClient
from integrations.links import LinkChecker
from integrations.meta_ads import MetaAdsClient
from integrations.sendgrid import SendGridClient
from integrations.slack import SlackClient
from integrations.wordpress import WordPressClient
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def _assert_no_email(err: BaseException) -> None:
    assert not EMAIL.search(str(err)), str(err)
    assert not EMAIL.search(repr(err)), repr(err)
    assert not EMAIL.search(getattr(err, "message", "")), err


@pytest.fixture
def assert_no_email():
    """Exception text must never carry an e-mail address."""
    return _assert_no_email


@pytest.fixture
async def admin(sandbox: SandboxServer):
    async with SandboxAdmin(sandbox.url) as admin:
        await admin.reset()
        yield admin
        await admin.reset()  # leave no faults behind for other suites


@pytest.fixture
async def hubspot(sandbox: SandboxServer, admin):
    async with HubSpotClient(sandbox.url, sandbox.tokens.hubspot_token.get_secret_value(), timeout=5) as client:
        yield client


@pytest.fixture
async def sendgrid(sandbox: SandboxServer, admin):
    async with SendGridClient(sandbox.url, sandbox.tokens.sendgrid_api_key.get_secret_value(), timeout=5) as client:
        yield client


@pytest.fixture
async def slack(sandbox: SandboxServer, admin):
    async with SlackClient(sandbox.url, sandbox.tokens.slack_token.get_secret_value(), timeout=5) as client:
        yield client


@pytest.fixture
async def wordpress(sandbox: SandboxServer, admin):
    tokens = sandbox.tokens
    async with WordPressClient(
        sandbox.url, tokens.wordpress_user, tokens.wordpress_app_password.get_secret_value(), timeout=5
    ) as client:
        yield client


@pytest.fixture
async def linkedin(sandbox: SandboxServer, admin):
    tokens = sandbox.tokens
    async with LinkedInClient(
        sandbox.url, tokens.linkedin_token.get_secret_value(), author_urn=tokens.linkedin_author, timeout=5
    ) as client:
        yield client


@pytest.fixture
async def ga4(sandbox: SandboxServer, admin):
    tokens = sandbox.tokens
    async with GA4Client(
        sandbox.url, tokens.ga4_token.get_secret_value(), property_id=tokens.ga4_property, timeout=5
    ) as client:
        yield client


@pytest.fixture
async def meta(sandbox: SandboxServer, admin):
    tokens = sandbox.tokens
    async with MetaAdsClient(
        sandbox.url,
        tokens.meta_token.get_secret_value(),
        ad_account_id=tokens.meta_ad_account_id,
        page_id=tokens.meta_page_id,
        timeout=5,
    ) as client:
        yield client


@pytest.fixture
async def google_ads(sandbox: SandboxServer, admin):
    tokens = sandbox.tokens
    async with GoogleAdsClient(
        sandbox.url,
        tokens.google_ads_token.get_secret_value(),
        customer_id=tokens.google_ads_customer_id,
        developer_token=tokens.google_ads_developer_token.get_secret_value(),
        timeout=5,
    ) as client:
        yield client


@pytest.fixture
async def links(sandbox: SandboxServer):
    async with LinkChecker(timeout=2) as checker:
        yield checker


@pytest.fixture
def closed_url() -> str:
    """A URL on a local port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
