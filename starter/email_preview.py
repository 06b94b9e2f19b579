"""`mops journeys preview`: one journey email rendered for a sample lead, written to files,
with its brand findings. The rendering is the service's (starter.service.previews, the
same path the gateway's `/previews` page uses); this module only writes the parts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from activities.email_templates import RenderedEmail
from domain.brand import Finding
from mops.settings import Settings
from starter.service.previews import PreviewError, PreviewService, read_lead_file


@dataclass(frozen=True)
class Preview:
    message: RenderedEmail
    findings: list[Finding]
    html_file: Path
    text_file: Path


def preview(settings: Settings, journey_id: str, step_id: str, lead_file: Path | None, out: Path) -> Preview:
    """Render, then write `<journey>-<step>.html` and `.txt` into `out`. No lead file: a lead
    we know nothing about, so every fallback shows. Raises PreviewError (one line)."""
    lead = read_lead_file(lead_file) if lead_file is not None else {}
    p = PreviewService(settings).render(journey_id, step_id, lead)
    out.mkdir(parents=True, exist_ok=True)
    html_file, text_file = out / f"{p.journey_id}-{p.step_id}.html", out / f"{p.journey_id}-{p.step_id}.txt"
    html_file.write_text(p.message.html)
    text_file.write_text(p.message.text)
    return Preview(p.message, p.findings, html_file, text_file)


__all__ = ["Preview", "PreviewError", "preview"]
