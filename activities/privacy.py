"""Right-to-erasure activities: end a lead's workflows, then delete its copies on each platform.

- `privacy.end_lead_workflows` (workflow queue): signal `erase` to the lead's pending double
  opt-ins (found by a visibility list: one per form), then to its journey and contact sync,
  and wait until each has closed (heartbeating while it waits). The confirmations come first,
  so none can start a journey after the journey has been ended.
- `privacy.erase_crm` (CRM queue): HubSpot GDPR delete (permanent).
- `privacy.erase_email` (email queue): delete the SendGrid marketing contact and keep the
  address on the global suppression list: the one thing kept, so the person is never
  emailed again (an opt-out must outlive the erasure).
- `privacy.erase_cdp` (CDP queue): Braze user delete.
- `privacy.erase_audience` (Meta queue): remove from the Custom Audience.

The lead's data key is destroyed afterwards, by `starter.service.privacy` (mops/keystore.py).
"""

from __future__ import annotations

import asyncio
import contextlib

from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import (
    PRIVACY_END_LEAD_WORKFLOWS,
    PRIVACY_ERASE_AUDIENCE,
    PRIVACY_ERASE_CDP,
    PRIVACY_ERASE_CRM,
    PRIVACY_ERASE_EMAIL,
)
from activities.errors import platform_errors
from activities.privacy_models import (
    EndLeadWorkflowsInput,
    EndLeadWorkflowsResult,
    EraseOnPlatformInput,
    EraseOnPlatformResult,
)
from domain.leads import lead_workflow_id
from domain.privacy import RUNNING_CONFIRMATIONS, bare_lead_id, contact_sync_workflow_id, lead_of_workflow
from integrations.braze import BrazeClient
from integrations.hubspot_contacts import HubSpotContactsClient
from integrations.meta_audiences import MetaAudienceClient
from integrations.sendgrid_contacts import SendGridContactsClient

HEARTBEAT_EVERY_S = 2.0


class PrivacyActivities:
    def __init__(
        self,
        client: Client,
        *,
        hubspot: HubSpotContactsClient,
        sendgrid: SendGridContactsClient,
        meta: MetaAudienceClient,
        braze: BrazeClient | None,
        audience_id: str | None,
    ) -> None:
        self._client = client
        self._hubspot = hubspot
        self._sendgrid = sendgrid
        self._meta = meta
        self._braze = braze
        self._audience_id = audience_id

    @activity.defn(name=PRIVACY_END_LEAD_WORKFLOWS.name)
    async def end_lead_workflows(self, inp: EndLeadWorkflowsInput) -> EndLeadWorkflowsResult:
        result = EndLeadWorkflowsResult()
        request = {"erasure_id": inp.erasure_id, "requested_by": inp.requested_by}
        confirmations = await self._pending_confirmations(bare_lead_id(inp.lead_id))
        for workflow_id in (*confirmations, lead_workflow_id(inp.lead_id), contact_sync_workflow_id(inp.lead_id)):
            handle = self._client.get_workflow_handle(workflow_id)
            try:
                await handle.signal("erase", request)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                result.ended[workflow_id] = "not_running"
                continue
            await _until_closed(handle)
            result.ended[workflow_id] = "ended"
        return result

    async def _pending_confirmations(self, lead_id: str) -> list[str]:
        # Their ids name the form, which an erasure does not know; the running ones of every
        # form are few (each lives only as long as its link).
        listed = self._client.list_workflows(RUNNING_CONFIRMATIONS)
        return sorted({e.id async for e in listed if lead_of_workflow(e.id) == lead_id})

    @activity.defn(name=PRIVACY_ERASE_CRM.name)
    @platform_errors
    async def erase_crm(self, inp: EraseOnPlatformInput) -> EraseOnPlatformResult:
        deleted = await self._hubspot.gdpr_delete(inp.email)
        return EraseOnPlatformResult(platform="crm", outcome="deleted" if deleted else "not_found")

    @activity.defn(name=PRIVACY_ERASE_EMAIL.name)
    @platform_errors
    async def erase_email(self, inp: EraseOnPlatformInput) -> EraseOnPlatformResult:
        await self._sendgrid.add_global_suppression(inp.email)
        found = await self._sendgrid.find_contacts([inp.email])
        ids = [str(c["id"]) for c in found.values() if c.get("id")]
        await self._sendgrid.delete_contacts(ids)
        return EraseOnPlatformResult(platform="email", outcome="deleted, suppressed" if ids else "suppressed")

    @activity.defn(name=PRIVACY_ERASE_CDP.name)
    @platform_errors
    async def erase_cdp(self, inp: EraseOnPlatformInput) -> EraseOnPlatformResult:
        if self._braze is None:
            return EraseOnPlatformResult(platform="cdp", outcome="skipped (no CDP configured)")
        deleted = await self._braze.delete([inp.lead_id])
        return EraseOnPlatformResult(platform="cdp", outcome="deleted" if deleted else "not_found")

    @activity.defn(name=PRIVACY_ERASE_AUDIENCE.name)
    @platform_errors
    async def erase_audience(self, inp: EraseOnPlatformInput) -> EraseOnPlatformResult:
        audience = inp.audience_id or self._audience_id
        if not audience:
            return EraseOnPlatformResult(platform="ads", outcome="skipped (no audience configured)")
        await self._meta.remove_users(audience, [inp.email])
        return EraseOnPlatformResult(platform="ads", outcome="removed")


async def _until_closed(handle) -> None:
    """Wait for the workflow to close (any way), heartbeating so a lost worker is noticed."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    beating = asyncio.create_task(beat())
    try:
        with contextlib.suppress(WorkflowFailureError):  # failed / terminated / cancelled: closed all the same
            await handle.result(follow_runs=True)
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
