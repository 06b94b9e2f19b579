"""The one map from the service API's exceptions to answers.

REST and GraphQL bodies carry `code`, REST and the approval page answer `status`, the
CLI exits with `exit_code`; Slack shows `message`. A refusal's status comes from its
code's row in domain/refusals.py, so no surface reads an exception's text to decide.
"""

from __future__ import annotations

from typing import NamedTuple

from temporalio.service import RPCError

from domain.journeys import JourneyError
from domain.refusals import REFUSED_EXIT, Refused
from starter.service.campaigns import BudgetProposalNotFound, CampaignInputError, CampaignNotFound
from starter.service.content import ContentInputError, ContentNotFound
from starter.service.leads import LeadInputError, LeadNotFound
from starter.service.reports import ReportInputError

INPUT_EXIT = 2  # bad input: nothing was started
OTHER_EXIT = 1  # not found, or the workflow service did not answer
TEMPORAL_UNAVAILABLE = "temporal: the workflow service did not answer"
INPUT_ERRORS = (LeadInputError, ContentInputError, CampaignInputError, ReportInputError, JourneyError)


class Failure(NamedTuple):
    status: int
    code: str
    message: str
    exit_code: int


# Most specific first: a budget proposal's not-found is a campaign's subclass.
_KINDS: list[tuple[type[BaseException] | tuple[type[BaseException], ...], int, str, int]] = [
    (INPUT_ERRORS, 422, "invalid_input", INPUT_EXIT),
    (LeadNotFound, 404, "lead_not_found", OTHER_EXIT),
    (ContentNotFound, 404, "content_not_found", OTHER_EXIT),
    (BudgetProposalNotFound, 404, "budget_proposal_not_found", OTHER_EXIT),
    (CampaignNotFound, 404, "campaign_not_found", OTHER_EXIT),
]


def failure(exc: BaseException) -> Failure | None:
    """The answer for a known exception, or None for an unexpected one (the caller logs it)."""
    if isinstance(exc, Refused):
        return Failure(exc.status, exc.code.value, exc.message, REFUSED_EXIT)
    for kinds, status, code, exit_code in _KINDS:
        if isinstance(exc, kinds):
            return Failure(status, code, str(exc), exit_code)
    if isinstance(exc, RPCError):
        return Failure(503, "temporal_unavailable", TEMPORAL_UNAVAILABLE, OTHER_EXIT)
    return None
