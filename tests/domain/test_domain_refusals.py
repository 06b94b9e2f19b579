"""The one table of refusals: every code's status and field, and reading a workflow's
refusal back from its failure (by code, never by its words)."""

from __future__ import annotations

import pytest

from domain.refusals import ANSWERS, FAILURE_TYPE, Refusal, Refused

# What clients (tests, README, the approval page) rely on: changing a row is an API change.
STATUSES = {
    "author_cannot_decide": (403, "approver"),
    "requester_cannot_decide": (403, "approver"),
    "not_an_approver": (403, "approver"),
    "stale_revision": (409, "revision"),
    "already_decided": (409, "approver"),
    "not_waiting_for_decisions": (409, "stage"),
    "not_the_author": (403, "author"),
    "no_revision_expected": (409, "stage"),
    "invalid_revision": (422, "revision"),
    "nothing_to_retract": (409, "stage"),
    "may_not_retract": (403, "requested_by"),
    "nothing_to_stop": (409, "status"),
    "may_not_stop": (403, "requested_by"),
    "not_the_owner": (403, "owner"),
    "not_waiting_for_sales_decision": (409, "stage"),
    "reentry_refused": (409, "journey"),
    "decision_not_proven": (403, "proof"),
    "confirmation_expired": (410, "link"),
    "erased": (410, "link"),
    "step_not_mapped": (409, "map"),
    "mid_send": (409, "step"),
    "other_version": (409, "from"),
    "not_at_a_step": (409, "stage"),
    "unknown_variant": (422, "variant"),
    "experiment_over": (409, "status"),
    "refused": (409, None),
}


def test_every_code_has_one_row_with_the_expected_status_and_field() -> None:
    assert set(ANSWERS) == set(Refusal)
    assert {code.value: (code.status, code.field) for code in Refusal} == STATUSES


@pytest.mark.parametrize("code", list(Refusal))
def test_a_refusal_read_back_from_its_failure_keeps_its_code_whatever_it_says(code: Refusal) -> None:
    # Another code's old wording in the message changes nothing: the detail decides.
    reworded = "nothing to stop; authors cannot decide; decision is for revision 9, the current revision is 1"
    refused = Refused.from_failure(FAILURE_TYPE, [code.value], reworded)
    assert refused.code == code and refused.status == STATUSES[code.value][0]
    field = STATUSES[code.value][1]
    assert refused.message == (f"{field}: {reworded}" if field else reworded)
    assert str(refused) == refused.message


@pytest.mark.parametrize(
    ("failure_type", "details"),
    [
        ("ValueError", ()),  # a worker from before the codes raised ValueError
        (FAILURE_TYPE, ()),  # no detail
        (FAILURE_TYPE, ["a_code_from_a_newer_worker"]),
        (None, ()),
    ],
)
def test_a_refusal_without_a_known_code_is_unclassified_not_guessed(failure_type, details) -> None:
    refused = Refused.from_failure(failure_type, details, "authors cannot decide on their own content")
    assert refused.code == Refusal.UNCLASSIFIED and refused.status == 409
    assert refused.message == "authors cannot decide on their own content"
