"""List imports of leads (`mops lead import`, `POST /v1/imports`): validate every row of a
CSV file as a single capture is validated, stage the good rows, start the `LeadImport`
workflow that captures them at a set rate, and report its progress.

Reading and validating needs no server, so `--dry-run` works offline and a file with a
bad `--map`, an unknown journey or no good row starts nothing. Rows are numbered from 1,
the first row after the header; each rejected row is one report line with its number and
the reason (masked: never the address itself).
"""

from __future__ import annotations

import asyncio
import csv
import functools
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.journeys import JourneySpec
from domain.lead_import import (
    ImportMapError,
    Rejection,
    StagedRow,
    consent_value,
    import_capture_id,
    import_id,
    parse_column_map,
)
from domain.leads import JOURNEY_ID_PATTERN, LeadSource
from mops.lead_imports import ImportRecord, ImportStore
from mops.settings import Settings
from starter.service.conversion_plans import conversion_plan
from starter.service.errors import NotFound
from starter.service.leads import LeadInputError, build_capture, journey_spec
from workflows.lead_import import LeadImportWorkflow
from workflows.lead_import_models import ImportProgress, LeadImportInput

REPORT_SUFFIX = ".rejected.jsonl"  # the report beside the file: one JSON object a line, {"row", "reason"}


class ImportNotFound(NotFound):
    code = "import_not_found"


@dataclass
class PreparedImport:
    """A file read and validated: what would be imported, and what was refused."""

    import_id: str
    sha256: str
    file_name: str
    journey: JourneySpec
    consent_source: str | None
    rows_read: int
    staged: list[StagedRow] = field(repr=False)
    rejections: list[Rejection]

    @property
    def accepted(self) -> int:
        return len(self.staged)


class ImportStarted(BaseModel):
    import_id: str
    journey_id: str
    rows: int
    accepted: int
    rejected: int
    rows_per_second: float
    already_imported: bool  # this file was imported into this journey before: nothing was done


class ImportStatus(BaseModel):
    import_id: str
    journey_id: str
    file_name: str
    rows: int
    accepted: int
    rejected: int
    finished: bool
    progress: ImportProgress
    rejections: list[Rejection]


def read_import_file(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise LeadInputError(f"file: no such file {path}") from None
    except (IsADirectoryError, PermissionError) as err:
        raise LeadInputError(f"file: cannot read {path} ({err.strerror})") from None


def prepare_import(
    settings: Settings,
    data: bytes,
    *,
    file_name: str,
    column_map: str,
    journey_id: str,
    consent_source: str | None = None,
) -> PreparedImport:
    """Validate every row with the single capture's rules (`build_capture`): refused as a
    whole (LeadInputError, one line) for a bad map, an unknown journey or a file that is not
    CSV text; row by row otherwise."""
    if not re.fullmatch(JOURNEY_ID_PATTERN, journey_id):
        raise LeadInputError(f"journey: {journey_id!r} is not a journey id")
    journey = journey_spec(settings, journey_id)  # unknown or broken journey: refused here
    consent_source = (consent_source or "").strip() or None
    if consent_source is not None and len(consent_source) > 100:
        raise LeadInputError("consent_source: at most 100 characters")
    try:
        text = data.decode("utf-8-sig")  # a spreadsheet's export often starts with a BOM
    except UnicodeDecodeError:
        raise LeadInputError("file: not UTF-8 text (export the sheet as CSV UTF-8)") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    if not any(header):
        raise LeadInputError("file: no header row")
    try:
        mapping = parse_column_map(column_map, header)
    except ImportMapError as err:
        raise LeadInputError(str(err)) from None
    if journey.requires_consent and "consent" not in mapping and consent_source is None:
        raise LeadInputError(
            f"consent_source: journey '{journey.id}' requires marketing consent: say where this list's "
            "consent was given (--consent-source) or map a consent column"
        )
    sha256 = hashlib.sha256(data).hexdigest()
    columns = {f: header.index(c) for f, c in mapping.items()}
    captured_at = datetime.now(UTC)  # one time for the file: a re-read row is the same capture
    staged: list[StagedRow] = []
    rejections: list[Rejection] = []
    first_row_of: dict[str, int] = {}
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            if not any(c.strip() for c in cells):
                rejections.append(Rejection(row=number, reason="row: empty"))
                continue
            try:
                row = _staged_row(settings, journey, number, cells, columns, sha256, captured_at, consent_source)
            except LeadInputError as err:
                rejections.append(Rejection(row=number, reason=str(err)))
                continue
            email = row.capture.email
            if email in first_row_of:
                rejections.append(Rejection(row=number, reason=f"email: the same address as row {first_row_of[email]}"))
                continue
            first_row_of[email] = number
            staged.append(row)
    except csv.Error as err:
        raise LeadInputError(f"file: not CSV at row {number + 1} ({err})") from None
    return PreparedImport(
        import_id=import_id(sha256, journey.id),
        sha256=sha256,
        file_name=Path(file_name).name[:200],
        journey=journey,
        consent_source=consent_source,
        rows_read=number,
        staged=staged,
        rejections=rejections,
    )


def _staged_row(
    settings: Settings,
    journey: JourneySpec,
    number: int,
    cells: list[str],
    columns: dict[str, int],
    sha256: str,
    captured_at: datetime,
    consent_source: str | None,
) -> StagedRow:
    values = {f: (cells[i] if i < len(cells) else "") for f, i in columns.items()}
    consent_cell = values.pop("consent", None)
    try:
        consent = consent_value(consent_cell) if consent_cell is not None else consent_source is not None
    except ValueError as err:
        raise LeadInputError(str(err)) from None
    if journey.requires_consent and not consent:
        raise LeadInputError(f"consent: journey '{journey.id}' requires marketing consent; this row gives none")
    capture = build_capture(
        settings,
        journey=journey,  # pinned once for the file: the same version for every row
        capture_id=import_capture_id(sha256, number),
        captured_at=captured_at,
        source=LeadSource.IMPORT,
        journey_id=journey.id,
        consent=consent,
        consent_source=consent_source if consent else None,
        **{f: (v.strip() or None) for f, v in values.items()},
    )
    return StagedRow(row=number, capture=capture, conversions=conversion_plan(settings, capture))


def write_report(path: Path, rejections: list[Rejection]) -> None:
    """The rejected rows as JSON Lines: `{"row": 3, "reason": "email: ..."}` a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for r in rejections:
            f.write(json.dumps(r.model_dump(mode="json")) + "\n")


def report_path(file: Path) -> Path:
    return file.with_name(file.name + REPORT_SUFFIX)


@functools.lru_cache(maxsize=8)
def _store(path: Path) -> ImportStore:
    return ImportStore(path)


def imports_store(settings: Settings) -> ImportStore:
    return _store(settings.lead_imports_file)


class LeadImportService:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    async def start(self, prepared: PreparedImport, *, rows_per_second: float | None = None) -> ImportStarted:
        """Stage the rows and start the import; the same file into the same journey again is
        answered `already_imported` and does nothing. A failed or terminated import may be
        started again: its captures are the same captures, so none is applied twice."""
        inp = self.start_input(prepared, rows_per_second=rows_per_second)
        answer = ImportStarted(
            import_id=prepared.import_id,
            journey_id=prepared.journey.id,
            rows=prepared.rows_read,
            accepted=prepared.accepted,
            rejected=len(prepared.rejections),
            rows_per_second=inp.rows_per_second,
            already_imported=True,
        )
        if not await self.stage(prepared):
            return answer
        try:
            await self._client.start_workflow(
                LeadImportWorkflow.run,
                inp,
                id=prepared.import_id,
                task_queue=self._settings.workflow_task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary=f"Lead import of `{prepared.file_name}` into `{prepared.journey.id}`",
            )
        except WorkflowAlreadyStartedError:
            return answer
        return answer.model_copy(update={"already_imported": False})

    def start_input(self, prepared: PreparedImport, *, rows_per_second: float | None = None) -> LeadImportInput:
        rate = self._settings.import_rows_per_second if rows_per_second is None else rows_per_second
        if not 0 < rate <= 100:
            raise LeadInputError("rate: rows per second must be above 0 and at most 100")
        if not prepared.staged:
            raise LeadInputError(f"file: no row to import ({len(prepared.rejections)} rejected; see the report)")
        return LeadImportInput(
            import_id=prepared.import_id,
            journey_id=prepared.journey.id,
            accepted=prepared.accepted,
            rejected=len(prepared.rejections),
            last_row=prepared.staged[-1].row,
            rows_per_second=rate,
            batch_rows=self._settings.import_batch_rows,
            queue=self._settings.workflow_task_queue,
        )

    async def stage(self, prepared: PreparedImport) -> bool:
        """Stage the rows unless they are already (a retried start stages nothing twice).
        False: this import finished before."""
        store = imports_store(self._settings)
        record = await asyncio.to_thread(store.record, prepared.import_id)
        if record is not None:
            return record.finished_at is None
        await asyncio.to_thread(
            store.stage,
            ImportRecord(
                import_id=prepared.import_id,
                journey_id=prepared.journey.id,
                sha256=prepared.sha256,
                file_name=prepared.file_name,
                consent_source=prepared.consent_source,
                rows_read=prepared.rows_read,
                accepted=prepared.accepted,
                rejected=len(prepared.rejections),
                staged_at=datetime.now(UTC),
                finished_at=None,
            ),
            prepared.journey,
            prepared.staged,
            prepared.rejections,
        )
        return True

    async def status(self, import_id_: str) -> ImportStatus:
        """The import's progress (its query while it runs, its result once done) and report."""
        store = imports_store(self._settings)
        record = await asyncio.to_thread(store.record, import_id_)
        if record is None:
            raise ImportNotFound(f"import: no import {import_id_!r} staged on this machine")
        handle = self._client.get_workflow_handle_for(LeadImportWorkflow.run, import_id_)
        try:
            described = await handle.describe()
            if described.status == WorkflowExecutionStatus.RUNNING:
                progress = await handle.query(LeadImportWorkflow.progress)
            elif described.status == WorkflowExecutionStatus.COMPLETED:
                progress = await handle.result()
            else:
                ended = described.status.name.lower() if described.status else "unknown"
                raise ImportNotFound(f"import: {import_id_} ended {ended}; import the file again")
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise ImportNotFound(f"import: no workflow for {import_id_} (never started)") from None
            raise
        return ImportStatus(
            import_id=record.import_id,
            journey_id=record.journey_id,
            file_name=record.file_name,
            rows=record.rows_read,
            accepted=record.accepted,
            rejected=record.rejected,
            finished=progress.done,
            progress=progress,
            rejections=await asyncio.to_thread(store.rejections, import_id_),
        )
