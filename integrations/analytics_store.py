"""The analytics store: where collected facts, lead journeys and report distributions live.

`AnalyticsStore` is the small interface the activities and the CLI use; `DuckDBStore`
implements it on an embedded DuckDB file (`.mops/analytics.duckdb` by default,
`MOPS_ANALYTICS_STORE_PATH`). A warehouse can replace it by implementing the same
methods.

Loads are idempotent: `replace_day` deletes what a source loaded for a day and inserts
the new rows in one transaction, so re-running a day replaces it and never doubles it,
and a failure half way leaves the previous load as it was. Rows that broke the schema
are not loaded; the load records how many and why.

DuckDB is blocking and allows one writing process per file: every call opens its own
connection (closed before it returns) under a per-store lock, so calls from threads are
serialised, and a file held by another process (a CLI reading while a worker writes) is
retried for up to `lock_timeout` seconds. Call it from activities (in a thread), never
from workflow code.

Schema (DuckDB):

    facts(source, day, channel, campaign, currency, spend DECIMAL(18,4), impressions,
          clicks, sessions, conversions DOUBLE, customers, revenue DECIMAL(18,4), loaded_at)
          PRIMARY KEY (source, day, channel, campaign)
    loads(source, day, rows, violations, reasons JSON text, loaded_at)  PRIMARY KEY (source, day)
    deals(deal_id, day, lead_workflow_id, amount DECIMAL(18,4), currency, closed_at, loaded_at)
          PRIMARY KEY (deal_id)          -- closed-won deals, loaded with the CRM's day
    journeys(lead_id, workflow_id, stage, created_at, mql_at, opportunity_at, converted_at,
             collected_at)  PRIMARY KEY (lead_id)
    touches(lead_id, seq, touched_at, kind, channel, campaign)  PRIMARY KEY (lead_id, seq)
    journey_steps(workflow_id, step_id, journey_id, version, variant, entered, left_here, goal,
          converted, emails, opens, clicks, replies, collected_at)  PRIMARY KEY (workflow_id, step_id)
          -- each lead's counts per step (domain/journey_stats.py), replaced with its journey
    distributions(report_id, channel, recipient, status, ref, sent_at)
          PRIMARY KEY (report_id, channel, recipient)
    deal_conversions(deal_id, platform, lead_workflow_id, key, outcome, detail, value DECIMAL(18,4),
          currency, sent_at)  PRIMARY KEY (deal_id, platform)
          -- each won deal's conversion per ad platform, as sent (or why not): written once,
          -- never replaced, so a second collection run does not send it again

`deals` is reloaded with its day; `deal_conversions` is not: it is the record of what
went to the platforms, and outlives the reloads.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol, overload

import duckdb

from domain.analytics import Fact, Source, Violation
from domain.attribution import Journey, PathTouch
from domain.conversions import ConversionOutcome, DealConversion, Platform
from domain.journey_stats import COUNTS, LeadStepRow

SCHEMA = """
CREATE TABLE IF NOT EXISTS facts (
    source VARCHAR NOT NULL, day DATE NOT NULL, channel VARCHAR NOT NULL, campaign VARCHAR NOT NULL,
    currency VARCHAR NOT NULL, spend DECIMAL(18, 4) NOT NULL, impressions BIGINT NOT NULL, clicks BIGINT NOT NULL,
    sessions BIGINT NOT NULL, conversions DOUBLE NOT NULL, customers BIGINT NOT NULL,
    revenue DECIMAL(18, 4) NOT NULL, loaded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, day, channel, campaign));
CREATE TABLE IF NOT EXISTS loads (
    source VARCHAR NOT NULL, day DATE NOT NULL, rows BIGINT NOT NULL, violations BIGINT NOT NULL,
    reasons VARCHAR NOT NULL, loaded_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (source, day));
CREATE TABLE IF NOT EXISTS deals (
    deal_id VARCHAR PRIMARY KEY, day DATE NOT NULL, lead_workflow_id VARCHAR, amount DECIMAL(18, 4) NOT NULL,
    currency VARCHAR NOT NULL, closed_at TIMESTAMPTZ NOT NULL, loaded_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS journeys (
    lead_id VARCHAR PRIMARY KEY, workflow_id VARCHAR NOT NULL, stage VARCHAR, created_at TIMESTAMPTZ,
    mql_at TIMESTAMPTZ, opportunity_at TIMESTAMPTZ, converted_at TIMESTAMPTZ, collected_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS touches (
    lead_id VARCHAR NOT NULL, seq INTEGER NOT NULL, touched_at TIMESTAMPTZ NOT NULL, kind VARCHAR NOT NULL,
    channel VARCHAR NOT NULL, campaign VARCHAR NOT NULL, PRIMARY KEY (lead_id, seq));
CREATE TABLE IF NOT EXISTS distributions (
    report_id VARCHAR NOT NULL, channel VARCHAR NOT NULL, recipient VARCHAR NOT NULL, status VARCHAR NOT NULL,
    ref VARCHAR, sent_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (report_id, channel, recipient));
CREATE TABLE IF NOT EXISTS deal_conversions (
    deal_id VARCHAR NOT NULL, platform VARCHAR NOT NULL, lead_workflow_id VARCHAR NOT NULL, key VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL, detail VARCHAR, value DECIMAL(18, 4), currency VARCHAR, sent_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (deal_id, platform));
CREATE TABLE IF NOT EXISTS journey_steps (
    workflow_id VARCHAR NOT NULL, step_id VARCHAR NOT NULL, journey_id VARCHAR NOT NULL, version INTEGER NOT NULL,
    variant VARCHAR NOT NULL, entered INTEGER NOT NULL, left_here INTEGER NOT NULL, goal INTEGER NOT NULL,
    converted INTEGER NOT NULL, emails INTEGER NOT NULL, opens INTEGER NOT NULL, clicks INTEGER NOT NULL,
    replies INTEGER NOT NULL, collected_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (workflow_id, step_id));
"""
MAX_REASONS = 20


class StoreError(RuntimeError):
    """The store cannot be used (file locked for too long, unreadable)."""


@dataclass(frozen=True)
class LoadRecord:
    source: Source
    day: date
    rows: int
    violations: int
    reasons: list[str]
    loaded_at: datetime


@dataclass(frozen=True)
class Deal:
    """A closed-won CRM deal: which lead it belongs to and what it brought."""

    deal_id: str
    lead_workflow_id: str | None
    amount: Decimal
    currency: str
    closed_at: datetime


@dataclass(frozen=True)
class Distribution:
    report_id: str
    channel: str  # email | chat
    recipient: str  # address or chat channel
    status: str  # sent | failed
    ref: str | None
    sent_at: datetime


class AnalyticsStore(Protocol):
    def replace_day(
        self, source: Source, day: date, facts: list[Fact], violations: list[Violation], deals: list[Deal] | None = None
    ) -> LoadRecord: ...

    def facts(self, since: date, until: date, sources: Iterable[Source] | None = None) -> list[Fact]: ...

    def loads(self, since: date, until: date) -> list[LoadRecord]: ...

    def replace_journeys(
        self, journeys: list[tuple[str, Journey]], steps: dict[str, list[LeadStepRow]] | None = None
    ) -> int: ...

    def journey_steps(self, journey_id: str | None, version: int | None = None) -> list[LeadStepRow]: ...

    def journeys(self) -> list[Journey]: ...

    def collected(self) -> dict[str, datetime]: ...

    def record_distribution(self, entries: list[Distribution]) -> None: ...

    def distributions(self, report_id: str) -> list[Distribution]: ...

    def deals_to_convert(self, platforms: Iterable[Platform]) -> list[tuple[Deal, list[Platform]]]: ...

    def record_deal_conversions(self, entries: list[DealConversion]) -> int: ...

    def deal_conversions(self, lead_workflow_id: str | None = None) -> list[DealConversion]: ...


def _now() -> datetime:
    return datetime.now(UTC)


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: datetime | None) -> datetime | None: ...
def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


class DuckDBStore:
    """`AnalyticsStore` on a DuckDB file (created with its parent folder on first use)."""

    def __init__(self, path: Path | str, *, lock_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._lock_timeout = lock_timeout
        self._ready = False

    @contextlib.contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            deadline = time.monotonic() + self._lock_timeout
            delay = 0.05
            while True:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    con = duckdb.connect(str(self.path))
                    break
                except duckdb.IOException as err:
                    if "lock" not in str(err).lower() or time.monotonic() >= deadline:
                        raise StoreError(f"analytics store {self.path}: {err}") from None
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
            try:
                con.execute("SET TimeZone = 'UTC'")
                if not self._ready:
                    con.execute(SCHEMA)
                    self._ready = True
                yield con
            finally:
                con.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._connect() as con:
            con.begin()
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            con.commit()

    # ---------------------------------------------------------------- loads

    def replace_day(
        self, source: Source, day: date, facts: list[Fact], violations: list[Violation], deals: list[Deal] | None = None
    ) -> LoadRecord:
        """Replace everything `source` loaded for `day` with `facts` (and, for the CRM,
        `deals`), recording the load; one transaction."""
        for f in facts:
            if f.source != source or f.day != day:
                raise ValueError(f"a {f.source} fact for {f.day} cannot be loaded as {source} {day}")
        loaded_at = _now()
        reasons = [f"row {v.row}: {v.reason}" for v in violations[:MAX_REASONS]]
        with self._transaction() as con:
            con.execute("DELETE FROM facts WHERE source = ? AND day = ?", [source.value, day])
            if facts:
                con.executemany(
                    "INSERT INTO facts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        [
                            f.source.value,
                            f.day,
                            f.channel,
                            f.campaign,
                            f.currency,
                            f.spend,
                            f.impressions,
                            f.clicks,
                            f.sessions,
                            f.conversions,
                            f.customers,
                            f.revenue,
                            loaded_at,
                        ]
                        for f in facts
                    ],
                )
            if deals is not None:
                con.execute("DELETE FROM deals WHERE day = ?", [day])
                if deals:
                    con.executemany(
                        "INSERT OR REPLACE INTO deals VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [
                            [d.deal_id, day, d.lead_workflow_id, d.amount, d.currency, _utc(d.closed_at), loaded_at]
                            for d in deals
                        ],
                    )
            con.execute(
                "INSERT OR REPLACE INTO loads VALUES (?, ?, ?, ?, ?, ?)",
                [source.value, day, len(facts), len(violations), json.dumps(reasons), loaded_at],
            )
        return LoadRecord(source, day, len(facts), len(violations), reasons, loaded_at)

    def facts(self, since: date, until: date, sources: Iterable[Source] | None = None) -> list[Fact]:
        """Facts of the days `since` to `until` (included), in (day, source, channel, campaign) order."""
        wanted = [s.value for s in sources] if sources is not None else [s.value for s in Source]
        with self._connect() as con:
            rows = con.execute(
                "SELECT source, day, channel, campaign, currency, spend, impressions, clicks, sessions, conversions, "
                "customers, revenue FROM facts WHERE day BETWEEN ? AND ? AND list_contains(?, source) "
                "ORDER BY day, source, channel, campaign",
                [since, until, wanted],
            ).fetchall()
        names = (
            "source",
            "day",
            "channel",
            "campaign",
            "currency",
            "spend",
            "impressions",
            "clicks",
            "sessions",
            "conversions",
            "customers",
            "revenue",
        )
        return [Fact.model_validate(dict(zip(names, r, strict=True))) for r in rows]

    def loads(self, since: date, until: date) -> list[LoadRecord]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT source, day, rows, violations, reasons, loaded_at FROM loads "
                "WHERE day BETWEEN ? AND ? ORDER BY source, day",
                [since, until],
            ).fetchall()
        return [LoadRecord(Source(r[0]), r[1], r[2], r[3], json.loads(r[4]), _utc(r[5])) for r in rows]

    def deals(self) -> list[Deal]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT deal_id, lead_workflow_id, amount, currency, closed_at FROM deals ORDER BY closed_at, deal_id"
            ).fetchall()
        return [Deal(r[0], r[1], r[2], r[3], _utc(r[4])) for r in rows]

    # ------------------------------------------------------------- journeys

    def replace_journeys(
        self, journeys: list[tuple[str, Journey]], steps: dict[str, list[LeadStepRow]] | None = None
    ) -> int:
        """Replace each (workflow id, journey)'s stored milestones and touches, and (for the
        workflow ids in `steps`) its per-step rows, in one transaction."""
        collected = _now()
        with self._transaction() as con:
            for workflow_id, rows in (steps or {}).items():
                con.execute("DELETE FROM journey_steps WHERE workflow_id = ?", [workflow_id])
                if rows:
                    con.executemany(
                        "INSERT INTO journey_steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            [
                                workflow_id,
                                r.step_id,
                                r.journey_id,
                                r.version,
                                r.variant,
                                r.entered,
                                r.left,
                                r.goal,
                                r.converted,
                                r.emails,
                                r.opens,
                                r.clicks,
                                r.replies,
                                collected,
                            ]
                            for r in rows
                        ],
                    )
            for workflow_id, j in journeys:
                con.execute("DELETE FROM touches WHERE lead_id = ?", [j.lead_id])
                con.execute(
                    "INSERT OR REPLACE INTO journeys VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        j.lead_id,
                        workflow_id,
                        j.stage,
                        _utc(j.created_at),
                        _utc(j.mql_at),
                        _utc(j.opportunity_at),
                        _utc(j.converted_at),
                        collected,
                    ],
                )
                if j.touches:
                    con.executemany(
                        "INSERT INTO touches VALUES (?, ?, ?, ?, ?, ?)",
                        [[j.lead_id, i, _utc(t.at), t.kind, t.channel, t.campaign] for i, t in enumerate(j.touches)],
                    )
        return len(journeys)

    def journeys(self) -> list[Journey]:
        """Every stored journey with its touches and closed-won deals (revenue, first win)."""
        with self._connect() as con:
            heads = con.execute(
                "SELECT j.lead_id, j.stage, j.created_at, j.mql_at, j.opportunity_at, j.converted_at, "
                "sum(d.amount), min(d.closed_at) FROM journeys j "
                "LEFT JOIN deals d ON d.lead_workflow_id = j.workflow_id "
                "GROUP BY ALL ORDER BY j.lead_id"
            ).fetchall()
            touch_rows = con.execute(
                "SELECT lead_id, touched_at, kind, channel, campaign FROM touches ORDER BY lead_id, seq"
            ).fetchall()
        paths: dict[str, list[PathTouch]] = {}
        for lead_id, at, kind, channel, campaign in touch_rows:
            paths.setdefault(lead_id, []).append(PathTouch(at=_utc(at), kind=kind, channel=channel, campaign=campaign))
        return [
            Journey(
                lead_id=h[0],
                stage=h[1],
                created_at=_utc(h[2]),
                mql_at=_utc(h[3]),
                opportunity_at=_utc(h[4]),
                converted_at=_utc(h[5]),
                revenue=h[6] or Decimal(0),
                won_at=_utc(h[7]),
                touches=paths.get(h[0], []),
            )
            for h in heads
        ]

    def journey_steps(self, journey_id: str | None, version: int | None = None) -> list[LeadStepRow]:
        """The per-lead step rows of a journey (every journey's for None; of one version when given)."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT workflow_id, journey_id, version, step_id, variant, entered, left_here, goal, converted, "
                "emails, opens, clicks, replies FROM journey_steps WHERE (? IS NULL OR journey_id = ?) "
                "AND (? IS NULL OR version = ?) ORDER BY journey_id, version, workflow_id, step_id",
                [journey_id, journey_id, version, version],
            ).fetchall()
        names = ("workflow_id", "journey_id", "version", "step_id", "variant", *COUNTS)
        return [LeadStepRow.model_validate(dict(zip(names, r, strict=True))) for r in rows]

    def collected(self) -> dict[str, datetime]:
        """Lead workflow id -> when its journey was last read."""
        with self._connect() as con:
            rows = con.execute("SELECT workflow_id, collected_at FROM journeys").fetchall()
        return {r[0]: _utc(r[1]) for r in rows}

    # -------------------------------------------------------- distributions

    def record_distribution(self, entries: list[Distribution]) -> None:
        with self._transaction() as con:
            for e in entries:
                con.execute(
                    "INSERT OR REPLACE INTO distributions VALUES (?, ?, ?, ?, ?, ?)",
                    [e.report_id, e.channel, e.recipient, e.status, e.ref, _utc(e.sent_at)],
                )

    def distributions(self, report_id: str) -> list[Distribution]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT report_id, channel, recipient, status, ref, sent_at FROM distributions "
                "WHERE report_id = ? ORDER BY channel, recipient",
                [report_id],
            ).fetchall()
        return [Distribution(r[0], r[1], r[2], r[3], r[4], _utc(r[5])) for r in rows]

    # ----------------------------------------------------- deal conversions

    def deals_to_convert(self, platforms: Iterable[Platform]) -> list[tuple[Deal, list[Platform]]]:
        """Won deals of mops leads with a platform of `platforms` that has no recorded
        conversion yet, with those platforms (in closing order)."""
        wanted = [p.value for p in platforms]
        with self._connect() as con:
            rows = con.execute(
                "SELECT d.deal_id, d.lead_workflow_id, d.amount, d.currency, d.closed_at, "
                "list(c.platform) FILTER (WHERE c.platform IS NOT NULL) FROM deals d "
                "LEFT JOIN deal_conversions c ON c.deal_id = d.deal_id "
                "WHERE d.lead_workflow_id IS NOT NULL GROUP BY ALL ORDER BY d.closed_at, d.deal_id"
            ).fetchall()
        due = []
        for r in rows:
            missing = [Platform(p) for p in wanted if p not in (r[5] or [])]
            if missing:
                due.append((Deal(r[0], r[1], r[2], r[3], _utc(r[4])), missing))
        return due

    def record_deal_conversions(self, entries: list[DealConversion]) -> int:
        """Record what was sent; a (deal, platform) already recorded keeps its first
        record (a retried record changes nothing). Returns how many were new."""
        new = 0
        with self._transaction() as con:
            for e in entries:
                before = con.execute(
                    "SELECT count(*) FROM deal_conversions WHERE deal_id = ? AND platform = ?",
                    [e.deal_id, e.platform.value],
                ).fetchone()
                if before and before[0]:
                    continue
                con.execute(
                    "INSERT INTO deal_conversions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        e.deal_id,
                        e.platform.value,
                        e.lead_workflow_id,
                        e.key,
                        e.outcome.value,
                        e.detail,
                        e.value,
                        e.currency,
                        _utc(e.at),
                    ],
                )
                new += 1
        return new

    def deal_conversions(self, lead_workflow_id: str | None = None) -> list[DealConversion]:
        """Recorded deal conversions (of one lead's workflow when given), oldest first."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT deal_id, platform, lead_workflow_id, key, outcome, detail, value, currency, sent_at "
                "FROM deal_conversions WHERE ? IS NULL OR lead_workflow_id = ? ORDER BY sent_at, deal_id, platform",
                [lead_workflow_id, lead_workflow_id],
            ).fetchall()
        return [
            DealConversion(
                deal_id=r[0],
                platform=Platform(r[1]),
                lead_workflow_id=r[2],
                key=r[3],
                outcome=ConversionOutcome(r[4]),
                detail=r[5],
                value=r[6],
                currency=r[7],
                at=_utc(r[8]),
            )
            for r in rows
        ]
