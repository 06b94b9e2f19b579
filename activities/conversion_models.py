"""Inputs and results of the conversion uploads (`conversions.meta`, `conversions.google_ads`)
and of a won deal's (`conversions.deal_won_meta`, `conversions.deal_won_google_ads`, with
the store's `analytics.deals_to_convert` and `analytics.record_deal_conversions`).

The lead journeys' uploads carry the lead's address and click ids: lead journeys'
activity payloads are encrypted under the lead's own key (mops.codec), like the capture
they come from. A won deal's carry none: they run in the analytics collection, so the
upload reads the ids from the lead's journey itself (`conversion_identity` query).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from domain.conversions import ConversionOutcome, DealConversion, Platform


class MetaConversionInput(BaseModel):
    pixel_id: str
    event_name: str  # the lead stage ("mql", "converted")
    event_id: str  # deterministic (domain.conversions.conversion_key): Meta deduplicates by it
    at: datetime  # when the lead reached the stage (workflow time)
    email: str
    lead_id: str  # sent hashed as `external_id`
    fbc: str | None = None
    fbp: str | None = None
    value: Decimal | None = None
    currency: str | None = None


class GoogleConversionInput(BaseModel):
    customer_id: str
    conversion_action: str  # customers/<id>/conversionActions/<id>
    click_field: str  # gclid, gbraid or wbraid: exactly one per conversion
    click_id: str
    at: datetime
    order_id: str  # deterministic (domain.conversions.conversion_key)
    value: Decimal | None = None
    currency: str | None = None


class ConversionResult(BaseModel):
    outcome: ConversionOutcome  # sent, or duplicate (the platform already had it)
    detail: str | None = None


class DealWon(BaseModel):
    """A won deal of a mops lead with platforms still to send it to (no personal data)."""

    deal_id: str
    lead_workflow_id: str  # lead-<id>: whose journey holds the click ids
    amount: Decimal
    currency: str
    closed_at: datetime
    platforms: list[Platform]


class DealsToConvertInput(BaseModel):
    platforms: list[Platform]  # the ones the plan has a destination for
    limit: int = 200  # per collection run; the rest wait for the next


class DealsToConvertResult(BaseModel):
    deals: list[DealWon] = []


class DealConversionInput(BaseModel):
    """One won deal to one platform: the destination, the fixed id and time, the value.
    The click ids and hashes are read by the activity from the lead's journey."""

    deal_id: str
    lead_workflow_id: str
    event_id: str  # domain.conversions.deal_won_key: Meta's event_id, Google's orderId
    at: datetime  # when the deal closed
    value: Decimal
    currency: str
    pixel_id: str | None = None  # Meta
    customer_id: str | None = None  # Google Ads
    conversion_action: str | None = None


class RecordDealConversionsInput(BaseModel):
    entries: list[DealConversion]


class RecordDealConversionsResult(BaseModel):
    recorded: int  # new records (a retried record adds none)
