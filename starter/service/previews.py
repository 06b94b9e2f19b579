"""Journey email previews: one email step rendered for a sample lead, with its brand findings,
so an author or a reviewer sees what a lead would get before anyone does.

The one rendering path behind `mops journeys preview` (which writes the parts to files,
starter/email_preview.py) and the gateway's `/previews` page (gateway/previews_page.py).
It renders exactly as a send does (activities.email_templates: the journey step's subject,
the template files, the footer settings) and checks the brand rules of
`<policies_dir>/brand.yaml` on the result; it sends nothing and starts no workflow.

Sample leads: `SAMPLE_LEADS` (an unknown lead, so every fallback shows; the lead of
`examples/lead.yaml`; the same lead in each segment and score band, for the dynamic blocks),
or the fields of a YAML file (`read_lead_file`). Errors: `PreviewNotFound` for a journey or
email step that is not there, `PreviewError` (one line, a template's `file:line: reason`)
for anything that cannot be rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from activities.email_templates import (
    MessageFacts,
    RenderedEmail,
    TemplateProblem,
    lead_context,
    validation_templates,
)
from activities.models import EmailLead
from domain.brand import Finding, load_brand_rules
from domain.fields import SpecError, read_yaml_mapping
from domain.journeys import JourneySpec, SendEmailStep, list_journeys, load_journey
from mops.settings import Settings
from starter.service.errors import InputError

# The footer's unsubscribe link in a preview: the gateway's real route, with a token that
# verifies for nobody (opened, it shows the "link not valid" page and unsubscribes no one).
PREVIEW_TOKEN = "PREVIEW"


class PreviewError(InputError):
    """A preview that cannot be made; one line (a template problem names `file:line`)."""


class PreviewNotFound(PreviewError):
    """No such journey, or no email step of that id in it. The CLI treats it as bad input
    (its argument names nothing, exit 2); the page answers 404."""


@dataclass(frozen=True)
class SampleLead:
    key: str  # as in the page's `?lead=` parameter
    label: str
    fields: Mapping[str, Any]  # EmailLead fields; none = unknown


# The lead of examples/lead.yaml (tests/gateway/test_previews_page.py keeps the two equal):
# the gateway may run where no examples/ directory is.
EXAMPLE_LEAD: Mapping[str, Any] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Acme Analytics",
    "job_title": "Head of Marketing",
    "industry": "software",
    "country": "DE",
    "employees": 240,
    "segment": "mid_market",
    "score": 52.0,
    "owner_name": "Priya Shah",
}

# Segments as journeys/scoring/default.yaml assigns them; scores inside each band
# (activities.email_templates.SCORE_BANDS: hot from 45, warm from 20).
SAMPLE_LEADS: tuple[SampleLead, ...] = (
    SampleLead("unknown", "Unknown lead (every fallback shows)", {}),
    SampleLead("example", "Ada Lovelace, Acme Analytics (examples/lead.yaml)", EXAMPLE_LEAD),
    SampleLead("enterprise-hot", "Ada, enterprise segment, hot score", {**EXAMPLE_LEAD, "segment": "enterprise"}),
    SampleLead(
        "mid-market-warm",
        "Ada, mid_market segment, warm score",
        {**EXAMPLE_LEAD, "segment": "mid_market", "score": 30.0},
    ),
    SampleLead("smb-cold", "Ada, smb segment, cold score", {**EXAMPLE_LEAD, "segment": "smb", "score": 5.0}),
)
SAMPLES = {s.key: s for s in SAMPLE_LEADS}


@dataclass(frozen=True)
class EmailStepInfo:
    step_id: str
    template: str
    subject: str  # the step's subject as written (a template itself)


@dataclass(frozen=True)
class JourneyEmails:
    """A journey and its email steps; `problem` is the one line of a journey file that does not load."""

    journey_id: str
    name: str
    version: int | None
    steps: list[EmailStepInfo]
    problem: str | None = None


@dataclass(frozen=True)
class EmailPreview:
    journey_id: str
    step_id: str
    template: str
    message: RenderedEmail
    findings: list[Finding]


class _LeadFileError(SpecError):
    pass


def read_lead_file(path: Path) -> dict[str, Any]:
    """The lead fields of a YAML file (first_name, company, segment, score, owner_name, ...)."""
    try:
        _, data = read_yaml_mapping(path, _LeadFileError, "lead fields")
    except SpecError as err:
        raise PreviewError(str(err)) from None
    known = set(EmailLead.model_fields)
    for key in data:
        if key not in known:
            raise PreviewError(f"{path}: {key}: not a lead field (known: {', '.join(sorted(known))})")
    try:
        return EmailLead.model_validate(data).model_dump(exclude_none=True)
    except ValidationError as err:
        first = err.errors()[0]
        raise PreviewError(f"{path}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def email_steps(spec: JourneySpec) -> list[SendEmailStep]:
    return [s for s in spec.steps if isinstance(s, SendEmailStep)]


class PreviewService:
    """Renders journey emails from the configured journeys, templates, footer and brand rules.
    Files are read on every call, so an edited template shows on the next preview."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def journeys(self) -> list[JourneyEmails]:
        """Every journey with its email steps, in id order; a journey that does not load is
        listed with its problem instead of hiding the others."""
        found: list[JourneyEmails] = []
        for journey_id in list_journeys(self._settings.journeys_dir):
            try:
                spec = load_journey(self._settings.journeys_dir, journey_id)
            except SpecError as err:
                found.append(JourneyEmails(journey_id, journey_id, None, [], problem=str(err)))
                continue
            steps = [EmailStepInfo(s.id, s.template, s.subject) for s in email_steps(spec)]
            found.append(JourneyEmails(spec.id, spec.name, spec.version, steps))
        return found

    def journey(self, journey_id: str) -> JourneySpec:
        known = list_journeys(self._settings.journeys_dir)
        if journey_id not in known:
            raise PreviewNotFound(f"journey: no journey {journey_id!r} (journeys: {', '.join(known) or 'none'})")
        try:
            return load_journey(self._settings.journeys_dir, journey_id)
        except SpecError as err:
            raise PreviewError(str(err)) from None

    @staticmethod
    def email_step(spec: JourneySpec, step_id: str) -> SendEmailStep:
        step = next((s for s in email_steps(spec) if s.id == step_id), None)
        if step is None:
            emails = ", ".join(s.id for s in email_steps(spec)) or "none"
            raise PreviewNotFound(f"step: {spec.id} has no email step {step_id!r} (email steps: {emails})")
        return step

    def render(self, journey_id: str, step_id: str, lead: Mapping[str, Any]) -> EmailPreview:
        """The email of step `step_id` as a lead with `lead`'s fields would get it."""
        spec = self.journey(journey_id)
        step = self.email_step(spec, step_id)
        s = self._settings
        templates = validation_templates(s.email_templates_path, s.mail_sender_postal, s.mail_preferences_url)
        facts = MessageFacts(
            journey_id=spec.id,
            step_id=step.id,
            subject=step.subject,
            unsubscribe_url=f"{s.unsubscribe_base_url().rstrip('/')}/v1/unsubscribe/{PREVIEW_TOKEN}",
            lead=lead_context(lead),
        )
        try:
            message = templates.render(step.template, facts)
            findings = templates.brand_findings(load_brand_rules(s.policies_dir / "brand.yaml"), message)
        except (TemplateProblem, SpecError) as err:
            raise PreviewError(str(err)) from None
        return EmailPreview(spec.id, step.id, step.template, message, findings)


__all__ = [
    "EXAMPLE_LEAD",
    "SAMPLE_LEADS",
    "SAMPLES",
    "EmailPreview",
    "EmailStepInfo",
    "JourneyEmails",
    "PreviewError",
    "PreviewNotFound",
    "PreviewService",
    "SampleLead",
    "email_steps",
    "read_lead_file",
]
