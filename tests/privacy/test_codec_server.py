"""`mops codec-server`: decodes for an authorised caller only (a bearer token; the Web UI's
origin on a loopback listener; on a network listener, an access token the identity provider
accepts), answers CORS only to the configured UI origin, refuses everything else, gives the
Web UI no secret, and leaves an erased lead's payloads encrypted."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads
from temporalio.converter import WorkflowSerializationContext

from gateway.server import GatewayServer
from mops.codec import shared_keyring
from mops.codec_server import CodecServerConfigError, codec_ui_endpoint, create_codec_app
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

    # The Web UI's browser: its origin on a loopback listener, no secret (the UI is given a bare URL).
    assert codec_ui_endpoint(settings) == "http://127.0.0.1:8888"
    r = await http.post("/decode", json=body, headers={"Origin": UI, "X-Namespace": "default"})
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
        ("/decode", {"Authorization": f"Bearer {TOKEN}", "Origin": "https://evil.example"}, 403, "origin_not_allowed"),
        ("/decode", {"Origin": "http://localhost:9999"}, 403, "origin_not_allowed"),
        # a DNS-rebinding page: the UI's origin cannot be claimed by a page, but a loopback port
        # reached under another name is not the UI's page either
        ("/decode", {"Origin": UI, "Host": "rebind.evil.example:8888"}, 401, "missing_token"),
        (f"/t/{TOKEN}/decode", {"Origin": UI}, 404, "not_found"),  # the token is no longer a path
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


def test_a_network_listener_needs_the_identity_provider(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, codec_server_host="0.0.0.0", codec_server_token=TOKEN)
    with pytest.raises(CodecServerConfigError, match=r"^codec_server_host: 0\.0\.0\.0 is not a loopback address"):
        create_codec_app(settings)


def test_mops_codec_server_refuses_a_network_listener_without_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOPS_")}
    res = subprocess.run(
        [str(Path(sys.executable).parent / "mops"), "codec-server", "--host", "0.0.0.0", "--port", "1"],
        env={**env, "MOPS_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2, res
    assert res.stderr.startswith("error: codec_server_host: 0.0.0.0") and len(res.stderr.splitlines()) == 1


def userinfo_app(asked: list[str], *, broken: bool = False) -> Starlette:
    """An identity provider's OIDC userinfo endpoint: one access token is valid."""

    async def userinfo(request: Request) -> JSONResponse:
        asked.append(request.headers.get("authorization", ""))
        if broken:
            return JSONResponse({"error": "server_error"}, status_code=500)
        if request.headers.get("authorization") == "Bearer good-access-token":
            return JSONResponse({"sub": "operator-1", "email": "ops@mops.example"})
        return JSONResponse({"error": "invalid_token"}, status_code=401)

    return Starlette(routes=[Route("/userinfo", userinfo)])


@pytest.mark.parametrize("broken", [False, True])
async def test_a_network_listener_admits_the_uis_forwarded_access_token(tmp_path: Path, broken: bool) -> None:
    asked: list[str] = []
    async with GatewayServer(userinfo_app(asked, broken=broken)) as idp:
        settings = Settings(
            data_dir=tmp_path,
            codec_keys=new_master_key("t1"),
            codec_server_host="0.0.0.0",
            codec_server_token=TOKEN,
            codec_server_ui_origin=UI,
            codec_server_oidc_userinfo_url=f"{idp.url}/userinfo",
            key_cache_seconds=0,
        )
        async with (
            GatewayServer(create_codec_app(settings)) as server,
            httpx.AsyncClient(base_url=server.url, timeout=10) as http,
        ):
            body = await encoded(settings, f"lead-{LEAD}", MARKER)
            ui = {"Origin": UI, "X-Namespace": "default"}
            r = await http.post("/decode", json=body, headers=ui)  # the origin alone is not enough here
            assert r.status_code == 401 and r.json()["error"]["code"] == "missing_token" and MARKER not in r.text
            good = {**ui, "Authorization": "Bearer good-access-token"}
            if broken:
                r = await http.post("/decode", json=body, headers=good)
                assert r.status_code == 503 and r.json()["error"]["code"] == "identity_unavailable"
                assert MARKER not in r.text
                return
            for _ in range(3):
                r = await http.post("/decode", json=body, headers=good)
                assert r.status_code == 200 and texts(r.json()) == [f'"{MARKER}"']
            assert asked == ["Bearer good-access-token"], "the provider's answer is cached"
            r = await http.post("/decode", json=body, headers={**ui, "Authorization": "Bearer forged"})
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token" and MARKER not in r.text
            r = await http.post("/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200, "the CLI's token still works"
