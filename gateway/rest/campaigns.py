"""`/v1/campaigns` and `/v1/budget-proposals`: state, lists (visibility), launch and budget
decisions, stop.

Campaigns are launched from their YAML files with the CLI (`mops campaign launch`); here
other services and dashboards read them and the people they wait for decide. Who decides
or stops is always the API key's bound person, never a field of the body; the
workflows' update validators decide whether that person may (refusals are mapped to
statuses by their codes in `domain.refusals`, as for content).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from temporalio.client import Client

from domain.campaigns import CAMPAIGN_ID_PATTERN
from gateway import deps
from gateway.errors import ApiError, error_responses
from gateway.models import (
    BUDGET_WORKFLOW_ID_PATTERN,
    PERSON_PATTERN,
    ApprovalDecided,
    ApprovalDecisionRequest,
    BudgetProposalList,
    BudgetProposalSummary,
    CampaignList,
    CampaignSummary,
    StopAccepted,
    StopBody,
)
from gateway.rest.content import query_literal
from gateway.security import Principal, Scope, person, require
from gateway.settings import GatewaySettings
from starter.service.campaigns import CampaignService
from workflows.campaign_models import BudgetStatus, BudgetView, CampaignStatus, CampaignView
from workflows.search_attributes import (
    APPROVAL_STATE,
    BUDGET_STATE,
    CAMPAIGN_ID,
    CAMPAIGN_STATUS,
    CHANNELS,
    PENDING_APPROVERS,
)

ERRORS = error_responses(401, 403, 404, 409, 422, 429)
CampaignId = Annotated[str, Path(pattern=CAMPAIGN_ID_PATTERN, description="The campaign id (as in its file)")]
ProposalId = Annotated[
    str,
    Path(
        pattern=BUDGET_WORKFLOW_ID_PATTERN,
        max_length=160,
        description="The reallocation's workflow id, e.g. `budget-spring-3f2a9c1b`",
    ),
]
Approver = Annotated[str | None, Query(pattern=PERSON_PATTERN, max_length=64)]

campaigns = APIRouter(prefix="/v1/campaigns", tags=["campaigns"], responses=ERRORS)
proposals = APIRouter(prefix="/v1/budget-proposals", tags=["budget proposals"], responses=ERRORS)


def checked_person(value: str | None, field: str) -> str | None:
    """A person id that may go into a visibility query (REST validates it too; GraphQL
    and the approval page pass strings through here)."""
    if value is not None and (len(value) > 64 or not re.fullmatch(PERSON_PATTERN, value)):
        raise ApiError(422, "invalid_request", f"{field}: must be a person id like 'dana'")
    return value


def _status(wf) -> str | None:
    return wf.status.name.lower() if wf.status else None


# --- campaigns ---------------------------------------------------------------------------------


@campaigns.get(
    "/{campaign_id}",
    response_model=CampaignView,
    summary="A campaign's state: channels, approval, figures, pacing, budget changes",
)
async def state(
    campaign_id: CampaignId,
    _: Principal = Depends(require(Scope.READ)),
    service: CampaignService = Depends(deps.campaigns),
) -> CampaignView:
    return await service.state(campaign_id)


@campaigns.get("", response_model=CampaignList, summary="Campaigns by status and/or pending approver (visibility)")
async def list_campaigns(
    status: CampaignStatus | None = None,
    pending_approver: Approver = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    _: Principal = Depends(require(Scope.READ)),
    client: Client = Depends(deps.client),
    settings: GatewaySettings = Depends(deps.settings),
) -> CampaignList:
    return await find_campaigns(client, settings.workflow_task_queue, status, pending_approver, limit)


async def find_campaigns(
    client: Client, task_queue: str, status: CampaignStatus | None, pending_approver: str | None, limit: int
) -> CampaignList:
    """Campaigns from Temporal visibility (REST, GraphQL, the approval page), scoped to this
    deployment's workflow queue. `status` is an enum, the approver a checked person id."""
    checked_person(pending_approver, "pending_approver")
    query = f"WorkflowType = 'Campaign' AND TaskQueue = '{query_literal(task_queue)}'"
    if status is not None:
        query += f" AND CampaignStatus = '{CampaignStatus(status).value}'"
    if pending_approver is not None:
        query += f" AND PendingApprovers = '{pending_approver}'"
    items = []
    async for wf in client.list_workflows(query, limit=limit, page_size=min(limit, 1000)):
        attrs = wf.typed_search_attributes
        items.append(
            CampaignSummary(
                campaign_id=attrs.get(CAMPAIGN_ID) or wf.id.removeprefix("campaign-"),
                workflow_id=wf.id,
                status=attrs.get(CAMPAIGN_STATUS),
                channels=list(attrs.get(CHANNELS) or []),
                budget_state=attrs.get(BUDGET_STATE),
                approval_state=attrs.get(APPROVAL_STATE),
                pending_approvers=list(attrs.get(PENDING_APPROVERS) or []),
                execution_status=_status(wf),
            )
        )
    return CampaignList(items=items)


@campaigns.post(
    "/{campaign_id}/decisions",
    response_model=ApprovalDecided,
    summary="Approve or reject a campaign's launch, as the key's person",
)
async def decide(
    campaign_id: CampaignId,
    body: ApprovalDecisionRequest,
    principal: Principal = Depends(require(Scope.APPROVE)),
    service: CampaignService = Depends(deps.campaigns),
) -> ApprovalDecided:
    """200 accepted; 403 not an approver / the campaign's owner; 409 not waiting for
    decisions, already decided; 422 invalid body (e.g. reject without a comment)."""
    result = await service.decide(campaign_id, approver=person(principal), kind=body.kind, comment=body.comment)
    return ApprovalDecided(**result.model_dump())


@campaigns.post(
    "/{campaign_id}/stop",
    status_code=202,
    response_model=StopAccepted,
    summary="End the campaign now: every ad paused, final report (owner or approvers)",
)
async def stop(
    campaign_id: CampaignId,
    body: StopBody,
    principal: Principal = Depends(require(Scope.APPROVE)),
    service: CampaignService = Depends(deps.campaigns),
) -> StopAccepted:
    """202 the stop is recorded (the workflow pauses and reports asynchronously); 403 neither
    owner nor approver; 409 nothing to stop (already ended or stopping)."""
    await service.stop(campaign_id, requested_by=person(principal), reason=body.reason)
    return StopAccepted(campaign_id=campaign_id)


# --- budget proposals --------------------------------------------------------------------------


@proposals.get(
    "",
    response_model=BudgetProposalList,
    summary="Budget reallocations by pending approver, campaign and/or status (visibility)",
)
async def list_proposals(
    pending_approver: Approver = None,
    campaign_id: Annotated[str | None, Query(pattern=CAMPAIGN_ID_PATTERN)] = None,
    status: BudgetStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    _: Principal = Depends(require(Scope.READ)),
    client: Client = Depends(deps.client),
    settings: GatewaySettings = Depends(deps.settings),
) -> BudgetProposalList:
    return await find_budget_proposals(
        client, settings.workflow_task_queue, pending_approver, campaign_id, status, limit
    )


async def find_budget_proposals(
    client: Client,
    task_queue: str,
    pending_approver: str | None,
    campaign_id: str | None,
    status: BudgetStatus | None,
    limit: int,
) -> BudgetProposalList:
    """Budget reallocation runs from Temporal visibility, scoped to this deployment's queue."""
    checked_person(pending_approver, "pending_approver")
    if campaign_id is not None and not re.fullmatch(CAMPAIGN_ID_PATTERN, campaign_id):
        raise ApiError(422, "invalid_request", "campaign_id: not a campaign id")
    query = f"WorkflowType = 'BudgetReallocation' AND TaskQueue = '{query_literal(task_queue)}'"
    if pending_approver is not None:
        query += f" AND PendingApprovers = '{pending_approver}'"
    if campaign_id is not None:
        query += f" AND CampaignId = '{campaign_id}'"
    if status is not None:
        query += f" AND BudgetState = '{BudgetStatus(status).value}'"
    items = []
    async for wf in client.list_workflows(query, limit=limit, page_size=min(limit, 1000)):
        attrs = wf.typed_search_attributes
        items.append(
            BudgetProposalSummary(
                workflow_id=wf.id,
                campaign_id=attrs.get(CAMPAIGN_ID),
                status=attrs.get(BUDGET_STATE),
                approval_state=attrs.get(APPROVAL_STATE),
                pending_approvers=list(attrs.get(PENDING_APPROVERS) or []),
                execution_status=_status(wf),
            )
        )
    return BudgetProposalList(items=items)


@proposals.get(
    "/{workflow_id}",
    response_model=BudgetView,
    summary="A proposal: current vs proposed daily budgets, reasons, decisions, applied changes",
)
async def proposal_state(
    workflow_id: ProposalId,
    _: Principal = Depends(require(Scope.READ)),
    service: CampaignService = Depends(deps.campaigns),
) -> BudgetView:
    return await service.budget_state(workflow_id)


@proposals.post(
    "/{workflow_id}/decisions",
    response_model=ApprovalDecided,
    summary="Approve or reject a budget proposal, as the key's person",
)
async def decide_proposal(
    workflow_id: ProposalId,
    body: ApprovalDecisionRequest,
    principal: Principal = Depends(require(Scope.APPROVE)),
    service: CampaignService = Depends(deps.campaigns),
) -> ApprovalDecided:
    """200 accepted; 403 not an approver / the requester; 409 not waiting for decisions,
    already decided; 422 invalid body."""
    result = await service.budget_decide(workflow_id, approver=person(principal), kind=body.kind, comment=body.comment)
    return ApprovalDecided(**result.model_dump())
