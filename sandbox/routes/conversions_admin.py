"""`/_sandbox/conversions`: the conversions the ad platform stand-ins kept, so a test can
assert what arrived (Meta events after deduplication, Google click conversions accepted)
and how many repeats were deduplicated."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from sandbox.state import SandboxState, get_state

router = APIRouter(prefix="/_sandbox", tags=["admin"])


@router.get("/conversions")
async def conversions(state: SandboxState = Depends(get_state)) -> dict:
    store = state.store
    return {
        "meta": list(store.capi_events),
        "google_ads": list(store.click_conversions),
        "deduplicated": {"meta": store.replays["meta"], "google_ads": store.replays["google_ads"]},
    }
