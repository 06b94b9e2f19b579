"""List imports: which capture field each CSV column fills, the ids an import derives
from its file, and the rows it keeps (pure rules; the reading and staging are elsewhere).

An import is one per file content and journey: its id comes from the file's SHA-256, so
the same file imported again is the same import (a no-op), and each row's capture id from
the file and the row number, so a capture retried after a crash is the same capture of
the same lead (the journey's `capture` update is idempotent by capture id).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from domain.conversions import ConversionPlan
from domain.leads import LeadCapture

# The capture fields a column may fill (`--map field=Column`); `email` is required. The
# source of every row is `import`; its consent comes from a mapped column or from
# `--consent-source` (where the list's consent was given), never from a default.
MAPPABLE_FIELDS = ("email", "first_name", "last_name", "company", "country", "timezone", "consent", "landing_url")
_YES = {"true", "yes", "y", "1", "x"}
_NO = {"false", "no", "n", "0", ""}
HASH_CHARS = 32  # of the file's SHA-256 hex digest, in the ids (128 bits: no two files collide)


class ImportMapError(ValueError):
    """A `--map` that cannot be used; the message starts with `map:`."""


def parse_column_map(text: str, header: list[str]) -> dict[str, str]:
    """`email=Email,first_name=First` → {field: column}, checked against the file's header."""
    mapping: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        field, eq, column = (s.strip() for s in item.partition("="))
        if not item or not eq or not field or not column:
            raise ImportMapError(f"map: {item!r} is not field=Column")
        if field not in MAPPABLE_FIELDS:
            raise ImportMapError(f"map: unknown field {field!r} (one of {', '.join(MAPPABLE_FIELDS)})")
        if field in mapping:
            raise ImportMapError(f"map: field {field!r} is mapped twice")
        if column not in header:
            shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
            raise ImportMapError(f"map: column {column!r} is not in the file's header ({shown})")
        mapping[field] = column
    if "email" not in mapping:
        raise ImportMapError("map: email is required (email=Column)")
    return mapping


def consent_value(text: str) -> bool:
    """A consent cell: yes/true/1/x or no/false/0/empty (ValueError otherwise)."""
    value = text.strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise ValueError(f"consent: {text.strip()[:20]!r} is not yes or no")


def import_id(sha256: str, journey_id: str) -> str:
    """The import's id, and its workflow's: one per file content and journey."""
    return f"import-{journey_id}-{sha256[:HASH_CHARS]}"


def import_capture_id(sha256: str, row: int) -> str:
    return f"import-{sha256[:HASH_CHARS]}-{row}"


class Rejection(BaseModel):
    """One row refused, with its number (1 = the first row after the header) and why."""

    row: int = Field(ge=1)
    reason: str


class StagedRow(BaseModel):
    """A validated row as the import's activity captures it: the capture exactly as a
    single capture would send it (ids and time fixed when the file was read, so a retry is
    the same capture) and the conversion plan it pins."""

    row: int = Field(ge=1)
    capture: LeadCapture
    conversions: ConversionPlan | None = None
