"""The list import's activities, on the workflow queue of the machine that staged the file.

They sit in the worker room, not activities/, because each row is captured as a single
capture is (`workers/lead_start.py`: the lead journey's typed update-with-start), which
activities/ may not import.

- `imports.capture_batch`: the next staged rows after the cursor, captured one by one at
  most `rows_per_second`, a heartbeat after each; a retried batch resumes after the last
  row its heartbeat names. Staged rows missing (the worker is on another machine, or the
  data dir differs) fail the import, non-retryably, saying so.
- `imports.finish`: drop the staged rows.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.contracts import IMPORT_CAPTURE_BATCH, IMPORT_FINISH
from activities.models import CaptureBatchInput, CaptureBatchResult, FinishImportInput
from mops.lead_imports import ImportStore
from mops.settings import Settings
from workers.lead_start import start_or_touch

HEARTBEAT_EVERY = 2.0  # seconds, well inside the ref's heartbeat timeout


class LeadImportActivities:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._store: ImportStore | None = None

    def store(self) -> ImportStore:
        # Opened on first use: a worker that never runs an import never creates the file.
        if self._store is None:
            self._store = ImportStore(self._settings.lead_imports_file)
        return self._store

    @activity.defn(name=IMPORT_CAPTURE_BATCH.name)
    async def capture_batch(self, inp: CaptureBatchInput) -> CaptureBatchResult:
        store = self.store()
        journey = await asyncio.to_thread(store.journey, inp.import_id)
        if journey is None:
            raise ApplicationError(
                f"import {inp.import_id}: no staged rows in {self._settings.lead_imports_file} on this worker; "
                "imports run on workers that share the data dir of the CLI or gateway that staged them",
                non_retryable=True,
            )
        details = activity.info().heartbeat_details
        done = CaptureBatchResult.model_validate(details[0]) if details else CaptureBatchResult(last_row=inp.after)
        rows = await asyncio.to_thread(store.rows, inp.import_id, after=done.last_row, limit=inp.limit - done.rows)
        loop = asyncio.get_running_loop()
        interval = 1.0 / inp.rows_per_second
        next_at = loop.time()
        for staged in rows:
            # Paced here rather than by workflow timers: one timer per row would cost the
            # import's history three events a row.
            while (wait := next_at - loop.time()) > 0:
                await asyncio.sleep(min(wait, HEARTBEAT_EVERY))
                activity.heartbeat(done.model_dump(mode="json"))  # a slow rate still shows the worker alive
            next_at = max(next_at, loop.time() - interval) + interval
            try:
                result = await start_or_touch(
                    self._client, self._settings, staged.capture, journey=journey, conversions=staged.conversions
                )
            except WorkflowUpdateFailedError as err:
                # The journey refused the capture (its validator): a retry gets the same answer.
                raise ApplicationError(
                    f"row {staged.row}: the journey refused the capture ({err.cause})", non_retryable=True
                ) from None
            done.last_row, done.rows = staged.row, done.rows + 1
            if result.created:
                done.started += 1
            else:
                done.touched += 1
            activity.heartbeat(done.model_dump(mode="json"))
        done.done = not await asyncio.to_thread(store.rows, inp.import_id, after=done.last_row, limit=1)
        return done

    @activity.defn(name=IMPORT_FINISH.name)
    async def finish(self, inp: FinishImportInput) -> None:
        await asyncio.to_thread(self.store().finish, inp.import_id)
