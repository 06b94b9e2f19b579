"""Content's side of the shared approval gate (workflows/approval.py): its review state
as the gate's `Progress`, and its chat wording (revision, link, warnings)."""

from __future__ import annotations

from datetime import datetime

from domain.brand import Severity
from domain.content import ApprovalStage
from workflows.approval import ApprovalOutcome
from workflows.content_models import ContentState


class ReviewProgress:
    """The content state's review fields as the approval gate's `Progress`. The state keeps
    its own field names, so running items and recorded histories carry on unchanged; the
    outcome of a round lives here only until the stage it leads to is set (a new instance,
    after continue-as-new or on replay, is always mid-round or past review)."""

    def __init__(self, s: ContentState) -> None:
        self._s = s
        self.outcome: ApprovalOutcome = "pending"
        self.detail: str | None = None

    def restart(self) -> None:
        """A new round of review (on a new revision) from the first stage. Before the stage
        is published: the search attributes list the first stage's approvers at once."""
        self._s.review_index, self._s.review_started_at = 0, None
        self.outcome, self.detail = "pending", None

    stages = property(lambda self: self._s.stages)
    decisions = property(lambda self: self._s.decisions)
    refused = property(lambda self: self._s.refused_decisions)
    revision = property(lambda self: self._s.revision)

    @property
    def index(self) -> int:
        return self._s.review_index

    @index.setter
    def index(self, value: int) -> None:
        self._s.review_index = value

    @property
    def started_at(self) -> datetime | None:
        return self._s.review_started_at

    @started_at.setter
    def started_at(self, value: datetime | None) -> None:
        self._s.review_started_at = value

    @property
    def reminded(self) -> bool:
        return self._s.reminded

    @reminded.setter
    def reminded(self, value: bool) -> None:
        self._s.reminded = value

    @property
    def escalated(self) -> bool:
        return self._s.escalated

    @escalated.setter
    def escalated(self, value: bool) -> None:
        self._s.escalated = value


class ReviewWording:
    """Content's review messages: the revision, the link and the warnings to look at."""

    def __init__(self, s: ContentState) -> None:
        self._s = s

    def review(self, stage: ApprovalStage) -> str:
        s = self._s
        warnings = [f.message for f in s.findings if f.severity == Severity.WARNING]
        return (
            f"Please review '{s.brief.title}' (revision {s.revision}, stage {stage.name}): {s.draft_link}"
            + (f" — warnings: {'; '.join(warnings[:5])}" if warnings else "")
            + f". Decide with `mops content approve {s.brief.content_id} --as <you>`."
        )

    def reminder(self, stage: ApprovalStage) -> str:
        s = self._s
        return f"Reminder: '{s.brief.title}' waits for your decision in {stage.name}: {s.draft_link}"

    def escalation(self, stage: ApprovalStage) -> str:
        s = self._s
        return (
            f"Escalation: '{s.brief.title}' is overdue in {stage.name}; as a backup approver you "
            f"may decide now: {s.draft_link}"
        )
