"""`forms.start_journey`: a double opt-in form's confirmed capture starts (or touches) the
person's journey, on the workflow queue.

It sits in the worker room, not activities/, because it starts the journey as every
capture does (`workers/lead_start.py`: the lead journey's typed update-with-start), which
activities/ may not import. A retry is the same capture (its `capture_id`), answered as
before, never a second journey.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.contracts import FORMS_START_JOURNEY
from activities.models import StartFormJourneyInput, StartFormJourneyResult
from mops.settings import Settings
from workers.lead_start import start_or_touch


class FormJourneyActivities:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    @activity.defn(name=FORMS_START_JOURNEY.name)
    async def start_journey(self, inp: StartFormJourneyInput) -> StartFormJourneyResult:
        try:
            result = await start_or_touch(
                self._client, self._settings, inp.capture, journey=inp.journey, conversions=inp.conversions
            )
        except WorkflowUpdateFailedError as err:
            # The journey refused the capture (its validator): a retry gets the same answer.
            raise ApplicationError(f"the journey refused the capture ({err.cause})", non_retryable=True) from None
        return StartFormJourneyResult(
            lead_workflow_id=result.workflow_id, created=result.created, refused=result.refused
        )
