"""Meta Custom Audiences: add and remove people (`/{audience id}/users`).

People are sent as SHA-256 hashes of the normalised address (schema `EMAIL_SHA256`), as
Meta requires; the address itself never leaves mops for Meta. Meta offers no way to
read who is in an audience, so removals are re-sent (idempotently) rather than checked.
"""

from __future__ import annotations

import hashlib

from integrations.meta_ads import MetaAdsClient


def hashed_email(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class MetaAudienceClient(MetaAdsClient):
    async def add_users(self, audience_id: str, emails: list[str]) -> int:
        """Add people; return how many Meta received."""
        return await self._users("POST", audience_id, emails)

    async def remove_users(self, audience_id: str, emails: list[str]) -> int:
        """Remove people (someone who is not a member is fine); return how many Meta received."""
        return await self._users("DELETE", audience_id, emails)

    async def _users(self, method: str, audience_id: str, emails: list[str]) -> int:
        payload = {"payload": {"schema": "EMAIL_SHA256", "data": [hashed_email(e) for e in emails]}}
        body = await self._json(method, self._path(audience_id, "users"), json=payload)
        return int(body.get("num_received") or 0)
