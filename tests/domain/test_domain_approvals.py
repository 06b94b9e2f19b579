from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from domain.approvals import (
    Decision,
    DecisionError,
    DecisionKind,
    StageOutcome,
    build_decision,
    eligible_approvers,
    pending_approvers,
    refusal,
    stage_outcome,
)
from domain.content import ApprovalStage, Directory, load_directory
from domain.refusals import Refusal

POLICIES = Path(__file__).resolve().parents[2] / "policies"

# omar <-> sofia back each other up; lena's backup is dana; kim has no backup.
DIRECTORY = Directory.model_validate(
    {
        "people": [
            {"id": "maya", "name": "Maya", "email": "maya@mops.example", "roles": ["author"]},
            {"id": "omar", "name": "Omar", "email": "omar@mops.example", "roles": ["brand"], "backup": "sofia"},
            {"id": "sofia", "name": "Sofia", "email": "sofia@mops.example", "roles": ["brand"], "backup": "omar"},
            {"id": "lena", "name": "Lena", "email": "lena@mops.example", "roles": ["brand"], "backup": "dana"},
            {"id": "dana", "name": "Dana", "email": "dana@mops.example", "roles": ["director"], "backup": "maya"},
            {"id": "kim", "name": "Kim", "email": "kim@mops.example", "roles": ["brand"]},
        ]
    }
)
ALL = ApprovalStage(name="brand", approvers=["omar", "lena"], mode="all")
ANY = ApprovalStage(name="brand", approvers=["omar", "lena"], mode="any")
QUORUM = ApprovalStage(name="brand", approvers=["omar", "lena", "kim"], mode="quorum", quorum=2)
AT = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def d(approver: str, kind: str = "approve", *, revision: int = 1, stage: str | None = "brand") -> Decision:
    comment = None if kind == "approve" else "please fix the second paragraph"
    return Decision(approver=approver, kind=kind, revision=revision, comment=comment, stage=stage, at=AT)


def outcome(
    stage: ApprovalStage, decisions: list[Decision], *, revision: int = 1, escalated: bool = False
) -> StageOutcome:
    return stage_outcome(stage, DIRECTORY, decisions=decisions, revision=revision, escalated=escalated)


def refused(
    decision: Decision,
    decisions: list[Decision] = (),
    *,
    stage: ApprovalStage = ALL,
    revision: int = 1,
    escalated: bool = False,
    author: str = "maya",
) -> str | None:
    why = refusal(
        stage,
        DIRECTORY,
        decision=decision,
        decisions=list(decisions),
        author=author,
        current_revision=revision,
        escalated=escalated,
    )
    return why.reason if why else None


def pending(
    stage: ApprovalStage, decisions: list[Decision], *, revision: int = 1, escalated: bool = False, **kwargs
) -> list[str]:
    return pending_approvers(stage, DIRECTORY, decisions=decisions, revision=revision, escalated=escalated, **kwargs)


# --- decisions -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["reject", "request_changes"])
@pytest.mark.parametrize("comment", [None, "", "   "])
def test_reject_and_request_changes_need_a_reason(kind, comment):
    with pytest.raises(ValidationError, match="a reason is required to reject or request changes"):
        Decision(approver="omar", kind=kind, revision=1, comment=comment)
    with pytest.raises(DecisionError) as info:
        build_decision({"approver": "omar", "kind": kind, "revision": 1, "comment": comment})
    assert str(info.value) == "comment: a reason is required to reject or request changes"


def test_decision_fields():
    approve = Decision(approver="omar", kind="approve", revision=2, comment="  ")
    assert approve.comment is None and approve.kind is DecisionKind.APPROVE
    with pytest.raises(DecisionError, match="^revision: Input should be greater than or equal to 1$"):
        build_decision({"approver": "omar", "kind": "approve", "revision": 0})
    with pytest.raises(DecisionError, match="^kind: Input should be 'approve', 'reject' or 'request_changes'$"):
        build_decision({"approver": "omar", "kind": "maybe", "revision": 1})
    assert Decision.model_validate_json(d("omar", "reject").model_dump_json()) == d("omar", "reject")


# --- who may decide --------------------------------------------------------------------------


def test_eligible_approvers_adds_backups_only_when_escalated():
    assert eligible_approvers(ALL, DIRECTORY, escalated=False) == ["omar", "lena"]
    # omar's backup sofia, lena's backup dana; order kept, no repeats.
    assert eligible_approvers(ALL, DIRECTORY, escalated=True) == ["omar", "lena", "sofia", "dana"]
    both = ApprovalStage(name="brand", approvers=["omar", "sofia", "kim"])
    assert eligible_approvers(both, DIRECTORY, escalated=True) == ["omar", "sofia", "kim"]


def test_refusal_accepts_a_fresh_decision():
    assert refused(d("omar")) is None
    assert refused(d("lena", "reject"), [d("omar")]) is None


@pytest.mark.parametrize(
    ("decision", "decisions", "kwargs", "reason"),
    [
        (
            d("maya"),
            [],
            {"stage": ApprovalStage(name="brand", approvers=["maya", "omar"])},
            "authors cannot decide on their own content",
        ),
        (d("omar"), [], {"author": "omar"}, "authors cannot decide on their own content"),
        (d("kim"), [], {}, "'kim' is not an approver of stage 'brand'"),
        (d("sofia"), [], {}, "'sofia' is not an approver of stage 'brand'"),  # a backup before escalation
        (d("omar", revision=1), [], {"revision": 2}, "decision is for revision 1, the current revision is 2"),
        (d("omar", revision=3), [], {"revision": 2}, "decision is for revision 3, the current revision is 2"),
        (
            d("omar", revision=2),
            [d("omar", revision=2)],
            {"revision": 2},
            "'omar' already decided on revision 2 in stage 'brand'",
        ),
        (d("omar", "reject"), [d("omar")], {}, "'omar' already decided on revision 1 in stage 'brand'"),
    ],
)
def test_each_refusal(decision, decisions, kwargs, reason):
    assert refused(decision, decisions, **kwargs) == reason


@pytest.mark.parametrize(
    ("decision", "decisions", "revision", "code"),
    [
        (d("maya"), [], 1, Refusal.AUTHOR_CANNOT_DECIDE),
        (d("kim"), [], 1, Refusal.NOT_AN_APPROVER),
        (d("omar", revision=1), [], 2, Refusal.STALE_REVISION),
        (d("omar", "reject"), [d("omar")], 1, Refusal.ALREADY_DECIDED),
    ],
)
def test_each_refusal_carries_its_code(decision, decisions, revision, code):
    why = refusal(
        ALL,
        DIRECTORY,
        decision=decision,
        decisions=decisions,
        author="maya",
        current_revision=revision,
        escalated=False,
    )
    assert why is not None and why.code == code and why.message == f"{code.field}: {why.reason}"


def test_refusal_checks_in_order():
    # The author is also not an approver, on a stale revision: the author check wins.
    assert refused(d("maya", revision=1), revision=2) == "authors cannot decide on their own content"
    # Not eligible and stale: eligibility first.
    assert refused(d("kim", revision=1), revision=2) == "'kim' is not an approver of stage 'brand'"
    # Stale and already decided on that old revision: stale first.
    assert refused(d("omar", revision=1), [d("omar", revision=1)], revision=2) == (
        "decision is for revision 1, the current revision is 2"
    )


def test_earlier_decisions_in_other_stages_or_revisions_do_not_block():
    history = [d("omar", revision=1), d("omar", revision=2, stage="legal")]
    assert refused(d("omar", revision=2), history, revision=2) is None


def test_backup_may_decide_once_escalated():
    assert refused(d("sofia"), escalated=True) is None
    # ...but a backup who is the author still may not.
    assert refused(d("maya"), stage=ApprovalStage(name="director", approvers=["dana"]), escalated=True) == (
        "authors cannot decide on their own content"
    )


# --- outcomes --------------------------------------------------------------------------------


def test_all_needs_every_approver():
    assert outcome(ALL, []) == StageOutcome.PENDING
    assert outcome(ALL, [d("omar")]) == StageOutcome.PENDING
    assert outcome(ALL, [d("omar"), d("lena")]) == StageOutcome.APPROVED


def test_any_needs_one():
    assert outcome(ANY, []) == StageOutcome.PENDING
    assert outcome(ANY, [d("lena")]) == StageOutcome.APPROVED


def test_quorum_needs_distinct_approvals():
    assert outcome(QUORUM, [d("omar")]) == StageOutcome.PENDING
    assert outcome(QUORUM, [d("omar"), d("omar")]) == StageOutcome.PENDING  # the same person twice counts once
    assert outcome(QUORUM, [d("omar"), d("kim")]) == StageOutcome.APPROVED


@pytest.mark.parametrize("stage", [ALL, ANY, QUORUM], ids=["all", "any", "quorum"])
def test_reject_beats_request_changes_beats_approvals(stage):
    assert outcome(stage, [d("omar"), d("lena", "request_changes")]) == StageOutcome.CHANGES_REQUESTED
    assert outcome(stage, [d("omar", "request_changes"), d("lena", "reject")]) == StageOutcome.REJECTED
    assert outcome(stage, [d("omar", "reject"), d("lena")]) == StageOutcome.REJECTED


def test_only_this_stage_and_revision_count():
    stale = [d("omar", revision=1), d("lena", revision=1)]
    assert outcome(ALL, stale, revision=1) == StageOutcome.APPROVED
    assert outcome(ALL, stale, revision=2) == StageOutcome.PENDING
    assert outcome(ALL, [d("omar", "reject", revision=1)], revision=2) == StageOutcome.PENDING
    other_stage = [d("omar", stage="legal"), d("lena", stage="legal")]
    assert outcome(ALL, other_stage) == StageOutcome.PENDING


def test_decisions_from_people_not_eligible_do_not_count():
    assert outcome(ANY, [d("kim")]) == StageOutcome.PENDING
    assert outcome(ANY, [d("kim", "reject")]) == StageOutcome.PENDING


def test_backup_counts_for_the_approver_they_back_up_only_once_escalated():
    decisions = [d("omar"), d("dana")]  # dana backs up lena
    assert outcome(ALL, decisions, escalated=False) == StageOutcome.PENDING
    assert outcome(ALL, decisions, escalated=True) == StageOutcome.APPROVED
    # A backup's reject counts once escalated, too.
    assert outcome(ALL, [d("omar"), d("dana", "reject")], escalated=True) == StageOutcome.REJECTED
    assert outcome(ANY, [d("sofia")], escalated=False) == StageOutcome.PENDING
    assert outcome(ANY, [d("sofia")], escalated=True) == StageOutcome.APPROVED


def test_backup_in_a_quorum_stage_counts_once():
    # sofia backs up omar: once escalated she is one more distinct approval.
    assert outcome(QUORUM, [d("omar"), d("sofia")], escalated=False) == StageOutcome.PENDING
    assert outcome(QUORUM, [d("omar"), d("sofia")], escalated=True) == StageOutcome.APPROVED
    assert outcome(QUORUM, [d("sofia")], escalated=True) == StageOutcome.PENDING


def test_all_stage_with_one_approver_backing_up_another():
    # omar and sofia back each other up: once escalated, omar's approval also covers sofia.
    stage = ApprovalStage(name="brand", approvers=["omar", "sofia"])
    assert outcome(stage, [d("omar")], escalated=False) == StageOutcome.PENDING
    assert outcome(stage, [d("omar")], escalated=True) == StageOutcome.APPROVED


# --- pending approvers -------------------------------------------------------------------------


def test_pending_approvers_all_mode():
    assert pending(ALL, []) == ["omar", "lena"]
    assert pending(ALL, [d("omar")]) == ["lena"]
    # Escalated: the missing approver and their backup.
    assert pending(ALL, [d("omar")], escalated=True) == ["lena", "dana"]
    assert pending(ALL, [], escalated=True) == ["omar", "lena", "sofia", "dana"]
    assert pending(ALL, [d("omar"), d("lena")]) == []


def test_pending_approvers_any_and_quorum_modes():
    assert pending(ANY, []) == ["omar", "lena"]
    assert pending(ANY, [d("omar")]) == []
    assert pending(QUORUM, [d("kim")]) == ["omar", "lena"]
    assert pending(QUORUM, [d("kim")], escalated=True) == ["omar", "lena", "sofia", "dana"]


def test_pending_approvers_empty_once_decided_and_ignores_other_revisions():
    assert pending(ALL, [d("omar", "reject")]) == []
    assert pending(ALL, [d("lena", "request_changes")]) == []
    assert pending(ALL, [d("omar", revision=1)], revision=2) == ["omar", "lena"]


def test_pending_approvers_never_lists_the_author():
    stage = ApprovalStage(name="director", approvers=["dana"])
    assert pending(stage, [], escalated=True) == ["dana", "maya"]
    assert pending(stage, [], escalated=True, author="maya") == ["dana"]


def test_shipped_blog_flow():
    directory = load_directory(POLICIES / "directory.yaml")
    brand = ApprovalStage(name="brand", approvers=["omar", "sofia", "lena"], mode="quorum", quorum=2)
    decisions = [d("omar")]
    assert stage_outcome(brand, directory, decisions=decisions, revision=1, escalated=False) == StageOutcome.PENDING
    assert pending_approvers(brand, directory, decisions=decisions, revision=1, escalated=False) == ["sofia", "lena"]
    decisions.append(d("lena"))
    assert stage_outcome(brand, directory, decisions=decisions, revision=1, escalated=False) == StageOutcome.APPROVED
