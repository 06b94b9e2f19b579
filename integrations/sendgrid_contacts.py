"""SendGrid v3 beyond mail send: Marketing Contacts and global suppressions.

- `PUT /v3/marketing/contacts` upserts contacts by email (202, an async job).
- `POST /v3/marketing/contacts/search/emails` reads contacts by email (404 when none).
- `DELETE /v3/marketing/contacts?ids=...` deletes contacts by id (right to erasure).
- `/v3/asm/suppressions/global`: the global unsubscribe list. An address on it gets no
  marketing email from any group: SendGrid drops it at send time, which is why an
  opt-out is written here first (see `starter.service.privacy`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from integrations.errors import PlatformRejected
from integrations.sendgrid import SendGridClient


class SendGridContactsClient(SendGridClient):
    async def upsert_contact(self, email: str, fields: dict[str, str | None]) -> str:
        """Create or update the contact with this address; return the job id."""
        contact = {"email": email, **{k: v or "" for k, v in fields.items()}}
        body = await self._json("PUT", "/v3/marketing/contacts", json={"contacts": [contact]})
        return str(body.get("job_id") or "")

    async def find_contacts(self, emails: list[str]) -> dict[str, dict[str, Any]]:
        """{lower-case email: contact} for the addresses SendGrid has."""
        if not emails:
            return {}
        try:
            body = await self._json("POST", "/v3/marketing/contacts/search/emails", json={"emails": emails})
        except PlatformRejected as err:
            if err.status == 404:  # none of them exists
                return {}
            raise
        found = {}
        for email, entry in (body.get("result") or {}).items():
            if isinstance(entry, dict) and isinstance(entry.get("contact"), dict):
                found[email.lower()] = entry["contact"]
        return found

    async def delete_contacts(self, contact_ids: list[str]) -> None:
        if contact_ids:
            await self._request("DELETE", "/v3/marketing/contacts", params={"ids": ",".join(contact_ids)})

    async def add_global_suppression(self, email: str) -> None:
        """Unsubscribe the address from everything (adding it twice is harmless)."""
        await self._request("POST", "/v3/asm/suppressions/global", json={"recipient_emails": [email]})

    async def remove_global_suppression(self, email: str) -> None:
        """Take the address off the global list (consent given again); absent is fine."""
        try:
            await self._request("DELETE", f"/v3/asm/suppressions/global/{quote(email, safe='@')}")
        except PlatformRejected as err:
            if err.status != 404:
                raise

    async def globally_suppressed(self, email: str) -> bool:
        return bool(await self._json("GET", f"/v3/asm/suppressions/global/{quote(email, safe='@')}"))
