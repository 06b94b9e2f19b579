"""The health check's probe of mops' own gateway: `GET /healthz` as its callers reach it,
each answer that is not 200 (or none at all) a failure."""

from __future__ import annotations

import socket

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.health import HealthActivities
from activities.models import ProbeInput
from domain.health import HealthPolicy, problem
from gateway.server import GatewayServer


def healthz(status: int) -> Starlette:
    async def answer(_request) -> JSONResponse:
        return JSONResponse({"status": "ok" if status == 200 else "starting"}, status_code=status)

    return Starlette(routes=[Route("/healthz", answer)])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


async def probe(url: str | None):
    acts = HealthActivities(None, None, None, gateway_url=url)  # type: ignore[arg-type]
    try:
        return await ActivityEnvironment().run(acts.probe, ProbeInput(platform="gateway", requests=3))
    finally:
        await acts.aclose()


async def test_a_gateway_that_answers_is_healthy_and_one_that_does_not_is_a_problem() -> None:
    async with GatewayServer(healthz(200)) as up:
        good = await probe(up.url)
    assert good.failures == 0 and len(good.latencies_ms) == 3 and problem(good, HealthPolicy()) is None
    async with GatewayServer(healthz(503)) as starting:
        refusing = await probe(starting.url)
    assert refusing.failures == 3 and refusing.last_error == "http_503"
    down = await probe(f"http://127.0.0.1:{closed_port()}")
    assert down.failures == 3 and down.last_error == "ConnectError"
    assert problem(down, HealthPolicy()) == "error rate 100% (3/3 probes failed)"


async def test_a_worker_without_the_gateway_url_refuses_the_probe() -> None:
    with pytest.raises(ApplicationError, match="MOPS_HEALTH_GATEWAY_URL"):
        await probe(None)
