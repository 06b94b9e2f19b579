"""Published journey versions: immutable, numbered, with who published them, when and why.

`mops journeys publish FILE` stores the journey as it loads now (its validated spec, its
source text and that of its shared scoring file, and the content fingerprint). From then on
captures pin the latest published version, whatever the file says, so an edit reaches new
leads only when someone publishes it; leads already running keep the version they pinned.
A journey never published is read from its file (`mops journeys validate` says which).

The version number is the file's `version:`. Publishing the same content again is a no-op
that answers the version it already has; changed content must carry a higher number, so
one number never names two behaviours. One SQLite file (`<data_dir>/journeys.db`, WAL)
shared by every mops process on the machine.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from domain.journeys import JourneySpec
from mops.sqlite_files import open_shared

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journey_versions (
    journey_id   TEXT NOT NULL,
    version      INTEGER NOT NULL,
    fingerprint  TEXT NOT NULL,
    spec         TEXT NOT NULL,
    source       TEXT NOT NULL,
    published_at TEXT NOT NULL,
    published_by TEXT NOT NULL,
    note         TEXT NOT NULL,
    PRIMARY KEY (journey_id, version)
);
"""


class PublishRefused(ValueError):
    """The file cannot be published as it is (its message names the field)."""


@dataclass(frozen=True)
class PublishedVersion:
    journey_id: str
    version: int
    fingerprint: str
    published_at: datetime
    published_by: str
    note: str
    source: str  # the journey's YAML, then its shared scoring file's, as published


@dataclass(frozen=True)
class Published:
    version: PublishedVersion
    new: bool  # False: the same content was already published under this number


class JourneyVersions:
    def __init__(self, path: Path) -> None:
        self._db = open_shared(path, _SCHEMA)
        self._lock = threading.Lock()
        self._specs: dict[tuple[str, int], JourneySpec] = {}

    def close(self) -> None:
        self._db.close()

    def publish(self, spec: JourneySpec, source: str, *, by: str, note: str) -> Published:
        if not by.strip():
            raise PublishRefused("as: say who publishes (--as)")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                same = self._row("fingerprint = ?", (spec.id, spec.fingerprint))
                if same is not None:
                    self._db.execute("COMMIT")
                    return Published(same, new=False)
                latest = self._row("1 = 1", (spec.id,))
                if latest is not None and spec.version <= latest.version:
                    raise PublishRefused(
                        f"version: {spec.version} is not above the latest published version {latest.version} of "
                        f"{spec.id!r}, whose content differs: raise version to {latest.version + 1} to publish this"
                    )
                at = datetime.now(UTC)
                self._db.execute(
                    "INSERT INTO journey_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        spec.id,
                        spec.version,
                        spec.fingerprint,
                        spec.model_dump_json(),
                        source,
                        at.isoformat(),
                        by.strip(),
                        note.strip(),
                    ),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        version = self.get(spec.id, spec.version)
        assert version is not None
        return Published(version, new=True)

    def get(self, journey_id: str, version: int) -> PublishedVersion | None:
        with self._lock:
            return self._row("version = ?", (journey_id, version))

    def history(self, journey_id: str | None = None) -> list[PublishedVersion]:
        where, args = ("WHERE journey_id = ?", (journey_id,)) if journey_id else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM journey_versions {where} ORDER BY journey_id, version", args
            ).fetchall()
        return [_version(r) for r in rows]

    def latest_spec(self, journey_id: str) -> JourneySpec | None:
        """The spec captures pin: the latest published version. Every capture asks, so only
        the number is read each time; the spec is read and parsed once per version."""
        with self._lock:
            row = self._db.execute(
                "SELECT MAX(version) FROM journey_versions WHERE journey_id = ?", (journey_id,)
            ).fetchone()
            if row is None or row[0] is None:
                return None
        return self.spec(journey_id, row[0])

    def spec(self, journey_id: str, version: int) -> JourneySpec | None:
        """One published version's spec (parsed once), or None if it was never published."""
        key = (journey_id, version)
        with self._lock:
            if key not in self._specs:
                found = self._db.execute(
                    "SELECT spec FROM journey_versions WHERE journey_id = ? AND version = ?", key
                ).fetchone()
                if found is None:
                    return None
                self._specs[key] = JourneySpec.model_validate_json(found[0])
            return self._specs[key]

    def _row(self, condition: str, args: tuple) -> PublishedVersion | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM journey_versions WHERE journey_id = ? AND {condition} "
            "ORDER BY version DESC LIMIT 1",
            args,
        ).fetchone()
        return None if row is None else _version(row)


_COLUMNS = "journey_id, version, fingerprint, published_at, published_by, note, source"


def _version(row: tuple) -> PublishedVersion:
    journey_id, version, fingerprint, at, by, note, source = row
    return PublishedVersion(journey_id, version, fingerprint, datetime.fromisoformat(at), by, note, source)
