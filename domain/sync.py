"""The contact fields mops owns, kept consistent between CRM, email platform and CDP (pure).

One golden record per lead (held by `ContactSyncWorkflow`). Each owned field is a
last-writer-wins register keyed by the *source's* timestamp: the value with the latest
`at` wins; equal times are broken by source name, then value. That order is total, so
merging is commutative, associative and idempotent: every replica that has seen the
same changes holds the same record, whatever order they arrived in (concurrent edits
converge). Consent purposes merge by `domain.consent.supersedes` (withdrawal wins ties).

Platforms and the fields they hold (names as each platform spells them):

    field        crm (HubSpot)   email (SendGrid Marketing)   cdp (Braze)
    first_name   firstname       first_name                   first_name
    last_name    lastname        last_name                    last_name
    company      company         -                            company
    country      country         country                      country

`ads` (the Meta Custom Audience) holds no fields, only membership (ad consent).
A field the golden record has never been told is not ours to judge: a platform may
hold its own value (HubSpot enrichment fills `company`), and that is not a mismatch.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from domain.consent import ConsentRecord, ConsentState, Purpose, cdp_attributes, crm_properties
from domain.fields import UtcDatetime

OWNED_FIELDS = ("first_name", "last_name", "company", "country")
PLATFORMS = ("crm", "email", "cdp", "ads")
FIELD_NAMES: dict[str, dict[str, str]] = {
    "crm": {"first_name": "firstname", "last_name": "lastname", "company": "company", "country": "country"},
    "email": {"first_name": "first_name", "last_name": "last_name", "country": "country"},
    "cdp": {"first_name": "first_name", "last_name": "last_name", "company": "company", "country": "country"},
    "ads": {},
}
# What each platform can show of consent (compared by reconciliation and the compliance check).
CONSENT_PURPOSES: dict[str, tuple[Purpose, ...]] = {
    "crm": tuple(Purpose),
    "email": (Purpose.EMAIL_MARKETING,),
    "cdp": tuple(Purpose),
    "ads": (),  # Meta offers no read-back of audience members: removals are re-sent, not compared
}
MAX_SEEN_CHANGES = 500


def normalise(field: str, value: object) -> str | None:
    """How values compare: trimmed, empty = unset, country codes upper-case."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if field == "country" and len(text) == 2:
        return text.upper()
    return text


class FieldValue(BaseModel):
    value: str | None
    at: UtcDatetime
    source: str


def wins(new: FieldValue, old: FieldValue | None) -> bool:
    """Latest source timestamp wins; ties by source, then value (a total order)."""
    if old is None:
        return True
    return (new.at, new.source, new.value or "") > (old.at, old.source, old.value or "")


class ContactChange(BaseModel):
    """Owned fields and/or consent as one source saw them at `at` (per-field times optional).

    `origin` is the platform the change was read from (a CRM webhook: "crm"); that
    platform already holds these values, so it is not written back unless it lost."""

    change_id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=120)
    origin: str | None = None
    at: UtcDatetime
    fields: dict[str, str | None] = {}
    field_times: dict[str, UtcDatetime] = {}
    consent: list[ConsentRecord] = []
    contact_id: str | None = None  # the CRM contact id, when the source knows it

    @field_validator("fields", "field_times")
    @classmethod
    def _owned(cls, value: dict[str, object]) -> dict[str, object]:
        unknown = sorted(set(value) - set(OWNED_FIELDS))
        if unknown:
            raise ValueError(f"not a synced contact field: {', '.join(unknown)} (one of {', '.join(OWNED_FIELDS)})")
        return value

    @field_validator("origin")
    @classmethod
    def _platform(cls, value: str | None) -> str | None:
        if value is not None and value not in PLATFORMS:
            raise ValueError(f"origin must be one of {', '.join(PLATFORMS)}")
        return value


class GoldenRecord(BaseModel):
    fields: dict[str, FieldValue] = {}
    consent: ConsentState = ConsentState()

    def value(self, field: str) -> str | None:
        current = self.fields.get(field)
        return current.value if current else None

    def values(self) -> dict[str, str | None]:
        return {f: self.value(f) for f in OWNED_FIELDS if f in self.fields}


class MergeResult(BaseModel):
    fields: list[str] = []
    purposes: list[Purpose] = []
    origin_current: bool = True  # the origin platform already holds every value it sent

    @property
    def changed(self) -> bool:
        return bool(self.fields or self.purposes)


def merge(record: GoldenRecord, change: ContactChange) -> MergeResult:
    """Apply one change to the record in place; report what changed."""
    result = MergeResult()
    for name, raw in change.fields.items():
        candidate = FieldValue(
            value=normalise(name, raw), at=change.field_times.get(name, change.at), source=change.source
        )
        current = record.fields.get(name)
        if current is None or wins(candidate, current):
            if current is None or current.value != candidate.value:
                result.fields.append(name)
            record.fields[name] = candidate
        elif current.value != candidate.value:
            result.origin_current = False  # the origin holds a value that lost: write it back
    for incoming in change.consent:
        before = record.consent.granted(incoming.purpose)
        applied = record.consent.apply(incoming)
        after = record.consent.granted(incoming.purpose)
        if applied and before != after:
            result.purposes.append(incoming.purpose)
        elif not applied and after != incoming.granted:
            result.origin_current = False
    return result


class SyncSnapshot(BaseModel):
    """Everything a contact sync run carries across continue-as-new."""

    record: GoldenRecord = GoldenRecord()
    version: int = 0  # bumped by every change that changed something
    pushed: dict[str, str] = {}  # platform -> fingerprint of what it was last sent
    seen: list[str] = []  # recent change ids (duplicates are ignored)
    contact_id: str | None = None
    changes_applied: int = 0
    erased: bool = False


def platform_values(record: GoldenRecord, platform: str) -> dict[str, str | None]:
    """The fields the record knows, under the platform's own names."""
    return {pname: record.value(f) for f, pname in FIELD_NAMES[platform].items() if f in record.fields}


class FieldMismatch(BaseModel):
    """A platform disagrees with the record on one field or purpose (no values: reports
    and alerts carry no personal data)."""

    lead_id: str
    platform: str
    field: str  # an owned field, or consent:<purpose>


def field_mismatches(
    lead_id: str, record: GoldenRecord, platform: str, observed: dict[str, object] | None
) -> tuple[int, list[FieldMismatch]]:
    """(fields compared, mismatches) for one platform's view of the contact; `observed`
    None means the platform has no such contact (every known field is then missing)."""
    compared, out = 0, []
    for field, pname in FIELD_NAMES[platform].items():
        expected = normalise(field, record.value(field))
        if expected is None:
            continue
        compared += 1
        actual = normalise(field, (observed or {}).get(pname))
        if actual != expected:
            out.append(FieldMismatch(lead_id=lead_id, platform=platform, field=field))
    return compared, out


def mismatch_rate(mismatches: int, compared: int) -> float:
    return mismatches / compared if compared else 0.0


__all__ = [
    "OWNED_FIELDS",
    "PLATFORMS",
    "FIELD_NAMES",
    "CONSENT_PURPOSES",
    "normalise",
    "FieldValue",
    "wins",
    "ContactChange",
    "GoldenRecord",
    "MergeResult",
    "merge",
    "SyncSnapshot",
    "platform_values",
    "FieldMismatch",
    "field_mismatches",
    "mismatch_rate",
    "MAX_SEEN_CHANGES",
]


def platform_state(record: GoldenRecord, platform: str) -> dict[str, object] | None:
    """What `platform` should hold for this record (its own field names plus consent as
    it shows it), or None when there is nothing to write there yet. Consent rules: an
    opt-out is written everywhere; HubSpot's `hs_email_optout` and SendGrid's global
    suppression are only ever *set* by the sync (never cleared: a stale grant must not
    undo an opt-out someone made on the platform itself; `mops consent grant` clears
    them explicitly)."""
    values: dict[str, object] = dict(platform_values(record, platform))
    consent = record.consent
    if platform == "crm":
        props = crm_properties(consent)
        if props.get("hs_email_optout") == "false":
            del props["hs_email_optout"]
        values.update(props)
    elif platform == "email":
        if consent.granted(Purpose.EMAIL_MARKETING) is False:
            values["__suppressed"] = True
    elif platform == "cdp":
        values.update(cdp_attributes(consent))
    elif platform == "ads":
        granted = consent.granted(Purpose.AD_AUDIENCES)
        return None if granted is None else {"member": granted}
    return values or None


def first_write(change: ContactChange, platform: str) -> dict[str, str]:
    """What `platform` holds once a new record made of `change` alone is written there,
    as the strings the platform stores. The source of a contact's first change writes it
    itself (the lead journey's CRM upsert) and hands the change over with `origin` set,
    so the contact sync does not write the same values there again."""
    record = GoldenRecord()
    merge(record, change)
    return {k: "" if v is None else str(v) for k, v in (platform_state(record, platform) or {}).items()}
