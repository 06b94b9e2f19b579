"""The gateway's shared state in PostgreSQL (`MOPS_DATABASE_URL`): every replica spends from
the same token buckets, refuses a webhook another replica already took, and honours a
sign-out made on another replica. Tables in `mops/migrations/0001_shared_state.sql`.

Each check is one statement, atomic under the row's lock, timed by the database's clock
(so replicas on machines whose clocks differ still agree). It runs in a worker thread
(`asyncio.to_thread`): `Database` is a blocking connection, and a database that is slow or
gone (up to its connect timeout) then holds up only the requests waiting on it, never the
gateway's event loop and every other request with it."""

from __future__ import annotations

import asyncio
import itertools
import threading

from gateway.state import GatewayState, RateLimit, Replays, Revocations
from mops.database import Database

# Rows that no longer matter (expired replay keys, full buckets) are deleted every so many calls.
PURGE_EVERY = 500

# The bucket refilled since its last use, capped at the burst; spent when at least one token.
_REFILLED = (
    "least(%(burst)s::float8, b.tokens"
    " + greatest(0, extract(epoch FROM now() - b.updated_at))::float8 * %(rate)s::float8)"
)
_TAKE = f"""
INSERT INTO rate_buckets AS b (bucket, tokens, updated_at, allowed)
VALUES (%(bucket)s, %(burst)s::float8 - 1, now(), true)
ON CONFLICT (bucket) DO UPDATE SET
    tokens = {_REFILLED} - CASE WHEN {_REFILLED} >= 1 THEN 1 ELSE 0 END,
    allowed = {_REFILLED} >= 1,
    updated_at = greatest(b.updated_at, now())
RETURNING allowed, tokens
"""

# New key, or a key whose earlier sighting has expired: taken (a row returned). Otherwise
# the conflict changes nothing and returns nothing: a replay.
_ADD = """
INSERT INTO replay_keys AS r (cache, key, expires_at)
VALUES (%(cache)s, %(key)s, now() + make_interval(secs => %(ttl)s))
ON CONFLICT (cache, key) DO UPDATE SET expires_at = excluded.expires_at WHERE r.expires_at <= now()
RETURNING 1
"""


# A bucket idle for burst/rate seconds is full again, the same as no row: such rows (a form's
# visitors' addresses, mostly) are deleted every so many takes, so the table stays small.
_PURGE_IDLE = """
DELETE FROM rate_buckets
WHERE left(bucket, length(%(prefix)s)) = %(prefix)s AND updated_at < now() - make_interval(secs => %(full)s)
"""


class PostgresRateLimit(RateLimit):
    def __init__(self, db: Database, name: str, rate: float, burst: int, *, purge_every: int = PURGE_EVERY) -> None:
        self.db, self.name, self.rate, self.burst = db, name, rate, burst
        self._takes = itertools.count(1)
        self._purge_every = purge_every
        self._lock = threading.Lock()

    async def take(self, key: str) -> float | None:
        return await asyncio.to_thread(self._take, key)

    def _take(self, key: str) -> float | None:
        rows = self.db.rows(_TAKE, {"bucket": f"{self.name}:{key}", "burst": self.burst, "rate": self.rate})
        allowed, tokens = rows[0]
        with self._lock:
            purge = next(self._takes) % self._purge_every == 0
        if purge:
            self.db.rows(_PURGE_IDLE, {"prefix": f"{self.name}:", "full": self.burst / self.rate})
        return None if allowed else (1.0 - tokens) / self.rate


class PostgresReplays(Replays):
    def __init__(self, db: Database, name: str, ttl: float) -> None:
        self.db, self.name, self.ttl = db, name, ttl
        self._adds = itertools.count(1)
        self._lock = threading.Lock()

    async def seen(self, key: str) -> bool:
        rows = await asyncio.to_thread(
            self.db.rows,
            "SELECT 1 FROM replay_keys WHERE cache = %s AND key = %s AND expires_at > now()",
            (self.name, key),
        )
        return bool(rows)

    async def add(self, key: str) -> bool:
        return await asyncio.to_thread(self._add, key)

    def _add(self, key: str) -> bool:
        taken = bool(self.db.rows(_ADD, {"cache": self.name, "key": key, "ttl": float(self.ttl)}))
        with self._lock:
            purge = next(self._adds) % PURGE_EVERY == 0
        if purge:
            self.db.rows("DELETE FROM replay_keys WHERE cache = %s AND expires_at <= now()", (self.name,))
        return taken


class PostgresRevocations(Revocations):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, sid: str, expires: int) -> None:
        await asyncio.to_thread(self._add, sid, expires)

    def _add(self, sid: str, expires: int) -> None:
        self.db.rows("DELETE FROM revoked_sessions WHERE expires_at <= now()")
        self.db.rows(
            "INSERT INTO revoked_sessions (sid, expires_at) VALUES (%s, to_timestamp(%s)) ON CONFLICT (sid) DO NOTHING",
            (sid, expires),
        )

    async def holds(self, sid: str) -> bool:
        return bool(await asyncio.to_thread(self.db.rows, "SELECT 1 FROM revoked_sessions WHERE sid = %s", (sid,)))


class PostgresState(GatewayState):
    def __init__(self, db: Database) -> None:
        self.db = db

    def rate_limit(self, name: str, rate: float, burst: int) -> RateLimit:
        return PostgresRateLimit(self.db, name, rate, burst)

    def replays(self, name: str, max_size: int, ttl: float) -> Replays:
        return PostgresReplays(self.db, name, ttl)  # the database holds them all; no size bound

    def revocations(self) -> Revocations:
        return PostgresRevocations(self.db)


__all__ = ["PostgresState", "PostgresRateLimit", "PostgresReplays", "PostgresRevocations"]
