"""Conversions sent back to the ad platforms: which lead stages count, where they go,
and the pure rules of the uploads (ids, hashing, time formats).

A lead that arrived through an ad click (`domain.click_ids`) and reaches a configured
stage is reported once per stage and cycle to each platform it has a click id for:
Meta's Conversions API (`fbc`/`fbp`) and Google Ads click conversions (`gclid`, else
`gbraid`, else `wbraid`). The plan comes from settings (`MOPS_CONVERSIONS_ON`, ...),
is put into the journey's start input by the service, and is pinned for the run.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator, model_validator

from domain.leads import LeadStage
from domain.money import check_currency

CONVERSION_ACTION = re.compile(r"customers/(\d+)/conversionActions/(\d+)")
# Stages a lead can be reported at: the ones it moves into on its way to a customer.
REPORTABLE = frozenset(
    {LeadStage.QUALIFYING, LeadStage.NURTURING, LeadStage.MQL, LeadStage.SALES_ASSIGNED, LeadStage.CONVERTED}
)


class Platform(StrEnum):
    META = "meta"
    GOOGLE_ADS = "google_ads"


class ConversionPlan(BaseModel):
    """Which stage changes are conversions, and each platform's destination (None: that
    platform gets none). `value` with `currency` is the value reported with each."""

    on: list[LeadStage] = Field(min_length=1)
    meta_pixel_id: str | None = Field(default=None, pattern=r"^\d{5,20}$")
    google_customer_id: str | None = Field(default=None, pattern=r"^\d{10}$")
    google_conversion_action: str | None = None
    value: Decimal | None = Field(default=None, ge=0)
    currency: str | None = None

    @field_validator("on")
    @classmethod
    def _reportable(cls, stages: list[LeadStage]) -> list[LeadStage]:
        for stage in stages:
            if stage not in REPORTABLE:
                allowed = ", ".join(sorted(s.value for s in REPORTABLE))
                raise ValueError(f"{stage.value!r} is not a stage a lead converts at (one of: {allowed})")
        return list(dict.fromkeys(stages))

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return check_currency(value) if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> ConversionPlan:
        if (self.value is None) != (self.currency is None):
            raise ValueError("value and currency go together: give both or neither")
        action = self.google_conversion_action
        if action is not None:
            match = CONVERSION_ACTION.fullmatch(action)
            if match is None:
                raise ValueError(
                    f"google_conversion_action {action!r} must be a resource name "
                    "customers/<customer id>/conversionActions/<id>"
                )
            if self.google_customer_id is not None and match.group(1) != self.google_customer_id:
                raise ValueError(
                    f"google_conversion_action {action!r} belongs to another customer than {self.google_customer_id}"
                )
        if self.google_conversion_action is not None and self.google_customer_id is None:
            raise ValueError("google_customer_id is needed with google_conversion_action")
        if self.meta_pixel_id is None and self.google_conversion_action is None:
            raise ValueError("conversions need a destination: a Meta pixel id or a Google conversion action")
        return self


def conversion_key(lead_id: str, stage: LeadStage, cycle: int) -> str:
    """The id of one conversion: Meta's `event_id` and Google's `orderId`. The same lead,
    stage and sales cycle give the same id, so a retried upload is deduplicated by the
    platform, and a lead recycled and qualified again counts again."""
    return f"{lead_id}-{stage.value}-{cycle}"


def meta_hash(value: str) -> str:
    """Meta's customer-information hashing: trimmed, lower-cased, SHA-256 as lowercase hex."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


def google_datetime(at: datetime) -> str:
    """Google Ads' conversion time format, `yyyy-mm-dd hh:mm:ss+hh:mm` (written in UTC)."""
    if at.tzinfo is None:
        raise ValueError("a conversion time must carry its time zone")
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


class ConversionOutcome(StrEnum):
    SENT = "sent"
    DUPLICATE = "duplicate"  # the platform already had it (a retry after a lost answer)
    REJECTED = "rejected"  # the platform refused it; the reason is in `detail`


class SentConversion(BaseModel):
    """One conversion as the lead's state shows it (no personal data: ids and outcome)."""

    platform: Platform
    stage: LeadStage
    key: str
    at: datetime
    outcome: ConversionOutcome
    detail: str | None = None
