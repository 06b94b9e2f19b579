"""Inputs and outputs of the contact-sync and privacy activities (pydantic, no I/O).

Workflows import these; like `activities/models.py` this module stays free of httpx and
other I/O imports. Models that carry an address (`email`) are only ever used by
lead-scoped workflows (`domain.privacy`), so they are encrypted under the lead's key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from domain.consent import ConsentState, Purpose
from domain.sync import ContactChange, FieldMismatch, FieldValue, SyncSnapshot
from mops.queues import SyncQueues


class SyncView(BaseModel):
    """What the contact sync workflow's `state` query returns. Holds the address and the
    owned values: it is read by mops itself (the reconciliation scan, opt-outs) and never
    served by the gateway."""

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


class ContactSyncInput(BaseModel):
    lead_id: str
    email: str
    queues: SyncQueues = SyncQueues()
    platforms: list[str] = ["crm", "email", "ads"]  # "cdp" when one is configured
    audience_id: str | None = None  # Meta Custom Audience for contacts with ad consent
    snapshot: SyncSnapshot | None = None  # set by continue-as-new
    continue_as_new_after_events: int = 2_000


class PublishChangeInput(BaseModel):
    """A journey tells the lead's contact sync about a change (signal-with-start)."""

    lead_id: str
    email: str
    change: ContactChange


class PublishChangeResult(BaseModel):
    workflow_id: str


class PushContactInput(BaseModel):
    """The whole owned record for one platform: absolute values, so a retry or a repeat
    is harmless."""

    lead_id: str
    email: str
    values: dict[str, str | None] = {}  # owned fields the record knows (domain names)
    consent: ConsentState = ConsentState()
    contact_id: str | None = None  # CRM contact id when known
    audience_id: str | None = None
    version: int = 0


class PushContactResult(BaseModel):
    platform: str
    changed: bool = True
    contact_id: str | None = None
    detail: str = ""


class EndLeadWorkflowsInput(BaseModel):
    lead_id: str
    erasure_id: str
    requested_by: str


class EndLeadWorkflowsResult(BaseModel):
    ended: dict[str, str] = {}  # workflow id -> ended / not_found


class EraseOnPlatformInput(BaseModel):
    lead_id: str
    email: str
    audience_id: str | None = None


class EraseOnPlatformResult(BaseModel):
    platform: str
    outcome: str  # deleted / not_found / suppressed / removed / skipped


class ScanInput(BaseModel):
    """Compare every running contact sync's record with what the platforms hold."""

    mode: Literal["data", "compliance"] = "data"  # compliance: consent only
    task_queue: str  # the deployment's workflow queue (visibility is scoped to it)
    platforms: list[str] = ["crm", "email", "cdp"]
    lead_ids: list[str] = []  # only these (empty: all)
    limit: int = 10_000


class ScanResult(BaseModel):
    contacts: int = 0
    compared: int = 0
    mismatches: list[FieldMismatch] = []
    withdrawals_seen: dict[str, list[Purpose]] = {}  # lead id -> purposes a platform shows opted out

    @property
    def rate(self) -> float:
        return len(self.mismatches) / self.compared if self.compared else 0.0


class RepairInput(BaseModel):
    lead_ids: list[str]
    withdrawals_seen: dict[str, list[Purpose]] = {}
    source: str = "reconciliation"
    run_id: str = ""  # makes change ids unique per reconciliation run


class RepairResult(BaseModel):
    signalled: int = 0
    not_found: int = 0


__all__ = [
    "ContactSyncInput",
    "PublishChangeInput",
    "PublishChangeResult",
    "PushContactInput",
    "PushContactResult",
    "EndLeadWorkflowsInput",
    "EndLeadWorkflowsResult",
    "EraseOnPlatformInput",
    "EraseOnPlatformResult",
    "ScanInput",
    "ScanResult",
    "RepairInput",
    "RepairResult",
]
