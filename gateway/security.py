"""API keys, scopes, rate limits: the pieces every gateway surface (REST, GraphQL and the
browser pages) reuses.

- Keys are configured as SHA-256 hashes only: in `MOPS_GATEWAY_KEYS`, and in the key file
  (`<data_dir>/gateway-keys.json`, where `mops gateway keygen` saves what it mints). The
  file is read again whenever it changes, so a key minted while the gateway runs works on
  the next request, no restart. A presented key is hashed and compared with every
  configured hash in constant time.
- Scopes: `ingest` (capture leads, record events, submit content), `read` (state and
  lists, and the journey email previews at `/previews`: they show templates rendered for
  made-up sample leads and decide nothing), `approve` (decide, revise, retract: the key is
  bound to one person, whose identity every decision carries; the `/approvals` page),
  `admin` (every scope; no identity of its own).
- Per-key token bucket (`MOPS_GATEWAY_RATE_PER_SECOND`, `MOPS_GATEWAY_BURST`) → 429 with
  `Retry-After`. The bucket lives where `gateway/state.py` says: in this process (with N
  replicas a key gets up to N times the rate), or with `MOPS_DATABASE_URL` in the shared
  database, one bucket for every replica.
- The SendGrid webhook's verification key (`load_public_key`): settings check it at
  start, the webhook verifies with it; here, so settings need none of the routes.

Use `require(Scope.READ)` as a FastAPI dependency; it returns the `Principal`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, field_validator, model_validator

from gateway.state import RateLimit, RateLimiter

log = logging.getLogger(__name__)

KEY_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
KEY_PREFIX = "mops_"


class Scope(StrEnum):
    INGEST = "ingest"
    APPROVE = "approve"
    READ = "read"
    ADMIN = "admin"


class ApiKeyConfig(BaseModel):
    """One configured key: its id, the hex SHA-256 of the raw key, scopes, bound approver."""

    id: str = Field(pattern=KEY_ID_PATTERN)
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    scopes: list[Scope] = Field(min_length=1)
    approver: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_.-]*$")

    @field_validator("sha256")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @model_validator(mode="after")
    def _bound(self) -> ApiKeyConfig:
        if Scope.APPROVE in self.scopes and not self.approver:
            raise ValueError(f"key {self.id!r}: an approve-scope key must name the person it acts as (approver)")
        return self


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, its scopes and (approve keys) the person it acts as."""

    key_id: str
    scopes: frozenset[Scope]
    approver: str | None = None

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def new_key() -> str:
    """A fresh raw key (256 bits, URL-safe), shown once by `python -m gateway keygen`."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyFileError(ValueError):
    """The key file is not a JSON list of key entries (message names the file and the entry)."""


_ENTRIES = TypeAdapter(list[ApiKeyConfig])


def read_key_file(path: Path) -> list[ApiKeyConfig]:
    """The entries of a key file; a missing file holds none."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except OSError as err:
        raise KeyFileError(f"{path}: cannot read: {err.strerror}") from None
    try:
        return _ENTRIES.validate_json(text)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise KeyFileError(f"{path}: entry {where}: {first['msg'].removeprefix('Value error, ')}") from None


def save_key(path: Path, entry: ApiKeyConfig) -> bool:
    """Add `entry` to the key file, replacing an entry with the same id (a rotation); written
    whole and renamed into place, so a gateway never reads half a file. True if it replaced one."""
    entries = read_key_file(path)
    replaced = any(e.id == entry.id for e in entries)
    entries = [e for e in entries if e.id != entry.id] + [entry]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".gateway-keys-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump([e.model_dump(mode="json") for e in entries], f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return replaced


class KeyRing:
    """The configured keys; `authenticate` maps a raw key to its Principal.

    `keys` are fixed (from `MOPS_GATEWAY_KEYS`); `key_file`, when given, is read again each
    time its size or modification time changes. A file that no longer parses keeps the keys
    it last held (logged as an error): a half-edited file must not lock every caller out,
    and it never lets a key in that was not there."""

    def __init__(self, keys: list[ApiKeyConfig], key_file: Path | None = None) -> None:
        self._fixed = list(keys)
        self._file = key_file
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._keys = [(bytes.fromhex(k.sha256), k) for k in self._fixed]
        if key_file is not None:
            self._reload(strict=True)

    def _file_stamp(self) -> tuple[int, int] | None:
        if self._file is None:
            return None
        try:
            st = self._file.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _reload(self, *, strict: bool = False) -> None:
        if self._file is None:
            return
        stamp = self._file_stamp()
        if stamp == self._stamp and not strict:
            return
        try:
            loaded = read_key_file(self._file)
        except KeyFileError as err:
            if strict:
                raise
            log.error("gateway keys: %s; keeping the keys it held before", err)
            self._stamp = stamp
            return
        fixed_ids = {k.id for k in self._fixed}
        clashing = sorted({k.id for k in loaded} & fixed_ids)
        if clashing:
            message = f"{self._file}: key id(s) {', '.join(clashing)} also in MOPS_GATEWAY_KEYS"
            if strict:
                raise KeyFileError(message)
            log.error("gateway keys: %s; those entries of the file are ignored", message)
        entries = self._fixed + [k for k in loaded if k.id not in fixed_ids]
        self._keys = [(bytes.fromhex(k.sha256), k) for k in entries]
        self._stamp = stamp

    def _entries(self) -> list[tuple[bytes, ApiKeyConfig]]:
        if self._file is not None:
            with self._lock:
                self._reload()
        return self._keys

    def authenticate(self, raw_key: str) -> Principal | None:
        """The key's Principal, or None. Compares against every entry (no early exit)."""
        digest = hashlib.sha256(raw_key.encode()).digest()
        found: ApiKeyConfig | None = None
        for expected, key in self._entries():
            if hmac.compare_digest(digest, expected):
                found = key
        if found is None:
            return None
        return Principal(key_id=found.id, scopes=frozenset(found.scopes), approver=found.approver)

    def config(self, key_id: str) -> ApiKeyConfig | None:
        """The configured key with this id (the approval page's session holds the id, never the key)."""
        return next((key for _, key in self._entries() if key.id == key_id), None)


@dataclass
class Gate:
    """What `require` needs at request time (kept on `app.state.gate`)."""

    keys: KeyRing
    limiter: RateLimit


bearer_scheme = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Exception:
    from gateway.errors import ApiError  # errors imports the services; keep this module light

    return ApiError(status, code, message, headers)


async def authenticate_request(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """401 without a known key; 429 when the key's bucket is empty."""
    gate: Gate = request.app.state.gate
    if credentials is None:
        raise _error(
            401,
            "unauthenticated",
            "authorization: send 'Authorization: Bearer <api key>'",
            {"WWW-Authenticate": "Bearer"},
        )
    principal = gate.keys.authenticate(credentials.credentials)
    if principal is None:
        raise _error(401, "unauthenticated", "authorization: unknown API key", {"WWW-Authenticate": "Bearer"})
    wait = await gate.limiter.take(principal.key_id)
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        message = f"authorization: rate limit for key {principal.key_id!r}; retry in {seconds}s"
        raise _error(429, "rate_limited", message, {"Retry-After": str(seconds)})
    return principal


def require(scope: Scope):
    """FastAPI dependency factory: the caller's Principal, if its key has `scope` (else 401/403/429)."""

    async def principal(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
    ) -> Principal:
        who = await authenticate_request(request, credentials)
        if not who.allows(scope):
            raise _error(403, "forbidden", f"authorization: key {who.key_id!r} lacks the {scope.value!r} scope")
        request.state.principal = who
        return who

    return principal


def require_any(*scopes: Scope):
    """Like `require`, for endpoints whose scope depends on the request (the handler checks
    further): the caller's Principal if its key has at least one of `scopes`."""

    async def principal(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
    ) -> Principal:
        who = await authenticate_request(request, credentials)
        if not any(who.allows(scope) for scope in scopes):
            wanted = " or ".join(repr(scope.value) for scope in scopes)
            raise _error(403, "forbidden", f"authorization: key {who.key_id!r} lacks the {wanted} scope")
        request.state.principal = who
        return who

    return principal


def person(principal: Principal) -> str:
    """The person an approve key acts as (403 for keys bound to nobody, e.g. admin keys)."""
    if not principal.approver:
        raise _error(403, "forbidden", f"authorization: key {principal.key_id!r} is not bound to a person")
    return principal.approver


@lru_cache(maxsize=4)
def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """SendGrid shows the key as base64 DER (SubjectPublicKeyInfo); PEM is accepted too."""
    text = text.strip()
    try:
        if "BEGIN PUBLIC KEY" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text))
    except (ValueError, binascii.Error) as err:
        raise ValueError("MOPS_SENDGRID_WEBHOOK_PUBLIC_KEY: not a base64 DER or PEM public key") from err
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("MOPS_SENDGRID_WEBHOOK_PUBLIC_KEY: not an elliptic-curve key")
    return key


__all__ = [
    "Scope",
    "ApiKeyConfig",
    "Principal",
    "KeyRing",
    "KeyFileError",
    "read_key_file",
    "save_key",
    "RateLimiter",
    "Gate",
    "require",
    "require_any",
    "person",
    "hash_key",
    "new_key",
    "authenticate_request",
    "load_public_key",
]
