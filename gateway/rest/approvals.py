"""`/v1/approvals`: everything waiting for one approver — content items in review, campaign
launches and budget proposals — in one request (one visibility query per workflow type,
run concurrently). Decide with each type's own `.../decisions` endpoint."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from temporalio.client import Client

from gateway import deps
from gateway.errors import ApiError, error_responses
from gateway.models import PERSON_PATTERN, PendingApprovals
from gateway.rest.campaigns import checked_person, find_budget_proposals, find_campaigns
from gateway.rest.content import find_content
from gateway.security import Principal, Scope, person, require_any
from gateway.settings import GatewaySettings
from workflows.campaign_models import BudgetStatus, CampaignStatus
from workflows.content_models import ContentStage

ERRORS = error_responses(401, 403, 422, 429)

router = APIRouter(prefix="/v1/approvals", tags=["approvals"], responses=ERRORS)


def approver_for(principal: Principal, approver: str | None) -> str:
    """Whose queue the caller may see: their own with an approve key bound to them, anyone's
    with the read scope. No `approver` means the key's person (403 for keys bound to nobody)."""
    own = approver is None or approver == principal.approver
    if not (own and principal.approver and principal.allows(Scope.APPROVE)) and not principal.allows(Scope.READ):
        raise ApiError(
            403,
            "forbidden",
            f"authorization: key {principal.key_id!r} lacks the 'read' scope "
            f"(an approve key sees its own person's queue only)",
        )
    return approver if approver is not None else person(principal)


async def find_pending(client: Client, task_queue: str, approver: str, limit: int) -> PendingApprovals:
    """What waits for `approver` now, per type (visibility lags the workflows by a moment)."""
    checked_person(approver, "approver")
    content, campaigns, proposals = await asyncio.gather(
        find_content(client, task_queue, ContentStage.IN_REVIEW, approver, limit),
        find_campaigns(client, task_queue, CampaignStatus.AWAITING_APPROVAL, approver, limit),
        find_budget_proposals(client, task_queue, approver, None, BudgetStatus.AWAITING_APPROVAL, limit),
    )
    return PendingApprovals(
        approver=approver, content=content.items, campaigns=campaigns.items, budget_proposals=proposals.items
    )


@router.get(
    "",
    response_model=PendingApprovals,
    summary="Content, campaigns and budget proposals waiting for an approver (default: the key's person)",
)
async def pending(
    approver: Annotated[str | None, Query(pattern=PERSON_PATTERN, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many of each type")] = 50,
    principal: Principal = Depends(require_any(Scope.READ, Scope.APPROVE)),
    client: Client = Depends(deps.client),
    settings: GatewaySettings = Depends(deps.settings),
) -> PendingApprovals:
    """Scope read for anyone's queue; an approve key may ask for its own person's."""
    return await find_pending(client, settings.workflow_task_queue, approver_for(principal, approver), limit)
