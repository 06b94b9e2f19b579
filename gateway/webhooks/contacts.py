"""HubSpot `contact.propertyChange` webhooks → the lead's contact sync, and opt-outs.

A change to a synced property (`firstname`, `lastname`, `company`, `country`) becomes a
`ContactChange` for the lead whose CRM contact it is (the contact's `mops_lead_id`),
stamped with HubSpot's `occurredAt`: the contact sync keeps the latest value per field
and writes it to the email platform and the CDP. `hs_email_optout` set to `true` is an
opt-out from the CRM channel: it reaches every platform (`PrivacyService.opt_out`).
Setting it back to `false` is not taken as consent: that needs an explicit grant.
Contacts without `mops_lead_id` are not ours and are ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime

from domain.privacy import LEAD_ID_PATTERN
from domain.sync import FIELD_NAMES, ContactChange
from gateway.errors import ApiError
from gateway.webhooks.common import Replays
from integrations.errors import PlatformError
from integrations.hubspot import HubSpotClient
from starter.service.leads import LeadNotFound
from starter.service.privacy import PrivacyService

CRM_FIELDS = {crm: field for field, crm in FIELD_NAMES["crm"].items()}  # HubSpot property -> owned field
OPT_OUT = "hs_email_optout"
WATCHED = {*CRM_FIELDS, OPT_OUT}


async def apply_contact_change(ev, seen: Replays, crm: HubSpotClient, privacy: PrivacyService) -> str:
    """'applied', 'duplicates' or 'ignored' for one HubSpot event."""
    if ev.propertyName not in WATCHED or ev.objectId is None:
        return "ignored"
    key = f"hubspot:{ev.eventId}"
    if await seen.seen(key):
        return "duplicates"
    try:
        contact = await crm.get_contact(str(ev.objectId), ["email", "mops_lead_id"])
    except PlatformError as err:
        if err.status == 404:
            return "ignored"  # deleted since (an erasure, say)
        raise ApiError(502, "crm_unavailable", "hubspot: could not read the contact; deliver again later") from None
    lead_id = contact.properties.get("mops_lead_id") or ""
    email = contact.properties.get("email") or ""
    if not LEAD_ID_PATTERN.fullmatch(lead_id) or not email:
        return "ignored"
    at = datetime.fromtimestamp(ev.occurredAt / 1000, UTC) if ev.occurredAt else datetime.now(UTC)
    if ev.propertyName == OPT_OUT:
        if (ev.propertyValue or "").lower() != "true":
            return "ignored"
        try:
            await privacy.opt_out(email=email, source="hubspot:hs_email_optout", at=at)
        except LeadNotFound:
            return "ignored"
    else:
        field = CRM_FIELDS[ev.propertyName]
        await privacy.record_change(
            lead_id,
            email,
            ContactChange(
                change_id=key,
                source="crm",
                origin="crm",
                at=at,
                fields={field: ev.propertyValue},
                contact_id=str(ev.objectId),
            ),
        )
    return "applied" if await seen.add(key) else "duplicates"
