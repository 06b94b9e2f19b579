"""The `/_sandbox` admin API (no auth): health, effects, reset, faults, stats, state, and
ad performance overrides (`/_sandbox/ads/performance`, see `sandbox.ads`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from sandbox.ads import PerformanceOverride
from sandbox.faults import FaultSpec
from sandbox.platforms import PLATFORMS
from sandbox.routes import google_ads, linkedin, meta, sendgrid, wordpress
from sandbox.state import SandboxState, get_state

router = APIRouter(prefix="/_sandbox", tags=["admin"])


@router.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@router.get("/effects")
async def effects(
    platform: str | None = None,
    kind: str | None = None,
    after: int = 0,
    state: SandboxState = Depends(get_state),
) -> dict:
    """Side effects received, oldest first, each with its arrival time (`at`); `after` returns
    only those with a higher `seq` (a reader that polls fetches only what is new);
    `replays` counts repeats that changed nothing."""
    store = state.store
    selected = [
        asdict(e)
        for e in store.effects[max(0, after) :]  # seq n sits at index n - 1
        if (platform is None or e.platform == platform) and (kind is None or e.kind == kind)
    ]
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


@router.get("/state/{platform}")
async def platform_state(platform: str, request: Request, state: SandboxState = Depends(get_state)) -> JSONResponse:
    """The platform's current objects, in the platform's own shapes where it has them
    (so a test can check that every platform is back where it started)."""
    if platform not in PLATFORMS:
        return JSONResponse({"detail": f"unknown platform {platform!r}; one of {list(PLATFORMS)}"}, status_code=404)
    store = state.store
    body: dict[str, Any]
    if platform == "wordpress":
        base = wordpress.site(request)
        body = {"posts": [wordpress.post_view(p, base, "edit") for p in sorted(store.wp_posts.values(), key=_id)]}
    elif platform == "linkedin":
        body = {"posts": [linkedin.post_view(p) for p in store.linkedin_posts.values()]}
    elif platform == "sendgrid":
        body = {
            "singlesends": [sendgrid.single_send_view(s) for s in store.single_sends.values()],
            "group_suppressions": {str(g): sorted(m) for g, m in sorted(store.group_suppressions.items())},
            "global_suppressions": sorted(store.global_suppressions),
        }
    elif platform == "hubspot":
        body = {t: [o.view() for o in store.objects[t].values()] for t in ("contacts", "deals", "tasks")}
        body["associations"] = [{"from": f"{a[0]}/{a[1]}", "to": f"{a[2]}/{a[3]}"} for a in sorted(store.associations)]
    elif platform == "slack":
        body = {"messages": list(store.messages)}
    elif platform == "meta":  # every object ever created, deleted ones included
        account = state.tokens.meta_account_number
        body = {
            "campaigns": [
                {**meta.campaign_view(c, account), "horizon": _day(c.horizon)} for c in store.meta_campaigns.values()
            ],
            "adsets": [
                {**meta.adset_view(store, a, account), "timeline": a.timeline.view()}
                for a in store.meta_adsets.values()
            ],
            "images": [meta.image_view(i, account) for i in store.meta_images.values()],
            "creatives": [meta.creative_view(c, account) for c in store.meta_creatives.values()],
            "ads": [meta.ad_view(store, a, account) for a in store.meta_ads.values()],
        }
    elif platform == "google_ads":  # every object ever created, removed ones included
        body = {
            "budgets": [google_ads.budget_view(b) for b in store.google_budgets.values()],
            "campaigns": [
                {**google_ads.campaign_view(c), "horizon": _day(c.horizon), "timeline": c.timeline.view()}
                for c in store.google_campaigns.values()
            ],
            "ad_groups": [google_ads.ad_group_view(g) for g in store.google_ad_groups.values()],
            "ads": [google_ads.ad_group_ad_view(a) for a in store.google_ads.values()],
            "criteria": [google_ads.criterion_view(c) for c in store.google_criteria.values()],
        }
    else:  # ga4 is read-only: nothing changes, there is only the property it serves
        body = {"property": f"properties/{state.tokens.ga4_property_id}"}
    return JSONResponse({"platform": platform, **body})


@router.post("/ads/performance")
async def set_ads_performance(override: PerformanceOverride, state: SandboxState = Depends(get_state)) -> dict:
    """Bend delivery for matching campaigns on every day (spike, zero delivery, worse CPA); the
    last matching override wins, and reset clears them."""
    state.store.ads_overrides.append(override)
    return {"overrides": [o.model_dump() for o in state.store.ads_overrides]}


@router.get("/ads/performance")
async def ads_performance(state: SandboxState = Depends(get_state)) -> dict:
    return {"overrides": [o.model_dump() for o in state.store.ads_overrides]}


def _id(post: Any) -> int:
    return post.id


def _day(day: Any) -> str | None:
    return day.isoformat() if day else None
