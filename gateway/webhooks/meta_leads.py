"""Meta Lead Ads: `GET /webhooks/meta` (the subscription handshake) and `POST /webhooks/meta`
(the page's `leadgen` changes) → lead captures.

Meta signs each delivery with the app secret: `X-Hub-Signature-256: sha256=<hex
HMAC-SHA256(MOPS_META_APP_SECRET, raw body)>`; a missing or wrong one is refused (401). The
delivery names the lead only; its answers are read from Graph (`MetaAdsClient.lead`, with the
`leads_retrieval` permission on MOPS_META_TOKEN), mapped by the form's entry in
`policies/lead-ad-forms.yaml` (`domain/lead_ads.py`) and captured with the capture id
`meta-lead-<leadgen id>`. Meta's signature carries no timestamp and Meta redelivers until it
gets a 2xx, so a repeated delivery is the same capture: Temporal keeps one capture per id,
and a repeat this process has seen is answered from memory without reading Graph again.

A lead that cannot be captured (a form not listed, no address, a journey that needs consent
the lead did not give) is answered 200, so Meta does not redeliver it forever, with the
reason in the body, and logged as an error with the form and lead ids (no personal data):
Meta keeps the lead for 90 days, for a bulk read once the form is listed. Graph not answering
is a 502, which Meta redelivers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from domain.lead_ads import LeadAdForms, LeadAdFormsError, LeadAdRefused, load_lead_ad_forms
from domain.leads import LeadCapture, LeadSource, Utm
from gateway import deps
from gateway.errors import ApiError, ErrorBody
from gateway.settings import GatewaySettings
from gateway.webhooks.common import ReplayCache, forged
from integrations.errors import PlatformError
from integrations.meta_ads import MetaAdsClient
from starter.service.leads import LeadInputError, LeadService, build_capture

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


class RefusedLead(BaseModel):
    leadgen_id: str
    form_id: str
    reason: str


class MetaLeadsResult(BaseModel):
    received: int
    captured: int
    duplicates: int
    ignored: int
    refused: list[RefusedLead]


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


@router.post("/meta", response_model=MetaLeadsResult, summary="Meta Lead Ads (leadgen → lead capture)")
async def meta_leads(
    request: Request,
    settings: GatewaySettings = Depends(deps.settings),
    leads: LeadService = Depends(deps.leads),
) -> MetaLeadsResult:
    signature = request.headers.get(SIGNATURE)
    if not signature:
        raise ApiError(401, "missing_signature", f"{SIGNATURE}: missing")
    body = await request.body()
    if not hmac.compare_digest(hub_signature(settings.meta_app_secret.get_secret_value(), body), signature):
        raise forged(SIGNATURE)
    try:
        delivery = Delivery.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        raise ApiError(400, "invalid_payload", "body: expected a Meta webhook delivery ({object, entry})") from None
    try:
        forms = load_lead_ad_forms(settings.policies_dir / "lead-ad-forms.yaml")
    except LeadAdFormsError as err:
        raise ApiError(503, "lead_forms_unavailable", str(err)) from None

    meta: MetaAdsClient = request.app.state.meta_leads
    seen: ReplayCache = request.app.state.webhook_events
    result = MetaLeadsResult(received=0, captured=0, duplicates=0, ignored=0, refused=[])
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
            key = f"meta-lead:{value.leadgen_id}"
            if seen.seen(key):
                result.duplicates += 1
                continue
            try:
                capture = await _capture(value, forms, meta, settings)
            except (LeadAdRefused, LeadInputError) as err:
                log.error("meta lead %s of form %s not captured: %s", value.leadgen_id, value.form_id, err)
                result.refused.append(RefusedLead(leadgen_id=value.leadgen_id, form_id=value.form_id, reason=str(err)))
                continue
            await leads.capture(capture)
            result.captured += 1
            seen.add(key)
    log.info("meta webhook: %s", result.model_dump(exclude={"refused"}) | {"refused": len(result.refused)})
    return result


async def _capture(
    value: LeadgenValue, forms: LeadAdForms, meta: MetaAdsClient, settings: GatewaySettings
) -> LeadCapture:
    """The capture of one lead: its form's mapping over its answers read from Graph."""
    form = forms.find("meta", value.form_id)
    try:
        lead = await meta.lead(value.leadgen_id)
    except PlatformError as err:
        log.warning("meta lead %s: Graph did not answer (%s)", value.leadgen_id, err.code)
        raise ApiError(502, "meta_unavailable", "meta: could not read the lead; deliver again later") from None
    return build_capture(
        settings,
        **form.capture_fields(lead.answers, lead.checkboxes),
        source=LeadSource.ORGANIC if lead.is_organic else LeadSource.PAID_SOCIAL,
        capture_id=f"meta-lead-{lead.id}",
        captured_at=_created(lead.created_time),
        utm=Utm(source="facebook", medium="lead_ad", campaign=form.utm_campaign, content=lead.ad_id),
    )


def _created(text: str) -> datetime:
    """Graph's `2026-11-30T10:15:00+0000`, when the person submitted the form."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
    except ValueError:
        raise LeadAdRefused(f"created_time: {text!r} is not Graph's time format") from None
