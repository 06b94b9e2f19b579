"""Public forms: a web form on a landing page posting straight to the gateway (`/f/<id>`),
with no key in the page (`policies/forms.yaml`).

Each form says which fields it asks, which capture field each fills, the journey its leads
enter, the consent text people tick and its version (recorded with the consent), the
origins allowed to show it, what the browser gets back, and its spam defences: a hidden
honeypot field, a minimum fill time, per-IP and per-form rate limits (the signed form token
issued with the page is checked by the gateway). A form with `double_opt_in` starts no
journey on a post: the person is emailed a signed link that expires (`confirm_link`,
`verify_confirm_link`), and following it starts the journey. Pure: the submitted values and
the time are passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from domain.fields import ConfigModel, SpecError, load_yaml_model
from domain.leads import JOURNEY_ID_PATTERN

FORM_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
CAPTURE_FIELDS = ("email", "first_name", "last_name", "company", "country")
HONEYPOT = "website"  # a field people never see and bots fill in
CONSENT = "consent"  # the consent checkbox's field name
TOKEN = "form_token"
CONSENT_SOURCE_MAX = 100  # LeadCapture.consent_source's limit
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")


class FormsError(SpecError):
    pass


class FormRefused(ValueError):
    """A submission that starts nothing; `field` names what was wrong (for the page and the 4xx)."""

    def __init__(self, field: str, reason: str, status: int = 422) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason, self.status = field, reason, status


class FormField(ConfigModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    label: str = Field(min_length=1, max_length=200)
    maps: Literal["email", "first_name", "last_name", "company", "country"]
    required: bool = False
    type: Literal["text", "email"] = "text"


class ConsentText(ConfigModel):
    text: str = Field(min_length=1, max_length=1000)  # what the checkbox says, shown as is
    version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,40}$")  # recorded with every consent given
    required: bool = False  # the form cannot be sent without it


class RateLimits(ConfigModel):
    per_ip_per_minute: float = Field(5, gt=0)
    per_form_per_minute: float = Field(120, gt=0)


class DoubleOptIn(ConfigModel):
    """The form's posts are confirmed by email before the journey starts."""

    within_hours: float = Field(48, gt=0, le=24 * 30)  # the emailed link works this long
    subject: str = Field("Please confirm your subscription", min_length=1, max_length=200)
    check_inbox: str = Field("Nearly done: we've emailed you a link to confirm.", min_length=1, max_length=500)
    confirmed: str = Field("Thank you: your subscription is confirmed.", min_length=1, max_length=500)
    # The link opens a page with this button; only pressing it confirms (a link scanner's GET does not).
    confirm_label: str = Field("Confirm my subscription", min_length=1, max_length=100)
    # Where the browser goes once the button confirmed (else a page saying `confirmed`); the
    # form's own `redirect` is where it goes after the post (else a page saying `check_inbox`).
    confirmed_redirect: str | None = Field(None, pattern=r"^https?://")


class FormSpec(ConfigModel):
    id: str = Field(pattern=FORM_ID_PATTERN)
    title: str = Field(min_length=1, max_length=200)
    journey: str = Field(pattern=JOURNEY_ID_PATTERN)
    fields: list[FormField] = Field(min_length=1)
    consent: ConsentText | None = None
    allowed_origins: list[str] = []  # the sites that may frame it and post it (the gateway itself always)
    redirect: str | None = Field(None, pattern=r"^https?://")  # form posts: where the browser goes next
    submit_label: str = "Send"
    thanks: str = "Thank you: we'll be in touch."
    min_fill_seconds: float = Field(3, ge=0)
    max_age_hours: float = Field(24, gt=0)  # a page older than this must be reloaded
    limits: RateLimits = RateLimits()
    utm_campaign: str | None = Field(None, max_length=200)
    double_opt_in: DoubleOptIn | None = None

    @model_validator(mode="after")
    def _check(self) -> FormSpec:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("fields: each field's name once")
        if {HONEYPOT, CONSENT, TOKEN} & set(names):
            raise ValueError(f"fields: {HONEYPOT}, {CONSENT} and {TOKEN} are the form's own fields")
        email = [f for f in self.fields if f.maps == "email"]
        if len(email) != 1 or not email[0].required:
            raise ValueError("fields: exactly one required field maps to email")
        if len({f.maps for f in self.fields}) != len(self.fields):
            raise ValueError("fields: each capture field filled by one field only")
        bad = next((o for o in self.allowed_origins if not _ORIGIN.fullmatch(o)), None)
        if bad is not None:
            raise ValueError(f"allowed_origins: {bad!r} is not an origin (scheme://host[:port])")
        if self.double_opt_in is not None and (self.consent is None or not self.consent.required):
            # What the link confirms is the consent given with this text's version.
            raise ValueError("double_opt_in: needs a consent text with required: true")
        source = self.consent_source(ticked=True)
        if source is not None and len(source) > CONSENT_SOURCE_MAX:
            raise ValueError(f"id: with consent.version, {source!r} is too long for a consent record")
        return self

    def consent_source(self, *, ticked: bool) -> str | None:
        """What the lead's consent record names as where the consent was given."""
        if self.consent is None or not ticked:
            return None
        source = f"form {self.id}, text {self.consent.version}"
        # Recorded only once the emailed link was followed, dated then (the capture's time).
        return f"{source}, double opt-in confirmed" if self.double_opt_in is not None else source

    def capture_fields(self, values: dict[str, str]) -> dict[str, Any]:
        """The capture's fields from the submitted values (FormRefused naming the field)."""
        if values.get(HONEYPOT, "").strip():
            raise FormRefused(HONEYPOT, "this field must stay empty", 400)
        out: dict[str, Any] = {}
        for f in self.fields:
            value = values.get(f.name, "").strip()
            if len(value) > 500:
                raise FormRefused(f.name, "at most 500 characters")
            if not value:
                if f.required:
                    raise FormRefused(f.name, "required")
                continue
            out[f.maps] = value
        ticked = values.get(CONSENT, "").strip().lower() in ("on", "yes", "true", "1")
        if self.consent is not None and self.consent.required and not ticked:
            raise FormRefused(CONSENT, "the consent box must be ticked to send this form")
        out["consent"] = ticked and self.consent is not None
        out["journey_id"] = self.journey
        return out


class Forms(ConfigModel):
    forms: list[FormSpec] = []

    @model_validator(mode="after")
    def _unique(self) -> Forms:
        ids = [f.id for f in self.forms]
        dup = next((i for i in ids if ids.count(i) > 1), None)
        if dup is not None:
            raise ValueError(f"forms: {dup!r} is listed twice")
        return self

    def find(self, form_id: str) -> FormSpec | None:
        return next((f for f in self.forms if f.id == form_id), None)


FORMS_FILE = "forms.yaml"  # in the policies directory


def load_forms(path: Path) -> Forms:
    """Load and validate the forms file; raises FormsError (one line)."""
    return load_yaml_model(path, Forms, FormsError, "form fields")


# --- the page's signed token ---------------------------------------------------------------


def issue_token(secret: str, form_id: str, now: float, nonce: str) -> str:
    """`<form>.<issued, unix s>.<nonce>.<signature>`: proves the post comes from a page this
    gateway served for this form, and when; the nonce makes one page one capture."""
    body = f"{form_id}.{int(now)}.{nonce}"
    return f"{body}.{_sign(secret, body)}"


def verify_token(secret: str, token: str, spec: FormSpec, now: float) -> str:
    """The token's nonce, once it is this form's, genuine, old enough and not too old."""
    parts = token.split(".")
    if len(parts) != 4 or not parts[1].isdigit():
        raise FormRefused(TOKEN, "missing or malformed: load the form's page again", 400)
    body, signature = ".".join(parts[:3]), parts[3]
    if parts[0] != spec.id or not hmac.compare_digest(_sign(secret, body), signature):
        raise FormRefused(TOKEN, "not issued by this gateway for this form", 400)
    age = now - int(parts[1])
    if age < spec.min_fill_seconds:
        raise FormRefused(TOKEN, f"sent {max(age, 0):.0f}s after the page loaded: too fast for a person", 422)
    if age > spec.max_age_hours * 3600:
        raise FormRefused(TOKEN, "the page has expired: load it again", 422)
    return parts[2]


def _sign(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]


# --- the double opt-in's emailed link ------------------------------------------------------

LINK = "link"  # the field a refused confirmation link names


def confirmation_id(form_id: str, lead_key: str) -> str:
    """The pending confirmation's workflow id: one per form and person, so a second post
    within the window finds the first (and sends no second email)."""
    return f"form-confirm-{form_id}-{lead_key}"


CONFIRM_FIELDS = ("k", "until", "sig")  # a confirmation link's query, posted back by its page's button


def confirm_link(secret: str, form_id: str, lead_key: str, until: int) -> dict[str, str]:
    """The query of `/f/<form>/confirm`: the person's keyed hash, the expiry (unix s) and
    their signature, so the link names no one and cannot be made up or extended."""
    return {"k": lead_key, "until": str(until), "sig": _sign(secret, f"confirm.{form_id}.{lead_key}.{until}")}


def verify_confirm_link(secret: str, form_id: str, query: dict[str, str], now: float) -> str:
    """The lead key of a genuine, unexpired link for this form (FormRefused naming `link`)."""
    key, until, signature = query.get("k", ""), query.get("until", ""), query.get("sig", "")
    if not key or not until.isdigit() or not signature:
        raise FormRefused(LINK, "incomplete: open the link from the email as it is", 400)
    if not hmac.compare_digest(_sign(secret, f"confirm.{form_id}.{key}.{until}"), signature):
        raise FormRefused(LINK, "not issued by this gateway for this form", 400)
    if now >= int(until):
        raise FormRefused(LINK, "expired: send the form again for a new link", 410)
    return key
