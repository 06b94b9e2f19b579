"""`/v1/content`: submit a brief, state, list, decisions, revisions, retract.

Who decides, revises or retracts is always the API key's bound person, never a
field of the body; the workflow's update validators decide whether that person may.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from temporalio.client import Client

from gateway import deps
from gateway.errors import ApiError, error_responses
from gateway.models import (
    CONTENT_ID_PATTERN,
    PERSON_PATTERN,
    BriefRequest,
    ContentList,
    ContentSubmitted,
    ContentSummary,
    DecisionRequest,
    RetractAccepted,
    RetractBody,
    RevisionAccepted,
    RevisionRequest,
)
from gateway.security import Principal, Scope, person, require
from gateway.settings import GatewaySettings
from starter.service.content import ContentService, prepare
from workflows.content_models import ContentStage, ContentView, DecisionResult, Revision
from workflows.search_attributes import APPROVAL_STATE, CONTENT_STAGE, CONTENT_TYPE, PENDING_APPROVERS

ERRORS = error_responses(401, 403, 404, 409, 422, 429)
ContentId = Annotated[str, Path(pattern=CONTENT_ID_PATTERN)]

router = APIRouter(prefix="/v1/content", tags=["content"], responses=ERRORS)


@router.post(
    "",
    status_code=201,
    response_model=ContentSubmitted,
    summary="Submit a brief (201 when started; 200 when that item is already running)",
)
async def submit(
    brief: BriefRequest,
    response: Response,
    principal: Principal = Depends(require(Scope.INGEST)),
    settings: GatewaySettings = Depends(deps.settings),
    content: ContentService = Depends(deps.content),
) -> ContentSubmitted:
    if principal.approver and brief.author != principal.approver:
        raise ApiError(403, "forbidden", f"author: key {principal.key_id!r} submits as {principal.approver!r} only")
    inp = prepare(settings, brief.model_dump(mode="json", exclude_unset=True))
    workflow_id, created = await content.submit(inp)
    if not created:
        response.status_code = 200
    return ContentSubmitted(
        workflow_id=workflow_id, content_id=inp.brief.content_id, created=created, stages=inp.stages
    )


@router.get("/{content_id}", response_model=ContentView, summary="An item's state: findings, decisions, channels")
async def state(
    content_id: ContentId,
    _: Principal = Depends(require(Scope.READ)),
    content: ContentService = Depends(deps.content),
) -> ContentView:
    return await content.state(content_id)


@router.get("", response_model=ContentList, summary="Items by stage and/or pending approver (visibility)")
async def list_content(
    stage: ContentStage | None = None,
    pending_approver: Annotated[str | None, Query(pattern=PERSON_PATTERN, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    _: Principal = Depends(require(Scope.READ)),
    client: Client = Depends(deps.client),
    settings: GatewaySettings = Depends(deps.settings),
) -> ContentList:
    return await find_content(client, settings.workflow_task_queue, stage, pending_approver, limit)


async def find_content(
    client: Client, task_queue: str, stage: ContentStage | None, pending_approver: str | None, limit: int
) -> ContentList:
    """Items by stage and/or pending approver from Temporal visibility (REST, GraphQL and
    the approval page), scoped to this deployment's workflow queue. Both values are
    validated (enum, person-id pattern) before they reach the query."""
    if pending_approver is not None and (
        len(pending_approver) > 64 or not re.fullmatch(PERSON_PATTERN, pending_approver)
    ):
        raise ApiError(422, "invalid_request", "pending_approver: must be a person id like 'omar'")
    query = f"WorkflowType = 'Content' AND TaskQueue = '{query_literal(task_queue)}'"
    if stage is not None:
        query += f" AND ContentStage = '{stage.value}'"
    if pending_approver is not None:
        query += f" AND PendingApprovers = '{pending_approver}'"
    items = []
    async for wf in client.list_workflows(query, limit=limit, page_size=min(limit, 1000)):
        attrs = wf.typed_search_attributes
        items.append(
            ContentSummary(
                content_id=wf.id.removeprefix("content-"),
                workflow_id=wf.id,
                stage=attrs.get(CONTENT_STAGE),
                type=attrs.get(CONTENT_TYPE),
                approval_state=attrs.get(APPROVAL_STATE),
                pending_approvers=list(attrs.get(PENDING_APPROVERS) or []),
                status=wf.status.name.lower() if wf.status else None,
            )
        )
    return ContentList(items=items)


def query_literal(value: str) -> str:
    """A settings value inside a visibility query's single quotes."""
    if "'" in value or "\\" in value:
        raise ValueError("task queue names with quotes or backslashes are not supported")
    return value


@router.post(
    "/{content_id}/decisions",
    response_model=DecisionResult,
    summary="Approve, reject or request changes, as the key's approver",
)
async def decide(
    content_id: ContentId,
    body: DecisionRequest,
    principal: Principal = Depends(require(Scope.APPROVE)),
    content: ContentService = Depends(deps.content),
) -> DecisionResult:
    """200 accepted; 403 not an approver / the author; 409 stale revision, already decided,
    not in review; 422 invalid body (e.g. reject without a comment)."""
    return await content.decide(
        content_id, approver=person(principal), kind=body.kind, comment=body.comment, revision=body.revision
    )


@router.post(
    "/{content_id}/revisions",
    response_model=RevisionAccepted,
    summary="A new revision from the author (the key's person)",
)
async def revise(
    content_id: ContentId,
    body: RevisionRequest,
    principal: Principal = Depends(require(Scope.APPROVE)),
    content: ContentService = Depends(deps.content),
) -> RevisionAccepted:
    revision = Revision(author=person(principal), **body.model_dump())
    return RevisionAccepted(content_id=content_id, revision=await content.revise(content_id, revision))


@router.post(
    "/{content_id}/retract",
    status_code=202,
    response_model=RetractAccepted,
    summary="Unpublish everywhere (author or approvers)",
)
async def retract(
    content_id: ContentId,
    body: RetractBody,
    principal: Principal = Depends(require(Scope.APPROVE)),
    content: ContentService = Depends(deps.content),
) -> RetractAccepted:
    await content.retract(content_id, requested_by=person(principal), reason=body.reason)
    return RetractAccepted(content_id=content_id)
