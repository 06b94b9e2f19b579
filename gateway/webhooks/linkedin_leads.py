"""LinkedIn Lead Sync: `GET /webhooks/linkedin` (the endpoint validation) and
`POST /webhooks/linkedin` (lead notifications) → lead captures.

LinkedIn validates the endpoint with `?challengeCode=<uuid>` and expects `{"challengeCode",
"challengeResponse": hex HMAC-SHA256(client secret, challengeCode)}`; it signs each
notification with `X-LI-Signature: hmacsha256=<hex HMAC-SHA256(MOPS_LINKEDIN_CLIENT_SECRET,
raw body)>`, and a missing or wrong one is refused (401). A `CREATED` notification names the
response and its form only; the answers are read back (`LinkedInClient.lead_response`, with
`r_marketing_leadgen_automation` on MOPS_LINKEDIN_TOKEN) and captured as every lead ad is
(`gateway/webhooks/lead_ads.py`). Other actions (a `DELETED` lead) are acknowledged and
counted as ignored: deleting a person's data is `mops lead erase`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import re

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from gateway import deps
from gateway.errors import ApiError, ErrorBody
from gateway.settings import GatewaySettings
from gateway.webhooks.common import signed_body
from gateway.webhooks.lead_ads import LeadAdsResult, lead_ad_forms, take_lead
from integrations.linkedin import LinkedInClient
from starter.service.leads import LeadService

log = logging.getLogger("mops.gateway.linkedin_leads")

SIGNATURE = "X-LI-Signature"
_RESPONSE = re.compile(r"^urn:li:leadGenFormResponse:([A-Za-z0-9_-]+)$")
_FORM = re.compile(r"urn:li:leadGenForm:(\d+)")

router = APIRouter(
    prefix="/webhooks", tags=["webhooks"], responses={s: {"model": ErrorBody} for s in (400, 401, 502, 503)}
)


class LeadNotification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    leadAction: str
    leadGenFormResponse: str
    leadGenForm: str


class Challenge(BaseModel):
    challengeCode: str
    challengeResponse: str


def li_signature(secret: str, body: bytes) -> str:
    return "hmacsha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@router.get("/linkedin", response_model=Challenge, summary="LinkedIn webhook endpoint validation")
async def linkedin_validate(
    code: str = Query(..., alias="challengeCode", min_length=1, max_length=100),
    settings: GatewaySettings = Depends(deps.settings),
) -> Challenge:
    secret = settings.linkedin_client_secret.get_secret_value().encode()
    return Challenge(challengeCode=code, challengeResponse=hmac.new(secret, code.encode(), hashlib.sha256).hexdigest())


@router.post("/linkedin", response_model=LeadAdsResult, summary="LinkedIn Lead Sync (lead notification → capture)")
async def linkedin_leads(
    request: Request,
    settings: GatewaySettings = Depends(deps.settings),
    leads: LeadService = Depends(deps.leads),
) -> LeadAdsResult:
    secret = settings.linkedin_client_secret.get_secret_value()
    body, _ = await signed_body(request, header=SIGNATURE, expected=lambda body, _: li_signature(secret, body))
    try:
        notice = LeadNotification.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        raise ApiError(400, "invalid_payload", "body: expected a LinkedIn lead notification") from None
    result = LeadAdsResult(received=1)
    response, form = _RESPONSE.fullmatch(notice.leadGenFormResponse), _FORM.search(notice.leadGenForm)
    if response is None or form is None:
        raise ApiError(400, "invalid_payload", "leadGenFormResponse, leadGenForm: not lead form URNs")
    if notice.type != "LEAD_ACTION" or notice.leadAction != "CREATED":
        result.ignored = 1
        log.info("linkedin webhook: %s %s ignored", notice.type, notice.leadAction)
        return result
    client: LinkedInClient = request.app.state.linkedin_leads
    await take_lead(
        result,
        platform="linkedin",
        lead_id=response.group(1),
        form_id=form.group(1),
        read=functools.partial(client.lead_response, response.group(1)),
        forms=lead_ad_forms(settings),
        seen=request.app.state.webhook_events,
        leads=leads,
        settings=settings,
    )
    log.info("linkedin webhook: %s", result.model_dump(exclude={"refused"}) | {"refused": len(result.refused)})
    return result
