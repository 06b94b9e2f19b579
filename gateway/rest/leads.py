"""`/v1/leads`: capture, events, unsubscribe, state, list by stage; `/v1/unsubscribe/{token}`."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Path, Query, Request
from temporalio.client import Client

from domain.leads import LeadStage
from domain.unsubscribe import verify_token
from gateway import deps
from gateway.errors import ApiError, error_responses
from gateway.models import (
    LEAD_ID_PATTERN,
    Accepted,
    CaptureRequest,
    EventAccepted,
    EventRequest,
    LeadList,
    LeadSummary,
    UnsubscribeRequest,
)
from gateway.rest.content import query_literal
from gateway.security import Principal, Scope, require
from gateway.settings import GatewaySettings
from starter.service.leads import LeadService, build_capture, build_event
from starter.service.privacy import PrivacyService
from workflows.lead_models import CaptureResult, LeadState
from workflows.search_attributes import LEAD_SCORE, LEAD_STAGE, OWNER_ID, SEGMENT

ERRORS = error_responses(401, 403, 404, 422, 429)
LeadId = Annotated[str, Path(pattern=LEAD_ID_PATTERN, description="The lead id (24 hex), with or without `lead-`")]

router = APIRouter(prefix="/v1", tags=["leads"], responses=ERRORS)


def _bare(lead_id: str) -> str:
    return lead_id.removeprefix("lead-")


@router.post("/leads", response_model=CaptureResult, summary="Capture a lead (idempotent by email)")
async def capture(
    body: CaptureRequest,
    _: Principal = Depends(require(Scope.INGEST)),
    settings: GatewaySettings = Depends(deps.settings),
    leads: LeadService = Depends(deps.leads),
) -> CaptureResult:
    """Starts the lead's journey, or records a touch on the running one (`created` tells which)."""
    return await leads.capture(build_capture(settings, **body.model_dump()))


@router.post(
    "/leads/{lead_id}/events",
    status_code=202,
    response_model=EventAccepted,
    summary="Record an engagement event (idempotent by event_id)",
)
async def record_event(
    lead_id: LeadId,
    body: EventRequest,
    _: Principal = Depends(require(Scope.INGEST)),
    leads: LeadService = Depends(deps.leads),
) -> EventAccepted:
    event = build_event(**body.model_dump())
    await leads.record_event(event, lead_id=_bare(lead_id))
    return EventAccepted(lead_id=_bare(lead_id), event_id=event.event_id)


@router.post("/leads/{lead_id}/unsubscribe", status_code=202, response_model=Accepted, summary="Unsubscribe a lead")
async def unsubscribe(
    lead_id: LeadId,
    body: UnsubscribeRequest | None = None,
    _: Principal = Depends(require(Scope.INGEST)),
    privacy: PrivacyService = Depends(deps.privacy),
) -> Accepted:
    """The opt-out reaches every platform (email suppression first, then CRM, ad audience, CDP)."""
    await privacy.opt_out(lead_id=_bare(lead_id), source=(body or UnsubscribeRequest()).source)
    return Accepted(lead_id=_bare(lead_id))


@router.get("/leads/{lead_id}", response_model=LeadState, summary="A lead's state (stage, score, owner, next step)")
async def state(
    lead_id: LeadId,
    _: Principal = Depends(require(Scope.READ)),
    leads: LeadService = Depends(deps.leads),
) -> LeadState:
    return await leads.state(lead_id=_bare(lead_id))


@router.get("/leads", response_model=LeadList, summary="Leads in a stage (from Temporal visibility)")
async def list_leads(
    stage: LeadStage,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    _: Principal = Depends(require(Scope.READ)),
    client: Client = Depends(deps.client),
    settings: GatewaySettings = Depends(deps.settings),
) -> LeadList:
    return await find_leads(client, settings.workflow_task_queue, stage, limit)


async def find_leads(client: Client, task_queue: str, stage: LeadStage, limit: int) -> LeadList:
    """Leads in `stage` from Temporal visibility (REST `GET /v1/leads` and GraphQL `leads`),
    scoped to this deployment's workflow queue."""
    # `stage` is an enum value and the queue comes from settings: no caller text.
    query = (
        f"WorkflowType = 'LeadJourney' AND TaskQueue = '{query_literal(task_queue)}' AND LeadStage = '{stage.value}'"
    )
    leads = []
    async for wf in client.list_workflows(query, limit=limit, page_size=min(limit, 1000)):
        attrs = wf.typed_search_attributes
        leads.append(
            LeadSummary(
                lead_id=wf.id.removeprefix("lead-"),
                workflow_id=wf.id,
                stage=attrs.get(LEAD_STAGE),
                score=attrs.get(LEAD_SCORE),
                segment=attrs.get(SEGMENT),
                owner_id=attrs.get(OWNER_ID),
                status=wf.status.name.lower() if wf.status else None,
            )
        )
    return LeadList(leads=leads)


@router.post(
    "/unsubscribe/{token}",
    status_code=200,
    response_model=Accepted,
    tags=["unsubscribe"],
    summary="RFC 8058 one-click unsubscribe (the signed token is the credential)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {"List-Unsubscribe": {"type": "string", "enum": ["One-Click"]}},
                        "required": ["List-Unsubscribe"],
                    }
                }
            },
        }
    },
)
async def one_click_unsubscribe(
    token: Annotated[str, Path(max_length=200)],
    request: Request,
    settings: GatewaySettings = Depends(deps.settings),
    privacy: PrivacyService = Depends(deps.privacy),
) -> Accepted:
    lead_id = verify_token(settings.gateway_unsubscribe_secret.get_secret_value(), token)
    if lead_id is None:
        raise ApiError(404, "unknown_token", "token: not a valid unsubscribe link")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise ApiError(
            415,
            "unsupported_media_type",
            "content-type: send application/x-www-form-urlencoded (List-Unsubscribe=One-Click)",
        )
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    if form.get("List-Unsubscribe") != ["One-Click"]:
        raise ApiError(422, "invalid_request", "List-Unsubscribe: must be 'One-Click'")
    await privacy.opt_out(lead_id=lead_id, source="one-click")
    return Accepted(lead_id=lead_id)
