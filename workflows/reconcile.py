"""Reconciliation and compliance monitoring over every lead's contact sync.

Workflow type `Reconciliation` (ids `reconcile-<stamp>`, or the compliance schedule's).
Not lead-scoped: it carries lead ids and field names, never an address or a name.

1. `sync.scan`: every running contact sync's golden record against the copies in the
   CRM, the email platform and the CDP. `mode=data` compares owned fields and consent,
   `mode=compliance` consent only. Mismatch rate = mismatches / comparisons.
2. With `repair`, `sync.repair`: the drifted syncs write their record again, and an
   opt-out a platform shows that the record lacks is adopted first (the most
   restrictive answer wins: a lost unsubscribe webhook must not leave us mailing).
3. Re-scan until nothing is left (at most `verify_rounds`, with growing pauses).
4. With `alert_channel`: one chat message with the counts (no personal data). A compliance
   check alerts on any mismatch (one opt-out not honoured is one too many); a data run
   alerts when its accuracy (1 - mismatch rate, before repair) is below `objective`.

The Schedules that run both by default are made in `workers/accuracy.py`.

The report is the result and the Web UI's current details.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.models import NotifyInput
    from activities.policies import INTERNAL_RETRY
    from activities.privacy_models import RepairInput, ScanInput, ScanResult
    from workflows.common import call
    from workflows.privacy_models import ReconcileInput, ReconcileReport

SCAN_TIMEOUT = timedelta(minutes=30)
SCAN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=5
)
SAMPLE = 20


@workflow.defn(name="Reconciliation")
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, inp: ReconcileInput) -> ReconcileReport:
        before = await self._scan(inp)
        counts = Counter(f"{m.platform}/{m.field}" for m in before.mismatches)
        report = ReconcileReport(
            mode=inp.mode,
            contacts=before.contacts,
            compared=before.compared,
            mismatches_before=len(before.mismatches),
            rate_before=before.rate,
            by_platform=dict(sorted(counts.items())),
            sample=before.mismatches[:SAMPLE],
            objective=inp.objective,
        )
        self._details(report)
        if not before.mismatches and not before.withdrawals_seen:
            report.mismatches_after, report.rate_after = 0, 0.0
        elif inp.repair:
            leads = sorted({m.lead_id for m in before.mismatches} | set(before.withdrawals_seen))
            repaired = await call(
                act.SYNC_REPAIR,
                RepairInput(
                    lead_ids=leads,
                    withdrawals_seen=before.withdrawals_seen,
                    source=f"reconcile:{inp.mode}",
                    run_id=workflow.info().workflow_id,
                ),
                queue=inp.queues.workflows,
                summary=f"repair {len(leads)} contacts",
                retry=INTERNAL_RETRY,
            )
            report.repaired_leads = repaired.signalled
            report.adopted_withdrawals = sum(len(v) for v in before.withdrawals_seen.values())
            after = before
            for attempt in range(inp.verify_rounds):
                await workflow.sleep(timedelta(seconds=1 + attempt), summary="let the repairs reach the platforms")
                after = await self._scan(inp)
                if not after.mismatches:
                    break
            report.mismatches_after, report.rate_after = len(after.mismatches), after.rate
        # Old runs replay alike: a data run had no alert channel before it had an objective.
        if inp.alert_channel and report.mismatches_before and (inp.mode == "compliance" or not report.met):
            await call(
                act.CHAT_NOTIFY,
                NotifyInput(
                    idempotency_key=f"{workflow.info().workflow_id}:alert",
                    channel=inp.alert_channel,
                    text=self._alert_text(inp, report),
                ),
                queue=inp.chat_queue,
                summary="compliance alert" if inp.mode == "compliance" else "data accuracy alert",
            )
            report.alerted = True
        self._details(report)
        return report

    async def _scan(self, inp: ReconcileInput) -> ScanResult:
        return await call(
            act.SYNC_SCAN,
            ScanInput(mode=inp.mode, task_queue=inp.task_queue, platforms=inp.platforms, lead_ids=inp.lead_ids),
            queue=inp.queues.workflows,
            summary=f"compare {inp.mode} with the platforms",
            retry=SCAN_RETRY,
            timeout=SCAN_TIMEOUT,
            heartbeat=timedelta(minutes=2),
        )

    @staticmethod
    def _alert_text(inp: ReconcileInput, r: ReconcileReport) -> str:
        where = ", ".join(f"{k}: {v}" for k, v in r.by_platform.items())
        after = "not repaired" if r.mismatches_after is None else f"{r.mismatches_after} left after repair"
        return (
            f"{'Compliance' if inp.mode == 'compliance' else 'Sync'} check: {r.mismatches_before} mismatches "
            f"in {r.compared} comparisons over {r.contacts} contacts ({r.rate_before:.2%}); "
            f"accuracy {_percent(r.accuracy)} against an objective of {r.objective:.1%}; {where}; "
            f"{r.adopted_withdrawals} opt-outs adopted from platforms; {after}. "
            f"Run `{workflow.info().workflow_id}`."
        )

    @staticmethod
    def _details(r: ReconcileReport) -> None:
        lines = [
            f"**Contacts:** {r.contacts}  ·  **Comparisons:** {r.compared}",
            f"**Mismatches before:** {r.mismatches_before} ({r.rate_before:.3%})",
            f"**Accuracy:** {_percent(r.accuracy)} (objective {r.objective:.1%}: {'met' if r.met else 'NOT met'})",
        ]
        if r.mismatches_after is not None:
            lines.append(f"**After repair:** {r.mismatches_after} ({(r.rate_after or 0):.3%})")
        workflow.set_current_details("\n\n".join(lines))


def _percent(accuracy: float | None) -> str:
    return "n/a (nothing compared)" if accuracy is None else f"{accuracy:.2%}"
