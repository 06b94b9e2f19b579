"""Rich renderings of workflow state for people (the CLI's non-JSON output)."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from workflows.lead_models import LeadState


def lead_panel(state: LeadState, url: str) -> Panel:
    head = Table.grid(padding=(0, 2))
    head.add_row("stage", f"[bold]{state.stage.value}[/]", "journey", f"{state.journey_id} v{state.journey_version}")
    score = state.score
    head.add_row("score", f"{score.total:.1f}" if score else "-", "segment", state.segment or "-")
    head.add_row("owner", state.owner_id or "-", "deal", state.deal_id or "-")
    head.add_row("emails sent", str(state.emails_sent), "touches", str(state.touches))
    nxt = state.next_step or "-"
    if state.next_step_at:
        nxt += f" at {state.next_step_at.isoformat(timespec='seconds')}"
    head.add_row("next", nxt, "outcome", state.outcome or "-")
    parts: list = [head]
    if score and score.reasons:
        reasons = Table("rule", "points", "why", box=None, header_style="dim")
        for r in score.reasons:
            reasons.add_row(r.rule, f"{r.points:+.1f}", r.detail)
        parts.append(reasons)
    parts.append(f"[dim]{url}[/]")
    return Panel(Group(*parts), title=state.lead_id, expand=False)
