"""Gateway fixtures: the real app served by uvicorn in-process on a free port, talking
to the real dev server with the real mops workers and the sandbox platforms."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from temporalio.testing import WorkflowEnvironment

from domain.campaigns import build_campaign
from domain.content import load_directory
from gateway.app import create_app
from gateway.security import ApiKeyConfig, hash_key, new_key
from gateway.server import GatewayServer
from gateway.settings import GatewaySettings, gateway_settings
from mops.approval_keys import verify_keys
from mops.queues import platform_queues
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from starter.service.campaigns import CampaignService
from starter.service.content import ContentService
from starter.service.leads import LeadService
from tests.ad_fixtures import ASSETS, META_AD
from tests.conftest import eventually, make_settings
from tests.google_search import SEARCH_SECTION
from workers.main import running_workers
from workflows.campaign_models import CampaignInput

# key name -> (scopes, bound person)
KEYS = {
    "ingest": (["ingest"], None),
    "reader": (["read"], None),
    "admin": (["admin"], None),
    "omar": (["approve", "read"], "omar"),
    "sofia": (["approve"], "sofia"),
    "raj": (["approve"], "raj"),
    "maya": (["approve", "ingest", "read"], "maya"),
    "dana": (["approve"], "dana"),  # the marketing director: campaign launches and budget moves
}
SLACK_USERS = {"U0OMAR": "omar", "U0SOFIA": "sofia", "U0MAYA": "maya"}


@dataclass
class Gateway:
    url: str
    http: httpx.AsyncClient
    settings: GatewaySettings
    raw_keys: dict[str, str]
    sendgrid_key: ec.EllipticCurvePrivateKey
    leads: LeadService
    content: ContentService
    admin: SandboxAdmin
    sandbox_url: str
    campaigns: CampaignService
    extra: dict = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.raw_keys[who]}"}

    # signing as the platforms do -------------------------------------------------------

    def sendgrid_headers(
        self, body: bytes, *, timestamp: int | None = None, key: ec.EllipticCurvePrivateKey | None = None
    ) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        signature = (key or self.sendgrid_key).sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        }

    def hubspot_headers(
        self,
        body: bytes,
        *,
        timestamp_ms: int | None = None,
        secret: str | None = None,
        path: str = "/webhooks/hubspot",
    ) -> dict[str, str]:
        ts = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        secret = secret or self.settings.hubspot_client_secret.get_secret_value()
        message = b"POST" + f"{self.url}{path}".encode() + body + ts.encode()
        signature = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
        return {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": signature,
            "X-HubSpot-Request-Timestamp": ts,
        }

    def slack_headers(self, body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        secret = secret or self.settings.slack_signing_secret.get_secret_value()
        digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Signature": f"v0={digest}",
            "X-Slack-Request-Timestamp": ts,
        }


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def key_configs(raw_keys: dict[str, str]) -> list[ApiKeyConfig]:
    return [
        ApiKeyConfig(id=name, sha256=hash_key(raw_keys[name]), scopes=scopes, approver=approver)
        for name, (scopes, approver) in KEYS.items()
    ]


@pytest.fixture(scope="package")
async def gw(dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path_factory) -> Gateway:
    raw_keys = {name: new_key() for name in KEYS}
    sendgrid_key = ec.generate_private_key(ec.SECP256R1())
    base = make_settings(sandbox.url, dev_env.client.service_client.config.target_host)
    settings = gateway_settings(
        base,
        gateway_keys=key_configs(raw_keys),
        # Not the checkout's .mops/gateway-keys.json: keys minted by hand there must not reach the tests.
        gateway_keys_file=tmp_path_factory.mktemp("gateway-keys") / "gateway-keys.json",
        gateway_rate_per_second=1000.0,
        gateway_burst=1000,
        sendgrid_webhook_public_key=public_key_b64(sendgrid_key),
        hubspot_client_secret=f"hs-{uuid.uuid4().hex}",
        slack_signing_secret=f"sl-{uuid.uuid4().hex}",
        slack_user_map=SLACK_USERS,
    )
    async with (
        SandboxAdmin(sandbox.url) as admin,
        running_workers(dev_env.client, settings),
        GatewayServer(create_app(settings, dev_env.client)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=15.0) as http,
    ):
        await admin.clear_faults()
        yield Gateway(
            server.url,
            http,
            settings,
            raw_keys,
            sendgrid_key,
            LeadService(dev_env.client, settings),
            ContentService(dev_env.client, settings),
            admin,
            sandbox.url,
            CampaignService(dev_env.client, settings),
        )


def unique_email(domain: str = "acme.example") -> str:
    return f"gw.{uuid.uuid4().hex[:10]}@{domain}"


async def capture(gw: Gateway, email: str | None = None, **fields) -> dict:
    body = {"email": email or unique_email(), "source": "web_form", "consent": True, **fields}
    r = await gw.http.post("/v1/leads", json=body, headers=gw.auth("ingest"))
    assert r.status_code == 200, r.text
    return r.json()


def dumps(value) -> bytes:
    return json.dumps(value).encode()


# --- campaigns -------------------------------------------------------------------------------

DIRECTOR = [{"name": "director", "approvers": ["dana"], "mode": "all"}]


def campaign_data(gw: Gateway, **overrides: Any) -> dict[str, Any]:
    """A campaign owned by maya: a landing page and two paid channels (60/40)."""
    now = datetime.now(UTC).replace(microsecond=0)
    data: dict[str, Any] = {
        "id": f"gw-{uuid.uuid4().hex[:8]}",
        "name": "Spring launch",
        "objective": "leads",
        "owner": "maya",
        "end": (now + timedelta(days=20)).isoformat(),
        "timezone": "UTC",
        "currency": "EUR",
        "total_budget": "6000.00",
        "audience": "smb-eu",
        "landing_url": f"{gw.sandbox_url}/_links/ok/spring",
        "channels": [
            {"kind": "landing_page", "title": "Spring", "body": "Spring is here."},
            {"kind": "meta_ads", "share": 60, "countries": ["DE"], "ad": META_AD},
            {"kind": "google_ads", "share": 40, "search": SEARCH_SECTION},
        ],
    }
    data.update(overrides)
    return data


async def launch(gw: Gateway, **overrides: Any) -> str:
    """Launch through the Python API (launching is the CLI's job); returns the campaign id."""
    directory = load_directory(gw.settings.policies_dir / "directory.yaml")
    spec = build_campaign(campaign_data(gw, **overrides), directory=directory, assets=ASSETS)
    result = await gw.campaigns.launch(
        CampaignInput(
            spec=spec, directory=directory, queues=platform_queues(gw.settings), decision_keys=verify_keys(gw.settings)
        )
    )
    assert result.ok, result
    return spec.id


async def awaiting_launch_approval(gw: Gateway, **overrides: Any) -> str:
    cid = await launch(gw, approval=DIRECTOR, **overrides)
    await campaign_status(gw, cid, "awaiting_approval")
    return cid


async def campaign_status(gw: Gateway, cid: str, *statuses: str, timeout: float = 60) -> dict:
    async def reached():
        r = await gw.http.get(f"/v1/campaigns/{cid}", headers=gw.auth("reader"))
        assert r.status_code == 200, r.text
        assert r.json()["status"] in statuses, (r.json()["status"], r.json().get("outcome"))
        return r.json()

    return await eventually(reached, timeout=timeout, what=f"campaign {' or '.join(statuses)}")
