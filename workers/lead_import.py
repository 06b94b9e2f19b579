"""The list import's activities, on the workflow queue of the machine that staged the file.

They sit in the worker room, not activities/, because each row is captured as a single
capture is (`workers/lead_start.py`: the lead journey's typed update-with-start), which
activities/ may not import.

- `imports.capture_batch`: the next staged rows after the cursor, each capture started at
  its paced time (`rows_per_second`), at most `IN_FLIGHT` at once, as one capture waits
  for its journey's first workflow task; the heartbeat names the last row up to which
  every row is done, so a retried batch resumes there (a row after it that was captured
  already is captured again: the same capture, answered as before). Staged rows missing
  (the worker is on another machine, or the data dir differs) fail the import,
  non-retryably, saying so.
- `imports.finish`: drop the staged rows.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.contracts import IMPORT_CAPTURE_BATCH, IMPORT_FINISH
from activities.models import CaptureBatchInput, CaptureBatchResult, FinishImportInput
from domain.journeys import JourneySpec
from domain.lead_import import StagedRow
from mops.lead_imports import ImportStore
from mops.settings import Settings
from workers.lead_start import start_or_touch

HEARTBEAT_EVERY = 2.0  # seconds, well inside the ref's heartbeat timeout
IN_FLIGHT = 8  # captures of one batch at once
# What one row's capture did: a new lead, a touch on a running journey, or a person the
# journey's re-entry policy turned away (a report line, not a touch).
RowOutcome = Literal["started", "touched", "refused"]


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
        created: dict[int, RowOutcome] = {}  # row -> what its capture did, for rows done past the cursor

        async def capture(staged: StagedRow) -> None:
            created[staged.row] = await self._capture(inp.import_id, staged, journey)

        loop = asyncio.get_running_loop()
        interval = 1.0 / inp.rows_per_second
        next_at = loop.time()
        pending: set[asyncio.Task] = set()
        try:
            for staged in rows:
                # Paced here rather than by workflow timers: one timer per row would cost the
                # import's history three events a row.
                while (wait := next_at - loop.time()) > 0:
                    await asyncio.sleep(min(wait, HEARTBEAT_EVERY))
                    self._advance(done, rows, created)
                while len(pending) >= IN_FLIGHT:  # heartbeating while captures are slow to answer
                    await asyncio.wait(pending, timeout=HEARTBEAT_EVERY, return_when=asyncio.FIRST_COMPLETED)
                    self._reap(pending)
                    self._advance(done, rows, created)
                next_at = max(next_at, loop.time() - interval) + interval
                pending.add(asyncio.create_task(capture(staged)))
                self._reap(pending)
                self._advance(done, rows, created)
            while pending:
                await asyncio.wait(pending, timeout=HEARTBEAT_EVERY, return_when=asyncio.FIRST_COMPLETED)
                self._reap(pending)
                self._advance(done, rows, created)
        finally:
            for task in pending:
                task.cancel()
        self._advance(done, rows, created)
        done.done = not await asyncio.to_thread(store.rows, inp.import_id, after=done.last_row, limit=1)
        return done

    @staticmethod
    def _reap(pending: set[asyncio.Task]) -> None:
        for finished in [t for t in pending if t.done()]:
            pending.discard(finished)
            finished.result()  # a failed capture fails the batch, retried from the cursor

    async def _capture(self, import_id: str, staged: StagedRow, journey: JourneySpec) -> RowOutcome:
        try:
            result = await start_or_touch(
                self._client, self._settings, staged.capture, journey=journey, conversions=staged.conversions
            )
        except WorkflowUpdateFailedError as err:
            # The journey refused the capture (its validator): a retry gets the same answer.
            raise ApplicationError(
                f"row {staged.row}: the journey refused the capture ({err.cause})", non_retryable=True
            ) from None
        if result.refused is not None:
            reason = f"email: the journey does not take this person again ({result.refused})"
            await asyncio.to_thread(self.store().refuse, import_id, staged.row, reason)
            return "refused"
        return "started" if result.created else "touched"

    @staticmethod
    def _advance(done: CaptureBatchResult, rows: list[StagedRow], created: dict[int, RowOutcome]) -> None:
        """Move the cursor over the rows done in file order, count them, and heartbeat it."""
        for staged in rows:
            if staged.row <= done.last_row:
                continue
            if staged.row not in created:
                break
            outcome = created.pop(staged.row)
            done.last_row, done.rows = staged.row, done.rows + 1
            done.started += outcome == "started"
            done.touched += outcome == "touched"
            done.refused += outcome == "refused"
        activity.heartbeat(done.model_dump(mode="json"))

    @activity.defn(name=IMPORT_FINISH.name)
    async def finish(self, inp: FinishImportInput) -> None:
        await asyncio.to_thread(self.store().finish, inp.import_id)
