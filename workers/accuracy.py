"""Data accuracy, watched: the two Schedules every worker process makes sure of at start (as it
does the health check's) and the reading of their results.

- the compliance check (`mode=compliance`: consent across the platforms; any mismatch is
  alerted to `MOPS_COMPLIANCE_ALERT_CHANNEL`, since one opt-out not honoured is one too many),
  every `MOPS_COMPLIANCE_CHECK_EVERY`;
- the data reconciliation (`mode=data`: every owned field and consent; alerted to
  `MOPS_ALERT_CHAT_CHANNEL` when the accuracy is below `MOPS_DATA_ACCURACY_OBJECTIVE`),
  every `MOPS_RECONCILE_EVERY`.

Both repair what they find. A Schedule that is already there is kept as it is (`mops compliance
schedule --every` changes the compliance one); `off` creates none.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    SchedulePolicy,
    ScheduleSpec,
)

from mops.queues import contact_platforms, sync_queues
from mops.settings import Settings
from workflows.privacy_models import ReconcileInput, ReconcileReport
from workflows.reconcile import ReconciliationWorkflow


def reconcile_input(
    settings: Settings, mode: str, *, repair: bool = True, lead_ids: list[str] | None = None
) -> ReconcileInput:
    return ReconcileInput(
        mode=mode,
        task_queue=settings.workflow_task_queue,
        queues=sync_queues(settings),
        platforms=[p for p in contact_platforms(settings) if p != "ads"],
        lead_ids=lead_ids or [],
        repair=repair,
        alert_channel=settings.compliance_alert_channel if mode == "compliance" else settings.alert_chat_channel,
        chat_queue=settings.chat_task_queue,
        objective=settings.data_accuracy_objective,
    )


def accuracy_schedule(settings: Settings, mode: str, every: timedelta) -> Schedule:
    schedule_id = settings.compliance_schedule_id if mode == "compliance" else settings.reconcile_schedule_id
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconciliationWorkflow.run,
            reconcile_input(settings, mode),
            id=schedule_id,
            task_queue=settings.workflow_task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(),  # a run that overlaps the next is skipped (the default)
    )


async def ensure_accuracy_schedules(client: Client, settings: Settings) -> list[str]:
    """Create the compliance and the data reconciliation Schedules that are missing; their ids."""
    made = []
    for mode, every, schedule_id in (
        ("compliance", settings.compliance_check_interval, settings.compliance_schedule_id),
        ("data", settings.reconcile_interval, settings.reconcile_schedule_id),
    ):
        if every is None:
            continue
        with contextlib.suppress(ScheduleAlreadyRunningError):  # already there: keep it
            await client.create_schedule(schedule_id, accuracy_schedule(settings, mode, every))
        made.append(schedule_id)
    return made


class AccuracyRun(BaseModel):
    """One finished check, as `mops sync accuracy` lists it (no personal data)."""

    workflow_id: str
    closed_at: datetime | None
    mode: str
    contacts: int
    compared: int
    mismatches: int
    accuracy: float | None  # None: nothing to compare
    objective: float
    met: bool
    mismatches_after: int | None


async def recent_accuracy(client: Client, settings: Settings, *, last: int = 10) -> list[AccuracyRun]:
    """The `last` finished compliance checks and data reconciliations of this deployment (its
    workflow queue), newest first."""
    runs: list[AccuracyRun] = []
    query = (
        "WorkflowType = 'Reconciliation' AND ExecutionStatus = 'Completed' "
        f"AND TaskQueue = '{settings.workflow_task_queue}'"
    )
    async for execution in client.list_workflows(query, limit=last):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id, result_type=ReconcileReport)
        report: ReconcileReport = await handle.result()
        runs.append(
            AccuracyRun(
                workflow_id=execution.id,
                closed_at=execution.close_time,
                mode=report.mode,
                contacts=report.contacts,
                compared=report.compared,
                mismatches=report.mismatches_before,
                accuracy=report.accuracy,
                objective=report.objective,
                met=report.met,
                mismatches_after=report.mismatches_after,
            )
        )
    runs.sort(key=lambda r: r.closed_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    return runs
