"""HubSpot CRM v3 client: contacts, deals, tasks, owners (private-app bearer token).

Idempotency: contacts are upserted by `email`, deals and tasks by the unique custom
property `mops_key` (create it once in the portal as a unique-value property), so a
retried call updates the same record instead of creating a second one.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from integrations.errors import PlatformError, PlatformRejected
from integrations.http import PlatformClient, error_for_status, json_body, retry_after_header

KEY_PROPERTY = "mops_key"


class CrmObject(BaseModel):
    """Any CRM v3 object as HubSpot returns it: an id and the properties asked for."""

    id: str
    properties: dict[str, str | None]


class Contact(CrmObject):
    new: bool | None = None  # set by upsert_contact: True when the contact was created


class Owner(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    email: str | None = None
    first_name: str | None = Field(None, alias="firstName")
    last_name: str | None = Field(None, alias="lastName")
    user_id: int | None = Field(None, alias="userId")
    archived: bool = False


class HubSpotClient(PlatformClient):
    platform = "hubspot"

    # contacts

    async def upsert_contact(self, email: str, properties: dict[str, str]) -> Contact:
        """Create or update the contact whose `email` is `email` (batch upsert of one)."""
        result = await self._upsert("contacts", "email", email, properties)
        return Contact(id=result["id"], properties=result.get("properties", {}), new=result.get("new"))

    async def get_contact(self, contact_id: str, properties: list[str]) -> Contact:
        params = {"properties": ",".join(properties)} if properties else None
        body = await self._json("GET", f"/crm/v3/objects/contacts/{contact_id}", params=params)
        return Contact.model_validate(body)

    async def update_contact(self, contact_id: str, properties: dict[str, str]) -> Contact:
        body = await self._json("PATCH", f"/crm/v3/objects/contacts/{contact_id}", json={"properties": properties})
        return Contact.model_validate(body)

    async def search_contacts(
        self,
        property_name: str,
        value: str,
        properties: list[str] | None = None,
        limit: int = 10,
    ) -> list[Contact]:
        """Contacts whose `property_name` equals `value` (first page only, up to `limit`)."""
        payload: dict[str, Any] = {
            "filterGroups": [{"filters": [{"propertyName": property_name, "operator": "EQ", "value": value}]}],
            "limit": limit,
        }
        if properties:
            payload["properties"] = properties
        body = await self._json("POST", "/crm/v3/objects/contacts/search", json=payload)
        return [Contact.model_validate(r) for r in body.get("results", [])]

    # deals and tasks, keyed by mops_key and associated with a contact

    async def get_deal(self, deal_id: str, properties: list[str]) -> CrmObject:
        params = {"properties": ",".join(properties)} if properties else None
        return CrmObject.model_validate(await self._json("GET", f"/crm/v3/objects/deals/{deal_id}", params=params))

    async def upsert_deal(self, key: str, properties: dict[str, str], contact_id: str) -> str:
        """Upsert the deal identified by `key` and associate it with the contact; return its id."""
        deal_id = (await self._upsert("deals", KEY_PROPERTY, key, {**properties, KEY_PROPERTY: key}))["id"]
        await self._associate("deals", deal_id, "contacts", contact_id)
        return deal_id

    async def upsert_task(self, key: str, properties: dict[str, str], contact_id: str) -> str:
        """Upsert the task identified by `key` (needs `hs_timestamp`) and associate it; return its id."""
        task_id = (await self._upsert("tasks", KEY_PROPERTY, key, {**properties, KEY_PROPERTY: key}))["id"]
        await self._associate("tasks", task_id, "contacts", contact_id)
        return task_id

    async def update_deal(self, deal_id: str, properties: dict[str, str]) -> CrmObject:
        body = await self._json("PATCH", f"/crm/v3/objects/deals/{deal_id}", json={"properties": properties})
        return CrmObject.model_validate(body)

    async def search_deals(
        self, filters: list[dict[str, Any]], properties: list[str], *, page_size: int = 100
    ) -> list[CrmObject]:
        """Every deal matching all `filters` (HubSpot search filters, e.g. `{"propertyName":
        "closedate", "operator": "BETWEEN", "value": ms, "highValue": ms}`), following
        `paging.next.after` page by page, oldest first by creation."""
        deals: list[CrmObject] = []
        after: str | None = None
        while True:
            payload: dict[str, Any] = {
                "filterGroups": [{"filters": filters}],
                "properties": properties,
                "limit": page_size,
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            }
            if after:
                payload["after"] = after
            body = await self._json("POST", "/crm/v3/objects/deals/search", json=payload)
            deals.extend(CrmObject.model_validate(r) for r in body.get("results", []))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return deals

    # owners

    async def list_owners(self, *, page_size: int = 100) -> list[Owner]:
        """All active owners, following `paging.next.after` until the last page."""
        owners: list[Owner] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size, "archived": "false"}
            if after:
                params["after"] = after
            body = await self._json("GET", "/crm/v3/owners", params=params)
            owners.extend(Owner.model_validate(o) for o in body.get("results", []))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return owners

    # helpers

    async def _upsert(self, object_type: str, id_property: str, id_value: str, properties: dict[str, str]) -> dict:
        payload = {"inputs": [{"idProperty": id_property, "id": id_value, "properties": properties}]}
        body = await self._json("POST", f"/crm/v3/objects/{object_type}/batch/upsert", json=payload)
        results = body.get("results") or []
        if not results:  # 207 multi-status with only errors
            errors = body.get("errors") or [{}]
            raise PlatformRejected(
                self.platform, 207, errors[0].get("category", "BATCH_ERROR"), errors[0].get("message", "upsert failed")
            )
        return results[0]

    async def _associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        await self._request("PUT", f"/crm/v4/objects/{from_type}/{from_id}/associations/default/{to_type}/{to_id}")

    def _error(self, response: httpx.Response) -> PlatformError:
        """Read HubSpot's `{"status":"error","message","category"|"errorType",...}` body."""
        body = json_body(response)
        body = body if isinstance(body, dict) else {}
        status = response.status_code
        code = body.get("category") or body.get("errorType") or f"HTTP_{status}"
        message = body.get("message") or response.reason_phrase or "error"
        retry_after = _rate_limit_delay(response.headers) if status == 429 else retry_after_header(response.headers)
        return error_for_status(self.platform, status, code, message, retry_after)


def _rate_limit_delay(headers: httpx.Headers) -> float | None:
    """`Retry-After` if sent, else the rate-limit window (`X-HubSpot-RateLimit-Interval-Milliseconds`)."""
    seconds = retry_after_header(headers)
    if seconds is not None:
        return seconds
    interval = headers.get("x-hubspot-ratelimit-interval-milliseconds")
    try:
        return int(interval) / 1000 if interval else None
    except ValueError:
        return None
