"""SendGrid Event Webhook (signed): `POST /webhooks/sendgrid`.

Signature: ECDSA P-256 / SHA-256 over `timestamp + raw body`, base64 DER in
`X-Twilio-Email-Event-Webhook-Signature`, timestamp (unix seconds) in
`X-Twilio-Email-Event-Webhook-Timestamp`, verified with the public key SendGrid shows
under Mail Settings (`MOPS_SENDGRID_WEBHOOK_PUBLIC_KEY`, base64 DER or PEM).

Events reach the lead through the `mops_lead_id` custom arg our sends carry, never by
address. open/click → engagement events; bounce → bounce event; unsubscribe,
group_unsubscribe, spamreport → unsubscribe. Others (processed, delivered, deferred,
dropped) and events without our custom arg are acknowledged and ignored.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from domain.leads import EngagementEvent, EventType, Utm
from gateway import deps
from gateway.errors import ApiError, ErrorBody
from gateway.security import load_public_key
from gateway.settings import GatewaySettings
from gateway.webhooks.common import Replays, check_fresh, forged, replayed
from starter.service.leads import LeadNotFound, LeadService
from starter.service.privacy import PrivacyService

log = logging.getLogger("mops.gateway.sendgrid")

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
ENGAGEMENT = {"open": EventType.OPEN, "click": EventType.CLICK, "bounce": EventType.BOUNCE}
UNSUBSCRIBE = {"unsubscribe", "group_unsubscribe", "spamreport"}
CONCURRENCY = 16
LEAD_ID = re.compile(r"^[0-9a-f]{24}$")

router = APIRouter(
    prefix="/webhooks", tags=["webhooks"], responses={s: {"model": ErrorBody} for s in (400, 401, 409, 413, 503)}
)


class SendGridEvent(BaseModel):
    """The fields we read; the rest (email, ip, useragent, ...) is ignored, never stored."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    event: str
    sg_event_id: str | None = None
    timestamp: int | None = None
    mops_lead_id: str | None = None
    mops_step: str | None = None
    url: str | None = None  # click events: the link followed (its utm_* make the click a campaign touch)


class SendGridResult(BaseModel):
    received: int
    applied: int
    duplicates: int
    ignored: int


def verify(public_key: ec.EllipticCurvePublicKey, timestamp: str, body: bytes, signature: str) -> bool:
    try:
        public_key.verify(
            base64.b64decode(signature, validate=True), timestamp.encode() + body, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


@router.post("/sendgrid", response_model=SendGridResult, summary="SendGrid Event Webhook (signed)")
async def sendgrid_events(
    request: Request,
    settings: GatewaySettings = Depends(deps.settings),
    leads: LeadService = Depends(deps.leads),
    privacy: PrivacyService = Depends(deps.privacy),
) -> SendGridResult:
    key_text = settings.sendgrid_webhook_public_key.get_secret_value()
    if not key_text:
        raise ApiError(503, "not_configured", "MOPS_SENDGRID_WEBHOOK_PUBLIC_KEY: not set on this gateway")
    public_key = load_public_key(key_text)
    signature = request.headers.get(SIGNATURE)
    timestamp = request.headers.get(TIMESTAMP, "")  # missing: refused by check_fresh
    if not signature:
        raise ApiError(401, "missing_signature", f"{SIGNATURE}: missing")
    check_fresh(timestamp, header=TIMESTAMP, tolerance=settings.gateway_webhook_tolerance_seconds)
    body = await request.body()
    if not verify(public_key, timestamp, body, signature):
        raise forged(SIGNATURE)
    requests: Replays = request.app.state.webhook_requests
    if await requests.seen(f"sendgrid:{signature}"):
        raise replayed(SIGNATURE)

    try:
        raw = json.loads(body)
        if not isinstance(raw, list):
            raise ValueError
        events = [SendGridEvent.model_validate(e) for e in raw]
    except (ValueError, ValidationError):
        raise ApiError(400, "invalid_payload", "body: expected a JSON array of SendGrid events") from None

    seen: Replays = request.app.state.webhook_events
    counts = {"applied": 0, "duplicates": 0, "ignored": 0}
    limit = asyncio.Semaphore(CONCURRENCY)

    async def apply(ev: SendGridEvent) -> None:
        lead_id = (ev.mops_lead_id or "").removeprefix("lead-")
        ours = LEAD_ID.fullmatch(lead_id) and ev.sg_event_id
        if not ours or (ev.event not in ENGAGEMENT and ev.event not in UNSUBSCRIBE):
            counts["ignored"] += 1
            return
        dedupe_key = f"sendgrid:{ev.sg_event_id}"
        if await seen.seen(dedupe_key):
            counts["duplicates"] += 1
            return
        at = datetime.fromtimestamp(ev.timestamp, UTC) if ev.timestamp else datetime.now(UTC)
        async with limit:
            try:
                if ev.event in UNSUBSCRIBE:  # SendGrid holds it already; the rest of the platforms follow
                    await privacy.opt_out(
                        lead_id=lead_id, source=f"sendgrid:{ev.event}", at=at, email_platform_recorded=True
                    )
                else:
                    event = EngagementEvent(
                        event_id=f"sg:{ev.sg_event_id}",
                        type=ENGAGEMENT[ev.event],
                        at=at,
                        detail=ev.mops_step,
                        utm=Utm.from_url(ev.url),
                    )
                    await leads.record_event(event, lead_id=lead_id)
            except LeadNotFound:  # journey over (or never ours): nothing to tell it
                counts["ignored"] += 1
                return
        if await seen.add(dedupe_key):
            counts["applied"] += 1
        else:
            counts["duplicates"] += 1

    # A failure (e.g. Temporal unavailable) propagates as 503, so SendGrid redelivers;
    # what was already applied is deduplicated on the way back in.
    await asyncio.gather(*(apply(ev) for ev in events))
    await requests.add(f"sendgrid:{signature}")
    log.info("sendgrid webhook: %d events, %s", len(events), counts)
    return SendGridResult(received=len(events), **counts)
