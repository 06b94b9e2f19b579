"""How a capture starts a lead's journey or records a touch on the running one: one way,
used by `LeadService.capture` (a single capture) and by the list import's activity.

It sits in the worker room, below the service and above the workflows, because the
import's activity runs in the worker and starts journeys by their typed workflow
(`LeadJourneyWorkflow.run` and its `capture` update), which activities/ may not import.
"""

from __future__ import annotations

from typing import cast

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from domain.conversions import ConversionPlan
from domain.journeys import JourneySpec
from domain.leads import LeadCapture, lead_key, lead_workflow_id
from mops.queues import platform_queues
from mops.settings import Settings
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.lead_models import CaptureResult, LeadJourneyInput
from workflows.search_attributes import JOURNEY_ID, LEAD_STAGE


async def start_or_touch(
    client: Client,
    settings: Settings,
    capture: LeadCapture,
    *,
    journey: JourneySpec,
    conversions: ConversionPlan | None,
) -> CaptureResult:
    """Update-with-start: the journey (id `lead-<keyed hash of the email>`) pinning `journey`
    and `conversions` starts if it does not run, and the capture is applied once per
    `capture_id` (the update's id; the journey also keeps the ids it has seen), so a capture
    sent again is answered as before, not applied twice."""
    key = lead_key(capture.email, settings.lead_id_secret.get_secret_value())
    wf_id = lead_workflow_id(key)
    start = WithStartWorkflowOperation(
        LeadJourneyWorkflow.run,
        LeadJourneyInput(
            lead_id=key,
            capture=capture,
            queues=platform_queues(settings),
            journey=journey,
            conversions=conversions,
            keys_per_entry=True,
        ),
        id=wf_id,
        task_queue=settings.workflow_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Lead journey `{capture.journey_id}` · source {capture.source.value}",
        static_details=f"Lead `{key}` captured {capture.captured_at.isoformat(timespec='seconds')}",
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(LEAD_STAGE, "new"), SearchAttributePair(JOURNEY_ID, capture.journey_id)]
        ),
    )
    # The SDK types an async update method's result as its coroutine: the answer is a CaptureResult.
    return cast(
        CaptureResult,
        await client.execute_update_with_start_workflow(
            LeadJourneyWorkflow.capture, capture, start_workflow_operation=start, id=f"capture-{capture.capture_id}"
        ),
    )
