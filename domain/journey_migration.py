"""Moving leads in flight from one published journey version to another: the plan (which
step of the old version goes to which step of the new), its checks, its id, and the
`migrate` update a lead journey answers.

A lead is found by its search attributes (`JourneyId`, `JourneyVersion`, `JourneyStep`); a
step of the old version the mapping does not name keeps its leads where they are (the lead
refuses the move). Pure: no I/O, nothing of Temporal.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.journeys import JourneySpec


class MigrationError(ValueError):
    """A plan that cannot be run: one line naming the field."""


class Timers(StrEnum):
    KEEP = "keep"  # a lead in a wait keeps its deadline (the remaining wait) at the new step
    RESTART = "restart"  # the new step starts afresh, its wait from now


class MigrationPlan(BaseModel):
    journey_id: str
    from_version: int = Field(ge=1)
    to_version: int = Field(ge=1)
    mapping: dict[str, str]  # old step id -> new step id
    where: str | None = None  # an extra visibility filter, ANDed with the journey and version
    timers: Timers = Timers.RESTART

    @property
    def migration_id(self) -> str:
        """The workflow id: the same command twice names the same migration (and attaches to it)."""
        body = json.dumps(
            {"map": sorted(self.mapping.items()), "where": self.where or "", "timers": self.timers.value},
            separators=(",", ":"),
        )
        digest = hashlib.sha256(body.encode()).hexdigest()[:12]
        return f"journey-migrate-{self.journey_id}-v{self.from_version}-v{self.to_version}-{digest}"

    def query(self) -> str:
        """The visibility query for the leads still running the old version."""
        q = (
            f"WorkflowType = 'LeadJourney' AND ExecutionStatus = 'Running' AND JourneyId = '{self.journey_id}' "
            f"AND JourneyVersion = {self.from_version}"
        )
        return f"{q} AND ({self.where})" if self.where else q


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """`old=new` pairs as a mapping; a malformed or repeated old step is refused."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = (p.strip() for p in pair.partition("="))
        if not sep or not old or not new:
            raise MigrationError(f"map: {pair!r} is not old_step=new_step")
        if old in mapping:
            raise MigrationError(f"map: step {old!r} is mapped twice")
        mapping[old] = new
    if not mapping:
        raise MigrationError("map: give at least one old_step=new_step")
    return mapping


def check_plan(plan: MigrationPlan, old: JourneySpec, new: JourneySpec) -> None:
    """Every step named on either side exists in its version; refused otherwise."""
    if plan.from_version == plan.to_version:
        raise MigrationError(f"to: v{plan.to_version} is the version the leads already run")
    old_ids, new_ids = {s.id for s in old.steps}, {s.id for s in new.steps}
    for a, b in plan.mapping.items():
        if a not in old_ids:
            raise MigrationError(f"map: {a!r} is not a step of {old.id} v{old.version}")
        if b not in new_ids:
            raise MigrationError(f"map: {b!r} is not a step of {new.id} v{new.version}")


class MigrateRequest(BaseModel):
    """The `migrate` update's argument: move this lead from `from_version` to `journey`."""

    migration_id: str
    from_version: int
    journey: JourneySpec  # the version to continue on (its full spec: the lead pins it)
    mapping: dict[str, str]
    timers: Timers

    @property
    def update_id(self) -> str:
        """The update's id: the server answers a retried ask (a batch rerun after a worker
        died) with the first answer, so a lead that moved is reported moved, not refused."""
        return f"migrate-{self.migration_id}"


class MigrateResult(BaseModel):
    lead_id: str
    from_step: str
    to_step: str
    wait_until: datetime | None = None  # the kept deadline (timers keep), if the lead was waiting


class Outcome(StrEnum):
    MOVED = "moved"
    REFUSED = "refused"  # the lead refused the move (its code says why)
    SKIPPED = "skipped"  # not asked: the lead ended between the listing and its turn


class LeadOutcome(BaseModel):
    lead_id: str
    outcome: Outcome
    from_step: str | None = None
    to_step: str | None = None
    reason: str | None = None  # a refusal's code (`step_not_mapped`, ...) or why it was skipped
    detail: str | None = None  # the refusal's one line


class MigrationBatchInput(BaseModel):
    """Ask the next `limit` leads (by workflow id, after `after`) that `query` lists to move."""

    migration_id: str
    query: str
    after: str = ""
    limit: int = Field(ge=1)
    leads_per_second: float = Field(gt=0)
    request: MigrateRequest


class MigrationBatchResult(BaseModel):
    last_id: str  # the cursor after this batch (== `after` when none were left)
    outcomes: list[LeadOutcome] = []
    done: bool = False  # nobody listed after `last_id`


MAX_LISTED = 1000  # refused and skipped leads kept by name in the report; counts go on beyond


class MigrationReport(BaseModel):
    migration_id: str
    journey_id: str
    from_version: int
    to_version: int
    moved: int = 0
    refused: int = 0
    skipped: int = 0
    moves: dict[str, int] = {}  # "old->new" -> leads moved
    refusals: dict[str, int] = {}  # code -> leads
    not_moved: list[LeadOutcome] = []  # the refused and skipped leads, the first MAX_LISTED
    cursor: str = ""  # the last lead id asked
    done: bool = False

    def add(self, outcome: LeadOutcome) -> None:
        if outcome.outcome == Outcome.MOVED:
            self.moved += 1
            edge = f"{outcome.from_step}->{outcome.to_step}"
            self.moves[edge] = self.moves.get(edge, 0) + 1
            return
        if outcome.outcome == Outcome.REFUSED:
            self.refused += 1
            code = outcome.reason or "refused"
            self.refusals[code] = self.refusals.get(code, 0) + 1
        else:
            self.skipped += 1
        if len(self.not_moved) < MAX_LISTED:
            self.not_moved.append(outcome)


class StepCount(BaseModel):
    """One row of a dry run: the leads at an old step and where the plan takes them."""

    position: int
    step: str
    leads: int
    to_step: str | None  # None: not in the mapping, so these leads would refuse


class DryRun(BaseModel):
    migration_id: str
    query: str
    steps: list[StepCount]

    @property
    def moving(self) -> int:
        return sum(r.leads for r in self.steps if r.to_step is not None)

    @property
    def refusing(self) -> int:
        return sum(r.leads for r in self.steps if r.to_step is None)
