"""Which lead a HubSpot deal belongs to: the deal's `mops_key` property, which the
hand-off writes as `<lead workflow id>[:<entry>]:c<cycle>:deal` (activities/crm.py; the entry,
the short first run id of that entry of the person, in runs started with `keys_per_entry`).
A deal of an earlier entry or cycle is told apart by its id: the lead's state names its own."""

from __future__ import annotations

from dataclasses import dataclass

from domain.leads import parse_deal_key
from integrations.hubspot import KEY_PROPERTY, HubSpotClient


@dataclass(frozen=True)
class DealRef:
    deal_id: str
    workflow_id: str
    cycle: int
    owner_id: str | None
    entry: str | None = None


class DealLookup(HubSpotClient):
    """Reads one deal's mops key and owner (HubSpot CRM v3 `GET /crm/v3/objects/deals/{id}`)."""

    async def deal(self, deal_id: str) -> DealRef | None:
        found = await self.get_deal(deal_id, [KEY_PROPERTY, "hubspot_owner_id"])
        key = parse_deal_key(found.properties.get(KEY_PROPERTY))
        if key is None:
            return None  # not a deal mops created
        return DealRef(
            deal_id=found.id,
            workflow_id=key.workflow_id,
            cycle=key.cycle,
            owner_id=found.properties.get("hubspot_owner_id"),
            entry=key.entry,
        )
