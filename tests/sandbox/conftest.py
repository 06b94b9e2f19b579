"""Raw HTTP access to the shared sandbox (see tests/conftest.py), reset around each test."""

from __future__ import annotations

import base64

import httpx
import pytest

from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer


@pytest.fixture
async def admin(sandbox: SandboxServer):
    async with SandboxAdmin(sandbox.url) as admin:
        await admin.reset()
        yield admin
        await admin.reset()


@pytest.fixture
async def http(sandbox: SandboxServer, admin):
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=5) as client:
        yield client


@pytest.fixture
def auth(sandbox: SandboxServer):
    """Authorization (and other required) headers per platform, with the credentials the sandbox accepts."""
    tokens = sandbox.tokens
    wordpress = base64.b64encode(f"{tokens.wordpress_user}:{tokens.wordpress_app_password.get_secret_value()}".encode())
    return {
        "hubspot": {"Authorization": f"Bearer {tokens.hubspot_token.get_secret_value()}"},
        "sendgrid": {"Authorization": f"Bearer {tokens.sendgrid_api_key.get_secret_value()}"},
        "slack": {"Authorization": f"Bearer {tokens.slack_token.get_secret_value()}"},
        "wordpress": {"Authorization": f"Basic {wordpress.decode()}"},
        "linkedin": {
            "Authorization": f"Bearer {tokens.linkedin_token.get_secret_value()}",
            "LinkedIn-Version": "202405",
            "X-Restli-Protocol-Version": "2.0.0",
        },
        "ga4": {"Authorization": f"Bearer {tokens.ga4_token.get_secret_value()}"},
        "meta": {"Authorization": f"Bearer {tokens.meta_token.get_secret_value()}"},
        "google_ads": {
            "Authorization": f"Bearer {tokens.google_ads_token.get_secret_value()}",
            "developer-token": tokens.google_ads_developer_token.get_secret_value(),
        },
    }
