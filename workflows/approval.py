"""Staged approval by people, one implementation for content items, campaign launches and
budget proposals (workflow code only).

The rules are `domain/approvals.py`'s: stages in order, each with all / any / quorum,
decisions through an update whose validator refuses the requester (or author),
non-approvers, stale revisions and second decisions; durable reminders, escalation to
backups and expiry per stage. The gate ends at the first stage that rejects or asks for
changes: the owner decides what follows (content waits for a revision and runs the gate
again on the next one; a campaign or a proposal is re-submitted, not edited in place).

`ApprovalProgress` is plain data (carried through continue-as-new); `ApprovalGate`
runs any `Progress` inside the owning workflow, which passes in how to word and send
chat messages, how to wait, and how to note and publish progress. The gate publishes
after each change it makes but not its final outcome: the owner publishes that with the
status change it makes, so each workflow's command sequence stays its own.

Proof of who decides (domain/decision_proofs.py): a decision names its approver, and
access to Temporal alone must not be the authority to decide in anyone's name, so each
decision carries claims signed by a trusted signer (the gateway, the operator's CLI, a
service holding the key) and the gate checks them against the public keys in the
owner's input, with the expiry against `workflow.now()`: a pure function of the
history, so a replay reaches the same verdict whatever keys the worker has since.
The check is the update *handler's*, not the validator's: a validator's refusal leaves
nothing in the history, and a decision made in someone's name without their proof is
something the people running the process must see. So the validator keeps refusing
what the named person could not do anyway (not an approver, stale revision, ...), and
the handler refuses an unproven decision after recording it (`Progress.refused`, the
latest `MAX_REFUSED`, with a timeline note): the update fails with the
`decision_not_proven` refusal, the decision is not applied. Runs whose handlers ran
before this check replay as recorded (patch `approval-proof-v1`); a run started
before decision keys were in its input has none and refuses every decision (re-submit
it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NoReturn, Protocol

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import decision_proofs
    from domain.approvals import (
        MAX_REFUSED,
        Decision,
        DecisionResult,
        RefusedDecision,
        StageOutcome,
        pending_approvers,
        refusal,
        stage_outcome,
    )
    from domain.content import ApprovalStage, Directory
    from domain.refusals import FAILURE_TYPE, Refusal, Refused
    from workflows.common import WaitResult, wait_until

__all__ = [
    "ApprovalGate",
    "ApprovalProgress",
    "DecisionResult",
    "Messages",
    "Progress",
    "Wording",
    "raise_refused",
    "refuse",
]

ApprovalOutcome = Literal["pending", "approved", "rejected", "expired"]
# Decisions are recorded only once their proof holds; handlers that ran before replay as they did.
PROOF_PATCH = "approval-proof-v1"


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
    refused: list[RefusedDecision] = []  # decisions refused for want of proof, never applied


def raise_refused(why: Refused) -> NoReturn:
    """Refuse an update from its validator: the code travels as the failure's detail, so
    callers answer by code (domain/refusals.py), never by the wording."""
    raise ApplicationError(why.reason, why.code.value, type=FAILURE_TYPE, non_retryable=True)


def refuse(code: Refusal, reason: str) -> NoReturn:
    raise_refused(Refused(code, reason))


Tell = Callable[[list[str], str, str], Awaitable[None]]
Wait = Callable[[datetime, Callable[[], bool], str], Awaitable[WaitResult]]


class Progress(Protocol):
    """Where an approval's durable state lives: `ApprovalProgress`, or an owner's own
    fields under these names (content keeps its state's historical field names)."""

    stages: list[ApprovalStage]
    decisions: list[Decision]
    index: int
    started_at: datetime | None
    reminded: bool
    escalated: bool
    revision: int
    outcome: ApprovalOutcome
    detail: str | None
    refused: list[RefusedDecision]


class Messages(Protocol):
    """The chat text for a stage's request, reminder and escalation."""

    def review(self, stage: ApprovalStage) -> str: ...
    def reminder(self, stage: ApprovalStage) -> str: ...
    def escalation(self, stage: ApprovalStage) -> str: ...


@dataclass(frozen=True)
class Wording:
    """Messages from a subject ("campaign 'Spring launch'") and how to decide (a CLI line or a link)."""

    subject: str
    how: str

    def review(self, stage: ApprovalStage) -> str:
        return f"Please review {self.subject} ({stage.name}). {self.how}"

    def reminder(self, stage: ApprovalStage) -> str:
        return f"Reminder: {self.subject} waits for your decision ({stage.name}). {self.how}"

    def escalation(self, stage: ApprovalStage) -> str:
        return (
            f"Escalation: {self.subject} is overdue in {stage.name}; as a backup approver you "
            f"may decide now. {self.how}"
        )


class ApprovalGate:
    """Runs `progress` to an outcome; see the module's docstring."""

    def __init__(
        self,
        progress: Progress,
        directory: Directory,
        *,
        requester: str | None,
        messages: Messages,
        tell: Tell,
        note: Callable[[str], None],
        publish: Callable[[], None],
        history_limit: int,
        keys: list[str],
        wait: Wait | None = None,
        requester_is_author: bool = False,
    ) -> None:
        self.p = progress
        self._keys = keys  # public keys that verify decisions (the owner's input)
        self._directory = directory
        self._requester = requester or ""
        # An author deciding on their own content is refused by the domain's author rule
        # (author_cannot_decide); anyone else's requester by the gate (requester_cannot_decide).
        self._requester_is_author = requester_is_author
        self._messages = messages
        self._tell, self._note, self._publish = tell, note, publish
        self._wait = wait or (lambda until, done, summary: wait_until(until, done, summary, history_limit))

    # ---------------------------------------------------- for update handlers

    def current(self) -> ApprovalStage | None:
        p = self.p
        return p.stages[p.index] if p.outcome == "pending" and p.index < len(p.stages) else None

    def refusal(self, d: Decision) -> Refused | None:
        stage = self.current()
        if stage is None or self.p.started_at is None:
            return Refused(Refusal.NOT_WAITING_FOR_DECISIONS, "not waiting for decisions")
        if d.approver == self._requester and not self._requester_is_author:
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
        """For the decide update's handler (after its validator): record a proven decision;
        an unproven one is recorded as refused and refused (see the module's docstring)."""
        stage = self.current()
        assert stage is not None
        if workflow.patched(PROOF_PATCH):
            self._prove(d, stage)
        self.p.decisions.append(d.model_copy(update={"at": workflow.now(), "stage": stage.name}))
        verb = {"approve": "approved", "reject": "rejected", "request_changes": "requested changes"}[d.kind.value]
        # Campaigns and proposals have one revision; content names it once it has more.
        on = f"revision {d.revision} in {stage.name}" if self.p.revision > 1 else f"in {stage.name}"
        self._note(f"{d.approver} {verb} {on}" + (f": {d.comment}" if d.comment else ""))
        self._publish()
        return DecisionResult(stage=stage.name, outcome=self._outcome(stage).value.lower(), revision=self.p.revision)

    def _prove(self, d: Decision, stage: ApprovalStage) -> None:
        problem = decision_proofs.check(
            d.proof,
            workflow_id=workflow.info().workflow_id,
            approver=d.approver,
            kind=d.kind.value,
            revision=d.revision,
            comment=d.comment,
            keys=self._keys,
            now=workflow.now(),
        )
        if problem is None:
            return
        what, reason = problem
        self.p.refused.append(
            RefusedDecision(
                at=workflow.now(),
                stage=stage.name,
                approver=d.approver,
                kind=d.kind,
                revision=d.revision,
                problem=what,
                reason=reason,
            )
        )
        del self.p.refused[:-MAX_REFUSED]
        self._note(f"refused a decision in {d.approver}'s name in {stage.name}: {reason}")
        self._publish()
        refuse(Refusal.DECISION_NOT_PROVEN, reason)

    def pending(self, *, unstarted: bool = False) -> list[str]:
        """Who can still usefully decide. A stage whose request has not gone out yet has
        nobody pending, unless `unstarted`: content has always listed a stage's approvers
        from the moment it enters review, and its search attributes (recorded histories
        included) depend on that."""
        stage = self.current()
        if stage is None or (self.p.started_at is None and not unstarted):
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
                await self._tell(stage.approvers, f"review-{stage.name}", self._messages.review(stage))
            outcome = self._outcome(stage)
            if outcome == StageOutcome.PENDING:
                deadline, what = self._deadline(stage)

                def decided(stage: ApprovalStage = stage) -> bool:
                    return self._outcome(stage) != StageOutcome.PENDING

                result = await self._wait(deadline, decided, f"{stage.name}: {what}")
                if result == "continue_as_new":
                    return "continue_as_new"
                if result == "timeout":
                    await self._on_timer(stage, what)
                continue
            comments = self.comments(stage)
            if outcome == StageOutcome.APPROVED:
                self._note(f"stage {stage.name} approved")
                p.index, p.started_at = p.index + 1, None
                continue
            p.outcome = "rejected"
            verb = "rejected" if outcome == StageOutcome.REJECTED else "sent back with changes requested"
            p.detail = f"{verb} in {stage.name}" + (f": {comments}" if comments else "")
        return p.outcome

    def ended_in(self) -> tuple[ApprovalStage, StageOutcome] | None:
        """After a rejected run: the stage that ended it and how (rejected / changes requested)."""
        p = self.p
        if p.outcome != "rejected" or p.index >= len(p.stages):
            return None
        stage = p.stages[p.index]
        return stage, self._outcome(stage)

    def comments(self, stage: ApprovalStage) -> str:
        return "; ".join(f"{d.approver}: {d.comment}" for d in self._decisions(stage) if d.comment)

    def _deadline(self, stage: ApprovalStage) -> tuple[datetime, str]:
        start = self.p.started_at
        assert start is not None, "a stage's deadlines count from its start, set when the stage opens"
        if not self.p.reminded:
            return start + stage.remind_after, "reminder"
        if not self.p.escalated:
            return start + stage.escalate_after, "escalation"
        return start + stage.expire_after, "expiry"

    async def _on_timer(self, stage: ApprovalStage, what: str) -> None:
        p = self.p
        if what == "reminder":
            p.reminded = True
            await self._tell(self.pending(), f"remind-{stage.name}", self._messages.reminder(stage))
        elif what == "escalation":
            p.escalated = True
            backups = [b for a in stage.approvers if (b := self._directory.backup_of(a))]
            self._note(f"stage {stage.name} escalated to backups: {', '.join(backups) or 'none'}")
            self._publish()
            await self._tell(backups, f"escalate-{stage.name}", self._messages.escalation(stage))
        else:
            p.outcome, p.detail = "expired", f"expired in {stage.name} without a decision"
            self._note(p.detail)

    def _decisions(self, stage: ApprovalStage) -> list[Decision]:
        return [d for d in self.p.decisions if d.stage == stage.name and d.revision == self.p.revision]

    def _outcome(self, stage: ApprovalStage) -> StageOutcome:
        return stage_outcome(
            stage, self._directory, decisions=self.p.decisions, revision=self.p.revision, escalated=self.p.escalated
        )
