"""Rich renderings of workflow state for people (the CLI's non-JSON output)."""

from __future__ import annotations

import os
from typing import IO

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from domain.conversions import DealConversion
from domain.journey_stats import COUNTS
from domain.money import from_minor
from workflows.lead_models import LeadState

# Width when the output is not a terminal (a pipe, a file, a test): rich would otherwise fold
# every line at 80 columns and cut Web UI links in two. Panels and tables are sized to their
# content, so nothing is padded to this width.
PIPE_WIDTH = 400


def make_console(*, stderr: bool = False, file: IO[str] | None = None, min_width: int = 0) -> Console:
    """A rich Console that hard-wraps only on a terminal (at its width, at least `min_width`)."""
    probe = Console(stderr=stderr, file=file)
    if probe.is_terminal or "COLUMNS" in os.environ:
        return Console(stderr=stderr, file=file, width=max(probe.width, min_width)) if min_width else probe
    return Console(stderr=stderr, file=file, width=PIPE_WIDTH)


def lead_panel(state: LeadState, url: str, deals: list[DealConversion] | None = None) -> Panel:
    """The lead as `mops lead show` prints it; `deals`: its won deals' conversions (from
    the analytics store), listed with the stage conversions."""
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
    if state.variants:
        tested = ", ".join(f"{split} → {variant}" for split, variant in sorted(state.variants.items()))
        head.add_row("variants", tested, "", "")
    parts: list = [head]
    if score and score.reasons:
        reasons = Table("rule", "points", "why", box=None, header_style="dim")
        for r in score.reasons:
            reasons.add_row(r.rule, f"{r.points:+.1f}", r.detail)
        parts.append(reasons)
    if state.conversions:
        sent = Table("conversion", "platform", "outcome", "detail", box=None, header_style="dim")
        for c in state.conversions:
            sent.add_row(c.stage.value, c.platform.value, c.outcome.value, c.detail or "")
        parts.append(sent)
    if deals:
        won = Table("deal won", "platform", "outcome", "value", "detail", box=None, header_style="dim")
        for d in deals:
            value = f"{d.value} {d.currency}" if d.value is not None else "-"
            won.add_row(d.deal_id, d.platform.value, d.outcome.value, value, d.detail or "")
        parts.append(won)
    parts.append(f"[dim]{url}[/]")
    return Panel(Group(*parts), title=state.lead_id, expand=False)


def refused_table(refused) -> Table:
    """Decisions refused for want of proof of who made them (never applied)."""
    table = Table(
        "refused at", "stage", "in the name of", "decision", "why", box=None, header_style="dim", title_style="red"
    )
    table.title = "[red]refused decisions (no valid proof of who made them)[/]"
    for r in refused:
        table.add_row(r.at.isoformat(timespec="seconds"), r.stage, r.approver, r.kind.value, r.reason)
    return table


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
    if view.refused_decisions:
        parts.append(refused_table(view.refused_decisions))
    channels = Table("channel", "status", "link / ref", box=None, header_style="dim")
    for c in view.channels:
        channels.add_row(c.channel.value, c.status.value, c.link or c.ref or c.error or "-")
    parts.append(channels)
    for p in view.performance:
        parts.append(f"day {p.day}: {p.views:.0f} views, {p.sessions:.0f} sessions, {p.conversions:.0f} conversions")
    parts.append(f"[dim]{url}[/]")
    return Panel(Group(*parts), title=f"{view.content_id}: {view.title}", expand=False)


def campaign_panel(view, url: str) -> Panel:
    head = Table.grid(padding=(0, 2))
    head.add_row("status", f"[bold]{view.status.value}[/]", "owner", view.owner)
    head.add_row("budget", f"{view.total_budget} {view.currency}", "ends", view.end.isoformat(timespec="minutes"))
    if view.pacing is not None:
        head.add_row(
            "pacing",
            view.pacing.status,
            "spent / planned",
            f"{view.pacing.spent_to_date} / {view.pacing.planned_to_date}",
        )
    if view.pending_approvers:
        head.add_row("waiting for", ", ".join(view.pending_approvers), "", "")
    head.add_row("outcome", view.outcome or "-", "", "")
    parts: list = [head]
    channels = Table(
        "channel",
        "state",
        "daily budget",
        "spend",
        "clicks",
        "conv.",
        "CPA",
        "ROAS",
        "link / note",
        box=None,
        header_style="dim",
    )
    for p in view.parts:
        days = view.figures.get(p.channel, [])
        spend = sum((d.spend for d in days), 0)
        k = view.kpis.get(p.channel)
        budget = "-" if p.daily_budget_minor is None else str(from_minor(p.daily_budget_minor, view.currency))
        channels.add_row(
            p.channel.value,
            p.state.value,
            budget,
            str(spend) if days else "-",
            str(sum(d.clicks for d in days)) if days else "-",
            f"{sum(d.conversions for d in days):g}" if days else "-",
            str(k.cpa) if k and k.cpa is not None else "-",
            f"{k.roas:.2f}" if k and k.roas is not None else "-",
            p.note or p.error or p.link or "-",
        )
    parts.append(channels)
    if view.pacing_steps:
        last = view.pacing_steps[-1]
        run = f" ({last.budget_run}: {last.outcome or 'open'})" if last.budget_run else ""
        parts.append(f"pacing {last.decision.action}: {last.decision.reason}{run}")
    for a in view.anomalies:
        parts.append(f"[yellow]alert[/] {a.channel.value} {a.kind}: {a.detail}")
    for c in view.budget_changes:
        moves = ", ".join(
            f"{k.value} {from_minor(c.before.get(k, 0), view.currency)} → {from_minor(v, view.currency)}"
            for k, v in c.after.items()
        )
        parts.append(f"budget change {c.at:%Y-%m-%d %H:%M} ({c.proposal_id}): {moves}")
    if view.approval is not None and view.approval.refused:
        parts.append(refused_table(view.approval.refused))
    parts.append(f"[dim]{url}[/]")
    return Panel(Group(*parts), title=f"{view.campaign_id}: {view.name}", expand=False)


def budget_panel(view, workflow_id: str, url: str) -> Panel:
    def m(minor: int | None) -> str:
        return "-" if minor is None else str(from_minor(minor, view.currency or "EUR"))

    parts: list = [f"status [bold]{view.status.value}[/] · outcome: {view.outcome or '-'}"]
    if view.proposal is not None:
        p = view.proposal
        table = Table("channel", "current/day", "proposed/day", box=None, header_style="dim")
        for k, v in p.current.items():
            table.add_row(k.value, m(v), m(p.proposed[k]))
        parts += [f"proposal: {p.action}, {p.moved_pct}% of the daily budget, by {p.metric}", table]
        parts += [f"· {r}" for r in p.reasons]
    if view.pending_approvers:
        parts.append(f"waiting for: {', '.join(view.pending_approvers)}")
    for c in view.changes:
        parts.append(
            f"{c.channel.value}: {m(c.before)} → {m(c.after)}, read back {m(c.verified)}"
            + (" (rolled back)" if c.rolled_back else "")
        )
    if view.approval is not None and view.approval.refused:
        parts.append(refused_table(view.approval.refused))
    parts.append(f"[dim]{url}[/]")
    return Panel(Group(*parts), title=workflow_id, expand=False)


def health_panel(view) -> Panel:
    table = Table(
        "platform", "state", "since", "median ms", "errors", "headroom", "reason", box=None, header_style="dim"
    )
    for p, h in sorted(view.platforms.items()):
        last = h.last
        table.add_row(
            p,
            f"[{'red' if h.state == 'degraded' else 'green'}]{h.state}[/]",
            h.since.isoformat(timespec="seconds") if h.since else "-",
            f"{last.median_ms:.0f}" if last and last.median_ms is not None else "-",
            f"{last.failures}/{last.requests}" if last else "-",
            f"{last.headroom:.0%}" if last and last.headroom is not None else "-",
            h.reason or "",
        )
    parts: list = [table]
    for i in view.incidents[-10:]:
        ended = i.ended.isoformat(timespec="seconds") if i.ended else "ongoing"
        parts.append(f"incident {i.id}: {i.started.isoformat(timespec='seconds')} → {ended} — {i.reason}")
    when = view.last_check_at.isoformat(timespec="seconds") if view.last_check_at else "never"
    return Panel(Group(*parts), title=f"Integration health ({view.checks} checks, last {when})", expand=False)


def health_report_table(rows, window: str) -> Group:
    table = Table(
        "platform",
        "checks",
        "p50 ms",
        "p95 ms",
        "errors",
        "throttled",
        "min headroom",
        title=f"Integration report, last {window}",
    )
    for r in rows:
        table.add_row(
            r.platform,
            str(r.checks),
            "-" if r.p50_ms is None else f"{r.p50_ms:.0f}",
            "-" if r.p95_ms is None else f"{r.p95_ms:.0f}",
            f"{r.error_rate:.1%}",
            f"{r.throttle_rate:.1%}",
            "-" if r.min_headroom is None else f"{r.min_headroom:.0%}",
        )
    tips = [f"• {r.platform}: {s}" for r in rows for s in r.suggestions]
    return Group(table, *(tips or ["No suggestions: every platform within its limits."]))


def availability_table(rows, days: int) -> Table:
    """Each component's availability over the window, against the objective, with the budget left."""
    objective = rows[0].objective if rows else None
    title = f"Availability, last {days} days" + (f", objective {objective:.1%}" if objective else "")
    table = Table("component", "minutes", "bad", "availability", "budget left", "burn (1 h)", "", title=title)
    for r in rows:
        left = "-" if r.budget_left is None else f"{r.budget_left:.0%} ({r.budget_left_minutes:.1f} min)"
        table.add_row(
            r.component,
            str(r.minutes),
            str(r.bad_minutes),
            "-" if r.availability is None else f"{r.availability:.3%}",
            left,
            "-" if r.burn_rate is None else f"{r.burn_rate:.1f}x",
            "met" if r.met else "[red]NOT met[/]",
        )
    return table


def journey_stats_table(view) -> Table:
    """`mops journeys stats`: one row per version, step and variant."""
    title = f"{view.journey_id}" + (f" v{view.version}" if view.version is not None else " (every version)")
    table = Table(title=title)
    for name in ("version", "step", "variant"):
        table.add_column(name)
    for name in COUNTS:
        table.add_column(name, justify="right")
    for s in view.steps:
        table.add_row(
            f"v{s.version}",
            s.step_id,
            s.variant or "-",
            *(str(getattr(s, n)) for n in COUNTS),
        )
    return table


def experiment_panel(view, url: str) -> Panel:
    """An experiment's rule, its figures now and its decision (`mops journeys experiment show`)."""
    rule = view.rule
    if rule.rule == "bayesian":
        threshold = rule.threshold(len(view.variants))
        if rule.fixed_horizon:
            stated = f"Bayesian at {rule.sample} per variant, once: P(best) >= {threshold:g}"
        else:
            stated = f"Bayesian at every report from {rule.sample} per variant: P(best) >= {threshold:g}"
    else:
        stated = f"z-test: {rule.sample} per variant, alpha {rule.alpha:g}"
    parts: list = [
        f"status [bold]{view.status.value}[/] · metric: {view.metric.event.value} within {view.metric.within}",
        f"rule: {stated}",
    ]

    def figures_table(figures) -> Table:
        table = Table("variant", "entered", "n (window over)", "conversions", "rate", "P(best)", box=None)
        for f in figures:
            rate = f"{f.conversions / f.n:.1%}" if f.n else "-"
            best = "-" if f.probability_best is None else f"{f.probability_best:.3f}"
            table.add_row(f.variant, str(view.entered.get(f.variant, 0)), str(f.n), str(f.conversions), rate, best)
        return table

    parts.append(figures_table(view.figures))
    if (d := view.decision) is not None:
        winner = d.winner or "none"
        parts.append(f"decision: {d.kind}, winner [bold]{winner}[/] by {d.by} at {d.at.isoformat(timespec='seconds')}")
        parts.append(f"· {d.reason}")
        parts.append("figures at the decision:")
        parts.append(figures_table(d.figures))
    parts.append(f"[dim]{url}[/]")
    return Panel(Group(*parts), title=view.workflow_id, expand=False)
