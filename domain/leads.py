"""Leads: capture input, engagement events, the profile that rules look at, stages."""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.click_ids import ClickIds, derive_fbc
from domain.fields import TimezoneName, UtcDatetime

JOURNEY_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"

_EMAIL_RE = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]+"  # local part: no spaces, no second @
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"  # domain with a dot, TLD >= 2 letters
)


class LeadSource(StrEnum):
    WEB_FORM = "web_form"
    WEBINAR = "webinar"
    EVENT = "event"
    REFERRAL = "referral"
    PAID_SOCIAL = "paid_social"
    PAID_SEARCH = "paid_search"
    ORGANIC = "organic"
    PARTNER = "partner"
    IMPORT = "import"
    API = "api"


class EventType(StrEnum):
    OPEN = "open"
    CLICK = "click"
    VISIT = "visit"
    FORM = "form"
    REPLY = "reply"
    UNSUBSCRIBE = "unsubscribe"
    BOUNCE = "bounce"


class LeadStage(StrEnum):
    NEW = "new"
    QUALIFYING = "qualifying"
    NURTURING = "nurturing"
    MQL = "mql"
    SALES_ASSIGNED = "sales_assigned"
    CONVERTED = "converted"
    RECYCLED = "recycled"
    UNSUBSCRIBED = "unsubscribed"
    DISQUALIFIED = "disqualified"
    COMPLETED = "completed"


def mask_email(raw: str) -> str:
    """`alice@example.com` -> `a***@example.com`: enough to debug, not enough to identify."""
    text = str(raw).strip()
    local, at, domain = text.rpartition("@") if "@" in text else (text, "", "")
    return f"{local[:1]}***{at}{domain[:64]}"


def normalise_email(raw: str) -> str:
    """Strip and lower-case an email address; raise ValueError (masked, without a field name:
    the caller, or pydantic's location, names the field) if it is not one."""
    email = str(raw).strip().lower()
    if not _EMAIL_RE.fullmatch(email) or len(email) > 254:
        raise ValueError(f"{mask_email(email)!r} is not a valid email address")
    return email


def lead_key(email: str, secret: str) -> str:
    """Stable lead id: keyed, so it carries no personal data and a list of emails cannot reverse it."""
    if not secret:
        raise ValueError("lead_key needs a non-empty secret")
    digest = hmac.new(secret.encode(), normalise_email(email).encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


def lead_workflow_id(key: str) -> str:
    return f"lead-{key}"


# A hand-off's deal key (HubSpot `mops_key`): `<lead workflow id>[:<entry>]:c<cycle>:deal`,
# the entry in runs that key by entry (a person's later entries get deals of their own).
_DEAL_KEY = re.compile(r"^(lead-[0-9a-f]{24})(?::([^:]+))?:c(\d+):deal$")


class DealKey(BaseModel):
    workflow_id: str
    entry: str | None = None
    cycle: int


def parse_deal_key(text: str | None) -> DealKey | None:
    """The lead a deal's key names; None for a deal mops did not create."""
    match = _DEAL_KEY.fullmatch(text or "")
    if match is None:
        return None
    return DealKey(workflow_id=match.group(1), entry=match.group(2), cycle=int(match.group(3)))


def _blank_to_none(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


class Utm(BaseModel):
    """Campaign parameters of a touch (the `utm_*` query parameters of the link followed)."""

    source: str | None = Field(default=None, max_length=200)
    medium: str | None = Field(default=None, max_length=200)
    campaign: str | None = Field(default=None, max_length=200)
    content: str | None = Field(default=None, max_length=200)
    term: str | None = Field(default=None, max_length=200)

    @field_validator("source", "medium", "campaign", "content", "term", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return _blank_to_none(value)

    @classmethod
    def from_url(cls, url: str | None) -> Utm | None:
        """The `utm_*` parameters of a URL, or None when it carries none."""
        if not url or "utm_" not in url:
            return None
        query = parse_qs(urlsplit(url).query)
        found = {
            k: query[f"utm_{k}"][0]
            for k in ("source", "medium", "campaign", "content", "term")
            if query.get(f"utm_{k}")
        }
        return cls(**found) if found else None


class Touch(BaseModel):
    """One step of a lead's path, for attribution: when, how, and which campaign channel."""

    at: UtcDatetime
    kind: str  # "capture:<source>" or the engagement event type
    utm: Utm | None = None


class LeadCapture(BaseModel):
    """One capture of a lead (a form fill, a webinar sign-up, an import row)."""

    # Validation errors end up in logs and API responses: never echo the input back.
    model_config = ConfigDict(hide_input_in_errors=True)

    capture_id: str = Field(min_length=1)
    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    country: str | None = None
    timezone: TimezoneName | None = None
    source: LeadSource
    consent: bool = False
    captured_at: UtcDatetime
    journey_id: str = Field(default="default-nurture", pattern=JOURNEY_ID_PATTERN)
    utm: Utm | None = None  # the campaign link that brought the lead, if any
    click_ids: ClickIds | None = None  # the ad click that brought the lead, if any (conversion uploads)
    # Where the consent was given when it is not this capture's own form: a list import's
    # `--consent-source` (e.g. "event 2026-11"), kept on the lead's consent record.
    consent_source: str | None = Field(default=None, max_length=100)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)

    @field_validator("first_name", "last_name", "company", "country", "timezone", "consent_source", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return _blank_to_none(value)

    def consent_origin(self) -> str:
        """The source its consent record names: `capture:<source>`, and where it was given."""
        origin = f"capture:{self.source.value}"
        return f"{origin}:{self.consent_source}" if self.consent_source else origin

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"[A-Za-z]{2}", value):
            raise ValueError(f"country {value!r} must be an ISO 3166-1 alpha-2 code such as DE or US")
        return value.upper()

    @model_validator(mode="after")
    def _fbc_from_fbclid(self) -> LeadCapture:
        # Meta matches a click by its `fbc` cookie; with only the fbclid it is built from
        # the capture time, as Meta documents, so the journey always has one to send.
        ids = self.click_ids
        if ids is not None and ids.fbclid and not ids.fbc:
            self.click_ids = ids.model_copy(update={"fbc": derive_fbc(ids.fbclid, self.captured_at)})
        return self


class EngagementEvent(BaseModel):
    event_id: str = Field(min_length=1)
    type: EventType
    at: UtcDatetime
    detail: str | None = None  # e.g. the clicked URL
    utm: Utm | None = None  # given, or read from a clicked URL in `detail`

    def touch(self) -> Touch | None:
        """A touch for attribution when the event came through a campaign link."""
        utm = self.utm or Utm.from_url(self.detail)
        return Touch(at=self.at, kind=self.type.value, utm=utm) if utm else None


def capture_touch(c: LeadCapture) -> Touch:
    return Touch(at=c.captured_at, kind=f"capture:{c.source.value}", utm=c.utm)


class Firmographics(BaseModel):
    """Company facts from enrichment (CRM); every field optional."""

    company: str | None = None
    industry: str | None = None
    job_title: str | None = None
    country: str | None = None
    employees: int | None = None
    annual_revenue: float | None = None

    @field_validator("company", "industry", "job_title", "country", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return _blank_to_none(value)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        # Lenient: providers sometimes send names; only ISO codes are normalised.
        return value.upper() if value and len(value) == 2 else value


class LeadProfile(BaseModel):
    """The facts scoring, segmentation and journey branches look at (no personal data)."""

    email_domain: str
    source: LeadSource
    country: str | None = None
    company: str | None = None
    industry: str | None = None
    job_title: str | None = None
    employees: int | None = None
    annual_revenue: float | None = None


def build_profile(capture: LeadCapture, firmo: Firmographics | None) -> LeadProfile:
    """Combine capture and enrichment; firmographics win where they have a value."""
    firmo = firmo or Firmographics()
    return LeadProfile(
        email_domain=capture.email.rpartition("@")[2],
        source=capture.source,
        country=firmo.country or capture.country,
        company=firmo.company or capture.company,
        industry=firmo.industry,
        job_title=firmo.job_title,
        employees=firmo.employees,
        annual_revenue=firmo.annual_revenue,
    )
