"""Raw HTTP access to the shared sandbox (see tests/conftest.py), reset around each test."""

from __future__ import annotations

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
    """Authorization headers per platform, with the tokens the sandbox accepts."""
    tokens = sandbox.tokens
    return {
        "hubspot": {"Authorization": f"Bearer {tokens.hubspot_token.get_secret_value()}"},
        "sendgrid": {"Authorization": f"Bearer {tokens.sendgrid_api_key.get_secret_value()}"},
        "slack": {"Authorization": f"Bearer {tokens.slack_token.get_secret_value()}"},
    }
