"""Access tokens the OAuth stand-ins issued, and the grants they were issued for.

The token endpoints (`sandbox.routes.oauth`) issue access tokens that expire after
`SandboxTokens.oauth_access_ttl_s` (seconds; a test sets one or two, as the real ones
live an hour (Google), hours (Meta's short-lived) or 60 days (LinkedIn, Meta's
long-lived)). The middleware accepts an issued token for its platform until it expires,
then answers the platform's own "expired token" error. The static tokens of
`SandboxTokens` stay valid forever, for clients configured with a static token.

A grant (a refresh token; for Meta the user token that is exchanged) can be revoked
through the admin API: the token endpoint then refuses it as the platform does, and every
access token issued under it stops working at once.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

# What an issued access token looks like on each platform (Google's start `ya29.`).
_PREFIX = {"google_ads": "ya29.", "ga4": "ya29.", "linkedin": "AQV", "meta": "EAAB"}


@dataclass
class Issued:
    platform: str
    expires_at: float  # time.monotonic()


@dataclass
class OAuthBook:
    """Issued access tokens, revoked grants, and how many refreshes each platform served."""

    issued: dict[str, Issued] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)  # platforms whose grant was revoked
    refreshes: Counter[str] = field(default_factory=Counter)  # token requests answered with a token
    requests: Counter[str] = field(default_factory=Counter)  # token requests received, refused ones too

    def issue(self, platform: str, ttl_s: float) -> str:
        token = _PREFIX[platform] + secrets.token_urlsafe(24)
        self.issued[token] = Issued(platform, time.monotonic() + ttl_s)
        self.refreshes[platform] += 1
        return token

    def status(self, platform: str, token: str) -> str:
        """`valid`, `expired` (issued here, past its life or its grant revoked) or `unknown`."""
        found = self.issued.get(token)
        if found is None or found.platform != platform:
            return "unknown"
        if platform in self.revoked or time.monotonic() >= found.expires_at:
            return "expired"
        return "valid"

    def expire(self, platform: str) -> int:
        """End the life of every access token issued for `platform` now (as a platform does
        when it invalidates sessions); the grant itself still works."""
        ended = [t for t, i in self.issued.items() if i.platform == platform]
        for token in ended:
            self.issued[token].expires_at = 0.0
        return len(ended)

    def view(self) -> dict:
        return {
            "refreshes": dict(self.refreshes),
            "requests": dict(self.requests),
            "revoked": sorted(self.revoked),
        }
