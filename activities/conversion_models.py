"""Inputs and results of the conversion uploads (`conversions.meta`, `conversions.google_ads`).

They carry the lead's address and click ids: lead journeys' activity payloads are
encrypted under the lead's own key (mops.codec), like the capture they come from.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from domain.conversions import ConversionOutcome


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
