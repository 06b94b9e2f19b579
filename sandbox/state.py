"""Everything one sandbox app holds, reachable from a request."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from sandbox.faults import Faults
from sandbox.platforms import RateWindows
from sandbox.settings import SandboxTokens
from sandbox.store import Store


@dataclass
class SandboxState:
    tokens: SandboxTokens
    store: Store = field(default_factory=Store)
    faults: Faults = field(default_factory=Faults)
    windows: RateWindows = field(default_factory=RateWindows)


async def get_state(request: Request) -> SandboxState:
    return request.app.state.sandbox


async def get_store(request: Request) -> Store:
    return request.app.state.sandbox.store
