"""One list import: the staged rows of one file captured, in file order, at a set rate.

Workflow type `LeadImport`, id `import-<journey>-<file hash>` (domain/lead_import.py): one
per file content and journey, so a re-import of the same file finds it and is a no-op.

1. `imports.capture_batch` (on `LeadImportInput.queue`): the next `batch_rows` staged rows
   after the cursor, each captured as a single capture would be (update-with-start of the
   lead's journey, capture id from the file hash and row number), started in file order at
   `rows_per_second`. The cursor (the last row up to which every row is done) moves only
   when a batch completes; a batch retried after a worker died resumes from its last
   heartbeat, and a row captured twice is the same capture of the same lead, so a crash
   duplicates nothing.
2. Continue-as-new every `continue_as_new_after_batches` batches (or when the server
   suggests it), carrying the cursor and the counts.
3. `imports.finish`: the staged rows are deleted; the summary and report stay.

Query: `progress` → `ImportProgress` (also the result, and the Web UI's current details).
No signals or updates.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.models import CaptureBatchInput, FinishImportInput
    from activities.policies import INTERNAL_RETRY
    from workflows.common import call
    from workflows.lead_import_models import ImportProgress, LeadImportInput


@workflow.defn(name="LeadImport")
class LeadImportWorkflow:
    def __init__(self) -> None:
        self._inp: LeadImportInput | None = None
        self._done = False

    @workflow.run
    async def run(self, inp: LeadImportInput) -> ImportProgress:
        self._inp = inp
        counts = inp.counts
        self._details()
        batches = 0
        while counts.cursor < inp.last_row:
            if batches >= inp.continue_as_new_after_batches or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(inp)
            batch = await call(
                act.IMPORT_CAPTURE_BATCH,
                CaptureBatchInput(
                    import_id=inp.import_id,
                    after=counts.cursor,
                    limit=inp.batch_rows,
                    rows_per_second=inp.rows_per_second,
                ),
                queue=inp.queue,
                summary=f"capture rows after {counts.cursor}",
                retry=INTERNAL_RETRY,
            )
            batches += 1
            counts.cursor = inp.last_row if batch.done else batch.last_row
            counts.captured += batch.rows
            counts.started += batch.started
            counts.touched += batch.touched
            counts.refused += batch.refused
            self._details()
        await call(
            act.IMPORT_FINISH,
            FinishImportInput(import_id=inp.import_id),
            queue=inp.queue,
            summary="drop the staged rows",
            retry=INTERNAL_RETRY,
        )
        self._done = True
        self._details()
        return self.progress()

    @workflow.query
    def progress(self) -> ImportProgress:
        inp = self._inp
        assert inp is not None
        return ImportProgress(
            import_id=inp.import_id,
            journey_id=inp.journey_id,
            accepted=inp.accepted,
            rejected=inp.rejected,
            rows_per_second=inp.rows_per_second,
            counts=inp.counts,
            done=self._done,
        )

    def _details(self) -> None:
        p = self.progress()
        c = p.counts
        state = "done" if p.done else f"capturing at {p.rows_per_second:g} rows/s"
        workflow.set_current_details(
            f"**Import** `{p.import_id}` into journey `{p.journey_id}`: {state}\n\n"
            f"**Captured:** {c.captured} of {p.accepted}  ·  **new leads:** {c.started}  ·  "
            f"**touches:** {c.touched}  ·  **refused re-entries:** {c.refused}  ·  **rejected rows:** {p.rejected}"
        )
