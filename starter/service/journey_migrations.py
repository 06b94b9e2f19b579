"""Moving a journey's leads in flight from one published version to another
(`mops journeys migrate`): the plan checked before anything is asked, the dry run's counts
per step, and the `JourneyMigration` workflow started (or found) and waited for.

Refusals are input errors (one line naming the field, exit 2, nothing started): an unknown
version (`NotFound`), a step on either side of `--map` that its version does not have, a
`--where` the server cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.journey_migration import (
    DryRun,
    MigrateRequest,
    MigrationError,
    MigrationPlan,
    MigrationReport,
    StepCount,
    Timers,
    check_plan,
    parse_mapping,
)
from domain.journeys import JourneySpec
from mops.settings import Settings
from starter.service.errors import InputError, NotFound
from starter.service.journeys import history, versions
from workflows.journey_migration import JourneyMigrationInput, JourneyMigrationWorkflow


class MigrationInputError(InputError):
    pass


@dataclass(frozen=True)
class PreparedMigration:
    plan: MigrationPlan
    old: JourneySpec
    new: JourneySpec


@dataclass(frozen=True)
class MigrationRun:
    report: MigrationReport
    attached: bool  # True: the same migration was started before; this command ran nothing new


def prepare(
    settings: Settings,
    journey_id: str,
    *,
    from_version: int,
    to_version: int,
    maps: list[str],
    where: str | None = None,
    timers: str = Timers.RESTART.value,
) -> PreparedMigration:
    """The plan, checked against both published versions."""
    try:
        timing = Timers(timers)
    except ValueError:
        raise MigrationInputError(f"timers: {timers!r} is not one of keep, restart") from None
    old, new = _spec(settings, journey_id, from_version), _spec(settings, journey_id, to_version)
    try:
        mapping = parse_mapping(maps)
        plan = MigrationPlan(
            journey_id=journey_id,
            from_version=from_version,
            to_version=to_version,
            mapping=mapping,
            where=(where or "").strip() or None,
            timers=timing,
        )
        check_plan(plan, old, new)
    except MigrationError as err:
        raise MigrationInputError(str(err)) from None
    return PreparedMigration(plan, old, new)


def _spec(settings: Settings, journey_id: str, number: int) -> JourneySpec:
    spec = versions(settings).spec(journey_id, number)
    if spec is None:
        known = ", ".join(f"v{v.version}" for v in history(settings, journey_id)) or "none"
        raise NotFound(f"version: {journey_id} has no published v{number} (published: {known})")
    return spec


class JourneyMigrationService:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    async def dry_run(self, prepared: PreparedMigration) -> DryRun:
        """How many leads are at each step of the old version, and where the plan takes them."""
        plan, query = prepared.plan, prepared.plan.query()
        rows = []
        for position, step in enumerate(prepared.old.steps, start=1):
            leads = await self._count(f"{query} AND JourneyStep = {position}")
            rows.append(StepCount(position=position, step=step.id, leads=leads, to_step=plan.mapping.get(step.id)))
        return DryRun(migration_id=plan.migration_id, query=query, steps=rows)

    async def run(
        self, prepared: PreparedMigration, *, leads_per_second: float, batch_leads: int = 100
    ) -> MigrationRun:
        """Start the migration and wait for its report; the same plan again attaches to the
        migration already running, or answers the report of the one that finished."""
        plan = prepared.plan
        await self._count(plan.query())  # a --where the server cannot read refuses before anything starts
        inp = JourneyMigrationInput(
            plan=plan,
            request=MigrateRequest(
                migration_id=plan.migration_id,
                from_version=plan.from_version,
                journey=prepared.new,
                mapping=plan.mapping,
                timers=plan.timers,
            ),
            leads_per_second=leads_per_second,
            batch_leads=batch_leads,
            queue=self._settings.workflow_task_queue,
        )
        attached = False
        try:
            handle = await self._client.start_workflow(
                JourneyMigrationWorkflow.run,
                inp,
                id=plan.migration_id,
                task_queue=self._settings.workflow_task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary=f"Migrate `{plan.journey_id}` v{plan.from_version} → v{plan.to_version}",
            )
        except WorkflowAlreadyStartedError:
            attached = True
            handle = self._client.get_workflow_handle_for(JourneyMigrationWorkflow.run, plan.migration_id)
        return MigrationRun(report=await handle.result(), attached=attached)

    async def report(self, migration_id: str) -> MigrationReport:
        return await self._client.get_workflow_handle_for(JourneyMigrationWorkflow.run, migration_id).query(
            JourneyMigrationWorkflow.report
        )

    async def _count(self, query: str) -> int:
        try:
            return (await self._client.count_workflows(query)).count
        except RPCError as err:
            if err.status == RPCStatusCode.INVALID_ARGUMENT:
                raise MigrationInputError(f"where: the server cannot read the query ({err.message})") from None
            raise
