"""Messages and views of the contact sync workflow (pydantic, no I/O)."""

from __future__ import annotations

from pydantic import BaseModel

from domain.consent import ConsentState
from domain.sync import FieldValue


class SyncView(BaseModel):
    """What the `state` query returns. Holds the address and the owned values: it is
    read by mops itself (reconciliation, opt-outs) and never served by the gateway."""

    lead_id: str
    email: str
    fields: dict[str, FieldValue] = {}
    consent: ConsentState = ConsentState()
    version: int = 0
    pushed: dict[str, str] = {}
    pending: list[str] = []  # platforms not yet holding the latest version
    contact_id: str | None = None
    changes_applied: int = 0
    platforms: list[str] = []


class ReconcileRequest(BaseModel):
    """Push the whole record to the platforms again (they drifted)."""

    reason: str = "reconciliation"
    platforms: list[str] = []  # empty: every platform


class ContactSyncResult(BaseModel):
    lead_id: str
    erased: bool
    version: int
