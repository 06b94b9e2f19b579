"""Why a workflow refused a request, as codes: the one table every surface answers from.

Update validators refuse with a `Refusal` code and a one-line reason; the code (never
the wording) decides the answer: the HTTP status here, the same code in REST and
GraphQL bodies, the approval page's status, Slack's text and the CLI's exit code 3.
Rewording a reason therefore never changes a status.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import NamedTuple

# The failure type an update validator raises (ApplicationError.type); its first detail
# is the `Refusal` code. The service layer reads it back into `Refused`.
FAILURE_TYPE = "Refused"

# Every refusal exits the CLI with this code (input errors exit 2, unreachable servers 1).
REFUSED_EXIT = 3


class Refusal(StrEnum):
    AUTHOR_CANNOT_DECIDE = "author_cannot_decide"
    REQUESTER_CANNOT_DECIDE = "requester_cannot_decide"
    NOT_AN_APPROVER = "not_an_approver"
    STALE_REVISION = "stale_revision"
    ALREADY_DECIDED = "already_decided"
    NOT_WAITING_FOR_DECISIONS = "not_waiting_for_decisions"
    NOT_THE_AUTHOR = "not_the_author"
    NO_REVISION_EXPECTED = "no_revision_expected"
    INVALID_REVISION = "invalid_revision"
    NOTHING_TO_RETRACT = "nothing_to_retract"
    MAY_NOT_RETRACT = "may_not_retract"
    NOTHING_TO_STOP = "nothing_to_stop"
    MAY_NOT_STOP = "may_not_stop"
    NOT_THE_OWNER = "not_the_owner"
    NOT_WAITING_FOR_SALES_DECISION = "not_waiting_for_sales_decision"
    REENTRY_REFUSED = "reentry_refused"  # the journey's `reentry` policy does not take this person again (yet)
    # A decision without valid proof of who made it (domain/decision_proofs.py): refused
    # by the update handler, which records it, so it fails the update rather than the validator.
    DECISION_NOT_PROVEN = "decision_not_proven"
    # A double opt-in link followed after its window: the pending confirmation has lapsed.
    CONFIRMATION_EXPIRED = "confirmation_expired"
    ERASED = "erased"  # the person is being erased: nothing more is done for them
    # A lead asked to move to another journey version (domain/journey_migration.py) stays where it is:
    STEP_NOT_MAPPED = "step_not_mapped"  # the mapping does not name the step it is at
    MID_SEND = "mid_send"  # an email of it is being sent right now
    OTHER_VERSION = "other_version"  # it does not run the version the move is from
    NOT_AT_A_STEP = "not_at_a_step"  # it is not in nurture at a step (qualifying, with sales, done)
    UNKNOWN_VARIANT = "unknown_variant"  # an experiment has no variant of that name
    EXPERIMENT_OVER = "experiment_over"  # the experiment already has a winner or was stopped
    # A refusal without a code: a worker older than these codes, or an update whose
    # argument the workflow could not read. Answered as a conflict with its own text.
    UNCLASSIFIED = "refused"

    @property
    def status(self) -> int:
        return ANSWERS[self].status

    @property
    def field(self) -> str | None:
        return ANSWERS[self].field


class Answer(NamedTuple):
    status: int  # HTTP (REST, the approval page); GraphQL and Slack carry the code instead
    field: str | None  # the field the one-line message names


ANSWERS: dict[Refusal, Answer] = {
    Refusal.AUTHOR_CANNOT_DECIDE: Answer(403, "approver"),
    Refusal.REQUESTER_CANNOT_DECIDE: Answer(403, "approver"),
    Refusal.NOT_AN_APPROVER: Answer(403, "approver"),
    Refusal.STALE_REVISION: Answer(409, "revision"),
    Refusal.ALREADY_DECIDED: Answer(409, "approver"),
    Refusal.NOT_WAITING_FOR_DECISIONS: Answer(409, "stage"),
    Refusal.NOT_THE_AUTHOR: Answer(403, "author"),
    Refusal.NO_REVISION_EXPECTED: Answer(409, "stage"),
    Refusal.INVALID_REVISION: Answer(422, "revision"),
    Refusal.NOTHING_TO_RETRACT: Answer(409, "stage"),
    Refusal.MAY_NOT_RETRACT: Answer(403, "requested_by"),
    Refusal.NOTHING_TO_STOP: Answer(409, "status"),
    Refusal.MAY_NOT_STOP: Answer(403, "requested_by"),
    Refusal.NOT_THE_OWNER: Answer(403, "owner"),
    Refusal.NOT_WAITING_FOR_SALES_DECISION: Answer(409, "stage"),
    Refusal.REENTRY_REFUSED: Answer(409, "journey"),
    Refusal.DECISION_NOT_PROVEN: Answer(403, "proof"),
    Refusal.CONFIRMATION_EXPIRED: Answer(410, "link"),
    Refusal.ERASED: Answer(410, "link"),
    Refusal.STEP_NOT_MAPPED: Answer(409, "map"),
    Refusal.MID_SEND: Answer(409, "step"),
    Refusal.OTHER_VERSION: Answer(409, "from"),
    Refusal.NOT_AT_A_STEP: Answer(409, "stage"),
    Refusal.UNKNOWN_VARIANT: Answer(422, "variant"),
    Refusal.EXPERIMENT_OVER: Answer(409, "status"),
    Refusal.UNCLASSIFIED: Answer(409, None),
}


class Refused(Exception):
    """A request a workflow refused: its code and reason. `message` is the one line
    every surface shows, naming the field (`approver: 'raj' is not an approver ...`)."""

    def __init__(self, code: Refusal, reason: str) -> None:
        self.code, self.reason = code, reason
        super().__init__(self.message)

    @property
    def message(self) -> str:
        field = self.code.field
        return f"{field}: {self.reason}" if field else self.reason

    @property
    def status(self) -> int:
        return self.code.status

    @classmethod
    def from_failure(cls, failure_type: str | None, details: Sequence[object], message: str) -> Refused:
        """Read back what a validator raised (see `FAILURE_TYPE`); anything else is UNCLASSIFIED."""
        if failure_type == FAILURE_TYPE and details:
            try:
                return cls(Refusal(str(details[0])), message)
            except ValueError:
                pass  # a code from a newer worker: still refused, answered as a conflict below
        return cls(Refusal.UNCLASSIFIED, message)
