"""Conversions sent back to the ad platforms: which lead stages count, where they go,
and the pure rules of the uploads (ids, hashing, time formats).

A lead that arrived through an ad click (`domain.click_ids`) and reaches a configured
stage is reported once per stage and cycle to each platform it has a click id for:
Meta's Conversions API (`fbc`/`fbp`) and Google Ads click conversions (`gclid`, else
`gbraid`, else `wbraid`). The plan comes from settings (`MOPS_CONVERSIONS_ON`, ...),
is put into the journey's start input by the service, and is pinned for the run.

`deal_won` in the plan is the CRM deal the lead's hand-off created reaching closed won,
after the journey has usually ended: the analytics collection finds it with the CRM's
won deals and sends it once per deal and platform (`workflows.deal_conversions`). Its
value is the plan's fixed value when it has one, else the deal's amount in the deal's
currency (`deal_won_value`).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from domain.click_ids import ClickIds
from domain.leads import LeadStage
from domain.money import check_currency

CONVERSION_ACTION = re.compile(r"customers/(\d+)/conversionActions/(\d+)")
# Stages a lead can be reported at: the ones it moves into on its way to a customer.
REPORTABLE = frozenset(
    {LeadStage.QUALIFYING, LeadStage.NURTURING, LeadStage.MQL, LeadStage.SALES_ASSIGNED, LeadStage.CONVERTED}
)
# Not a lead stage: the CRM deal of a hand-off won (HubSpot `dealstage = closedwon`).
DEAL_WON = "deal_won"


def check_conversion_names(names: list[str]) -> list[str]:
    """The names of a conversions list (lead stages, `deal_won`), each checked, repeats
    dropped; a typo is refused naming the choices."""
    allowed = sorted([*(s.value for s in REPORTABLE), DEAL_WON])
    for value in names:
        if value not in allowed:
            raise ValueError(
                f"{value!r} is not a conversion: a stage a lead converts at or deal_won ({', '.join(allowed)})"
            )
    return list(dict.fromkeys(names))


class Platform(StrEnum):
    META = "meta"
    GOOGLE_ADS = "google_ads"


class ConversionPlan(BaseModel):
    """Which stage changes are conversions, and each platform's destination (None: that
    platform gets none). `value` with `currency` is the value reported with each.
    `deal_won`: a won deal is a conversion too (written `deal_won` among the stages of
    `on`, taken out of it here: the lead journeys never see it as a stage)."""

    on: list[LeadStage] = []
    deal_won: bool = False
    meta_pixel_id: str | None = Field(default=None, pattern=r"^\d{5,20}$")
    google_customer_id: str | None = Field(default=None, pattern=r"^\d{10}$")
    google_conversion_action: str | None = None
    value: Decimal | None = Field(default=None, ge=0)
    currency: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        # Every name checked here, deal_won included, so a typo is refused naming the
        # choices, never taken for something else.
        if not isinstance(data, dict) or not isinstance(data.get("on"), list):
            return data
        names = check_conversion_names([n.value if isinstance(n, LeadStage) else str(n) for n in data["on"]])
        stages = [LeadStage(n) for n in names if n != DEAL_WON]
        deal_won = DEAL_WON in names or bool(data.get("deal_won"))
        return {**data, "on": list(dict.fromkeys(stages)), "deal_won": deal_won}

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return check_currency(value) if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> ConversionPlan:
        if not self.on and not self.deal_won:
            raise ValueError("conversions need at least one conversion: a lead stage or deal_won")
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


def deal_won_key(lead_id: str, deal_id: str) -> str:
    """The id of a won deal's conversion (`event_id` / `orderId`): one per deal, whichever
    collection run finds it, so the platform drops a repeat of it."""
    return f"{lead_id}-{DEAL_WON}-{deal_id}"


def deal_won_value(plan: ConversionPlan, amount: Decimal, currency: str) -> tuple[Decimal, str]:
    """The value a won deal is reported with: the plan's fixed value and currency when it
    has them (every conversion then counts the same), else what the deal brought, its
    amount in its own currency."""
    if plan.value is not None and plan.currency is not None:
        return plan.value, plan.currency
    return amount, check_currency(currency)


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
    NOT_SENT = "not_sent"  # nothing to send it with (no click id, ad consent withdrawn, erased): `detail` says which


class SentConversion(BaseModel):
    """One conversion as the lead's state shows it (no personal data: ids and outcome)."""

    platform: Platform
    stage: LeadStage
    key: str
    at: datetime
    outcome: ConversionOutcome
    detail: str | None = None


class ConversionIdentity(BaseModel):
    """What a conversion is sent with, read from the lead's journey when it is sent (the
    `conversion_identity` query): the hashes Meta matches on and the click ids. Never in
    a workflow's input or state outside the lead's own (per-lead encrypted) payloads."""

    model_config = {"hide_input_in_errors": True}

    lead_id: str
    email_hash: str | None = None  # meta_hash of the address
    click_ids: ClickIds | None = None
    withheld: str | None = None  # why nothing may be sent (erased, ad consent withdrawn): then no ids


class DealConversion(BaseModel):
    """One won deal's conversion to one platform as mops recorded it (the analytics store
    keeps these; no personal data)."""

    deal_id: str
    lead_workflow_id: str
    platform: Platform
    key: str
    at: datetime
    outcome: ConversionOutcome
    detail: str | None = None
    value: Decimal | None = None
    currency: str | None = None
