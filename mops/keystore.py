"""Where the per-lead data keys and the erasure log live.

Per-lead data keys (DEKs) are stored *wrapped*: AES-256-GCM encrypted under one of the
master keys from `MOPS_CODEC_KEYS` (the codec's key-encryption keys), with the id of the
master key that wrapped them. The store never sees a master key or an unwrapped DEK,
so a copy of it alone decrypts nothing.

`KeyStore` is the interface; `SqliteKeyStore` is the default, one SQLite file
(`<data_dir>/keys.db`, WAL) shared by every mops process on the machine (workers,
gateway, CLI, codec server). A deployment on several machines sets `MOPS_DATABASE_URL`:
`mops/keystore_pg.py` `PostgresKeyStore` is the same interface over the shared database.

The erasure log (who asked, when, which steps ran, which key ids were destroyed) is
kept next to the keys and written in the same transaction that destroys them. It holds
the lead id (a keyed hash of the address) and never the address or a name.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mops.sqlite_files import open_shared


@dataclass(frozen=True)
class StoredKey:
    """One wrapped data key: `wrapped` is nonce + AES-GCM ciphertext under master key `kek_id`."""

    key_id: str
    lead_id: str
    kek_id: str
    wrapped: bytes
    created_at: str


@dataclass
class ErasureRecord:
    """One right-to-erasure request as it was carried out (no personal data)."""

    erasure_id: str
    lead_id: str
    requested_at: str
    requested_by: str
    reason: str = ""
    completed_at: str | None = None
    steps: dict[str, str] = field(default_factory=dict)  # step -> outcome ("deleted", "not_found", ...)
    destroyed_key_ids: list[str] = field(default_factory=list)

    def row(self) -> tuple:
        """The `erasures` row, in its columns' order (steps and key ids as JSON), for either store."""
        return (
            self.erasure_id,
            self.lead_id,
            self.requested_at,
            self.requested_by,
            self.reason,
            self.completed_at,
            json.dumps(self.steps, sort_keys=True),
            json.dumps(self.destroyed_key_ids),
        )

    @classmethod
    def from_row(cls, r: tuple) -> ErasureRecord:
        return cls(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), json.loads(r[7]))


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class KeyStore(ABC):
    """Wrapped per-lead data keys and the erasure log."""

    @abstractmethod
    def current_for_lead(self, lead_id: str) -> StoredKey | None:
        """The lead's newest data key, if it has one."""

    @abstractmethod
    def add_if_absent(self, key: StoredKey) -> StoredKey:
        """Store `key` unless the lead already has one; return the lead's key either way
        (so two processes creating a key for the same lead at once agree on one)."""

    @abstractmethod
    def get(self, key_id: str) -> StoredKey | None: ...

    @abstractmethod
    def all_keys(self) -> list[StoredKey]:
        """Every stored key (for re-wrapping under a new master key)."""

    @abstractmethod
    def replace(self, keys: Iterable[StoredKey]) -> None:
        """Store re-wrapped keys (same key ids)."""

    @abstractmethod
    def destroy_lead(self, lead_id: str, record: ErasureRecord) -> list[str]:
        """Delete every data key of the lead and append `record` to the erasure log, in one
        transaction; return the destroyed key ids (also set on the record)."""

    @abstractmethod
    def erasures(self, lead_id: str | None = None) -> list[ErasureRecord]: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    key_id TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL,
    kek_id TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS data_keys_by_lead ON data_keys (lead_id, created_at);
CREATE TABLE IF NOT EXISTS erasures (
    erasure_id TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    completed_at TEXT,
    steps TEXT NOT NULL,
    destroyed_key_ids TEXT NOT NULL
);
"""


class SqliteKeyStore(KeyStore):
    """The default store: one SQLite file (WAL), safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_shared(self.path, _SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _key(row: tuple | None) -> StoredKey | None:
        return StoredKey(*row) if row else None

    def current_for_lead(self, lead_id: str) -> StoredKey | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key_id, lead_id, kek_id, wrapped, created_at FROM data_keys WHERE lead_id = ? "
                "ORDER BY created_at DESC, key_id DESC LIMIT 1",
                (lead_id,),
            ).fetchone()
        return self._key(row)

    def add_if_absent(self, key: StoredKey) -> StoredKey:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT key_id, lead_id, kek_id, wrapped, created_at FROM data_keys WHERE lead_id = ? "
                    "ORDER BY created_at DESC, key_id DESC LIMIT 1",
                    (key.lead_id,),
                ).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO data_keys (key_id, lead_id, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?, ?)",
                        (key.key_id, key.lead_id, key.kek_id, key.wrapped, key.created_at),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return self._key(row) or key

    def get(self, key_id: str) -> StoredKey | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key_id, lead_id, kek_id, wrapped, created_at FROM data_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
        return self._key(row)

    def all_keys(self) -> list[StoredKey]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key_id, lead_id, kek_id, wrapped, created_at FROM data_keys ORDER BY created_at"
            ).fetchall()
        return [StoredKey(*r) for r in rows]

    def replace(self, keys: Iterable[StoredKey]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for k in keys:
                    self._db.execute(
                        "UPDATE data_keys SET kek_id = ?, wrapped = ? WHERE key_id = ?", (k.kek_id, k.wrapped, k.key_id)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def destroy_lead(self, lead_id: str, record: ErasureRecord) -> list[str]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                ids = [r[0] for r in self._db.execute("SELECT key_id FROM data_keys WHERE lead_id = ?", (lead_id,))]
                self._db.execute("DELETE FROM data_keys WHERE lead_id = ?", (lead_id,))
                record.destroyed_key_ids = sorted(set(record.destroyed_key_ids) | set(ids))
                record.completed_at = record.completed_at or utc_now()
                self._db.execute(
                    "INSERT OR REPLACE INTO erasures (erasure_id, lead_id, requested_at, requested_by, reason, "
                    "completed_at, steps, destroyed_key_ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    record.row(),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return ids

    def erasures(self, lead_id: str | None = None) -> list[ErasureRecord]:
        query = (
            "SELECT erasure_id, lead_id, requested_at, requested_by, reason, completed_at, steps, "
            "destroyed_key_ids FROM erasures"
        )
        with self._lock:
            if lead_id is None:
                rows = self._db.execute(query + " ORDER BY requested_at").fetchall()
            else:
                rows = self._db.execute(query + " WHERE lead_id = ? ORDER BY requested_at", (lead_id,)).fetchall()
        return [ErasureRecord.from_row(r) for r in rows]


__all__ = ["KeyStore", "SqliteKeyStore", "StoredKey", "ErasureRecord", "utc_now"]
