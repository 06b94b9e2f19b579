"""Lead-ad forms: which journey a platform's instant form feeds, how its questions map to a
capture, and what counts as marketing consent (`policies/lead-ad-forms.yaml`).

A form that is not listed is refused, never captured with guesses; a form without a
`consent` rule sends its leads in without marketing consent (a journey that requires it then
refuses them, loudly). Pure: the answers are passed in.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from domain.fields import ConfigModel, SpecError, load_yaml_model
from domain.leads import JOURNEY_ID_PATTERN

CAPTURE_FIELDS = ("email", "first_name", "last_name", "company", "country")


Platform = Literal["meta", "linkedin"]


class LeadAdSubmission(BaseModel):
    """One person's answers to a lead-ad form, as read back from the platform."""

    platform: Platform
    lead_id: str  # the platform's id of the submission (Meta leadgen id, LinkedIn response id)
    form_id: str
    submitted_at: datetime
    answers: dict[str, list[str]]  # question key -> answers
    checkboxes: dict[str, bool] = {}  # consent checkboxes by key
    ad_id: str | None = None  # the ad (Meta) or sponsored creative (LinkedIn) that carried the form
    organic: bool = False


class LeadAdFormsError(SpecError):
    pass


class LeadAdRefused(ValueError):
    """A lead that cannot become a capture; the message names the form and the problem."""


class ConsentRule(ConfigModel):
    """Marketing consent: a custom disclaimer checkbox that was ticked, or a question whose
    answer is one of `accepted`."""

    checkbox: str | None = None
    question: str | None = None
    accepted: list[str] = []

    @model_validator(mode="after")
    def _one_way(self) -> ConsentRule:
        if (self.checkbox is None) == (self.question is None):
            raise ValueError("give either checkbox or question")
        if self.question is not None and not self.accepted:
            raise ValueError("accepted: the answers that mean yes, for the question")
        return self

    def given(self, answers: dict[str, list[str]], checkboxes: dict[str, bool]) -> bool:
        if self.checkbox is not None:
            return checkboxes.get(self.checkbox) is True
        wanted = {a.strip().lower() for a in self.accepted}
        return any(v.strip().lower() in wanted for v in answers.get(self.question or "", []))


class LeadAdForm(ConfigModel):
    platform: Platform
    form_id: str = Field(pattern=r"^\d{6,20}$")
    journey: str = Field(pattern=JOURNEY_ID_PATTERN)
    fields: dict[str, str]  # capture field -> the form's question key
    consent: ConsentRule | None = None
    # The utm_campaign its leads carry: a campaign file's (its utm.campaign, else its id), whose
    # conversions they then count.
    utm_campaign: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _fields(self) -> LeadAdForm:
        unknown = sorted(set(self.fields) - set(CAPTURE_FIELDS))
        if unknown:
            raise ValueError(f"fields: {unknown[0]!r} is not a capture field (one of {', '.join(CAPTURE_FIELDS)})")
        if "email" not in self.fields:
            raise ValueError("fields: email is required (the question key holding the address)")
        return self

    def capture_fields(self, answers: dict[str, list[str]], checkboxes: dict[str, bool]) -> dict[str, Any]:
        """The capture's fields from one lead's answers (LeadAdRefused without an address)."""
        out: dict[str, Any] = {}
        for field, question in self.fields.items():
            values = [v for v in answers.get(question, []) if v.strip()]
            if values:
                out[field] = values[0].strip()
        if "email" not in out:
            raise LeadAdRefused(f"form {self.form_id}: no answer to its email question {self.fields['email']!r}")
        out["consent"] = self.consent.given(answers, checkboxes) if self.consent else False
        out["journey_id"] = self.journey
        return out


class LeadAdForms(ConfigModel):
    forms: list[LeadAdForm] = []

    @model_validator(mode="after")
    def _unique(self) -> LeadAdForms:
        seen: set[tuple[str, str]] = set()
        for i, form in enumerate(self.forms):
            key = (form.platform, form.form_id)
            if key in seen:
                raise ValueError(f"forms.{i}.form_id: {form.form_id} is listed twice for {form.platform}")
            seen.add(key)
        return self

    def find(self, platform: str, form_id: str) -> LeadAdForm:
        for form in self.forms:
            if form.platform == platform and form.form_id == form_id:
                return form
        raise LeadAdRefused(f"form {form_id}: not a {platform} lead form listed in lead-ad-forms.yaml")


def load_lead_ad_forms(path: Path) -> LeadAdForms:
    """Load and validate the lead-ad forms file; raises LeadAdFormsError (one line)."""
    return load_yaml_model(path, LeadAdForms, LeadAdFormsError, "lead-ad form fields")
