"""A small async client for the `/_sandbox` admin API (tests and the demo use it)."""

from __future__ import annotations

from typing import Any, Self

import httpx


class SandboxAdmin:
    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/_sandbox", timeout=10.0, transport=transport)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    async def health(self) -> bool:
        return (await self._call("GET", "/health")).get("status") == "ok"

    async def effects(
        self, platform: str | None = None, kind: str | None = None, *, after: int = 0
    ) -> list[dict[str, Any]]:
        """Effects oldest first; `after` skips those with `seq` up to it (already read)."""
        params: dict[str, Any] = {k: v for k, v in (("platform", platform), ("kind", kind)) if v}
        if after:
            params["after"] = after
        return (await self._call("GET", "/effects", params=params))["effects"]

    async def replays(self, platform: str | None = None) -> int:
        params = {"platform": platform} if platform else {}
        return (await self._call("GET", "/effects", params=params))["replays"]

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    async def set_faults(self, platform: str = "*", **spec: Any) -> dict[str, Any]:
        """e.g. `set_faults("sendgrid", fail_next=1, fail_after_apply=True)`."""
        return (await self._call("POST", "/faults", json={"platform": platform, **spec}))["faults"]

    async def faults(self) -> dict[str, Any]:
        return (await self._call("GET", "/faults"))["faults"]

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    async def stats(self) -> dict[str, Any]:
        return await self._call("GET", "/stats")

    async def set_ads_performance(self, platform: str, name_contains: str, **factors: Any) -> list[dict[str, Any]]:
        """e.g. `set_ads_performance("meta", "spring", spend_factor=3)` or `zero_delivery=True`,
        `ctr_factor=0.5`, `conversion_factor=0.1`; returns every override in force."""
        body = {"platform": platform, "name_contains": name_contains, **factors}
        return (await self._call("POST", "/ads/performance", json=body))["overrides"]

    async def state(self, platform: str) -> dict[str, Any]:
        """The platform's current objects, e.g. `(await admin.state("wordpress"))["posts"]`."""
        return await self._call("GET", f"/state/{platform}")

    async def privacy_state(self) -> dict[str, Any]:
        """SendGrid marketing contacts, Braze users, Meta audience members, global suppressions."""
        return await self._call("GET", "/privacy")

    async def conversions(self) -> dict[str, Any]:
        """Conversions kept per platform (`meta`: events, `google_ads`: click conversions) and
        `deduplicated`: how many repeats each platform dropped."""
        return await self._call("GET", "/conversions")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
