"""The `FormConfirmation` workflow's input, update argument and state."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from activities.models import ConfirmationEmailInput
from domain.conversions import ConversionPlan
from domain.fields import UtcDatetime
from domain.journeys import JourneySpec
from domain.leads import LeadCapture


class FormConfirmationInput(BaseModel):
    form_id: str
    lead_key: str  # the keyed hash of the address, in the workflow id and the link
    # The capture as posted; its `captured_at` becomes the confirmation's time when it is applied.
    capture: LeadCapture
    journey: JourneySpec  # pinned when the form was posted, as a direct capture pins it
    conversions: ConversionPlan | None = None
    email: ConfirmationEmailInput
    expires_at: UtcDatetime  # the link's expiry, also the end of this workflow
    email_queue: str
    workflow_queue: str


class ConfirmRequest(BaseModel):
    via: str = "link"  # how the person confirmed


Status = Literal["pending", "confirmed", "expired", "erased"]


class ConfirmationState(BaseModel):
    form_id: str
    status: Status
    expires_at: datetime
    email_sent: bool = False
    confirmed_at: datetime | None = None
    lead_workflow_id: str | None = None  # the journey the confirmation started (or touched)
    refused: str | None = None  # the journey would not take the person again (reentry)
