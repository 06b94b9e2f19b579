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


def content_panel(view, url: str) -> Panel:
    head = Table.grid(padding=(0, 2))
    head.add_row("stage", f"[bold]{view.stage.value}[/]", "revision", str(view.revision))
    head.add_row("type", view.type, "author", view.author)
    head.add_row("review", view.current_review or "-", "waiting for", ", ".join(view.pending_approvers) or "-")
    head.add_row("draft", view.draft_link or "-", "outcome", view.outcome or "-")
    parts: list = [head]
    if view.findings:
        findings = Table("severity", "rule", "finding", box=None, header_style="dim")
        for f in view.findings:
            findings.add_row(f.severity.value, f.rule, f.message)
        parts.append(findings)
    if view.decisions:
        decisions = Table("when", "stage", "who", "decision", "rev", "comment", box=None, header_style="dim")
        for d in view.decisions:
            when = d.at.isoformat(timespec="seconds") if d.at else "-"
            decisions.add_row(when, d.stage or "-", d.approver, d.kind.value, str(d.revision), d.comment or "")
        parts.append(decisions)
    channels = Table("channel", "status", "link / ref", box=None, header_style="dim")
    for c in view.channels:
        channels.add_row(c.channel.value, c.status.value, c.link or c.ref or c.error or "-")
    parts.append(channels)
    for p in view.performance:
        parts.append(f"day {p.day}: {p.views:.0f} views, {p.sessions:.0f} sessions, {p.conversions:.0f} conversions")
    parts.append(f"[dim]{url}[/]")
    return Panel(Group(*parts), title=f"{view.content_id}: {view.title}", expand=False)
