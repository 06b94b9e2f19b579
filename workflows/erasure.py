"""Right to erasure for one lead: end its workflows cleanly, then delete it everywhere.

Workflow type `LeadErasure`, id `erasure-<lead id>` (lead-scoped: its input holds the
address and is encrypted under the lead's own key, so it is shredded with the rest).

1. `privacy.end_lead_workflows`: the journey and the contact sync get `erase`, finish
   what is in flight (no half-sent email, no late platform write) and close.
2. In parallel, each platform's delete: HubSpot GDPR delete, SendGrid contact delete
   (the address stays on the global suppression list), Braze user delete, removal
   from the Meta Custom Audience. A platform that refuses is recorded, not retried
   forever: the erasure log says what happened where.

The caller (`starter.service.privacy.PrivacyService.erase`) then destroys the lead's data key
and writes the erasure log: from then on nothing this lead ever sent through Temporal
can be decoded, while every other lead still decodes and replays.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.contracts import ErrorType
    from activities.privacy_models import EndLeadWorkflowsInput, EraseOnPlatformInput
    from workflows.common import call, is_type, reason
    from workflows.privacy_models import ErasureInput, ErasureResult

ERASE_ACTIVITY = {
    "crm": act.PRIVACY_ERASE_CRM,
    "email": act.PRIVACY_ERASE_EMAIL,
    "cdp": act.PRIVACY_ERASE_CDP,
    "ads": act.PRIVACY_ERASE_AUDIENCE,
}
END_TIMEOUT = timedelta(minutes=10)
END_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name="LeadErasure")
class LeadErasureWorkflow:
    def __init__(self) -> None:
        self._steps: dict[str, str] = {}

    @workflow.run
    async def run(self, inp: ErasureInput) -> ErasureResult:
        workflow.set_current_details("**Step:** ending the lead's journey and contact sync")
        ended = await call(
            act.PRIVACY_END_LEAD_WORKFLOWS,
            EndLeadWorkflowsInput(lead_id=inp.lead_id, erasure_id=inp.erasure_id, requested_by=inp.requested_by),
            queue=inp.queues.workflows,
            summary="end the lead's journey and contact sync",
            retry=END_RETRY,
            timeout=END_TIMEOUT,
            heartbeat=timedelta(seconds=20),
        )
        for workflow_id, outcome in ended.ended.items():
            self._steps[f"end:{workflow_id.rsplit('-', 1)[0]}"] = outcome
        workflow.set_current_details("**Step:** deleting the lead on every platform")
        platforms = [p for p in inp.platforms if p in ERASE_ACTIVITY]
        await asyncio.gather(*(self._erase(inp, p) for p in platforms))
        workflow.set_current_details("**Done:** " + ", ".join(f"{k}: {v}" for k, v in sorted(self._steps.items())))
        return ErasureResult(lead_id=inp.lead_id, erasure_id=inp.erasure_id, steps=dict(self._steps))

    async def _erase(self, inp: ErasureInput, platform: str) -> None:
        queue = {"crm": inp.queues.crm, "email": inp.queues.email, "cdp": inp.queues.cdp, "ads": inp.queues.meta}[
            platform
        ]
        try:
            res = await call(
                ERASE_ACTIVITY[platform],
                EraseOnPlatformInput(lead_id=inp.lead_id, email=inp.email, audience_id=inp.audience_id),
                queue=queue,
                summary=f"erase on {platform}",
            )
            self._steps[f"erase:{platform}"] = res.outcome
        except ActivityError as err:
            if not is_type(err, ErrorType.PLATFORM_REJECTED):
                raise
            self._steps[f"erase:{platform}"] = f"refused ({reason(err)})"
