"""Where a list import's validated rows wait while its workflow captures them.

A workflow cannot read a file, and its payloads are limited to about 2 MB, so the service
that validated the file stages the rows here (one SQLite file, `<data_dir>/imports.db`,
WAL, shared by every mops process on the machine, as the journey versions are) and the
`LeadImport` workflow's activity reads them in batches from its cursor. The limit this
puts on deployment: the workers that poll the workflow queue must run on the machine
(the data dir) where the CLI or gateway staged the file. A worker elsewhere finds no
staged rows and fails the batch loudly instead of importing nothing.

The staged rows (personal data) are deleted when the import finishes; the summary and
the rejected rows' numbers and reasons (masked: never an address) stay, so a re-import
of the same file is answered as done, and `GET /v1/imports/{id}` can show the report.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from domain.journeys import JourneySpec
from domain.lead_import import Rejection, StagedRow
from mops.sqlite_files import open_shared

_SCHEMA = """
CREATE TABLE IF NOT EXISTS imports (
    import_id      TEXT PRIMARY KEY,
    journey_id     TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    file_name      TEXT NOT NULL,
    consent_source TEXT,
    rows_read      INTEGER NOT NULL,
    accepted       INTEGER NOT NULL,
    rejected       INTEGER NOT NULL,
    journey        TEXT NOT NULL,
    staged_at      TEXT NOT NULL,
    finished_at    TEXT
);
CREATE TABLE IF NOT EXISTS import_rows (
    import_id TEXT NOT NULL,
    row       INTEGER NOT NULL,
    staged    TEXT NOT NULL,
    PRIMARY KEY (import_id, row)
);
CREATE TABLE IF NOT EXISTS import_rejections (
    import_id TEXT NOT NULL,
    row       INTEGER NOT NULL,
    reason    TEXT NOT NULL,
    PRIMARY KEY (import_id, row)
);
"""


@dataclass(frozen=True)
class ImportRecord:
    import_id: str
    journey_id: str
    sha256: str
    file_name: str
    consent_source: str | None
    rows_read: int
    accepted: int
    rejected: int
    staged_at: datetime
    finished_at: datetime | None


class ImportStore:
    def __init__(self, path: Path) -> None:
        self._db = open_shared(path, _SCHEMA)
        self._lock = threading.Lock()
        self._specs: dict[str, JourneySpec] = {}

    def close(self) -> None:
        self._db.close()

    def stage(
        self,
        record: ImportRecord,
        journey: JourneySpec,
        rows: Iterable[StagedRow],
        rejections: Iterable[Rejection],
    ) -> bool:
        """Stage an import in one transaction: all of it or nothing. False (and nothing
        written) when the import is already staged."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._db.execute("SELECT 1 FROM imports WHERE import_id = ?", (record.import_id,)).fetchone():
                    self._db.execute("ROLLBACK")
                    return False
                self._db.execute(
                    "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    (
                        record.import_id,
                        record.journey_id,
                        record.sha256,
                        record.file_name,
                        record.consent_source,
                        record.rows_read,
                        record.accepted,
                        record.rejected,
                        journey.model_dump_json(),
                        record.staged_at.isoformat(),
                    ),
                )
                self._db.executemany(
                    "INSERT INTO import_rows VALUES (?, ?, ?)",
                    ((record.import_id, r.row, r.model_dump_json()) for r in rows),
                )
                self._db.executemany(
                    "INSERT INTO import_rejections VALUES (?, ?, ?)",
                    ((record.import_id, r.row, r.reason) for r in rejections),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return True

    def record(self, import_id: str) -> ImportRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT import_id, journey_id, sha256, file_name, consent_source, rows_read, accepted, rejected, "
                "staged_at, finished_at FROM imports WHERE import_id = ?",
                (import_id,),
            ).fetchone()
        if row is None:
            return None
        import_id, journey_id, sha256, file_name, consent_source, rows_read, accepted, rejected, staged, finished = row
        return ImportRecord(
            import_id=import_id,
            journey_id=journey_id,
            sha256=sha256,
            file_name=file_name,
            consent_source=consent_source,
            rows_read=rows_read,
            accepted=accepted,
            rejected=rejected,
            staged_at=datetime.fromisoformat(staged),
            finished_at=datetime.fromisoformat(finished) if finished else None,
        )

    def journey(self, import_id: str) -> JourneySpec | None:
        """The journey version the import pinned when it was staged (read once per import)."""
        with self._lock:
            if import_id not in self._specs:
                row = self._db.execute("SELECT journey FROM imports WHERE import_id = ?", (import_id,)).fetchone()
                if row is None:
                    return None
                self._specs[import_id] = JourneySpec.model_validate_json(row[0])
            return self._specs[import_id]

    def rows(self, import_id: str, *, after: int, limit: int) -> list[StagedRow]:
        """The next `limit` staged rows after row number `after`, in file order."""
        with self._lock:
            found = self._db.execute(
                "SELECT staged FROM import_rows WHERE import_id = ? AND row > ? ORDER BY row LIMIT ?",
                (import_id, after, limit),
            ).fetchall()
        return [StagedRow.model_validate_json(text) for (text,) in found]

    def rejections(self, import_id: str) -> list[Rejection]:
        with self._lock:
            found = self._db.execute(
                "SELECT row, reason FROM import_rejections WHERE import_id = ? ORDER BY row", (import_id,)
            ).fetchall()
        return [Rejection(row=row, reason=reason) for row, reason in found]

    def refuse(self, import_id: str, row: int, reason: str) -> None:
        """A row the journey turned away when it was captured (its re-entry policy): a report
        line like the validation's rejections. Keyed by row, so a retried batch writes it once."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO import_rejections (import_id, row, reason) VALUES (?, ?, ?)",
                (import_id, row, reason),
            )

    def finish(self, import_id: str) -> None:
        """The import is done: drop its staged rows (personal data), keep its summary."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM import_rows WHERE import_id = ?", (import_id,))
            self._db.execute(
                "UPDATE imports SET finished_at = COALESCE(finished_at, ?) WHERE import_id = ?",
                (datetime.now(UTC).isoformat(), import_id),
            )
            self._db.execute("COMMIT")
