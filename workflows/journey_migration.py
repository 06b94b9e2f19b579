"""Moving the leads in flight of one journey from a published version to another.

Workflow type `JourneyMigration`, id `journey-migrate-<journey>-v<from>-v<to>-<hash of the
mapping, filter and timers>` (`domain.journey_migration.MigrationPlan.migration_id`): the same
command twice is the same migration, so the second attaches to it (or finds it done).

1. `migrations.batch` (on the workflow queue): the next `batch_leads` leads the plan's
   visibility query lists (`JourneyId`, `JourneyVersion` = the old version, running, the
   operator's `--where`), after the cursor (their workflow ids in order), each sent the lead
   journey's validated `migrate` update at `leads_per_second`. Each answers moved or refused
   with its code (step not in the mapping, mid-send, another version, not at a nurture step);
   one that ended meanwhile is skipped.
2. Continue-as-new every `continue_as_new_after_batches` batches (or when the server
   suggests it), carrying the cursor and the report.

Query: `report` → `MigrationReport` (also the result; its counts are the Web UI's current
details). No signals or updates.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.policies import INTERNAL_RETRY
    from domain.journey_migration import MigrateRequest, MigrationBatchInput, MigrationPlan, MigrationReport
    from workflows.common import call


class JourneyMigrationInput(BaseModel):
    plan: MigrationPlan
    request: MigrateRequest  # what each lead is sent (the new version's spec, the mapping, the timers)
    leads_per_second: float = Field(gt=0)
    batch_leads: int = Field(100, ge=1)
    queue: str  # the workflow queue: the activity sends updates through the worker's client
    # Set only by continue-as-new: the cursor and the report so far.
    report: MigrationReport | None = None
    # Continue-as-new after this many batches (or when the server suggests it). Tests lower it.
    continue_as_new_after_batches: int = Field(100, ge=1)


@workflow.defn(name="JourneyMigration")
class JourneyMigrationWorkflow:
    def __init__(self) -> None:
        self._report: MigrationReport | None = None

    @workflow.run
    async def run(self, inp: JourneyMigrationInput) -> MigrationReport:
        plan = inp.plan
        report = self._report = inp.report or MigrationReport(
            migration_id=plan.migration_id,
            journey_id=plan.journey_id,
            from_version=plan.from_version,
            to_version=plan.to_version,
        )
        self._details()
        batches = 0
        while not report.done:
            if batches >= inp.continue_as_new_after_batches or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(inp.model_copy(update={"report": report}))
            batch = await call(
                act.MIGRATION_BATCH,
                MigrationBatchInput(
                    migration_id=plan.migration_id,
                    query=plan.query(),
                    after=report.cursor,
                    limit=inp.batch_leads,
                    leads_per_second=inp.leads_per_second,
                    request=inp.request,
                ),
                queue=inp.queue,
                summary=f"move leads after {report.cursor or 'the first'}",
                retry=INTERNAL_RETRY,
            )
            batches += 1
            for outcome in batch.outcomes:
                report.add(outcome)
            report.cursor, report.done = batch.last_id, batch.done
            self._details()
        return report

    @workflow.query
    def report(self) -> MigrationReport:
        assert self._report is not None, "the report is made first thing in run()"
        return self._report

    def _details(self) -> None:
        r = self.report()
        state = "done" if r.done else "moving leads"
        workflow.set_current_details(
            f"**Migration** of `{r.journey_id}` v{r.from_version} → v{r.to_version}: {state}\n\n"
            f"**Moved:** {r.moved}  ·  **refused:** {r.refused}  ·  **skipped:** {r.skipped}"
        )
