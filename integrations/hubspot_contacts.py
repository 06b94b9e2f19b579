"""HubSpot CRM v3 beyond what the journeys use: batch reads and GDPR deletion.

- `POST /crm/v3/objects/contacts/batch/read` with `idProperty=email`: read many contacts
  by address in one call (reconciliation).
- `POST /crm/v3/objects/contacts/gdpr-delete` with `idProperty=email`: permanently
  delete a contact and its history (204; 404 when there is none).
"""

from __future__ import annotations

from integrations.errors import PlatformRejected
from integrations.hubspot import Contact, HubSpotClient

LEAD_ID_PROPERTY = "mops_lead_id"


class HubSpotContactsClient(HubSpotClient):
    async def read_by_email(self, emails: list[str], properties: list[str]) -> dict[str, Contact]:
        """{lower-case email: contact} for the addresses HubSpot has (up to 100 per call)."""
        found: dict[str, Contact] = {}
        for start in range(0, len(emails), 100):
            chunk = emails[start : start + 100]
            body = await self._json(
                "POST",
                "/crm/v3/objects/contacts/batch/read",
                json={
                    "idProperty": "email",
                    "properties": sorted({"email", *properties}),
                    "inputs": [{"id": e} for e in chunk],
                },
            )
            for item in body.get("results") or []:
                contact = Contact.model_validate(item)
                email = (contact.properties.get("email") or "").lower()
                if email:
                    found[email] = contact
        return found

    async def gdpr_delete(self, email: str) -> bool:
        """Permanently delete the contact; False when HubSpot had none with this address."""
        try:
            await self._request(
                "POST", "/crm/v3/objects/contacts/gdpr-delete", json={"objectId": email, "idProperty": "email"}
            )
        except PlatformRejected as err:
            if err.status == 404:
                return False
            raise
        return True
