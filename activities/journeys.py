"""Journey loading, and when a person last finished a journey.

Loading reads the YAML on the worker, so a run pins the version it started with (the
returned spec lives in the workflow's history and state). The finishes are kept in the
contact ledger, keyed by the lead id (a keyed hash of the email): a journey whose `reentry`
policy is not `always` records its finish there at the end of a run and reads it at the
start of the next run of the same person."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import JOURNEYS_LAST_EXIT, JOURNEYS_LOAD, JOURNEYS_RECORD_EXIT, ErrorType
from activities.models import LastExitInput, LastExitResult, LoadJourneyInput, RecordExitInput
from domain.journeys import JourneyError, JourneySpec, load_journey
from mops.contact_ledger import ContactLedger, JourneyExit


class JourneyActivities:
    def __init__(self, journeys_dir: Path, ledger: ContactLedger) -> None:
        self._dir = journeys_dir
        self._ledger = ledger

    @activity.defn(name=JOURNEYS_LOAD.name)
    async def load(self, inp: LoadJourneyInput) -> JourneySpec:
        try:
            return load_journey(self._dir, inp.journey_id)
        except JourneyError as err:
            raise ApplicationError(str(err), type=ErrorType.JOURNEY_ERROR, non_retryable=True) from None

    @activity.defn(name=JOURNEYS_LAST_EXIT.name)
    async def last_exit(self, inp: LastExitInput) -> LastExitResult:
        found = self._ledger.last_exit(inp.lead_id, inp.journey_id)
        return LastExitResult() if found is None else LastExitResult(finished_at=found.at, outcome=found.outcome)

    @activity.defn(name=JOURNEYS_RECORD_EXIT.name)
    async def record_exit(self, inp: RecordExitInput) -> None:
        self._ledger.record_exit(JourneyExit(inp.lead_id, inp.journey_id, inp.at, inp.outcome))
