"""The `LeadImport` workflow's input and progress (no personal data: ids and counts)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ImportCounts(BaseModel):
    cursor: int = 0  # the last row number up to which every row is captured
    captured: int = 0
    started: int = 0  # new leads
    touched: int = 0  # leads already running: the row was a touch on their journey
    refused: int = 0  # people the journey's re-entry policy turned away: rows in the report


class LeadImportInput(BaseModel):
    import_id: str  # also the workflow id: `import-<journey>-<file hash>`
    journey_id: str
    accepted: int = Field(ge=0)  # staged rows to capture
    rejected: int = Field(ge=0)  # refused when the file was validated (the report)
    last_row: int = Field(ge=0)  # the number of the file's last staged row
    rows_per_second: float = Field(gt=0)
    batch_rows: int = Field(ge=1)
    queue: str  # where the import's activities run: the workers on the staging machine
    # Set only by continue-as-new: the cursor and counts so far.
    counts: ImportCounts = ImportCounts()
    # Continue-as-new after this many batches (or when the server suggests it), so a long
    # file's history stays short. Tests lower it to exercise the path.
    continue_as_new_after_batches: int = Field(200, ge=1)


class ImportProgress(BaseModel):
    import_id: str
    journey_id: str
    accepted: int
    rejected: int
    rows_per_second: float
    counts: ImportCounts
    done: bool
