"""Approval by people for campaign launches and budget proposals (workflow code only).

The same rules as content approval (`domain/approvals.py`): stages in order, each with
all / any / quorum, decisions through an update whose validator refuses the requester,
non-approvers, stale revisions and second decisions; durable reminders, escalation to
backups and expiry per stage. A request for changes ends the approval like a rejection:
a campaign or a proposal is re-submitted, not edited in place.

`ApprovalProgress` is plain data (carried through continue-as-new); `ApprovalGate`
runs it inside the owning workflow, which passes in how to chat to people and how to
note and publish progress.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Literal, NoReturn

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.approvals import Decision, DecisionResult, StageOutcome, pending_approvers, refusal, stage_outcome
    from domain.content import ApprovalStage, Directory
    from domain.refusals import FAILURE_TYPE, Refusal, Refused
    from workflows.common import wait_until

__all__ = ["ApprovalGate", "ApprovalProgress", "DecisionResult", "raise_refused", "refuse"]

ApprovalOutcome = Literal["pending", "approved", "rejected", "expired"]


class ApprovalProgress(BaseModel):
    stages: list[ApprovalStage]
    decisions: list[Decision] = []
    index: int = 0
    started_at: datetime | None = None
    reminded: bool = False
    escalated: bool = False
    revision: int = 1
    outcome: ApprovalOutcome = "pending"
    detail: str | None = None  # why it was rejected / expired, with the approvers' comments


def raise_refused(why: Refused) -> NoReturn:
    """Refuse an update from its validator: the code travels as the failure's detail, so
    callers answer by code (domain/refusals.py), never by the wording."""
    raise ApplicationError(why.reason, why.code.value, type=FAILURE_TYPE, non_retryable=True)


def refuse(code: Refusal, reason: str) -> NoReturn:
    raise_refused(Refused(code, reason))


Tell = Callable[[list[str], str, str], Awaitable[None]]


class ApprovalGate:
    """Runs `progress` to an outcome. `subject` names the thing in chat ("campaign
    'Spring launch'"), `how` tells people how to decide (a CLI line or a link)."""

    def __init__(
        self,
        progress: ApprovalProgress,
        directory: Directory,
        *,
        requester: str | None,
        subject: str,
        how: str,
        tell: Tell,
        note: Callable[[str], None],
        publish: Callable[[], None],
        history_limit: int,
    ) -> None:
        self.p = progress
        self._directory = directory
        self._requester = requester or ""
        self._subject, self._how = subject, how
        self._tell, self._note, self._publish = tell, note, publish
        self._history_limit = history_limit

    # ---------------------------------------------------- for update handlers

    def current(self) -> ApprovalStage | None:
        p = self.p
        return p.stages[p.index] if p.outcome == "pending" and p.index < len(p.stages) else None

    def refusal(self, d: Decision) -> Refused | None:
        stage = self.current()
        if stage is None or self.p.started_at is None:
            return Refused(Refusal.NOT_WAITING_FOR_DECISIONS, "not waiting for decisions")
        if d.approver == self._requester:
            return Refused(Refusal.REQUESTER_CANNOT_DECIDE, "requesters cannot approve their own request")
        return refusal(
            stage,
            self._directory,
            decision=d,
            decisions=self.p.decisions,
            author=self._requester,
            current_revision=self.p.revision,
            escalated=self.p.escalated,
        )

    def validate(self, d: Decision) -> None:
        """For the decide update's validator: refuse (with its code) or return."""
        why = self.refusal(d)
        if why:
            raise_refused(why)

    def record(self, d: Decision) -> DecisionResult:
        stage = self.current()
        assert stage is not None
        self.p.decisions.append(d.model_copy(update={"at": workflow.now(), "stage": stage.name}))
        verb = {"approve": "approved", "reject": "rejected", "request_changes": "requested changes"}[d.kind.value]
        self._note(f"{d.approver} {verb} in {stage.name}" + (f": {d.comment}" if d.comment else ""))
        self._publish()
        return DecisionResult(stage=stage.name, outcome=self._outcome(stage).value.lower(), revision=self.p.revision)

    def pending(self) -> list[str]:
        stage = self.current()
        if stage is None or self.p.started_at is None:
            return []
        return pending_approvers(
            stage,
            self._directory,
            decisions=self.p.decisions,
            revision=self.p.revision,
            escalated=self.p.escalated,
            author=self._requester,
        )

    def state(self) -> str:
        """`<stage>:pending|escalated` while waiting, else the outcome (for search attributes)."""
        stage = self.current()
        if stage is not None:
            return f"{stage.name}:{'escalated' if self.p.escalated else 'pending'}"
        return self.p.outcome

    # ---------------------------------------------------------------- running

    async def run(self) -> ApprovalOutcome | Literal["continue_as_new"]:
        p = self.p
        while p.outcome == "pending":
            if p.index >= len(p.stages):
                p.outcome = "approved"
                break
            stage = p.stages[p.index]
            if p.started_at is None:
                p.started_at, p.reminded, p.escalated = workflow.now(), False, False
                self._publish()
                await self._tell(
                    stage.approvers,
                    f"review-{stage.name}",
                    f"Please review {self._subject} ({stage.name}). {self._how}",
                )
            outcome = self._outcome(stage)
            if outcome == StageOutcome.PENDING:
                deadline, what = self._deadline(stage)
                result = await wait_until(
                    deadline,
                    lambda stage=stage: self._outcome(stage) != StageOutcome.PENDING,
                    f"{stage.name}: {what}",
                    self._history_limit,
                )
                if result == "continue_as_new":
                    return "continue_as_new"
                if result == "timeout":
                    await self._on_timer(stage, what)
                continue
            comments = "; ".join(f"{d.approver}: {d.comment}" for d in self._decisions(stage) if d.comment)
            if outcome == StageOutcome.APPROVED:
                self._note(f"stage {stage.name} approved")
                p.index, p.started_at = p.index + 1, None
                continue
            p.outcome = "rejected"
            verb = "rejected" if outcome == StageOutcome.REJECTED else "sent back with changes requested"
            p.detail = f"{verb} in {stage.name}" + (f": {comments}" if comments else "")
        self._publish()
        return p.outcome

    def _deadline(self, stage: ApprovalStage) -> tuple[datetime, str]:
        p = self.p
        if not p.reminded:
            return p.started_at + stage.remind_after, "reminder"
        if not p.escalated:
            return p.started_at + stage.escalate_after, "escalation"
        return p.started_at + stage.expire_after, "expiry"

    async def _on_timer(self, stage: ApprovalStage, what: str) -> None:
        p = self.p
        if what == "reminder":
            p.reminded = True
            await self._tell(
                self.pending(),
                f"remind-{stage.name}",
                f"Reminder: {self._subject} waits for your decision ({stage.name}). {self._how}",
            )
        elif what == "escalation":
            p.escalated = True
            backups = [b for a in stage.approvers if (b := self._directory.backup_of(a))]
            self._note(f"stage {stage.name} escalated to backups: {', '.join(backups) or 'none'}")
            self._publish()
            await self._tell(
                backups,
                f"escalate-{stage.name}",
                f"Escalation: {self._subject} is overdue in {stage.name}; as a backup approver you "
                f"may decide now. {self._how}",
            )
        else:
            p.outcome, p.detail = "expired", f"expired in {stage.name} without a decision"
            self._note(p.detail)

    def _decisions(self, stage: ApprovalStage) -> list[Decision]:
        return [d for d in self.p.decisions if d.stage == stage.name and d.revision == self.p.revision]

    def _outcome(self, stage: ApprovalStage) -> StageOutcome:
        return stage_outcome(
            stage, self._directory, decisions=self.p.decisions, revision=self.p.revision, escalated=self.p.escalated
        )


def timeline_note(timeline: list[tuple[datetime, str]], what: str, limit: int = 100) -> list[tuple[datetime, str]]:
    return [*timeline, (workflow.now(), what)][-limit:]
