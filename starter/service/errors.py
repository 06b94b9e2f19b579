"""The services' error types, and the one map from them to answers.

Every service raises `InputError` (bad input, one line naming the field; nothing was
started), `NotFound` (with its own code), or `Refused` (a workflow refused, with its
`Refusal` code: domain/refusals.py). REST and GraphQL bodies carry `code`, REST and the
approval page answer `status`, the CLI exits with `exit_code`, Slack shows `message`. No
surface reads an exception's text to decide.

This module sits below the services (they subclass these types), so importing the map
imports no service and nothing they need (DuckDB, activities).
"""

from __future__ import annotations

from typing import NamedTuple

from temporalio.service import RPCError

from domain.journeys import JourneyError
from domain.refusals import REFUSED_EXIT, Refused
from mops.database import DatabaseUnavailable

INPUT_EXIT = 2  # bad input: nothing was started
OTHER_EXIT = 1  # not found, or the workflow service did not answer
TEMPORAL_UNAVAILABLE = "temporal: the workflow service did not answer"


class InputError(ValueError):
    """Input a service refuses before it starts anything: one line naming the field."""


class NotFound(LookupError):
    """No such workflow (or it no longer runs); `code` says what was looked for."""

    code = "not_found"


# The types every surface answers; anything else is unexpected (a 500, a traceback).
KNOWN = (InputError, JourneyError, NotFound, Refused, RPCError, DatabaseUnavailable)


class Failure(NamedTuple):
    status: int
    code: str
    message: str
    exit_code: int


def failure(exc: BaseException) -> Failure | None:
    """The answer for a known exception, or None for an unexpected one (the caller logs it)."""
    if isinstance(exc, Refused):
        return Failure(exc.status, exc.code.value, exc.message, REFUSED_EXIT)
    if isinstance(exc, (InputError, JourneyError)):
        return Failure(422, "invalid_input", str(exc), INPUT_EXIT)
    if isinstance(exc, NotFound):
        return Failure(404, exc.code, str(exc), OTHER_EXIT)
    if isinstance(exc, RPCError):
        return Failure(503, "temporal_unavailable", TEMPORAL_UNAVAILABLE, OTHER_EXIT)
    if isinstance(exc, DatabaseUnavailable):  # MOPS_DATABASE_URL set, the database gone
        return Failure(503, "database_unavailable", str(exc), OTHER_EXIT)
    return None
