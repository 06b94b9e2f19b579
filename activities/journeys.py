"""Journey loading: reads the YAML on the worker, so a run pins the version it
started with (the returned spec lives in the workflow's history and state)."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import JOURNEYS_LOAD, ErrorType
from activities.models import LoadJourneyInput
from domain.journeys import JourneyError, JourneySpec, load_journey


class JourneyActivities:
    def __init__(self, journeys_dir: Path) -> None:
        self._dir = journeys_dir

    @activity.defn(name=JOURNEYS_LOAD.name)
    async def load(self, inp: LoadJourneyInput) -> JourneySpec:
        try:
            return load_journey(self._dir, inp.journey_id)
        except JourneyError as err:
            raise ApplicationError(str(err), type=ErrorType.JOURNEY_ERROR, non_retryable=True) from None
