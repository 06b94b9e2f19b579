"""Approval decisions: who may decide, when a decision is refused, and what a stage's
decisions add up to. Pure logic for the approval gate (workflows/approval.py) that content
items, campaign launches and budget proposals share.

Backups: once a stage is escalated, each approver's backup (from the directory) may decide
too. In an ALL stage a backup's approval stands in for the approver they back up; in ANY
and QUORUM stages every eligible person's approval counts once.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator

from domain.content import ApprovalMode, ApprovalStage, Directory
from domain.decision_proofs import DecisionProof, ProofProblem
from domain.fields import SpecError, UtcDatetime, first_error
from domain.refusals import Refusal, Refused


class DecisionKind(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_CHANGES = "request_changes"


class Decision(BaseModel):
    approver: str = Field(min_length=1)  # person id
    kind: DecisionKind
    revision: int = Field(ge=1)  # the revision the approver looked at
    comment: str | None = Field(default=None, validate_default=True)
    at: UtcDatetime | None = None  # set by the workflow
    stage: str | None = None  # set by the workflow
    # Who made it, signed (domain/decision_proofs.py); kept with the decision as its record.
    proof: DecisionProof | None = None

    @field_validator("comment")
    @classmethod
    def _reason(cls, comment: str | None, info: ValidationInfo) -> str | None:
        comment = comment.strip() if comment is not None else None
        kind = info.data.get("kind")
        if not comment and kind in (DecisionKind.REJECT, DecisionKind.REQUEST_CHANGES):
            raise ValueError("a reason is required to reject or request changes")
        return comment or None


class RefusedDecision(BaseModel):
    """A decision the workflow refused because its proof did not hold: recorded, never applied."""

    at: UtcDatetime
    stage: str
    approver: str  # the name the decision gave, not a person it proves
    kind: DecisionKind
    revision: int
    problem: ProofProblem
    reason: str


# How many refused decisions a workflow keeps (the latest): a flood of forged updates
# must not grow its state without bound.
MAX_REFUSED = 50


class DecisionError(SpecError):
    """A decision that cannot be read; the message is one line: `<field>: <reason>`."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__("", field, reason)


def build_decision(data: dict[str, Any]) -> Decision:
    """Validate a decision from a caller (JSON-shaped); raises DecisionError, e.g.
    `comment: a reason is required to reject or request changes`."""
    try:
        return Decision.model_validate(data)
    except ValidationError as err:
        raise DecisionError(*first_error(err)) from None


class DecisionResult(BaseModel):
    """What a decide update answers, for every kind of approval."""

    accepted: bool = True
    stage: str
    outcome: str  # the stage's outcome after this decision: pending / approved / rejected / changes_requested
    revision: int


class StageOutcome(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CHANGES_REQUESTED = "changes_requested"


def eligible_approvers(stage: ApprovalStage, directory: Directory, escalated: bool) -> list[str]:
    """The stage's approvers, then (once escalated) each approver's backup; no repeats, order kept."""
    people = list(stage.approvers)
    if escalated:
        for approver in stage.approvers:
            backup = directory.backup_of(approver)
            if backup is not None and backup not in people:
                people.append(backup)
    return people


def _current(stage: ApprovalStage, decisions: list[Decision], revision: int) -> list[Decision]:
    return [d for d in decisions if d.stage == stage.name and d.revision == revision]


def refusal(
    stage: ApprovalStage,
    directory: Directory,
    *,
    decision: Decision,
    decisions: list[Decision],
    author: str,
    current_revision: int,
    escalated: bool,
) -> Refused | None:
    """Why `decision` cannot be accepted for `stage` (a code and one line), or None if it can."""
    who = decision.approver
    if who == author:
        return Refused(Refusal.AUTHOR_CANNOT_DECIDE, "authors cannot decide on their own content")
    if who not in eligible_approvers(stage, directory, escalated):
        return Refused(Refusal.NOT_AN_APPROVER, f"{who!r} is not an approver of stage {stage.name!r}")
    if decision.revision != current_revision:
        return Refused(
            Refusal.STALE_REVISION,
            f"decision is for revision {decision.revision}, the current revision is {current_revision}",
        )
    if any(d.approver == who for d in _current(stage, decisions, current_revision)):
        return Refused(
            Refusal.ALREADY_DECIDED, f"{who!r} already decided on revision {current_revision} in stage {stage.name!r}"
        )
    return None


def _counted(
    stage: ApprovalStage, directory: Directory, decisions: list[Decision], revision: int, escalated: bool
) -> list[Decision]:
    """This stage's decisions on `revision` by people eligible now, first decision per person."""
    eligible = set(eligible_approvers(stage, directory, escalated))
    seen: set[str] = set()
    counted: list[Decision] = []
    for d in _current(stage, decisions, revision):
        if d.approver in eligible and d.approver not in seen:
            seen.add(d.approver)
            counted.append(d)
    return counted


def _covered(stage: ApprovalStage, directory: Directory, approved: set[str], escalated: bool) -> list[str]:
    """The stage's approvers whose approval is in: their own, or (escalated) their backup's."""
    return [
        a
        for a in stage.approvers
        if a in approved or (escalated and (b := directory.backup_of(a)) is not None and b in approved)
    ]


def stage_outcome(
    stage: ApprovalStage, directory: Directory, *, decisions: list[Decision], revision: int, escalated: bool
) -> StageOutcome:
    """What the stage's decisions on `revision` add up to; a reject beats a change request beats approvals."""
    counted = _counted(stage, directory, decisions, revision, escalated)
    if any(d.kind == DecisionKind.REJECT for d in counted):
        return StageOutcome.REJECTED
    if any(d.kind == DecisionKind.REQUEST_CHANGES for d in counted):
        return StageOutcome.CHANGES_REQUESTED
    approved = {d.approver for d in counted if d.kind == DecisionKind.APPROVE}
    if stage.mode == ApprovalMode.ALL:
        done = len(_covered(stage, directory, approved, escalated)) == len(stage.approvers)
    else:
        done = len(approved) >= stage.needed
    return StageOutcome.APPROVED if done else StageOutcome.PENDING


def pending_approvers(
    stage: ApprovalStage,
    directory: Directory,
    *,
    decisions: list[Decision],
    revision: int,
    escalated: bool,
    author: str | None = None,
) -> list[str]:
    """Who can still usefully decide on `revision` (for reminders and the PendingApprovers attribute).

    Empty once the stage has an outcome. ALL: the approvers still missing (and, once
    escalated, their backups); ANY/QUORUM: every eligible person who has not decided.
    The author (when given) is never listed.
    """
    if stage_outcome(stage, directory, decisions=decisions, revision=revision, escalated=escalated) != (
        StageOutcome.PENDING
    ):
        return []
    counted = _counted(stage, directory, decisions, revision, escalated)
    decided = {d.approver for d in counted}
    eligible = eligible_approvers(stage, directory, escalated)
    if stage.mode == ApprovalMode.ALL:
        approved = {d.approver for d in counted if d.kind == DecisionKind.APPROVE}
        missing = [a for a in stage.approvers if a not in _covered(stage, directory, approved, escalated)]
        wanted = set(missing)
        if escalated:
            wanted |= {b for a in missing if (b := directory.backup_of(a)) is not None}
        eligible = [p for p in eligible if p in wanted]
    return [p for p in eligible if p not in decided and p != author]
