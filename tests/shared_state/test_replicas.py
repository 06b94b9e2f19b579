"""Two real gateway processes (`python -m gateway`) on one PostgreSQL database, each with a
data directory of its own (so nothing is shared through local files), against the real dev
server: they spend from one rate limit, refuse each other's replays, and honour each other's
sign-outs."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from gateway.previews_page import COOKIE
from gateway.security import hash_key, new_key
from gateway.webhooks.slack import signature_v0
from tests.conftest import ROOT, eventually
from tests.postgres import PostgresServer

BURST = 8
SLACK_SECRET = "shared-slack-signing-secret"
SESSION_SECRET = "shared-session-secret-of-the-replicas"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Replica:
    url: str
    process: subprocess.Popen
    log: Path


@dataclass
class Replicas:
    a: Replica
    b: Replica
    keys: dict[str, str]


@pytest.fixture(scope="module")
async def replicas(dev_env: WorkflowEnvironment, postgres: PostgresServer, tmp_path_factory) -> Replicas:
    url = postgres.database()  # not upgraded: each gateway runs the migrations on start
    raw = {"rate": new_key(), "reader": new_key()}
    keys = [{"id": name, "sha256": hash_key(key), "scopes": ["read"]} for name, key in raw.items()]
    started: list[Replica] = []
    base = {k: v for k, v in os.environ.items() if not k.startswith("MOPS_")}
    for name in ("a", "b"):
        data_dir = tmp_path_factory.mktemp(f"replica-{name}")
        port = free_port()
        env = {
            **base,
            "MOPS_DATABASE_URL": url,
            "MOPS_DATA_DIR": str(data_dir),
            "MOPS_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "MOPS_GATEWAY_HOST": "127.0.0.1",
            "MOPS_GATEWAY_PORT": str(port),
            "MOPS_GATEWAY_KEYS": json.dumps(keys),
            # Next to nothing refills during the test: the limit is the burst, once for both.
            "MOPS_GATEWAY_RATE_PER_SECOND": "0.0001",
            "MOPS_GATEWAY_BURST": str(BURST),
            "MOPS_SLACK_SIGNING_SECRET": SLACK_SECRET,
            "MOPS_GATEWAY_SESSION_SECRET": SESSION_SECRET,
        }
        log = data_dir / "gateway.log"
        with log.open("w") as out:
            process = subprocess.Popen([sys.executable, "-m", "gateway"], env=env, cwd=ROOT, stdout=out, stderr=out)
        started.append(Replica(f"http://127.0.0.1:{port}", process, log))
    try:
        async with httpx.AsyncClient() as http:
            for replica in started:

                async def up(replica: Replica = replica) -> bool:
                    assert replica.process.poll() is None, replica.log.read_text()
                    try:
                        return (await http.get(f"{replica.url}/healthz")).status_code == 200
                    except httpx.TransportError:
                        return False

                await eventually(up, timeout=60, what=f"gateway at {replica.url}")
        yield Replicas(started[0], started[1], raw)
    finally:
        for replica in started:
            replica.process.terminate()
        for replica in started:
            try:
                replica.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait()


async def test_two_replicas_spend_from_one_rate_limit(replicas: Replicas) -> None:
    auth = {"Authorization": f"Bearer {replicas.keys['rate']}"}
    async with httpx.AsyncClient(timeout=30) as http:
        # Both at once, so the buckets' updates race each other across the two processes.
        answers = await asyncio.gather(
            *(http.get(f"{r.url}/v1/content/no-such-item", headers=auth) for r in [replicas.a, replicas.b] * BURST)
        )
    accepted = [a for a in answers if a.status_code != 429]
    limited = [a for a in answers if a.status_code == 429]
    # In-process buckets would let each replica take BURST: 2 * BURST in all.
    assert len(accepted) == BURST, [a.status_code for a in answers]
    assert {a.status_code for a in accepted} == {404}
    assert all(a.json()["error"]["code"] == "rate_limited" and int(a.headers["Retry-After"]) >= 1 for a in limited)


async def test_a_webhook_replayed_to_the_other_replica_is_refused(replicas: Replicas) -> None:
    body = urllib.parse.urlencode({"payload": json.dumps({"type": "view_closed", "user": {"id": "U0X"}})}).encode()
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature_v0(SLACK_SECRET, ts, body),
    }
    async with httpx.AsyncClient(timeout=30) as http:
        first = await http.post(f"{replicas.a.url}/webhooks/slack", content=body, headers=headers)
        again = await http.post(f"{replicas.b.url}/webhooks/slack", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "replayed"


async def test_a_sign_out_on_one_replica_holds_on_the_other(replicas: Replicas) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        signed = await http.post(
            f"{replicas.a.url}/previews/sign-in",
            data={"token": replicas.keys["reader"], "next": "/previews"},
        )
        assert signed.status_code == 303, signed.text
        cookie = {"Cookie": f"{COOKIE}={signed.cookies[COOKIE]}"}
        http.cookies.clear()  # each request carries the cookie by hand, to the replica named

        on_b = await http.get(f"{replicas.b.url}/previews", headers=cookie)
        assert on_b.status_code == 200
        csrf = re.search(r'name="csrf" value="([^"]+)"', on_b.text)
        assert csrf, "the other replica shows the signed-in page"

        out = await http.post(f"{replicas.a.url}/previews/sign-out", data={"csrf": csrf.group(1)}, headers=cookie)
        assert out.status_code == 200, out.text

        after = await http.get(f"{replicas.b.url}/previews", headers=cookie)
    assert after.status_code == 200
    assert 'name="token"' in after.text and 'name="csrf"' not in after.text, "signed out on A, still in on B"
