"""Browser sign-in for the gateway's pages (the approval page, the email previews): a token
(an API key) is exchanged for a signed session cookie, never stored in the browser itself.

- The cookie holds the key's id, a random session id and an expiry, signed with HMAC-SHA256
  (`MOPS_GATEWAY_SESSION_SECRET`) over the page's own label and the key's configured hash,
  so re-keying ends its sessions and one page's cookie is no session on another. HttpOnly,
  SameSite=Strict, Path=<the page's prefix>, Max-Age `MOPS_GATEWAY_SESSION_MAX_AGE_SECONDS`
  (Secure when served over https).
- A session is only as good as its key is now: a key no longer configured, or no longer
  allowed on the page (`SessionCookie.allowed`), ends it at the next request.
- Sign-out revokes the session id (`revoke`) in `app.state.revoked`: this process's memory,
  or with `MOPS_DATABASE_URL` the shared database, so every replica honours it.
- CSRF: forms of a signed-in page carry HMAC(secret, session id) (`csrf_token`, `csrf_ok`).
- Forms are parsed from the urlencoded body with the standard library (`read_form`; no python-multipart).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from gateway.security import Gate, Principal
from gateway.settings import GatewaySettings
from gateway.state import Revocations


@dataclass(frozen=True)
class Session:
    principal: Principal
    sid: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(settings: GatewaySettings, label: str, *parts: str) -> str:
    key = settings.gateway_session_secret.get_secret_value().encode()
    message = "\x00".join((label, *parts)).encode()
    return _b64(hmac.new(key, message, hashlib.sha256).digest())


async def revoke(request: Request, session: Session) -> None:
    """Sign `session` out, wherever the gateway's state lives (`app.state.revoked`: this
    process, or the shared database every replica reads)."""
    revoked: Revocations = request.app.state.revoked
    await revoked.add(session.sid, session.expires)


@dataclass(frozen=True)
class SignedIn:
    """A signed-in visitor as a page shows them: who (the header's "Signed in as"), the
    session's CSRF token for the page's forms and the sign-out form, and the session."""

    person: str
    csrf: str
    session: Session


@dataclass(frozen=True)
class SessionCookie:
    """One page's session: its cookie name, the path it is sent to, the label its signature
    covers, and who may hold a session there."""

    name: str
    path: str
    label: str
    allowed: Callable[[Principal], bool]

    def new(self, settings: GatewaySettings, gate: Gate, principal: Principal) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(16)
        expires = int(time.time()) + settings.gateway_session_max_age_seconds
        payload = _b64(f"{principal.key_id}:{sid}:{expires}".encode())
        config = gate.keys.config(principal.key_id)
        signature = _mac(settings, self.label, payload, config.sha256 if config else "")
        return f"{payload}.{signature}", Session(principal, sid, expires)

    async def read(self, request: Request) -> Session | None:
        """The signed-in key, or None (no, forged, expired, revoked cookie, or a key no
        longer configured / no longer allowed here)."""
        value = request.cookies.get(self.name)
        if not value or len(value) > 512 or "." not in value:
            return None
        settings: GatewaySettings = request.app.state.settings
        gate: Gate = request.app.state.gate
        payload, _, signature = value.partition(".")
        try:
            key_id, sid, expires_text = _unb64(payload).decode().split(":")
            expires = int(expires_text)
        except (ValueError, UnicodeDecodeError):
            return None
        config = gate.keys.config(key_id)
        if config is None:
            return None
        if not hmac.compare_digest(signature, _mac(settings, self.label, payload, config.sha256)):
            return None
        revoked: Revocations = request.app.state.revoked
        if expires < time.time() or await revoked.holds(sid):
            return None
        principal = Principal(key_id=config.id, scopes=frozenset(config.scopes), approver=config.approver)
        if not self.allowed(principal):
            return None
        return Session(principal, sid, expires)

    def set(self, response: Response, request: Request, value: str) -> None:
        response.set_cookie(
            self.name,
            value,
            max_age=request.app.state.settings.gateway_session_max_age_seconds,
            path=self.path,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def sign_in(self, request: Request, gate: Gate, principal: Principal, to: str) -> Response:
        """A new session for `principal`, set as the cookie on a redirect to `to` (never cached)."""
        value, _ = self.new(request.app.state.settings, gate, principal)
        response = RedirectResponse(to, status_code=303)
        self.set(response, request, value)
        response.headers["Cache-Control"] = "no-store"
        return response

    def clear(self, response: Response) -> None:
        response.delete_cookie(self.name, path=self.path, httponly=True, samesite="strict")


def csrf_token(settings: GatewaySettings, session: Session) -> str:
    return _mac(settings, "csrf", session.sid)


def csrf_ok(request: Request, session: Session, fields: dict[str, str]) -> bool:
    expected = csrf_token(request.app.state.settings, session)
    return hmac.compare_digest(fields.get("csrf", "").encode(), expected.encode())


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded body's fields (first value of each)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True, max_num_fields=20).items()}


async def rate_limited(request: Request, key_id: str, page: Callable[[], Response]) -> Response | None:
    """None while the key's bucket has a token; else `page()` (the page's own 429) with Retry-After."""
    gate: Gate = request.app.state.gate
    wait = await gate.limiter.take(key_id)
    if wait is None:
        return None
    response = page()
    response.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
    return response


def _key_id(principal: Principal) -> str:
    return principal.key_id


@dataclass(frozen=True)
class SignInForms:
    """The sign-in and sign-out forms of one family of pages (approvals, previews, the journey
    map): the same checks in the same order, answered with the family's own pages.

    `sign_in_page(status=, error=, next_url=, notice=)` renders its sign-in page;
    `forbidden()` its CSRF refusal; `slow_down()` its 429; `safe_next` keeps a requested
    return address to the family's own pages (else `home`); `cannot` says why a key that
    `cookie.allowed` refuses may not sign in; `max_field` bounds the token's length;
    `person` is whom a signed-in page names (the key's id unless the family says otherwise)."""

    cookie: SessionCookie
    sign_in_page: Callable[..., Response]
    forbidden: Callable[[], Response]
    slow_down: Callable[[], Response]
    safe_next: Callable[[str], str]
    home: str
    enter: str  # the prompt when no token was entered
    unknown: str  # the answer to a token no key has
    cannot: str
    max_field: int
    signed_out: str | None = None  # a notice on the sign-in page after sign-out
    person: Callable[[Principal], str] = _key_id

    def signed_in_as(self, request: Request, session: Session) -> SignedIn:
        csrf = csrf_token(request.app.state.settings, session)
        return SignedIn(self.person(session.principal), csrf, session)

    async def signed_in(self, request: Request, anonymous: Callable[[], Response]) -> SignedIn | Response:
        """The signed-in visitor, or the answer to give instead: `anonymous()` without a
        session (a stale cookie, expired, revoked or forged, is dropped with it), the family's
        429 when the key's bucket is empty."""
        session = await self.cookie.read(request)
        if session is None:
            response = anonymous()
            if self.cookie.name in request.cookies:
                self.cookie.clear(response)
            return response
        if (limited := await rate_limited(request, session.principal.key_id, self.slow_down)) is not None:
            return limited
        return self.signed_in_as(request, session)

    async def sign_in(self, request: Request) -> Response:
        fields = await read_form(request)
        token = fields.get("token", "").strip()
        next_url = self.safe_next(fields.get("next", self.home))
        if not token or len(token) > self.max_field:
            return self.sign_in_page(status=422, error=self.enter, next_url=next_url)
        gate: Gate = request.app.state.gate
        principal = gate.keys.authenticate(token)
        if principal is None:
            return self.sign_in_page(status=401, error=self.unknown, next_url=next_url)
        if (limited := await rate_limited(request, principal.key_id, self.slow_down)) is not None:
            return limited
        if not self.cookie.allowed(principal):
            return self.sign_in_page(status=403, error=self.cannot, next_url=next_url)
        return self.cookie.sign_in(request, gate, principal, next_url)

    async def sign_out(self, request: Request) -> Response:
        session = await self.cookie.read(request)
        fields = await read_form(request)
        if session is not None:
            if not csrf_ok(request, session, fields):
                return self.forbidden()
            await revoke(request, session)
        response = self.sign_in_page(notice=self.signed_out) if self.signed_out else self.sign_in_page()
        self.cookie.clear(response)
        return response


__all__ = [
    "Session",
    "SessionCookie",
    "SignInForms",
    "SignedIn",
    "csrf_ok",
    "csrf_token",
    "rate_limited",
    "read_form",
    "revoke",
]
