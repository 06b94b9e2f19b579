"""Messages, inputs and results of the privacy workflows (pydantic, no I/O)."""

from __future__ import annotations

from pydantic import BaseModel, Field, computed_field

from domain.consent import ConsentRecord
from domain.sync import FieldMismatch
from mops.queues import SyncQueues


class EraseRequest(BaseModel):
    """Signal to a lead's workflows: end now, touch no platform (erasure deletes)."""

    erasure_id: str
    requested_by: str = "privacy"


class ConsentUpdate(BaseModel):
    """Signal to a lead's journey: consent per purpose changed (opt-out or grant)."""

    records: list[ConsentRecord] = Field(min_length=1)


class ErasureInput(BaseModel):
    lead_id: str
    email: str  # needed for the platforms' delete calls; shredded with the lead's key
    erasure_id: str
    requested_by: str
    queues: SyncQueues = SyncQueues()
    platforms: list[str] = ["crm", "email", "ads"]
    audience_id: str | None = None


class ErasureResult(BaseModel):
    lead_id: str
    erasure_id: str
    steps: dict[str, str] = {}  # step -> outcome


class ReconcileInput(BaseModel):
    mode: str = Field("data", pattern="^(data|compliance)$")  # compliance: consent only, alert on mismatches
    task_queue: str  # the workflow queue whose contact syncs are checked
    queues: SyncQueues = SyncQueues()
    platforms: list[str] = ["crm", "email", "cdp"]
    lead_ids: list[str] = []
    repair: bool = True
    alert_channel: str | None = None
    chat_queue: str = "mops-chat"
    verify_rounds: int = Field(10, ge=0, le=100)  # re-scans after the repair until 0 mismatches
    objective: float = Field(0.995, gt=0, le=1)  # the accuracy (1 - mismatch rate) a data run alerts below


class ReconcileReport(BaseModel):
    mode: str
    contacts: int
    compared: int
    mismatches_before: int
    rate_before: float
    mismatches_after: int | None = None
    rate_after: float | None = None
    by_platform: dict[str, int] = {}  # platform/field -> mismatches before repair
    repaired_leads: int = 0
    adopted_withdrawals: int = 0
    alerted: bool = False
    sample: list[FieldMismatch] = []  # the first mismatches (lead ids and field names only)
    objective: float = 0.995

    @computed_field  # type: ignore[prop-decorator]
    @property
    def accuracy(self) -> float | None:
        """Comparisons that agreed, before any repair; None when there was nothing to compare."""
        return 1.0 - self.mismatches_before / self.compared if self.compared else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def met(self) -> bool:
        return self.accuracy is None or self.accuracy >= self.objective
