"""`/v1/imports`: upload a CSV list of leads; read an import's progress and report.

The upload is the file itself as the body (`Content-Type: text/csv`), the options as query
parameters, as `mops lead import` takes them. It is validated and staged before the
answer (202, the import's id and counts); the rejected rows are in `GET /v1/imports/{id}`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from gateway import deps
from gateway.errors import ApiError, error_responses
from gateway.security import Principal, Scope, require
from gateway.settings import GatewaySettings
from starter.service.lead_imports import ImportStarted, ImportStatus, LeadImportService, prepare_import

UPLOAD_PATH = "/v1/imports"
IMPORT_ID_PATTERN = r"^import-[a-z0-9][a-z0-9-]{0,62}-[0-9a-f]{32}$"

router = APIRouter(prefix="/v1", tags=["imports"], responses=error_responses(401, 403, 404, 413, 415, 422, 429))


@router.post(
    "/imports",
    status_code=202,
    response_model=ImportStarted,
    summary="Import a CSV list of leads (the same file into the same journey again does nothing)",
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def upload(
    request: Request,
    journey: Annotated[str, Query(description="The journey every row's lead starts.")],
    column_map: Annotated[str, Query(alias="map", description="email=Email,first_name=First,...")],
    consent_source: Annotated[str | None, Query(description="Where the list's consent was given.")] = None,
    rate: Annotated[float | None, Query(gt=0, le=100, description="Captures per second.")] = None,
    file_name: Annotated[str, Query(max_length=200)] = "upload.csv",
    _: Principal = Depends(require(Scope.INGEST)),
    settings: GatewaySettings = Depends(deps.settings),
    imports: LeadImportService = Depends(deps.imports),
) -> ImportStarted:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "text/csv":
        raise ApiError(415, "unsupported_media_type", "content-type: send the file as text/csv")
    prepared = await asyncio.to_thread(  # a large file takes a while to validate: off the event loop
        prepare_import,
        settings,
        await request.body(),
        file_name=file_name,
        column_map=column_map,
        journey_id=journey,
        consent_source=consent_source,
    )
    return await imports.start(prepared, rows_per_second=rate)


@router.get("/imports/{import_id}", response_model=ImportStatus, summary="An import's progress and rejected rows")
async def status(
    import_id: Annotated[str, Path(pattern=IMPORT_ID_PATTERN)],
    _: Principal = Depends(require(Scope.READ)),
    imports: LeadImportService = Depends(deps.imports),
) -> ImportStatus:
    return await imports.status(import_id)
