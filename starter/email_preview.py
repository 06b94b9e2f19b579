"""`mops journeys preview`: one journey email rendered for a sample lead, written to files,
with its brand findings, so an author sees what a lead would get before anyone does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
from domain.journeys import SendEmailStep, load_journey
from mops.settings import Settings


class PreviewError(ValueError):
    """A preview that cannot be made; one line."""


class _LeadFileError(SpecError):
    pass


@dataclass(frozen=True)
class Preview:
    message: RenderedEmail
    findings: list[Finding]
    html_file: Path
    text_file: Path


def sample_lead(path: Path | None) -> dict:
    """The lead fields of a YAML file (first_name, company, segment, score, owner_name, ...);
    none: a lead we know nothing about, so every fallback shows."""
    if path is None:
        return {}
    _, data = read_yaml_mapping(path, _LeadFileError, "lead fields")
    known = set(EmailLead.model_fields)
    for key in data:
        if key not in known:
            raise PreviewError(f"{path}: {key}: not a lead field (known: {', '.join(sorted(known))})")
    try:
        return EmailLead.model_validate(data).model_dump(exclude_none=True)
    except ValidationError as err:
        first = err.errors()[0]
        raise PreviewError(f"{path}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def preview(settings: Settings, journey_id: str, step_id: str, lead_file: Path | None, out: Path) -> Preview:
    try:
        spec = load_journey(settings.journeys_dir, journey_id)
        lead = sample_lead(lead_file)
    except SpecError as err:
        raise PreviewError(str(err)) from None
    step = next((s for s in spec.steps if s.id == step_id), None)
    if not isinstance(step, SendEmailStep):
        emails = ", ".join(s.id for s in spec.steps if isinstance(s, SendEmailStep))
        raise PreviewError(f"--step: {journey_id} has no email step {step_id!r} (email steps: {emails})")
    templates = validation_templates(
        settings.email_templates_path, settings.mail_sender_postal, settings.mail_preferences_url
    )
    facts = MessageFacts(
        journey_id=spec.id,
        step_id=step.id,
        subject=step.subject,
        unsubscribe_url=f"{settings.unsubscribe_base_url().rstrip('/')}/v1/unsubscribe/PREVIEW",
        lead=lead_context(lead),
    )
    try:
        message = templates.render(step.template, facts)
        findings = templates.brand_findings(load_brand_rules(settings.policies_dir / "brand.yaml"), message)
    except (TemplateProblem, SpecError) as err:
        raise PreviewError(str(err)) from None
    out.mkdir(parents=True, exist_ok=True)
    html_file, text_file = out / f"{spec.id}-{step.id}.html", out / f"{spec.id}-{step.id}.txt"
    html_file.write_text(message.html)
    text_file.write_text(message.text)
    return Preview(message, findings, html_file, text_file)
