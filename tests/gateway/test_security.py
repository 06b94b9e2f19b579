"""API keys, scopes, rate limits, body limits, CORS, keygen: the security pieces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.unsubscribe import mint_token, verify_token
from gateway.app import create_app
from gateway.security import (
    ApiKeyConfig,
    KeyFileError,
    KeyRing,
    Principal,
    RateLimiter,
    Scope,
    hash_key,
    new_key,
    save_key,
)
from gateway.server import GatewayServer
from gateway.settings import gateway_settings
from mops.settings import SettingsError
from tests.conftest import eventually
from tests.gateway.conftest import Gateway, unique_email
from tests.gateway.test_rest_leads import error


def test_keyring_maps_raw_keys_to_principals() -> None:
    omar, web = new_key(), new_key()
    ring = KeyRing(
        [
            ApiKeyConfig(id="omar", sha256=hash_key(omar).upper(), scopes=["approve"], approver="omar"),
            ApiKeyConfig(id="web", sha256=hash_key(web), scopes=["ingest", "read"]),
        ]
    )
    assert ring.authenticate(omar) == Principal("omar", frozenset({Scope.APPROVE}), "omar")
    assert ring.authenticate(web).allows(Scope.READ) and not ring.authenticate(web).allows(Scope.APPROVE)
    assert ring.authenticate(web + "x") is None and ring.authenticate("") is None
    assert Principal("a", frozenset({Scope.ADMIN})).allows(Scope.APPROVE)


def test_key_config_refusals() -> None:
    with pytest.raises(ValueError, match="approver"):
        ApiKeyConfig(id="x", sha256="a" * 64, scopes=["approve"])
    with pytest.raises(ValueError, match="sha256"):
        ApiKeyConfig(id="x", sha256="not-hex", scopes=["read"])
    with pytest.raises(SettingsError, match="^MOPS_GATEWAY_KEYS: "):
        gateway_settings(gateway_keys=[{"id": "a", "sha256": "a" * 64, "scopes": ["read"]}] * 2)
    with pytest.raises(SettingsError, match="^MOPS_GATEWAY_BURST"):
        gateway_settings(gateway_burst=0)


async def test_token_bucket() -> None:
    now = [0.0]
    bucket = RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert await bucket.take("k") is None and await bucket.take("k") is None
    assert await bucket.take("k") == pytest.approx(0.5)
    assert await bucket.take("other") is None, "buckets are per key"
    now[0] = 0.5
    assert await bucket.take("k") is None and await bucket.take("k") is not None


def test_unsubscribe_tokens() -> None:
    token = mint_token("s3cret", "lead-" + "ab" * 12)
    assert verify_token("s3cret", token) == "ab" * 12
    assert verify_token("other", token) is None
    assert verify_token("s3cret", "cd" * 12 + token[24:]) is None, "the signature binds the lead id"
    with pytest.raises(ValueError):
        mint_token("s3cret", "ada@acme.example")


def test_keygen_prints_the_key_once_and_its_entry(tmp_path: Path) -> None:
    env = {**os.environ, "MOPS_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "keygen",
            "--id",
            "omar-app",
            "--scopes",
            "approve,read",
            "--approver",
            "omar",
            "--json",
            "--no-save",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    data = json.loads(out.stdout)
    entry = ApiKeyConfig.model_validate(data["entry"])
    assert entry.sha256 == hash_key(data["key"]) and data["key"] not in json.dumps(data["entry"])
    assert KeyRing([entry]).authenticate(data["key"]).approver == "omar"
    assert data["saved_to"] is None and not (tmp_path / "gateway-keys.json").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "gateway", "keygen", "--id", "x", "--scopes", "approve"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("--approver:") and "Traceback" not in bad.stderr


def _keygen(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "starter.cli", "gateway", "keygen", *args], capture_output=True, text=True, env=env
    )


def test_keygen_saves_the_key_where_a_running_key_ring_sees_it(tmp_path: Path) -> None:
    """A key minted while the gateway runs is accepted on the next request, without a restart;
    minting the same id again replaces (rotates) its key."""
    env = {**os.environ, "MOPS_DATA_DIR": str(tmp_path), "MOPS_GATEWAY_KEYS": "[]"}
    ring = KeyRing([], tmp_path / "gateway-keys.json")  # as the gateway builds it, before any key exists
    first = _keygen(env, "--id", "web", "--scopes", "ingest,read", "--key-only")
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert key.startswith("mops_") and len(first.stdout.splitlines()) == 1
    who = ring.authenticate(key)
    assert who is not None and who.key_id == "web" and who.scopes == {Scope.INGEST, Scope.READ}
    assert key not in (tmp_path / "gateway-keys.json").read_text(), "only the hash is stored"

    rotated = _keygen(env, "--id", "web", "--scopes", "read")
    assert rotated.returncode == 0 and "replaced the previous key" in rotated.stdout
    new_key_ = rotated.stdout.split(": ", 1)[1].splitlines()[0]
    assert ring.authenticate(key) is None, "the rotated key no longer works"
    assert ring.authenticate(new_key_).scopes == {Scope.READ}


def test_key_file_errors_name_the_file_and_keep_the_last_good_keys(tmp_path: Path, caplog) -> None:
    path = tmp_path / "gateway-keys.json"
    raw = new_key()
    save_key(path, ApiKeyConfig(id="web", sha256=hash_key(raw), scopes=["read"]))
    ring = KeyRing([], path)
    assert ring.authenticate(raw) is not None
    path.write_text('[{"id": "Bad Id", "sha256": "00", "scopes": []}')  # half-edited: not even JSON
    os.utime(path, ns=(1, 1))  # a different stamp even on coarse clocks
    with caplog.at_level("ERROR"):
        assert ring.authenticate(raw) is not None, "a broken file keeps the keys it held"
    assert str(path) in caplog.text
    with pytest.raises(KeyFileError, match="gateway-keys.json"):
        KeyRing([], path)  # at start a broken file is refused, with the file named
    fixed = ApiKeyConfig(id="web", sha256="a" * 64, scopes=["read"])
    save_key(path.with_name("other.json"), fixed)
    with pytest.raises(KeyFileError, match="also in MOPS_GATEWAY_KEYS"):
        KeyRing([fixed], path.with_name("other.json"))


async def test_rate_limit_answers_429_and_recovers(gw: Gateway, dev_env: WorkflowEnvironment) -> None:
    settings = gw.settings.model_copy(update={"gateway_rate_per_second": 2.0, "gateway_burst": 2})
    async with (
        GatewayServer(create_app(settings, dev_env.client)) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        lead = f"/v1/leads/{'0' * 24}"
        h = gw.auth("reader")
        assert [(await http.get(lead, headers=h)).status_code for _ in range(2)] == [404, 404]
        limited = await http.get(lead, headers=h)
        limited_at = time.monotonic()
        assert limited.status_code == 429 and error(limited)["code"] == "rate_limited"
        retry_after = int(limited.headers["retry-after"])
        assert retry_after == 1
        other = await http.get(lead, headers=gw.auth("omar"))
        assert other.status_code == 404, "another key has its own bucket"

        async def recovered():
            return (await http.get(lead, headers=h)).status_code == 404

        await eventually(recovered, timeout=retry_after + 1.0, interval=0.1, what="the bucket to refill")
        assert time.monotonic() - limited_at <= retry_after + 1.0
        assert (await http.get("/healthz")).status_code == 200, "health needs no key and is not limited"


async def test_body_limit_on_the_api(gw: Gateway) -> None:
    big = {"email": unique_email(), "source": "web_form", "consent": True, "company": "x" * (1024 * 1024)}
    r = await gw.http.post("/v1/leads", json=big, headers=gw.auth("ingest"))
    assert r.status_code == 413 and error(r)["code"] == "payload_too_large"

    async def stream():
        yield b'{"email": "a@acme.example", "source": "web_form", "company": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    r = await gw.http.post(
        "/v1/leads", content=stream(), headers={**gw.auth("ingest"), "Content-Type": "application/json"}
    )
    assert r.status_code == 413 and error(r)["code"] == "payload_too_large"
    r = await gw.http.post("/v1/leads", content=b"x" * (1024 * 1024 + 1))  # before auth: nothing is read
    assert r.status_code == 413


async def test_cors_only_for_configured_origins(gw: Gateway, dev_env: WorkflowEnvironment) -> None:
    settings = gw.settings.model_copy(update={"gateway_cors_origins": "https://app.example"})
    async with (
        GatewayServer(create_app(settings, dev_env.client)) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        ok = await http.options("/v1/leads", headers={"Origin": "https://app.example", **pre})
        assert ok.headers.get("access-control-allow-origin") == "https://app.example"
        no = await http.options("/v1/leads", headers={"Origin": "https://evil.example", **pre})
        assert "access-control-allow-origin" not in no.headers
