"""Consent per lead per purpose, and how each platform shows it (pure, no I/O).

Purposes
- `email_marketing`: journey and list emails. Shown by SendGrid as a global suppression
  (withdrawn), by HubSpot as `hs_email_optout` and `mops_consent_email_marketing`, by the
  CDP as `email_subscribe` (`opted_in` / `unsubscribed`).
- `ad_audiences`: membership of the Meta Custom Audience (hashed address), HubSpot
  `mops_consent_ad_audiences`, CDP `mops_consent_ad_audiences`.
- `profiling`: scoring and enrichment; HubSpot `mops_consent_profiling`, CDP
  `mops_consent_profiling`.

Each purpose holds its latest record (granted or withdrawn, with its source and time).
Records merge by time; at the same instant a withdrawal beats a grant, so the merge
never turns an opt-out into consent by accident, and arrival order never matters.

An opt-out from any channel (SendGrid unsubscribe, CRM property, one-click POST,
`mops lead unsubscribe`) withdraws the marketing purposes (`MARKETING`); profiling is
withdrawn only when asked for by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.fields import UtcDatetime


class Purpose(StrEnum):
    EMAIL_MARKETING = "email_marketing"
    AD_AUDIENCES = "ad_audiences"
    PROFILING = "profiling"


MARKETING = (Purpose.EMAIL_MARKETING, Purpose.AD_AUDIENCES)

# How HubSpot holds consent: one property per purpose ("granted" / "withdrawn") and
# HubSpot's own email opt-out flag.
CRM_CONSENT_PROPERTIES = {p: f"mops_consent_{p.value}" for p in Purpose}
CRM_EMAIL_OPTOUT = "hs_email_optout"
GRANTED, WITHDRAWN = "granted", "withdrawn"
# How the CDP (Braze user attributes) holds it.
CDP_EMAIL_SUBSCRIBE = "email_subscribe"
CDP_CONSENT_ATTRIBUTES = {p: f"mops_consent_{p.value}" for p in Purpose}


class ConsentRecord(BaseModel):
    purpose: Purpose
    granted: bool
    source: str = Field(min_length=1, max_length=120)  # e.g. "capture:webinar", "one-click", "sendgrid:unsubscribe"
    at: UtcDatetime


def supersedes(new: ConsentRecord, old: ConsentRecord | None) -> bool:
    """Does `new` replace `old`? Later wins; at the same time a withdrawal wins; then the
    source decides, so every replica picks the same record whatever the arrival order."""
    if old is None:
        return True
    return (new.at, not new.granted, new.source) > (old.at, not old.granted, old.source)


class ConsentState(BaseModel):
    """The latest record per purpose (a purpose with no record is unknown: not granted)."""

    records: dict[Purpose, ConsentRecord] = {}

    def apply(self, record: ConsentRecord) -> bool:
        """Merge one record; True when it changed what is known."""
        if not supersedes(record, self.records.get(record.purpose)):
            return False
        self.records[record.purpose] = record
        return True

    def apply_all(self, records: Iterable[ConsentRecord]) -> list[Purpose]:
        return [r.purpose for r in records if self.apply(r)]

    def granted(self, purpose: Purpose) -> bool | None:
        """True / False when known, None when nothing was ever recorded."""
        record = self.records.get(purpose)
        return None if record is None else record.granted

    def allows(self, purpose: Purpose) -> bool:
        return self.granted(purpose) is True


def opt_out(source: str, at: datetime, purposes: Iterable[Purpose] = MARKETING) -> list[ConsentRecord]:
    """The records an opt-out from any channel writes."""
    return [ConsentRecord(purpose=p, granted=False, source=source[:120], at=at) for p in purposes]


def from_capture(consent: bool, source: str, at: datetime) -> list[ConsentRecord]:
    """A capture's consent box covers email marketing; without it nothing is recorded
    (no record is not a grant, and not an opt-out either)."""
    return [ConsentRecord(purpose=Purpose.EMAIL_MARKETING, granted=True, source=source[:120], at=at)] if consent else []


# ------------------------------------------------------------------ platform views


def crm_properties(state: ConsentState) -> dict[str, str]:
    """HubSpot contact properties for what is known."""
    props = {CRM_CONSENT_PROPERTIES[p]: GRANTED if r.granted else WITHDRAWN for p, r in state.records.items()}
    email = state.granted(Purpose.EMAIL_MARKETING)
    if email is not None:
        props[CRM_EMAIL_OPTOUT] = "false" if email else "true"
    return props


def cdp_attributes(state: ConsentState) -> dict[str, object]:
    """Braze user attributes for what is known."""
    attrs: dict[str, object] = {CDP_CONSENT_ATTRIBUTES[p]: r.granted for p, r in state.records.items()}
    email = state.granted(Purpose.EMAIL_MARKETING)
    if email is not None:
        attrs[CDP_EMAIL_SUBSCRIBE] = "opted_in" if email else "unsubscribed"
    return attrs


class ObservedConsent(BaseModel):
    """What one platform shows for one purpose (None: it shows nothing for it)."""

    platform: str
    purpose: Purpose
    granted: bool | None


def crm_observed(properties: dict[str, str | None]) -> list[ObservedConsent]:
    out = []
    for purpose, name in CRM_CONSENT_PROPERTIES.items():
        value = properties.get(name)
        out.append(ObservedConsent(platform="crm", purpose=purpose, granted=None if not value else value == GRANTED))
    optout = properties.get(CRM_EMAIL_OPTOUT)
    if optout in ("true", "false"):  # HubSpot's own flag wins over our property for email
        out = [o for o in out if o.purpose != Purpose.EMAIL_MARKETING]
        out.append(ObservedConsent(platform="crm", purpose=Purpose.EMAIL_MARKETING, granted=optout == "false"))
    return out


def cdp_observed(attributes: dict[str, object]) -> list[ObservedConsent]:
    out = []
    for purpose, name in CDP_CONSENT_ATTRIBUTES.items():
        value = attributes.get(name)
        out.append(ObservedConsent(platform="cdp", purpose=purpose, granted=value if isinstance(value, bool) else None))
    subscribe = attributes.get(CDP_EMAIL_SUBSCRIBE)
    if subscribe in ("opted_in", "subscribed", "unsubscribed"):
        out = [o for o in out if o.purpose != Purpose.EMAIL_MARKETING]
        out.append(
            ObservedConsent(platform="cdp", purpose=Purpose.EMAIL_MARKETING, granted=subscribe != "unsubscribed")
        )
    return out


def email_platform_observed(suppressed: bool) -> list[ObservedConsent]:
    """SendGrid shows only opt-outs: a global suppression is a withdrawal; no suppression
    is not a grant (it agrees with 'granted' and with 'unknown')."""
    return [ObservedConsent(platform="email", purpose=Purpose.EMAIL_MARKETING, granted=False if suppressed else None)]


class ConsentMismatch(BaseModel):
    platform: str
    purpose: Purpose
    expected: bool | None
    observed: bool | None


def consent_mismatches(state: ConsentState, observed: Iterable[ObservedConsent]) -> list[ConsentMismatch]:
    """Where a platform disagrees with the record. A platform that shows nothing for a
    purpose disagrees only if the record says withdrawn (an opt-out must be visible
    everywhere it can be); SendGrid's 'not suppressed' disagrees only with 'withdrawn'."""
    out = []
    for o in observed:
        expected = state.granted(o.purpose)
        if o.granted == expected:
            continue
        if o.granted is None and expected is not False:
            continue
        out.append(ConsentMismatch(platform=o.platform, purpose=o.purpose, expected=expected, observed=o.granted))
    return out


def withdrawals_seen(state: ConsentState, observed: Iterable[ObservedConsent]) -> list[Purpose]:
    """Purposes a platform shows withdrawn while the record does not: an opt-out that
    reached that platform and not us (a lost webhook). The compliance check adopts them:
    the most restrictive answer wins."""
    return sorted({o.purpose for o in observed if o.granted is False and state.granted(o.purpose) is not False})


__all__ = [
    "Purpose",
    "MARKETING",
    "ConsentRecord",
    "ConsentState",
    "supersedes",
    "opt_out",
    "from_capture",
    "crm_properties",
    "cdp_attributes",
    "ObservedConsent",
    "crm_observed",
    "cdp_observed",
    "email_platform_observed",
    "ConsentMismatch",
    "consent_mismatches",
    "withdrawals_seen",
]
