"""Which lead a HubSpot deal belongs to: the deal's `mops_key` property, which the
hand-off writes as `<lead workflow id>:c<cycle>:deal` (activities/crm.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from integrations.hubspot import KEY_PROPERTY, HubSpotClient

_KEY = re.compile(r"^(lead-[0-9a-f]{24}):c(\d+):deal$")


@dataclass(frozen=True)
class DealRef:
    deal_id: str
    workflow_id: str
    cycle: int
    owner_id: str | None


class DealLookup(HubSpotClient):
    """Reads one deal's mops key and owner (HubSpot CRM v3 `GET /crm/v3/objects/deals/{id}`)."""

    async def deal(self, deal_id: str) -> DealRef | None:
        found = await self.get_deal(deal_id, [KEY_PROPERTY, "hubspot_owner_id"])
        match = _KEY.fullmatch(found.properties.get(KEY_PROPERTY) or "")
        if match is None:
            return None  # not a deal mops created
        return DealRef(
            deal_id=found.id,
            workflow_id=match.group(1),
            cycle=int(match.group(2)),
            owner_id=found.properties.get("hubspot_owner_id"),
        )
