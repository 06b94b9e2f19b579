"""OAuth access tokens for Google Ads, GA4, LinkedIn and Meta: refreshed before they expire,
and once when the platform refuses one.

A client is given either a static token (a `str`: used as it is, `MOPS_<PLATFORM>_AUTH=static`)
or an `OAuthTokens` (`MOPS_<PLATFORM>_AUTH=oauth`), which `PlatformClient` asks for the access
token of every request:

- `access_token()` answers the stored token while it has more than the margin
  (`MOPS_OAUTH_REFRESH_MARGIN_SECONDS`) to live, else refreshes it first;
- `after_refusal(token)` is called once when the platform answered 401 (Meta: error 190) to
  `token`: it refreshes unless another caller already has, and the client retries the request
  once. A second refusal is the client's loud, non-retryable error naming platform and account.

A refresh holds the store's per-account lock (`mops.oauth_store`): one process at a time
asks the platform, the others wait and then read the token it stored. The refreshers speak
each platform's token endpoint:

- Google (`POST https://oauth2.googleapis.com/token`, `grant_type=refresh_token`): `expires_in`
  seconds; `invalid_grant` when the refresh token is expired or revoked.
- LinkedIn (`POST https://www.linkedin.com/oauth/v2/accessToken`, `grant_type=refresh_token`):
  also `refresh_token_expires_in` (the refresh token's own life, a year from consent).
- Meta (`GET /<version>/oauth/access_token?grant_type=fb_exchange_token`): the current token
  exchanged for a long-lived one (~60 days), again before that expires. Meta has no refresh
  token: an expired one cannot be exchanged, and a new user token is needed (`mops auth set meta`).

A refused refresh (4xx) is `PlatformRejected` naming platform and account and how to fix it;
a token endpoint that is down (5xx, network) is `PlatformUnavailable`, retried like any call.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from integrations.errors import PlatformError, PlatformRejected, PlatformUnavailable
from integrations.http import USER_AGENT, json_body
from mops.oauth_store import Grant, RefreshLock, TokenStore, TokenUnreadable

OAUTH_PLATFORMS = ("google_ads", "ga4", "linkedin", "meta")


@dataclass(frozen=True)
class OAuthApp:
    """The app a platform's tokens are issued to, and where its token endpoint is."""

    token_url: str
    client_id: str
    client_secret: str


class Refresher(ABC):
    """One platform's token endpoint: a grant in, the grant with a new access token out."""

    def __init__(self, platform: str, app: OAuthApp) -> None:
        self.platform, self.app = platform, app

    @abstractmethod
    async def refresh(self, http: httpx.AsyncClient, account: str, grant: Grant, now: float) -> Grant: ...

    def refused(self, account: str, response: httpx.Response) -> PlatformError:
        """The token endpoint's refusal: `{"error", "error_description"}` (Google, LinkedIn)."""
        body = json_body(response)
        body = body if isinstance(body, dict) else {}
        code = str(body.get("error") or f"HTTP_{response.status_code}")
        why = str(body.get("error_description") or response.reason_phrase or "refused")
        return self.error(account, response.status_code, code, why)

    def error(self, account: str, status: int, code: str, why: str) -> PlatformError:
        if status >= 500 or status == 429:
            return PlatformUnavailable(self.platform, status, code, f"account {account}: token endpoint: {why}")
        return PlatformRejected(
            self.platform,
            status,
            code,
            f"account {account}: the token refresh was refused ({why}); "
            f"store a new grant with `mops auth set {self.platform}`",
        )


class GoogleRefresher(Refresher):
    async def refresh(self, http: httpx.AsyncClient, account: str, grant: Grant, now: float) -> Grant:
        form = {
            "grant_type": "refresh_token",
            "client_id": self.app.client_id,
            "client_secret": self.app.client_secret,
            "refresh_token": grant.refresh_token,
        }
        body = await _answer(self, account, http, "POST", self.app.token_url, data=form)
        return Grant(grant.refresh_token, body["access_token"], now + float(body["expires_in"]), None)


class LinkedInRefresher(Refresher):
    async def refresh(self, http: httpx.AsyncClient, account: str, grant: Grant, now: float) -> Grant:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": grant.refresh_token,
            "client_id": self.app.client_id,
            "client_secret": self.app.client_secret,
        }
        body = await _answer(self, account, http, "POST", self.app.token_url, data=form)
        refresh_left = body.get("refresh_token_expires_in")
        return Grant(
            str(body.get("refresh_token") or grant.refresh_token),
            body["access_token"],
            now + float(body["expires_in"]),
            now + float(refresh_left) if refresh_left is not None else grant.refresh_expires_at,
        )


class MetaExchanger(Refresher):
    """Meta's grant is the user token itself: the current one (or the seed) is exchanged."""

    async def refresh(self, http: httpx.AsyncClient, account: str, grant: Grant, now: float) -> Grant:
        params = {
            "grant_type": "fb_exchange_token",
            "client_id": self.app.client_id,
            "client_secret": self.app.client_secret,
            "fb_exchange_token": grant.access_token or grant.refresh_token,
        }
        body = await _answer(self, account, http, "GET", self.app.token_url, params=params)
        # The exchanged token is what the next exchange presents: it is the grant from now on.
        expires_at = now + float(body["expires_in"]) if body.get("expires_in") is not None else None
        return Grant(body["access_token"], body["access_token"], expires_at, expires_at)

    def refused(self, account: str, response: httpx.Response) -> PlatformError:
        """Graph's `{"error": {"message", "code", "error_subcode"}}`."""
        body = json_body(response)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = str(error.get("code") or f"HTTP_{response.status_code}")
        if error.get("error_subcode"):
            code = f"{code}/{error['error_subcode']}"
        status = response.status_code
        if error.get("is_transient") is True:
            status = 503
        return self.error(account, status, code, str(error.get("message") or "refused"))


async def _answer(
    refresher: Refresher, account: str, http: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> dict:
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise PlatformUnavailable(
            refresher.platform, 0, "network_error", f"account {account}: token endpoint: {type(exc).__name__}"
        ) from exc
    body = json_body(response)
    if not response.is_success:
        raise refresher.refused(account, response)
    if not isinstance(body, dict) or not body.get("access_token") or body.get("expires_in") is None:
        raise PlatformUnavailable(
            refresher.platform,
            response.status_code,
            "invalid_response",
            f"account {account}: no access_token / expires_in in the answer",
        )
    return body


class OAuthTokens:
    """The access token of one platform account, kept fresh (see the module docstring)."""

    def __init__(
        self,
        platform: str,
        account: str,
        store: TokenStore,
        refresher: Refresher,
        *,
        seed: str | None = None,
        margin_seconds: float = 300.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`seed` is the grant from settings, stored when the store has none for the account."""
        self.platform, self.account = platform, account
        self._store, self._refresher, self._seed = store, refresher, seed
        self._margin, self._timeout, self._clock = margin_seconds, timeout, clock
        self._grant: Grant | None = None
        self._local: asyncio.Lock | None = None  # made on first use, in the loop that uses it

    async def access_token(self) -> str:
        grant = self._grant
        if grant is None or not grant.fresh(self._clock(), self._margin):
            grant = self._grant = await asyncio.to_thread(self._read)
        if grant is not None and grant.fresh(self._clock(), self._margin):
            return grant.access_token  # type: ignore[return-value]
        return await self._refresh(stale=grant.access_token if grant else None)

    async def after_refusal(self, refused: str) -> str:
        """A fresh token after the platform refused `refused` (refreshed unless someone has)."""
        return await self._refresh(stale=refused)

    def _read(self) -> Grant | None:
        try:
            return self._store.get(self.platform, self.account)
        except TokenUnreadable as err:
            raise PlatformRejected(self.platform, 401, "token_unreadable", str(err)) from None

    async def _refresh(self, stale: str | None) -> str:
        if self._local is None:
            self._local = asyncio.Lock()
        async with self._local:  # this process's callers: one asks, the rest find its token
            if self._grant is not None and self._grant.access_token != stale and self._fresh(self._grant):
                return self._grant.access_token  # type: ignore[return-value]
            held = await self._lock()
            ok = False
            try:
                grant = await asyncio.to_thread(self._current, held)
                if grant.access_token != stale and self._fresh(grant):
                    ok = True  # another process refreshed while we waited for the lock
                else:
                    async with httpx.AsyncClient(timeout=self._timeout, headers={"User-Agent": USER_AGENT}) as http:
                        grant = await self._refresher.refresh(http, self.account, grant, self._clock())
                    await asyncio.to_thread(held.save, grant, refreshed=True)
                    ok = True
            finally:  # not awaited: a cancelled activity must still let the next caller in
                held.release(ok)
            self._grant = grant
            return grant.access_token  # type: ignore[return-value]

    async def _lock(self) -> RefreshLock:
        """The store's lock for this account, waited for in a thread (it blocks across processes)."""
        acquiring = asyncio.ensure_future(asyncio.to_thread(self._store.refreshing, self.platform, self.account))
        try:
            return await asyncio.shield(acquiring)
        except asyncio.CancelledError:  # the thread may still get the lock: give it back when it does
            acquiring.add_done_callback(lambda f: f.cancelled() or f.exception() or f.result().release(False))
            raise
        except Exception as exc:  # the store is busy past its timeout, or broken: try again later
            raise PlatformUnavailable(
                self.platform, 0, "token_store_busy", f"account {self.account}: {type(exc).__name__}: {exc}"
            ) from exc

    def _current(self, held: RefreshLock) -> Grant:
        try:
            grant = held.current()
        except TokenUnreadable as err:
            raise PlatformRejected(self.platform, 401, "token_unreadable", str(err)) from None
        if grant is not None:
            return grant
        if self._seed:
            return Grant(self._seed)
        raise PlatformRejected(
            self.platform,
            401,
            "no_grant",
            f"account {self.account}: MOPS_{self.platform.upper()}_AUTH=oauth but no refresh token is stored; "
            f"run `mops auth set {self.platform}` or set MOPS_{self.platform.upper()}_REFRESH_TOKEN",
        )

    def _fresh(self, grant: Grant) -> bool:
        return grant.fresh(self._clock(), self._margin)


__all__ = [
    "OAUTH_PLATFORMS",
    "GoogleRefresher",
    "LinkedInRefresher",
    "MetaExchanger",
    "OAuthApp",
    "OAuthTokens",
    "Refresher",
]
