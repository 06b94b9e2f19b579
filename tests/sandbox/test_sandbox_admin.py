"""The `/_sandbox` admin API: effects, reset, faults, stats."""

from __future__ import annotations

import httpx

from sandbox.platforms import PLATFORMS
from sandbox.server import SandboxServer


async def _post(http, auth, n: int = 1, key: str | None = None) -> list[int]:
    headers = {**auth["slack"], **({"Idempotency-Key": key} if key else {})}
    statuses = []
    for _ in range(n):
        response = await http.post("/api/chat.postMessage", json={"channel": "#g", "text": "x"}, headers=headers)
        statuses.append(response.status_code)
    return statuses


async def test_health(http):
    assert (await http.get("/_sandbox/health")).json() == {"status": "ok"}


async def test_effects_are_filtered_and_reset_clears_everything(http, auth, admin):
    await http.post(
        "/crm/v3/objects/contacts/batch/upsert",
        headers=auth["hubspot"],
        json={"inputs": [{"idProperty": "email", "id": "a@acme.example", "properties": {}}]},
    )
    await _post(http, auth)
    await admin.set_faults("hubspot", latency_ms=1)

    assert [e["kind"] for e in await admin.effects()] == ["contact.upsert", "chat.post"]
    assert [e["seq"] for e in await admin.effects()] == [1, 2]
    assert [e["platform"] for e in await admin.effects(platform="slack")] == ["slack"]
    assert await admin.effects(kind="mail.send") == []
    assert [e["kind"] for e in await admin.effects(after=1)] == ["chat.post"]  # only what is new
    assert await admin.effects(after=2) == [] and await admin.effects(platform="hubspot", after=1) == []

    await admin.reset()
    assert await admin.effects() == [] and await admin.faults() == {}
    search = await http.post(
        "/crm/v3/objects/contacts/search",
        headers=auth["hubspot"],
        json={"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "a@acme.example"}]}]},
    )
    assert search.json()["total"] == 0
    owners = (await http.get("/crm/v3/owners", headers=auth["hubspot"])).json()["results"]
    assert len(owners) == 5  # reseeded


async def test_fail_next_counts_down_and_star_applies_to_every_platform(http, auth, admin):
    faults = await admin.set_faults("*", fail_next=2, error_status=503)
    assert (
        set(faults)
        == set(PLATFORMS)
        == {"hubspot", "sendgrid", "slack", "wordpress", "linkedin", "ga4", "meta", "google_ads"}
    )

    assert await _post(http, auth, 3) == [503, 503, 200]
    assert (await admin.faults())["slack"]["fail_next"] == 0
    assert (await admin.faults())["hubspot"]["fail_next"] == 2
    await admin.clear_faults()
    assert (await http.get("/crm/v3/owners", headers=auth["hubspot"])).status_code == 200


async def test_error_rate_is_deterministic_for_a_seed(http, auth, admin):
    runs = []
    for _ in range(2):
        await admin.set_faults("slack", error_rate=0.5, seed=7)
        runs.append(await _post(http, auth, 12))
    assert runs[0] == runs[1]
    assert {200, 500} == set(runs[0])


async def test_fail_after_apply_applies_then_fails(http, auth, admin):
    await admin.set_faults("slack", fail_next=1, fail_after_apply=True)
    assert await _post(http, auth, 1, key="k") == [500]
    assert len(await admin.effects("slack")) == 1  # the effect happened
    assert await _post(http, auth, 1, key="k") == [200]
    assert len(await admin.effects("slack")) == 2  # the retry posts again: no key is honoured


async def test_stats_count_requests_per_platform_and_status(http, auth, admin):
    await admin.set_faults("slack", rate_limit_next=1)
    await _post(http, auth, 2)
    await http.get("/crm/v3/owners")
    stats = await admin.stats()
    assert stats["requests"] == {"slack": {"429": 1, "200": 1}, "hubspot": {"401": 1}}
    assert stats["total"] == 3


async def test_invalid_fault_spec_is_refused(http):
    response = await http.post("/_sandbox/faults", json={"platform": "mailchimp"})
    assert response.status_code == 422


async def test_server_helper_starts_and_stops_on_a_free_port():
    with SandboxServer() as server:
        assert httpx.get(f"{server.url}/_sandbox/health").status_code == 200
        url = server.url
    try:
        httpx.get(f"{url}/_sandbox/health", timeout=1)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("sandbox still answering after stop()")
