"""Reads a campaign workflow's state for the budget workflow (workflows cannot query
one another; an activity with a Temporal client can). Hosted on the workflow queue."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, RPCError, RPCStatusCode

from activities.contracts import CAMPAIGNS_SNAPSHOT
from activities.models import CampaignSnapshotInput, CampaignSnapshotResult


class CampaignActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name=CAMPAIGNS_SNAPSHOT.name)
    async def snapshot(self, inp: CampaignSnapshotInput) -> CampaignSnapshotResult:
        handle = self._client.get_workflow_handle(inp.workflow_id)
        try:
            view = await handle.query("state", result_type=dict)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return CampaignSnapshotResult(found=False)
            raise
        return CampaignSnapshotResult(found=True, view=view)
