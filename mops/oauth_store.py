"""Where the OAuth grants of the ad and analytics platforms live: encrypted, one row per
platform account, with the lock that keeps refreshes to one at a time.

A row holds the refresh token (for Meta, the user token that is exchanged) and the current
access token, sealed together with AES-256-GCM under the newest master key of
`MOPS_CODEC_KEYS` (the key machinery of `mops.codec`: the same `KeyRing` that wraps the
per-lead data keys), the platform and account bound in as associated data so a row cannot
be moved to another account. Expiry times and the refresh count are kept in the clear: they
are what `mops auth status` shows, and they open nothing. A row sealed under an older
master key still opens while that key is configured; the next refresh seals it under the
newest.

`TokenStore` is the interface; `SqliteTokenStore` is the default, one SQLite file
(`<data_dir>/oauth.db`, WAL) shared by every mops process on the machine. Its
`refreshing` lock is a `BEGIN IMMEDIATE` transaction on a connection of its own: one
process (or thread) at a time holds it for an account, and the next one finds the token
the first has just stored. Several machines need the same interface in front of a shared
database (PostgreSQL `SELECT ... FOR UPDATE`); nothing else changes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mops.sqlite_files import open_shared

NONCE_BYTES = 12  # as mops.codec's


class MasterKeys(Protocol):
    """The master keys of `mops.codec.KeyRing` (given one; not imported, as the platform
    clients that read this store may not depend on Temporal, which the codec does)."""

    def newest_master(self) -> tuple[str, AESGCM]: ...

    def key(self, key_id: str) -> AESGCM: ...


@dataclass(frozen=True)
class Grant:
    """One account's credentials. Times are epoch seconds (shared by every process on the
    machine, which a monotonic clock is not); None: not known yet."""

    refresh_token: str
    access_token: str | None = None
    access_expires_at: float | None = None
    refresh_expires_at: float | None = None  # LinkedIn's refresh tokens expire; Google's do not say

    def fresh(self, now: float, margin: float) -> bool:
        """An access token that still has more than `margin` seconds to live."""
        return (
            self.access_token is not None
            and self.access_expires_at is not None
            and now < (self.access_expires_at - margin)
        )


@dataclass(frozen=True)
class GrantStatus:
    """What may be shown of a row: never a token."""

    platform: str
    account: str
    access_expires_at: float | None
    refresh_expires_at: float | None
    refreshed_at: str | None
    refreshes: int


class TokenUnreadable(Exception):
    """A stored row that does not open (its master key is gone, or it was tampered with)."""


class RefreshLock(ABC):
    """Held while one caller refreshes an account: read the row, then save the new one."""

    @abstractmethod
    def current(self) -> Grant | None: ...

    @abstractmethod
    def save(self, grant: Grant, *, refreshed: bool) -> None:
        """Store `grant` (committed when the lock is released without an error)."""

    @abstractmethod
    def release(self, ok: bool) -> None:
        """Commit (`ok`) or roll back, and let the next caller in."""


class TokenStore(ABC):
    """Encrypted OAuth grants per (platform, account), and the per-account refresh lock."""

    @abstractmethod
    def get(self, platform: str, account: str) -> Grant | None: ...

    @abstractmethod
    def put(self, platform: str, account: str, grant: Grant) -> None:
        """Replace the account's grant (`mops auth set`)."""

    @abstractmethod
    def refreshing(self, platform: str, account: str) -> RefreshLock:
        """Wait (blocking: call it from a thread) until no other caller refreshes this
        account, and hold that until `release`."""

    @abstractmethod
    def statuses(self) -> list[GrantStatus]: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS oauth_grants (
    platform TEXT NOT NULL,
    account TEXT NOT NULL,
    kek_id TEXT NOT NULL,
    sealed BLOB NOT NULL,
    access_expires_at REAL,
    refresh_expires_at REAL,
    refreshed_at TEXT,
    refreshes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (platform, account)
);
"""
_SELECT = (
    "SELECT kek_id, sealed, access_expires_at, refresh_expires_at FROM oauth_grants WHERE platform = ? AND account = ?"
)


def _aad(platform: str, account: str) -> bytes:
    return f"mops-oauth:{platform}:{account}".encode()


class _Sealer:
    """Seal and open a grant's secrets with the key ring's master keys."""

    def __init__(self, ring: MasterKeys) -> None:
        self._ring = ring

    def seal(self, platform: str, account: str, grant: Grant) -> tuple[str, bytes]:
        kek_id, kek = self._ring.newest_master()
        plain = json.dumps({"refresh_token": grant.refresh_token, "access_token": grant.access_token}).encode()
        nonce = os.urandom(NONCE_BYTES)
        return kek_id, nonce + kek.encrypt(nonce, plain, _aad(platform, account))

    def open(self, platform: str, account: str, row: tuple) -> Grant:
        kek_id, sealed, access_expires_at, refresh_expires_at = row
        try:
            kek = self._ring.key(kek_id)
            plain = kek.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(platform, account))
        except (InvalidTag, Exception):  # InvalidTag, or the ring's KeyUnavailable for a master key not configured
            raise TokenUnreadable(
                f"{platform} account {account}: the stored tokens do not open with MOPS_CODEC_KEYS "
                f"(sealed under {kek_id!r}); store them again with `mops auth set {platform}`"
            ) from None
        secrets = json.loads(plain)
        return Grant(secrets["refresh_token"], secrets["access_token"], access_expires_at, refresh_expires_at)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _SqliteRefreshLock(RefreshLock):
    def __init__(self, db: sqlite3.Connection, sealer: _Sealer, platform: str, account: str) -> None:
        self._db, self._sealer, self._platform, self._account = db, sealer, platform, account

    def current(self) -> Grant | None:
        row = self._db.execute(_SELECT, (self._platform, self._account)).fetchone()
        return self._sealer.open(self._platform, self._account, row) if row else None

    def save(self, grant: Grant, *, refreshed: bool) -> None:
        _write(self._db, self._sealer, self._platform, self._account, grant, refreshed=refreshed)

    def release(self, ok: bool) -> None:
        try:
            self._db.execute("COMMIT" if ok else "ROLLBACK")
        finally:
            self._db.close()


def _write(db: sqlite3.Connection, sealer: _Sealer, platform: str, account: str, grant: Grant, *, refreshed: bool):
    kek_id, sealed = sealer.seal(platform, account, grant)
    db.execute(
        "INSERT INTO oauth_grants (platform, account, kek_id, sealed, access_expires_at, refresh_expires_at, "
        "refreshed_at, refreshes) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (platform, account) DO UPDATE SET "
        "kek_id = excluded.kek_id, sealed = excluded.sealed, access_expires_at = excluded.access_expires_at, "
        "refresh_expires_at = excluded.refresh_expires_at, refreshed_at = "
        "COALESCE(excluded.refreshed_at, oauth_grants.refreshed_at), "
        "refreshes = oauth_grants.refreshes + excluded.refreshes",
        (
            platform,
            account,
            kek_id,
            sealed,
            grant.access_expires_at,
            grant.refresh_expires_at,
            _now() if refreshed else None,
            1 if refreshed else 0,
        ),
    )


class SqliteTokenStore(TokenStore):
    """The default store: one SQLite file (WAL), safe across threads and processes."""

    def __init__(self, path: Path, ring: MasterKeys) -> None:
        self.path = Path(path)
        self._sealer = _Sealer(ring)
        self._lock = threading.Lock()
        self._db = open_shared(self.path, _SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, platform: str, account: str) -> Grant | None:
        with self._lock:
            row = self._db.execute(_SELECT, (platform, account)).fetchone()
        return self._sealer.open(platform, account, row) if row else None

    def put(self, platform: str, account: str, grant: Grant) -> None:
        with self._lock:
            _write(self._db, self._sealer, platform, account, grant, refreshed=False)

    def refreshing(self, platform: str, account: str) -> RefreshLock:
        # A connection of its own: the lock is the write transaction, held across the refresh's
        # HTTP call, and must not hold up this store's other readers in the process.
        # (The file and its schema exist: the store made them.) Waits up to 30 s for the holder.
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("BEGIN IMMEDIATE")
        except BaseException:
            db.close()
            raise
        return _SqliteRefreshLock(db, self._sealer, platform, account)

    def statuses(self) -> list[GrantStatus]:
        with self._lock:
            rows = self._db.execute(
                "SELECT platform, account, access_expires_at, refresh_expires_at, refreshed_at, refreshes "
                "FROM oauth_grants ORDER BY platform, account"
            ).fetchall()
        return [GrantStatus(*r) for r in rows]


__all__ = ["Grant", "GrantStatus", "MasterKeys", "RefreshLock", "SqliteTokenStore", "TokenStore", "TokenUnreadable"]
