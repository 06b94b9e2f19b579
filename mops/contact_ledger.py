"""The contact ledger: every email mops sends, per lead, each lead's budget facts, and when
it last finished each journey.

One contact budget spans the lead's journey, campaign single sends and content list sends
(`domain.contact_budget`). The email activities write here: the journey's `email.send`
records its send and the lead's facts (time zone, quiet hours, frequency cap, may_email),
the opt-out path records may_email=false, and a bulk send records every recipient it
sent to. The bulk sends and the journey's `email.send` read here. A journey whose
`reentry` policy is not `always` records here when the lead finished it (`journeys.record_exit`)
and reads it when the same person enters again (`journeys.last_exit`): the run that finished
has ended, and the next one is a new run of the same workflow id.

Rows hold the lead id (the keyed hash the lead workflow id uses), never the address.

`ContactLedger` is the interface; `SqliteContactLedger` is the default, one SQLite file
(`<data_dir>/contacts.db`, WAL) shared by every mops process on the machine. A deployment
on several machines puts the same interface in front of a shared database; nothing else
changes. The ledger stays bounded: sends older than the longest cap window any lead has
(at least `MIN_RETENTION`) are pruned as new ones are recorded.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.contact_budget import BudgetFacts, SendSource
from mops.sqlite_files import open_shared

MIN_RETENTION = timedelta(days=31)
_CHUNK = 500  # ids per `IN (...)`: well under SQLite's bound on query parameters


@dataclass(frozen=True)
class JourneyExit:
    """When a lead last finished a journey, and how (the run's outcome)."""

    lead_id: str
    journey_id: str
    at: datetime
    outcome: str


@dataclass(frozen=True)
class LedgerSend:
    """One email handed to the platform for one lead. `source_id` is the sending step's
    idempotency key, so recording a retried send twice keeps one row."""

    lead_id: str
    at: datetime
    source: SendSource
    source_id: str
    message_id: str | None = None


class ContactLedger(ABC):
    @abstractmethod
    def record_sends(self, sends: Iterable[LedgerSend]) -> None:
        """Add these sends (one row per lead and source id; a repeat is ignored) and prune old ones."""

    @abstractmethod
    def set_facts(self, lead_id: str, facts: BudgetFacts) -> None:
        """The lead's current budget facts (replacing what was there)."""

    @abstractmethod
    def facts(self, lead_ids: Sequence[str]) -> dict[str, BudgetFacts]:
        """The known facts of these leads (leads without any are absent)."""

    @abstractmethod
    def sends_since(self, lead_ids: Sequence[str], since: datetime) -> dict[str, list[LedgerSend]]:
        """Each lead's sends at or after `since` (leads without any are absent)."""

    @abstractmethod
    def record_exit(self, exit: JourneyExit) -> None:
        """The lead finished the journey (replacing an earlier finish of the same journey)."""

    @abstractmethod
    def last_exit(self, lead_id: str, journey_id: str) -> JourneyExit | None:
        """When the lead last finished the journey; None if it never did."""

    @abstractmethod
    def forget(self, lead_id: str) -> int:
        """Right to erasure: delete the lead's sends, facts and journey exits; returns how many rows went."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    lead_id TEXT NOT NULL,
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    message_id TEXT,
    PRIMARY KEY (lead_id, source, source_id)
);
CREATE INDEX IF NOT EXISTS sends_by_time ON sends (at);
CREATE TABLE IF NOT EXISTS facts (
    lead_id TEXT PRIMARY KEY,
    facts TEXT NOT NULL,
    window_seconds INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journey_exits (
    lead_id TEXT NOT NULL,
    journey_id TEXT NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (lead_id, journey_id)
);
"""


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


class SqliteContactLedger(ContactLedger):
    """The default ledger: one SQLite file (WAL), safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_shared(self.path, _SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record_sends(self, sends: Iterable[LedgerSend]) -> None:
        rows = [(s.lead_id, _iso(s.at), s.source.value, s.source_id, s.message_id) for s in sends]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO sends (lead_id, at, source, source_id, message_id) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                (longest,) = self._db.execute("SELECT COALESCE(MAX(window_seconds), 0) FROM facts").fetchone()
                keep = max(MIN_RETENTION, timedelta(seconds=longest))
                self._db.execute("DELETE FROM sends WHERE at < ?", (_iso(datetime.now(UTC) - keep),))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def set_facts(self, lead_id: str, facts: BudgetFacts) -> None:
        window = int(facts.frequency_cap.per.total_seconds()) if facts.frequency_cap else 0
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO facts (lead_id, facts, window_seconds, updated_at) VALUES (?, ?, ?, ?)",
                (lead_id, facts.model_dump_json(), window, _iso(datetime.now(UTC))),
            )

    def facts(self, lead_ids: Sequence[str]) -> dict[str, BudgetFacts]:
        found: dict[str, BudgetFacts] = {}
        with self._lock:
            for chunk in _chunks(lead_ids):
                marks = ",".join("?" * len(chunk))
                for lead_id, text in self._db.execute(
                    f"SELECT lead_id, facts FROM facts WHERE lead_id IN ({marks})", tuple(chunk)
                ):
                    found[lead_id] = BudgetFacts.model_validate_json(text)
        return found

    def sends_since(self, lead_ids: Sequence[str], since: datetime) -> dict[str, list[LedgerSend]]:
        found: dict[str, list[LedgerSend]] = {}
        with self._lock:
            for chunk in _chunks(lead_ids):
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    "SELECT lead_id, at, source, source_id, message_id FROM sends "
                    f"WHERE lead_id IN ({marks}) AND at >= ? ORDER BY at",
                    (*chunk, _iso(since)),
                )
                for lead_id, at, source, source_id, message_id in rows:
                    found.setdefault(lead_id, []).append(
                        LedgerSend(lead_id, datetime.fromisoformat(at), SendSource(source), source_id, message_id)
                    )
        return found

    def record_exit(self, exit: JourneyExit) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO journey_exits (lead_id, journey_id, at, outcome) VALUES (?, ?, ?, ?)",
                (exit.lead_id, exit.journey_id, _iso(exit.at), exit.outcome),
            )

    def last_exit(self, lead_id: str, journey_id: str) -> JourneyExit | None:
        with self._lock:
            row = self._db.execute(
                "SELECT at, outcome FROM journey_exits WHERE lead_id = ? AND journey_id = ?", (lead_id, journey_id)
            ).fetchone()
        return None if row is None else JourneyExit(lead_id, journey_id, datetime.fromisoformat(row[0]), row[1])

    def forget(self, lead_id: str) -> int:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                gone = sum(
                    self._db.execute(f"DELETE FROM {table} WHERE lead_id = ?", (lead_id,)).rowcount
                    for table in ("sends", "facts", "journey_exits")
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return gone


__all__ = ["MIN_RETENTION", "ContactLedger", "JourneyExit", "LedgerSend", "SqliteContactLedger"]
