"""Which credential each OAuth platform's client is given, from settings: the static token
(`MOPS_<PLATFORM>_AUTH=static`) or its refreshed OAuth tokens (`oauth`,
`integrations/oauth.py`), kept in the process's one token store (`mops/oauth_store.py`),
sealed by the codec's key ring. Here and not in `integrations/`, because the key ring is the
codec's, and platform clients know nothing of Temporal.
"""

from __future__ import annotations

import threading

from integrations.oauth import (
    OAUTH_PLATFORMS,
    GoogleRefresher,
    LinkedInRefresher,
    MetaExchanger,
    OAuthApp,
    OAuthTokens,
    Refresher,
)
from mops.codec import shared_keyring
from mops.oauth_store import SqliteTokenStore
from mops.settings import Settings


def account_of(settings: Settings, platform: str) -> str:
    """The account a platform's tokens are kept under: the one the clients act on."""
    return {
        "google_ads": settings.google_ads_customer_id.replace("-", ""),
        "ga4": settings.ga4_property.removeprefix("properties/"),
        "linkedin": settings.linkedin_author,
        "meta": f"act_{settings.meta_ad_account_id.removeprefix('act_')}",
    }[platform]


def refresher_for(settings: Settings, platform: str) -> Refresher:
    """The platform's token endpoint with its app (settings checked at start that they are set)."""
    if platform in ("google_ads", "ga4"):
        secret = settings.google_client_secret.get_secret_value() if settings.google_client_secret else ""
        return GoogleRefresher(platform, OAuthApp(settings.google_token_url, settings.google_client_id or "", secret))
    if platform == "linkedin":
        app = OAuthApp(
            settings.linkedin_token_url,
            settings.linkedin_client_id or "",
            settings.linkedin_client_secret.get_secret_value(),
        )
        return LinkedInRefresher(platform, app)
    if platform == "meta":
        url = f"{settings.meta_base_url.rstrip('/')}/{settings.meta_api_version}/oauth/access_token"
        return MetaExchanger(
            platform, OAuthApp(url, settings.meta_app_id or "", settings.meta_app_secret.get_secret_value())
        )
    raise ValueError(f"{platform}: not an OAuth platform (one of {', '.join(OAUTH_PLATFORMS)})")


_stores: dict[tuple[object, str], SqliteTokenStore] = {}
_stores_lock = threading.Lock()


def token_store(settings: Settings) -> SqliteTokenStore:
    """The process's token store for these settings (one per file and key configuration),
    sealing with the codec's key ring: one key machinery for everything mops encrypts."""
    key = (settings.oauth_store_file, settings.codec_keys.get_secret_value())
    with _stores_lock:
        if key not in _stores:
            _stores[key] = SqliteTokenStore(settings.oauth_store_file, shared_keyring(settings))
        return _stores[key]


def token_for(settings: Settings, platform: str) -> str | OAuthTokens:
    """What a client of `platform` authenticates with: its static token, or its OAuth tokens."""
    if getattr(settings, f"{platform}_auth") == "static":
        return getattr(settings, f"{platform}_token").get_secret_value()
    seed = getattr(settings, f"{platform}_refresh_token")
    return OAuthTokens(
        platform,
        account_of(settings, platform),
        token_store(settings),
        refresher_for(settings, platform),
        seed=seed.get_secret_value() if seed else None,
        margin_seconds=settings.oauth_refresh_margin_seconds,
        timeout=settings.http_timeout_seconds,
    )


__all__ = ["account_of", "refresher_for", "token_for", "token_store"]
