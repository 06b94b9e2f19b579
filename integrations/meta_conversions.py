"""Meta Conversions API: server events to a dataset (pixel), `POST /{pixel id}/events`.

The request is `{"data": [event, ...]}`; each event names `event_name`, `event_time`
(Unix seconds, at most 7 days old), `action_source`, `event_id` (Meta deduplicates a
second event with the same `event_name` and `event_id`) and `user_data` with hashed
identifiers (`em`: SHA-256 of the trimmed, lower-cased address) and the `fbc` / `fbp`
cookies as they are. Meta answers `{"events_received": n, "messages": [], "fbtrace_id"}`;
fewer events received than sent is raised, never taken as success. Errors are the
Graph API's, mapped by `MetaAdsClient`.
"""

from __future__ import annotations

from typing import Any

from integrations.errors import PlatformRejected
from integrations.meta_ads import MetaAdsClient


class MetaConversionsClient(MetaAdsClient):
    async def send_events(self, pixel_id: str, events: list[dict[str, Any]]) -> int:
        """Send server events; return how many Meta received (all of them, or this raises)."""
        body = await self._json("POST", self._path(pixel_id, "events"), json={"data": events})
        received = int(body.get("events_received") or 0) if isinstance(body, dict) else 0
        if received != len(events):
            raise PlatformRejected(
                self.platform, 200, "events_not_received", f"Meta received {received} of {len(events)} events"
            )
        return received
