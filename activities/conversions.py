"""Conversion uploads: a lead's stage change sent to Meta's Conversions API and to
Google Ads as a click conversion, once.

Exactly once rests on the platforms' own deduplication, with ids the workflow fixes
(`event_id` / `orderId`, the conversion time): a retry after a lost answer sends the
same event again. Meta drops it silently; Google answers CLICK_CONVERSION_ALREADY_EXISTS
or ORDER_ID_ALREADY_IN_USE, which is the conversion being there: `duplicate`, done.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from temporalio import activity

from activities import contracts as act
from activities.conversion_models import ConversionResult, GoogleConversionInput, MetaConversionInput
from activities.errors import platform_errors
from domain.conversions import ConversionOutcome, google_datetime, meta_hash
from integrations.errors import PlatformRejected
from integrations.google_conversions import ALREADY_EXISTS, GoogleConversionsClient
from integrations.meta_conversions import MetaConversionsClient

# A stage change in the CRM, not a page view: Meta's value for events a system records.
META_ACTION_SOURCE = "system_generated"


def meta_event(inp: MetaConversionInput) -> dict[str, Any]:
    return meta_payload(
        event_name=inp.event_name,
        event_id=inp.event_id,
        at=inp.at,
        email_hash=meta_hash(inp.email),
        lead_id=inp.lead_id,
        fbc=inp.fbc,
        fbp=inp.fbp,
        value=inp.value,
        currency=inp.currency,
    )


def meta_payload(
    *,
    event_name: str,
    event_id: str,
    at: datetime,
    email_hash: str,
    lead_id: str,
    fbc: str | None,
    fbp: str | None,
    value: Decimal | None,
    currency: str | None,
) -> dict[str, Any]:
    """One Conversions API event: the address already hashed (`meta_hash`), the lead id
    hashed here as `external_id`."""
    user_data: dict[str, Any] = {"em": [email_hash], "external_id": [meta_hash(lead_id)]}
    if fbc:
        user_data["fbc"] = fbc
    if fbp:
        user_data["fbp"] = fbp
    custom_data: dict[str, Any] = {"event_source": "crm", "lead_event_source": "mops"}
    if value is not None and currency is not None:
        custom_data |= {"value": float(value), "currency": currency}
    return {
        "event_name": event_name,
        "event_time": int(at.timestamp()),
        "event_id": event_id,
        "action_source": META_ACTION_SOURCE,
        "user_data": user_data,
        "custom_data": custom_data,
    }


def google_conversion(inp: GoogleConversionInput) -> dict[str, Any]:
    if inp.click_field not in ("gclid", "gbraid", "wbraid"):
        raise ValueError(f"click_field {inp.click_field!r}: one of gclid, gbraid, wbraid")
    conversion: dict[str, Any] = {
        inp.click_field: inp.click_id,
        "conversionAction": inp.conversion_action,
        "conversionDateTime": google_datetime(inp.at),
        "orderId": inp.order_id,
    }
    if inp.value is not None and inp.currency is not None:
        conversion |= {"conversionValue": float(inp.value), "currencyCode": inp.currency}
    return conversion


class ConversionActivities:
    def __init__(self, meta: MetaConversionsClient, google: GoogleConversionsClient) -> None:
        self._meta = meta
        self._google = google

    @activity.defn(name=act.CONVERSIONS_META.name)
    @platform_errors
    async def meta(self, inp: MetaConversionInput) -> ConversionResult:
        await self._meta.send_events(inp.pixel_id, [meta_event(inp)])
        return ConversionResult(outcome=ConversionOutcome.SENT)

    @activity.defn(name=act.CONVERSIONS_GOOGLE_ADS.name)
    @platform_errors
    async def google_ads(self, inp: GoogleConversionInput) -> ConversionResult:
        check_google_customer(self._google, inp.customer_id)
        return await upload_google(self._google, inp)


def check_google_customer(google: GoogleConversionsClient, customer_id: str) -> None:
    if customer_id != google.customer_id:
        # Service and workers read different settings: refused, not sent to the wrong account.
        raise PlatformRejected(
            "google_ads",
            400,
            "customer_mismatch",
            f"customer_id {customer_id}: this worker uploads to {google.customer_id}",
        )


async def upload_google(google: GoogleConversionsClient, inp: GoogleConversionInput) -> ConversionResult:
    """One click conversion; one the platform already has (a retry after a lost answer) is a duplicate."""
    try:
        await google.upload_click_conversion(google_conversion(inp))
    except PlatformRejected as err:
        if err.code not in ALREADY_EXISTS:
            raise
        return ConversionResult(outcome=ConversionOutcome.DUPLICATE, detail=err.code)
    return ConversionResult(outcome=ConversionOutcome.SENT)
