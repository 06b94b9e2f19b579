"""The shared PostgreSQL database (`MOPS_DATABASE_URL`) and its migrations.

When the setting is given, the state that would otherwise pin work to one machine lives
here: the per-lead data keys and the erasure log (`mops/keystore_pg.py`), and the
gateway's rate-limit buckets, webhook replay cache and signed-out sessions
(`gateway/state_pg.py`), so any number of gateway replicas and workers share them.

Migrations are plain SQL files, `mops/migrations/NNNN_<name>.sql`, applied in order by
`upgrade` and recorded in the `schema_version` table; each runs in its own transaction,
and concurrent upgrades (several replicas starting at once) queue behind one advisory
lock, so a version is applied exactly once. An applied file is never edited: a change is
a new file.

`Database` is one connection per process, guarded by a lock (the callers are small single
statements), re-opened when the server dropped it. An unreachable server is
`DatabaseUnavailable`, never a quiet fall back to the local files.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when first connecting: a process without MOPS_DATABASE_URL never loads the driver
    import psycopg

MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant both replicas agree on: the key of the advisory lock upgrades queue behind.
UPGRADE_LOCK = 0x6D6F7073  # "mops"


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or refused the login (message names MOPS_DATABASE_URL)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The migration files shipped in the package, in version order."""
    found = []
    for entry in resources.files("mops.migrations").iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"mops/migrations: versions must run 1, 2, 3, ... without gaps, got {versions}")
    return found


def _where(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def open_connection(url: str) -> psycopg.Connection:
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as err:
        raise DatabaseUnavailable(f"MOPS_DATABASE_URL: cannot connect to {_where(url)}: {_first_line(err)}") from None


def upgrade(url: str) -> list[Migration]:
    """Apply the migrations not yet applied; return those applied now (none: already current)."""
    applied_now: list[Migration] = []
    with open_connection(url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (UPGRADE_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_version")}
            for migration in migrations():
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                applied_now.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (UPGRADE_LOCK,))
    return applied_now


def _schema_version(conn: psycopg.Connection) -> int:
    exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def current_version(url: str) -> int:
    """The newest applied migration (0: none)."""
    with open_connection(url) as conn:
        return _schema_version(conn)


class Database:
    """One connection of this process to the shared database (autocommit)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._conn = open_connection(url)
        version, latest = _schema_version(self._conn), len(migrations())
        if version != latest:
            self._conn.close()
            raise DatabaseUnavailable(
                f"MOPS_DATABASE_URL: the schema is at version {version}, this mops needs {latest}: "
                "run `mops db upgrade`"
            )

    def _connection(self) -> psycopg.Connection:
        if self._conn.closed or self._conn.broken:
            self._conn = open_connection(self.url)
        return self._conn

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        """Run one statement; its rows (none for a statement without RETURNING). Without
        `params` the text is sent as it is (a `%` in it is no placeholder)."""
        import psycopg

        with self._lock:
            try:
                cur = self._connection().execute(sql.encode(), params)
                return cur.fetchall() if cur.description else []
            except psycopg.OperationalError as err:
                # The server went away mid-statement: this answer fails (503), and the next
                # call opens a new connection. Not retried here: a bucket spent twice or a
                # replay key taken twice must not come from our own retry.
                raise DatabaseUnavailable(f"MOPS_DATABASE_URL: {_first_line(err)}") from None

    def transaction(self) -> _Transaction:
        """`with db.transaction() as conn:` several statements in one transaction (holding the lock)."""
        return _Transaction(self)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _Transaction:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._tx: Any = None

    def __enter__(self) -> psycopg.Connection:
        self._db._lock.acquire()
        try:
            conn = self._db._connection()
            self._tx = conn.transaction()
            self._tx.__enter__()
        except BaseException:
            self._db._lock.release()
            raise
        return conn

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self._tx.__exit__(*exc_info)
        finally:
            self._db._lock.release()


_shared: dict[str, Database] = {}
_shared_lock = threading.Lock()


def shared_database(url: str) -> Database:
    """The process's one `Database` for `url` (the key store and the gateway state share it)."""
    with _shared_lock:
        db = _shared.get(url)
        if db is None or db._conn.closed:
            db = _shared[url] = Database(url)
        return db


__all__ = [
    "Database",
    "DatabaseUnavailable",
    "Migration",
    "current_version",
    "migrations",
    "shared_database",
    "upgrade",
]
