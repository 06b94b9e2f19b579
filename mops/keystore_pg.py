"""The key store in the shared PostgreSQL database (`MOPS_DATABASE_URL`): the same
`KeyStore` contract as `SqliteKeyStore`, for workers, gateways, the CLI and the codec
server on several machines. Tables `data_keys` and `erasures` (mops/migrations)."""

from __future__ import annotations

from collections.abc import Iterable

from mops.database import Database
from mops.keystore import ErasureRecord, KeyStore, StoredKey, utc_now

_COLUMNS = "key_id, lead_id, kek_id, wrapped, created_at"
_NEWEST = f"SELECT {_COLUMNS} FROM data_keys WHERE lead_id = %s ORDER BY created_at DESC, key_id DESC LIMIT 1"


def _key(row: tuple) -> StoredKey:
    key_id, lead_id, kek_id, wrapped, created_at = row
    return StoredKey(key_id, lead_id, kek_id, bytes(wrapped), created_at)


class PostgresKeyStore(KeyStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    def current_for_lead(self, lead_id: str) -> StoredKey | None:
        rows = self.db.rows(_NEWEST, (lead_id,))
        return _key(rows[0]) if rows else None

    def add_if_absent(self, key: StoredKey) -> StoredKey:
        # Two processes creating the first key of one lead at once: the advisory lock on the
        # lead makes the second wait and then find the first one's key.
        with self.db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"data_keys:{key.lead_id}",))
            row = conn.execute(_NEWEST.encode(), (key.lead_id,)).fetchone()
            if row is not None:
                return _key(row)
            conn.execute(
                f"INSERT INTO data_keys ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s)".encode(),
                (key.key_id, key.lead_id, key.kek_id, key.wrapped, key.created_at),
            )
        return key

    def get(self, key_id: str) -> StoredKey | None:
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM data_keys WHERE key_id = %s", (key_id,))
        return _key(rows[0]) if rows else None

    def all_keys(self) -> list[StoredKey]:
        return [_key(r) for r in self.db.rows(f"SELECT {_COLUMNS} FROM data_keys ORDER BY created_at")]

    def replace(self, keys: Iterable[StoredKey]) -> None:
        with self.db.transaction() as conn:
            for k in keys:
                conn.execute(
                    "UPDATE data_keys SET kek_id = %s, wrapped = %s WHERE key_id = %s", (k.kek_id, k.wrapped, k.key_id)
                )

    def destroy_lead(self, lead_id: str, record: ErasureRecord) -> list[str]:
        with self.db.transaction() as conn:
            ids = [r[0] for r in conn.execute("DELETE FROM data_keys WHERE lead_id = %s RETURNING key_id", (lead_id,))]
            record.destroyed_key_ids = sorted(set(record.destroyed_key_ids) | set(ids))
            record.completed_at = record.completed_at or utc_now()
            conn.execute(
                "INSERT INTO erasures (erasure_id, lead_id, requested_at, requested_by, reason, completed_at, steps,"
                " destroyed_key_ids) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)"
                " ON CONFLICT (erasure_id) DO UPDATE SET"
                " lead_id = excluded.lead_id, requested_at = excluded.requested_at,"
                " requested_by = excluded.requested_by, reason = excluded.reason,"
                " completed_at = excluded.completed_at, steps = excluded.steps,"
                " destroyed_key_ids = excluded.destroyed_key_ids",
                record.row(),
            )
        return ids

    def erasures(self, lead_id: str | None = None) -> list[ErasureRecord]:
        query = (
            "SELECT erasure_id, lead_id, requested_at, requested_by, reason, completed_at, steps::text,"
            " destroyed_key_ids::text FROM erasures"
        )
        if lead_id is None:
            rows = self.db.rows(query + " ORDER BY requested_at")
        else:
            rows = self.db.rows(query + " WHERE lead_id = %s ORDER BY requested_at", (lead_id,))
        return [ErasureRecord.from_row(r) for r in rows]


__all__ = ["PostgresKeyStore"]
