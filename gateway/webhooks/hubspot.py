"""HubSpot webhooks (v3 signature): `POST /webhooks/hubspot` → sales decisions.

`X-HubSpot-Signature-v3` = base64(HMAC-SHA256(client secret, method + URI + body +
timestamp)), `X-HubSpot-Request-Timestamp` in ms within 5 minutes. The URI is the one
HubSpot called: `MOPS_GATEWAY_PUBLIC_URL` + path + query when set (behind a proxy),
else the request's URL; HubSpot decodes a few %-escapes before signing, so do we.

A `deal.propertyChange` of `dealstage` to `MOPS_HUBSPOT_ACCEPTED_STAGE` /
`MOPS_HUBSPOT_REJECTED_STAGE` becomes `LeadService.sales_decision` for the lead whose
journey created that deal (its `mops_key`), as the deal's owner. A deal from an earlier
hand-off cycle, or one mops did not create, is acknowledged and ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from domain.refusals import Refused
from gateway import deps
from gateway.errors import ApiError, ErrorBody
from gateway.settings import GatewaySettings
from gateway.webhooks.common import Replays, replayed, signed_body
from gateway.webhooks.contacts import apply_contact_change
from gateway.webhooks.deals import DealLookup
from integrations.errors import PlatformError
from starter.service.leads import LeadNotFound, LeadService
from starter.service.privacy import PrivacyService
from workflows.lead_models import SalesDecision, SalesDecisionKind

log = logging.getLogger("mops.gateway.hubspot")

SIGNATURE = "X-HubSpot-Signature-v3"
TIMESTAMP = "X-HubSpot-Request-Timestamp"
# HubSpot decodes these escapes in the URI before it signs.
_URI_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}

router = APIRouter(
    prefix="/webhooks", tags=["webhooks"], responses={s: {"model": ErrorBody} for s in (400, 401, 409, 413, 502)}
)


class HubSpotEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    eventId: int | str
    subscriptionType: str
    objectId: int | str | None = None
    propertyName: str | None = None
    propertyValue: str | None = None
    occurredAt: int | None = None  # epoch ms: the source timestamp contact changes merge by


class HubSpotResult(BaseModel):
    received: int
    applied: int
    duplicates: int
    ignored: int


def signed_uri(request: Request, public_url: str | None) -> str:
    if public_url:
        uri = public_url.rstrip("/") + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        uri = str(request.url)
    for escaped, char in _URI_DECODE.items():
        uri = uri.replace(escaped, char).replace(escaped.lower(), char)
    return uri


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


@router.post("/hubspot", response_model=HubSpotResult, summary="HubSpot webhooks v3 (deal stage → sales decision)")
async def hubspot_events(
    request: Request,
    settings: GatewaySettings = Depends(deps.settings),
    leads: LeadService = Depends(deps.leads),
    privacy: PrivacyService = Depends(deps.privacy),
) -> HubSpotResult:
    secret, uri = settings.hubspot_client_secret.get_secret_value(), signed_uri(request, settings.gateway_public_url)
    body, signature = await signed_body(
        request,
        header=SIGNATURE,
        timestamp_header=TIMESTAMP,
        unit=1000.0,
        tolerance=settings.gateway_webhook_tolerance_seconds,
        expected=lambda body, timestamp: signature_v3(secret, request.method, uri, body, timestamp),
    )
    requests: Replays = request.app.state.webhook_requests
    if await requests.seen(f"hubspot:{signature}"):
        raise replayed(SIGNATURE)
    try:
        raw = json.loads(body)
        events = [HubSpotEvent.model_validate(e) for e in (raw if isinstance(raw, list) else [raw])]
    except (ValueError, ValidationError):
        raise ApiError(400, "invalid_payload", "body: expected a JSON array of HubSpot webhook events") from None

    stages = {
        settings.hubspot_accepted_stage: SalesDecisionKind.ACCEPTED,
        settings.hubspot_rejected_stage: SalesDecisionKind.REJECTED,
    }
    seen: Replays = request.app.state.webhook_events
    deals: DealLookup = request.app.state.deals
    counts = {"applied": 0, "duplicates": 0, "ignored": 0}
    for ev in events:
        if ev.subscriptionType == "contact.propertyChange":  # contact sync and CRM opt-outs
            counts[await apply_contact_change(ev, seen, deals, privacy)] += 1
            continue
        kind = stages.get(ev.propertyValue or "")
        if (
            ev.subscriptionType != "deal.propertyChange"
            or ev.propertyName != "dealstage"
            or kind is None
            or ev.objectId is None
        ):
            counts["ignored"] += 1
            continue
        key = f"hubspot:{ev.eventId}"
        if await seen.seen(key):
            counts["duplicates"] += 1
            continue
        try:
            deal = await deals.deal(str(ev.objectId))
        except PlatformError as err:
            if err.status == 404:
                counts["ignored"] += 1
                continue
            raise ApiError(502, "crm_unavailable", "hubspot: could not read the deal; deliver again later") from None
        if deal is None or not deal.owner_id:
            counts["ignored"] += 1
            continue
        try:
            lead = await leads.state(lead_id=deal.workflow_id)
            if lead.deal_id != deal.deal_id or lead.cycle != deal.cycle:
                counts["ignored"] += 1  # an earlier hand-off's deal
                continue
            await leads.sales_decision(
                SalesDecision(decision=kind, owner_id=deal.owner_id, reason=f"HubSpot deal stage {ev.propertyValue}"),
                lead_id=deal.workflow_id,
            )
        except LeadNotFound:
            counts["ignored"] += 1
            continue
        except Refused as err:
            # The deal moved, but not by the lead's owner or not while it waits for sales:
            # HubSpot must not redeliver it (a 2xx), and it changes nothing.
            log.info("hubspot deal %s: sales decision refused (%s)", deal.deal_id, err.code.value)
            counts["ignored"] += 1
            continue
        counts["applied" if await seen.add(key) else "duplicates"] += 1
    await requests.add(f"hubspot:{signature}")
    log.info("hubspot webhook: %d events, %s", len(events), counts)
    return HubSpotResult(received=len(events), **counts)
