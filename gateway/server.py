"""Serving the gateway: `serve(settings)` for the process, `GatewayServer` in-process
(tests, benchmarks): uvicorn on the caller's event loop, on a pre-bound socket.

    async with GatewayServer(create_app(settings, client)) as gw:
        httpx.AsyncClient(base_url=gw.url)

Speed (measured in bench/gateway_latency.py): uvicorn parses HTTP with httptools
and the gateway process runs on uvloop, when installed (both are dependencies);
`MOPS_GATEWAY_EVENT_LOOP=asyncio` keeps the standard loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import socket
from collections.abc import Coroutine
from typing import Any, Self

import uvicorn
from fastapi import FastAPI

from gateway.settings import GatewaySettings
from mops.settings import SettingsError

log = logging.getLogger("mops.gateway")

# uvicorn's C HTTP parser (a dependency; uvicorn refuses to start without it). The benchmark
# sets "h11" for its baseline.
HTTP_IMPL = "httptools"


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket, bound before uvicorn starts so `url` is known at once.
    TCP_NODELAY matters: without it, keep-alive requests wait ~40 ms on delayed ACKs
    because uvicorn writes headers and body separately. (The sandbox has its own: it
    stands in for other companies' platforms and shares no code with the gateway.)"""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def use_uvloop(settings: Any = None) -> bool:
    """Make asyncio create uvloop loops in this process (the gateway process only: call it
    before `asyncio.run`). False when `gateway_event_loop` is asyncio; uvloop configured but
    not installed is refused (SettingsError), never a quiet asyncio loop."""
    if getattr(settings, "gateway_event_loop", "uvloop") != "uvloop":
        return False
    if not importlib.util.find_spec("uvloop"):
        raise SettingsError(
            "MOPS_GATEWAY_EVENT_LOOP=uvloop: uvloop is not installed "
            "(install mops with its dependencies, or set MOPS_GATEWAY_EVENT_LOOP=asyncio)"
        )
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


class _QuietServer(uvicorn.Server):
    """Leaves signal handling to the host (pytest, the benchmark, `serve`)."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class GatewayServer:
    def __init__(self, app: FastAPI, *, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 10.0) -> None:
        self.app, self._host, self._port, self._startup_timeout = app, host, port, startup_timeout
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None
        self.url = ""

    async def start(self) -> Self:
        sock = bind_socket(self._host, self._port)
        self.url = f"http://{self._host}:{sock.getsockname()[1]}"
        self._server = _QuietServer(
            uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on", http=HTTP_IMPL)
        )
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="mops-gateway")
        async with asyncio.timeout(self._startup_timeout):
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                    raise RuntimeError("gateway server exited during startup")
                await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._server = self._task = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def serve(settings: GatewaySettings) -> Coroutine[Any, Any, None]:
    """The gateway process, for `asyncio.run(serve(settings))`: switches this process to uvloop
    (before asyncio.run creates its loop), then returns the coroutine that serves."""
    use_uvloop(settings)
    return _serve(settings)


async def _serve(settings: GatewaySettings) -> None:
    """Tracing, a Temporal client (pydantic converter + tracing), uvicorn."""
    from gateway.app import create_app
    from mops.telemetry import setup_tracing
    from mops.temporal import connect

    setup_tracing("mops-gateway")
    client = await connect(settings)
    app = create_app(settings, client)
    config = uvicorn.Config(
        app,
        host=settings.gateway_host,
        port=settings.gateway_port,
        lifespan="on",
        access_log=False,
        proxy_headers=True,
        http=HTTP_IMPL,
    )
    log.info(
        "mops gateway on http://%s:%d (docs at /docs; %s, %s)",
        settings.gateway_host,
        settings.gateway_port,
        type(asyncio.get_running_loop()).__module__,
        HTTP_IMPL,
    )
    await uvicorn.Server(config).serve()
