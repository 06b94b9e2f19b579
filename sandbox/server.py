"""Run the sandbox in a background thread on a free port (for tests and the demo).

    with SandboxServer() as sandbox:          # or: async with SandboxServer() as sandbox:
        client = HubSpotClient(sandbox.url, sandbox.tokens.hubspot_token.get_secret_value())

The socket is bound before the thread starts, so `url` is known at once and no other
process can take the port; `start()` returns when `/_sandbox/health` answers.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Self

import httpx
import uvicorn
from fastapi import FastAPI

from sandbox.app import create_app
from sandbox.settings import SandboxTokens


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket. TCP_NODELAY matters: without it, keep-alive requests
    wait ~40 ms on delayed ACKs because uvicorn writes headers and body separately."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def make_server(app: FastAPI) -> uvicorn.Server:
    """A quiet uvicorn server for the sandbox app."""
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))


class SandboxServer:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: SandboxTokens | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        self.tokens = tokens or SandboxTokens()
        self.app: FastAPI = create_app(self.tokens)
        self._host, self._port, self._startup_timeout = host, port, startup_timeout
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> Self:
        """Bind, serve in a daemon thread, and wait (with a deadline) until healthy."""
        sock = self._socket = bind_socket(self._host, self._port)
        self.url = f"http://{self._host}:{sock.getsockname()[1]}"
        self._server = make_server(self.app)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="mops-sandbox", daemon=True
        )
        self._thread.start()
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        with httpx.Client(base_url=self.url, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._thread is None or not self._thread.is_alive():
                    raise RuntimeError("sandbox server thread exited during startup")
                try:
                    if client.get("/_sandbox/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"sandbox not healthy after {self._startup_timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit and wait for the thread; close the socket."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)
