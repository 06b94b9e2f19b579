"""Serving the gateway: `serve(settings)` for the process, `GatewayServer` in-process
(tests, benchmarks): uvicorn on the caller's event loop, on a pre-bound socket.

    async with GatewayServer(create_app(settings, client)) as gw:
        httpx.AsyncClient(base_url=gw.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Self

import uvicorn
from fastapi import FastAPI

from gateway.settings import GatewaySettings
from sandbox.server import bind_socket

log = logging.getLogger("mops.gateway")


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
        self._server = _QuietServer(uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on"))
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


async def serve(settings: GatewaySettings) -> None:
    """The gateway process: tracing, a Temporal client (pydantic converter + tracing), uvicorn."""
    from gateway.app import create_app
    from mops.telemetry import setup_tracing
    from mops.temporal import connect

    setup_tracing("mops-gateway")
    client = await connect(settings)
    app = create_app(settings, client)
    config = uvicorn.Config(app, host=settings.gateway_host, port=settings.gateway_port, lifespan="on",
                            access_log=False, proxy_headers=True)
    log.info("mops gateway on http://%s:%d (docs at /docs)", settings.gateway_host, settings.gateway_port)
    await uvicorn.Server(config).serve()
