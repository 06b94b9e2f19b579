"""`mops codec-server`: decodes for an authorised caller only (bearer token, or the token
in the Web UI's endpoint path), answers CORS only to the configured UI origin, refuses
everything else, and leaves an erased lead's payloads encrypted."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import WorkflowSerializationContext

from gateway.server import GatewayServer
from mops.codec import shared_keyring
from mops.codec_server import codec_ui_endpoint, create_codec_app
from mops.keystore import ErasureRecord, utc_now
from mops.master_keys import new_master_key
from mops.settings import Settings
from mops.temporal import data_converter

TOKEN = "codec-test-token-0123456789"
UI = "http://127.0.0.1:8233"
LEAD = "c" * 24
MARKER = "canary.codecserver@marker.example"


@pytest.fixture
async def codec(tmp_path: Path):
    settings = Settings(
        data_dir=tmp_path,
        codec_keys=new_master_key("t1"),
        codec_server_token=TOKEN,
        codec_server_ui_origin=UI,
        key_cache_seconds=0,
    )
    async with (
        GatewayServer(create_codec_app(settings)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as http,
    ):
        yield settings, http


async def encoded(settings: Settings, workflow_id: str, value: str) -> dict:
    dc = data_converter(settings).with_context(
        WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)
    )
    return json_format.MessageToDict(Payloads(payloads=await dc.encode([value])))


def texts(body: dict) -> list[str]:
    return [base64.b64decode(p["data"]).decode() for p in body["payloads"]]


async def test_authorised_callers_read_payloads(codec) -> None:
    settings, http = codec
    body = await encoded(settings, f"lead-{LEAD}", MARKER)
    assert MARKER not in str(body)
    bearer = {"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"}
    r = await http.post("/decode", json=body, headers=bearer)  # the temporal CLI: --codec-auth
    assert r.status_code == 200 and texts(r.json()) == [f'"{MARKER}"']
    assert "access-control-allow-origin" not in r.headers, "no CORS for a caller without an origin"

    ui_path = codec_ui_endpoint(settings).split(":8888", 1)[1]  # /t/<token>: what `mops up` gives the Web UI
    r = await http.post(f"{ui_path}/decode", json=body, headers={"Origin": UI, "X-Namespace": "default"})
    assert r.status_code == 200 and texts(r.json()) == [f'"{MARKER}"']
    assert r.headers["access-control-allow-origin"] == UI

    r = await http.post(
        "/encode",
        json={
            "payloads": [
                {
                    "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                    "data": base64.b64encode(b'"from the UI"').decode(),
                }
            ]
        },
        headers=bearer,
    )
    assert r.status_code == 200 and "from the UI" not in r.text
    r = await http.post("/decode", json=r.json(), headers=bearer)
    assert texts(r.json()) == ['"from the UI"']


async def test_preflight_only_from_the_ui_origin(codec) -> None:
    _, http = codec
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace"}
    r = await http.options("/decode", headers={"Origin": UI, **ask})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == UI
    assert "x-namespace" in r.headers["access-control-allow-headers"]
    r = await http.options("/decode", headers={"Origin": "https://evil.example", **ask})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/decode", {}, 401, "missing_token"),
        ("/decode", {"Authorization": "Bearer wrong-token"}, 401, "invalid_token"),
        ("/decode", {"Authorization": f"Basic {TOKEN}"}, 401, "missing_token"),
        ("/t/wrong-token/decode", {"Origin": UI}, 401, "invalid_token"),
        ("/decode", {"Authorization": f"Bearer {TOKEN}", "Origin": "https://evil.example"}, 403, "origin_not_allowed"),
        (f"/t/{TOKEN}/decode", {"Origin": "http://localhost:9999"}, 403, "origin_not_allowed"),
        ("/admin", {"Authorization": f"Bearer {TOKEN}"}, 404, "not_found"),
    ],
)
async def test_everything_else_is_refused(codec, path: str, headers: dict, status: int, code: str) -> None:
    settings, http = codec
    body = await encoded(settings, f"lead-{LEAD}", MARKER)
    r = await http.post(path, json=body, headers=headers)
    assert r.status_code == status and r.json()["error"]["code"] == code
    assert MARKER not in r.text
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_wrong_method_bad_body_and_oversize(codec) -> None:
    _, http = codec
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (await http.get("/decode", headers=auth)).status_code == 405
    assert (await http.post("/decode", content=b"not json", headers=auth)).status_code == 400
    r = await http.post("/decode", content=b"x" * (4 * 1024 * 1024 + 1), headers=auth)
    assert r.status_code == 413


async def test_an_erased_leads_payload_stays_encrypted(codec) -> None:
    settings, http = codec
    body = await encoded(settings, f"lead-{LEAD}", MARKER)
    shared_keyring(settings).destroy_lead(LEAD, ErasureRecord("er-t", LEAD, utc_now(), "test"))
    r = await http.post("/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json() == body and MARKER not in r.text
