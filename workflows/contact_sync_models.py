"""Messages of the contact sync workflow (pydantic, no I/O). Its `state` view, `SyncView`,
is in `activities.privacy_models`: the reconciliation scan (an activity) reads it too."""

from __future__ import annotations

from pydantic import BaseModel


class ReconcileRequest(BaseModel):
    """Push the whole record to the platforms again (they drifted)."""

    reason: str = "reconciliation"
    platforms: list[str] = []  # empty: every platform


class ContactSyncResult(BaseModel):
    lead_id: str
    erased: bool
    version: int
