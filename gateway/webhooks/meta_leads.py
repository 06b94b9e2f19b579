"""Meta Lead Ads: `GET /webhooks/meta` (the subscription handshake) and `POST /webhooks/meta`
(the page's `leadgen` changes) → lead captures.

Meta signs each delivery with the app secret: `X-Hub-Signature-256: sha256=<hex
HMAC-SHA256(MOPS_META_APP_SECRET, raw body)>`; a missing or wrong one is refused (401). The
delivery names the lead only; its answers are read from Graph (`MetaAdsClient.lead`, with
the `leads_retrieval` permission on MOPS_META_TOKEN) and captured as every lead ad is
(`gateway/webhooks/lead_ads.py`). Meta keeps a lead 90 days, for a bulk read of one that
was refused (a form not listed yet).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from gateway import deps
from gateway.errors import ApiError, ErrorBody
from gateway.settings import GatewaySettings
from gateway.webhooks.common import signed_body
from gateway.webhooks.lead_ads import LeadAdsResult, lead_ad_forms, take_lead
from integrations.meta_ads import MetaAdsClient
from starter.service.leads import LeadService

log = logging.getLogger("mops.gateway.meta_leads")

SIGNATURE = "X-Hub-Signature-256"
BAD_CHANGE = "entry.changes.value: a leadgen change needs leadgen_id and form_id"
BAD_TOKEN = "hub.verify_token: not this gateway's MOPS_META_WEBHOOK_VERIFY_TOKEN"

router = APIRouter(
    prefix="/webhooks", tags=["webhooks"], responses={s: {"model": ErrorBody} for s in (400, 401, 403, 502, 503)}
)


class LeadgenValue(BaseModel):
    model_config = ConfigDict(extra="ignore")

    leadgen_id: str
    form_id: str
    page_id: str | None = None
    ad_id: str | None = None


class Change(BaseModel):
    model_config = ConfigDict(extra="ignore")

    field: str
    value: dict


class Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    changes: list[Change] = []


class Delivery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    object: str
    entry: list[Entry]


def hub_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@router.get("/meta", response_class=PlainTextResponse, summary="Meta webhook subscription handshake")
async def meta_verify(
    mode: str = Query("", alias="hub.mode"),
    token: str = Query("", alias="hub.verify_token"),
    challenge: str = Query("", alias="hub.challenge"),
    settings: GatewaySettings = Depends(deps.settings),
) -> str:
    expected = settings.meta_webhook_verify_token.get_secret_value()
    if mode != "subscribe" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(403, "verification_failed", BAD_TOKEN)
    return challenge


@router.post("/meta", response_model=LeadAdsResult, summary="Meta Lead Ads (leadgen → lead capture)")
async def meta_leads(
    request: Request,
    settings: GatewaySettings = Depends(deps.settings),
    leads: LeadService = Depends(deps.leads),
) -> LeadAdsResult:
    secret = settings.meta_app_secret.get_secret_value()
    body, _ = await signed_body(request, header=SIGNATURE, expected=lambda body, _: hub_signature(secret, body))
    try:
        delivery = Delivery.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        raise ApiError(400, "invalid_payload", "body: expected a Meta webhook delivery ({object, entry})") from None
    forms = lead_ad_forms(settings)
    meta: MetaAdsClient = request.app.state.meta_leads
    result = LeadAdsResult()
    for entry in delivery.entry:
        for change in entry.changes:
            result.received += 1
            if delivery.object != "page" or change.field != "leadgen":
                result.ignored += 1
                continue
            try:
                value = LeadgenValue.model_validate(change.value)
            except ValidationError:
                raise ApiError(400, "invalid_payload", BAD_CHANGE) from None
            await take_lead(
                result,
                platform="meta",
                lead_id=value.leadgen_id,
                form_id=value.form_id,
                read=functools.partial(meta.lead, value.leadgen_id),
                forms=forms,
                seen=request.app.state.webhook_events,
                leads=leads,
                settings=settings,
            )
    log.info("meta webhook: %s", result.model_dump(exclude={"refused"}) | {"refused": len(result.refused)})
    return result
