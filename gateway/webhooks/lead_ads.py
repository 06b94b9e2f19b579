"""What every lead-ad webhook does once it has verified a delivery and found the lead it
names: look the form up in `policies/lead-ad-forms.yaml`, read the submission from the
platform, and capture it once per submission id (`<platform>-lead-<id>`).

Platforms redeliver until they get a 2xx and their signatures carry no timestamp, so a
repeated delivery is the same capture: Temporal keeps one capture per id, and a repeat
the gateway has seen (its replay cache: this process's, or the replicas' shared database)
is answered without reading the platform again. A lead
that cannot be captured (a form not listed, no address, a journey that needs consent the
person did not give) is answered 200, so the platform does not redeliver it forever, with
the reason in the body, and logged as an error with the form and lead ids (no personal
data). The platform not answering is a 502, which it redelivers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from domain.lead_ads import LeadAdForms, LeadAdFormsError, LeadAdRefused, LeadAdSubmission, load_lead_ad_forms
from domain.leads import LeadSource, Utm
from gateway.errors import ApiError
from gateway.policy_files import current
from gateway.settings import GatewaySettings
from gateway.webhooks.common import Replays
from integrations.errors import PlatformError
from starter.service.leads import LeadInputError, LeadService, build_capture

log = logging.getLogger("mops.gateway.lead_ads")

UTM_SOURCE = {"meta": "facebook", "linkedin": "linkedin"}


class RefusedLead(BaseModel):
    lead_id: str
    form_id: str
    reason: str


class LeadAdsResult(BaseModel):
    received: int = 0
    captured: int = 0
    duplicates: int = 0
    ignored: int = 0
    refused: list[RefusedLead] = []


def lead_ad_forms(settings: GatewaySettings) -> LeadAdForms:
    """The forms file as it is now (edits apply to the next delivery); 503 when it cannot be read."""
    try:
        return current(settings.policies_dir / "lead-ad-forms.yaml", load_lead_ad_forms)
    except LeadAdFormsError as err:
        raise ApiError(503, "lead_forms_unavailable", str(err)) from None


async def take_lead(
    result: LeadAdsResult,
    *,
    platform: str,
    lead_id: str,
    form_id: str,
    read: Callable[[], Awaitable[LeadAdSubmission]],
    forms: LeadAdForms,
    seen: Replays,
    leads: LeadService,
    settings: GatewaySettings,
) -> None:
    """Capture one delivered lead (or count it a duplicate, or refuse it with the reason)."""
    key = f"{platform}-lead:{lead_id}"
    if await seen.seen(key):
        result.duplicates += 1
        return
    try:
        form = forms.find(platform, form_id)
        try:
            submission = await read()
        except PlatformError as err:
            log.warning("%s lead %s: the platform did not answer (%s)", platform, lead_id, err.code)
            unavailable = f"{platform}: could not read the lead; deliver again later"
            raise ApiError(502, f"{platform}_unavailable", unavailable) from None
        capture = build_capture(
            settings,
            **form.capture_fields(submission.answers, submission.checkboxes),
            source=LeadSource.ORGANIC if submission.organic else LeadSource.PAID_SOCIAL,
            capture_id=f"{platform}-lead-{submission.lead_id}",
            captured_at=submission.submitted_at,
            utm=Utm(
                source=UTM_SOURCE[platform], medium="lead_ad", campaign=form.utm_campaign, content=submission.ad_id
            ),
        )
    except (LeadAdRefused, LeadInputError) as err:
        log.error("%s lead %s of form %s not captured: %s", platform, lead_id, form_id, err)
        result.refused.append(RefusedLead(lead_id=lead_id, form_id=form_id, reason=str(err)))
        return
    await leads.capture(capture)
    result.captured += 1
    await seen.add(key)
