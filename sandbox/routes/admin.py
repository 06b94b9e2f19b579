"""The `/_sandbox` admin API (no auth): health, effects, reset, faults, stats."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends

from sandbox.faults import FaultSpec
from sandbox.state import SandboxState, get_state

router = APIRouter(prefix="/_sandbox", tags=["admin"])


@router.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@router.get("/effects")
async def effects(
    platform: str | None = None, kind: str | None = None, state: SandboxState = Depends(get_state)
) -> dict:
    """Side effects received, oldest first; `replays` counts repeats that changed nothing."""
    store = state.store
    selected = [asdict(e) for e in store.effects
                if (platform is None or e.platform == platform) and (kind is None or e.kind == kind)]
    replays = store.replays[platform] if platform else sum(store.replays.values())
    return {"effects": selected, "replays": replays}


@router.post("/reset")
async def reset(state: SandboxState = Depends(get_state)) -> dict:
    """Clear all platform state, effects, stats and faults; reseed owners and chat users."""
    state.store.reset()
    state.faults.clear()
    return {"status": "reset"}


@router.get("/faults")
async def get_faults(state: SandboxState = Depends(get_state)) -> dict:
    return {"faults": state.faults.snapshot()}


@router.post("/faults")
async def set_faults(spec: FaultSpec, state: SandboxState = Depends(get_state)) -> dict:
    state.faults.set(spec)
    return {"faults": state.faults.snapshot()}


@router.delete("/faults")
async def clear_faults(state: SandboxState = Depends(get_state)) -> dict:
    state.faults.clear()
    return {"faults": {}}


@router.get("/stats")
async def stats(state: SandboxState = Depends(get_state)) -> dict:
    """Requests received per platform and HTTP status."""
    requests = {platform: dict(counts) for platform, counts in state.store.requests.items()}
    return {"requests": requests, "total": sum(sum(c.values()) for c in requests.values())}
