"""One-click unsubscribe tokens (RFC 8058): the token is the lead id plus an HMAC of it,
so a link in an email is its own credential and carries no personal data.

    unsubscribe_url(base, secret, lead_id)  ->  https://gw.example/v1/unsubscribe/<lead id>.<signature>

Emails put it in `List-Unsubscribe: <url>` with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
Pure functions (hmac only), so the email activity can mint links without the web stack.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_LEAD_ID = re.compile(r"^[0-9a-f]{24}$")
_PURPOSE = b"mops-unsubscribe:v1:"


def _signature(secret: str, lead_id: str) -> str:
    digest = hmac.new(secret.encode(), _PURPOSE + lead_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint_token(secret: str, lead_id: str) -> str:
    lead_id = lead_id.removeprefix("lead-")
    if not _LEAD_ID.fullmatch(lead_id):
        raise ValueError("lead_id: expected the 24-hex lead id")
    return f"{lead_id}.{_signature(secret, lead_id)}"


def verify_token(secret: str, token: str) -> str | None:
    """The lead id the token was minted for, or None if it is not ours."""
    lead_id, _, signature = token.partition(".")
    if not _LEAD_ID.fullmatch(lead_id) or not signature:
        return None
    return lead_id if hmac.compare_digest(signature, _signature(secret, lead_id)) else None


def unsubscribe_url(base: str, secret: str, lead_id: str) -> str:
    """The one-click URL for a lead under the gateway's public base URL."""
    return f"{base.rstrip('/')}/v1/unsubscribe/{mint_token(secret, lead_id)}"
