"""One way to open the small SQLite files mops keeps on a machine (the key store, the
contact ledger): WAL, so every mops process on the machine (workers, gateway, CLI, codec
server) reads and writes the same file at once; autocommit, so each caller opens its own
transactions; usable from any thread, behind the caller's own lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_shared(path: Path, schema: str) -> sqlite3.Connection:
    """The file at `path` (its directory made if missing), with `schema` applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=wal")
    db.execute("PRAGMA synchronous=normal")
    db.executescript(schema)
    return db
