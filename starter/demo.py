"""`mops demo`: the lead, content and campaign scenarios end to end on the embedded stack.

Four leads on the fast `demo` journey (waits of seconds, a 20 s sales SLA):
- Ada engages (form, reply, click), becomes an MQL, is handed to sales, accepted.
- Bob gets the welcome email, then unsubscribes: the journey stops at once.
- Cara is captured twice (one workflow, two touches), clicks, and completes nurture.
- Dan becomes an MQL, the first owner lets the SLA pass, the lead is reassigned,
  and the second owner rejects it: recycled into nurture, which then completes.

Alongside: one blog post from brief to published (starter/demo.py), and one campaign
launched on five channels with one budget reallocation approved by the director,
then stopped with its final report (starter/demo_campaign.py).

Each run uses fresh addresses and ids, so it can run again and again against the same
`.mops/` state. Exits non-zero if any lead, the post or the campaign does not reach
its expected end.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rich.table import Table

from domain.leads import EventType, LeadStage
from mops.settings import Settings
from mops.telemetry import setup_tracing
from mops.temporal import connect
from starter.demo_campaign import CampaignDemo, run_campaign_demo
from starter.demo_reports import ReportDemo, print_report, report_row, run_report_demo
from starter.render import make_console
from starter.service.campaigns import CampaignService
from starter.service.content import ContentService
from starter.service.content import prepare as prepare_content
from starter.service.leads import LeadService, build_capture, build_event
from starter.stack import embedded_settings, embedded_stack
from workers.main import running_workers
from workflows.campaign_models import BudgetStatus, CampaignStatus
from workflows.content_models import ContentStage, ContentView
from workflows.lead_models import LeadState, SalesDecision, SalesDecisionKind

TERMINAL = {LeadStage.CONVERTED, LeadStage.UNSUBSCRIBED, LeadStage.COMPLETED, LeadStage.DISQUALIFIED}
DEADLINE_S = 150.0

console = make_console(stderr=True)


class DemoError(RuntimeError):
    pass


@dataclass
class DemoLead:
    name: str
    email: str
    source: str
    expect: LeadStage
    workflow_id: str = ""
    state: LeadState | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def seen(self) -> LeadState:
        """The state last read (every lead's is read before it is shown)."""
        if self.state is None:
            raise DemoError(f"{self.name}: its state was never read")
        return self.state


def masked(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[0]}***@{domain}"


async def _wait(svc: LeadService, lead: DemoLead, done, what: str, timeout: float = 60.0) -> LeadState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lead.state = await svc.state(email=lead.email)
        if done(lead.state):
            return lead.state
        await asyncio.sleep(0.25)
    raise DemoError(f"{lead.name}: timed out after {timeout:.0f}s waiting for {what} (stage {lead.seen.stage.value})")


async def _scenario(svc: LeadService, settings: Settings, leads: dict[str, DemoLead]) -> None:
    ada, bob, cara, dan = leads["ada"], leads["bob"], leads["cara"], leads["dan"]

    def capture(lead: DemoLead):
        return svc.capture(
            build_capture(settings, email=lead.email, source=lead.source, consent=True, first_name=lead.name)
        )

    for lead in leads.values():
        res = await capture(lead)
        lead.workflow_id = res.workflow_id
        console.print(f"  captured {lead.name:<5} → {res.workflow_id}")
    dup = await svc.capture(build_capture(settings, email=cara.email, source="event", consent=True))
    cara.notes.append(f"captured twice → one workflow, {dup.touches} touches")
    console.print(f"  captured Cara again → same workflow, touches={dup.touches}")

    for lead in (ada, bob, cara, dan):
        await _wait(
            svc,
            lead,
            lambda s: s.emails_sent >= 1 or s.stage in TERMINAL | {LeadStage.SALES_ASSIGNED},
            "the welcome email",
        )

    for lead in (ada, dan):
        for kind in (EventType.OPEN, EventType.FORM, EventType.REPLY, EventType.CLICK):
            await svc.record_event(build_event(type=kind), email=lead.email)
    await svc.unsubscribe(email=bob.email, source="demo")
    await svc.record_event(build_event(type=EventType.CLICK, detail="case-study-link"), email=cara.email)
    console.print("  engagement sent: Ada and Dan engage, Bob unsubscribes, Cara clicks")

    st = await _wait(svc, ada, lambda s: s.stage == LeadStage.SALES_ASSIGNED, "hand-off to sales")
    score = f"{st.score.total:.0f}" if st.score else "-"
    ada.notes.append(f"MQL at score {score} → owner {st.owner_id}, deal {st.deal_id}")
    await svc.sales_decision(SalesDecision(decision=SalesDecisionKind.ACCEPTED, owner_id=st.owner_id), email=ada.email)
    console.print(f"  Ada handed to owner {st.owner_id}; sales accepts")

    first = await _wait(svc, dan, lambda s: s.stage == LeadStage.SALES_ASSIGNED, "hand-off to sales")
    console.print(f"  Dan handed to owner {first.owner_id}; nobody answers within the SLA ...")
    second = await _wait(svc, dan, lambda s: s.owner_id not in (None, first.owner_id), "SLA reassignment", timeout=60)
    dan.notes.append(f"SLA breached by owner {first.owner_id} → reassigned to {second.owner_id} → rejected → recycled")
    await svc.sales_decision(
        SalesDecision(decision=SalesDecisionKind.REJECTED, owner_id=second.owner_id, reason="not in budget this year"),
        email=dan.email,
    )
    console.print(f"  Dan reassigned to owner {second.owner_id}; sales rejects → back to nurture")

    for lead in leads.values():
        await _wait(svc, lead, lambda s: s.stage in TERMINAL, "the end of the journey", timeout=DEADLINE_S)
    bob.notes.append("unsubscribed after the welcome: journey stopped, address suppressed at the email platform")
    for lead in (cara, dan):
        lead.notes.append(f"nurture ran to its goal: {lead.seen.emails_sent} emails")


def demo_leads() -> dict[str, DemoLead]:
    """Fresh addresses per run, so the demo can run again on the same state.

    The sandbox enriches each address with a job title drawn from its hash, worth up
    to 15 fit points; the sources are chosen so every lead ends as expected either
    way (Cara stays under the MQL threshold, Ada and Dan cross it on engagement)."""
    tag = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return {
        "ada": DemoLead("Ada", f"ada.{tag}@acme.example", "web_form", LeadStage.CONVERTED),
        "bob": DemoLead("Bob", f"bob.{tag}@smallshop.example", "organic", LeadStage.UNSUBSCRIBED),
        "cara": DemoLead("Cara", f"cara.{tag}@globex.example", "web_form", LeadStage.COMPLETED),
        "dan": DemoLead("Dan", f"dan.{tag}@initech.example", "web_form", LeadStage.COMPLETED),
    }


async def _content_scenario(svc: ContentService, settings: Settings, content_id: str) -> ContentView:
    """One blog post: draft in the CMS, checks, brand review (quorum 2 of 3) approved
    by the configured approvers, published to WordPress and LinkedIn."""
    guide = f"http://{settings.sandbox_host}:{settings.sandbox_port}/_links/ok/launch-guide"
    inp = prepare_content(
        settings,
        {
            "content_id": content_id,
            "title": "The launch checklist",
            "type": "blog",
            "channels": ["cms", "linkedin"],
            "author": "maya",
            "audience": "marketing-ops leads",
            "body": "# The launch checklist\n\nShip campaigns on time with one shared checklist.\n\n"
            f"Read the [full guide]({guide}).",
        },
    )
    await svc.submit(inp)
    console.print(f"  submitted content '{content_id}' → content-{content_id}")
    view = await _wait_content(svc, content_id, {ContentStage.IN_REVIEW})
    for approver in view.pending_approvers:
        res = await svc.decide(content_id, approver=approver, kind="approve")
        console.print(f"  {approver} approves ({res.stage}: {res.outcome})")
        if res.outcome == "approved":
            break
    return await _wait_content(svc, content_id, {ContentStage.PUBLISHED, ContentStage.PARTIALLY_PUBLISHED})


async def _wait_content(svc: ContentService, content_id: str, stages: set[ContentStage]) -> ContentView:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        view = await svc.state(content_id)
        if view.stage in stages:
            return view
        await asyncio.sleep(0.25)
    raise DemoError(f"content {content_id}: stuck in {view.stage.value}")


async def run_scenario(
    settings: Settings, leads: dict[str, DemoLead], content_id: str, after=None
) -> tuple[ContentView, CampaignDemo, ReportDemo]:
    """Start what is missing of the stack, run the scenarios; `after(client)` runs
    while the stack is still up (the history recorder uses it)."""
    settings = embedded_settings(settings).model_copy(update={"default_journey": "demo"})
    async with embedded_stack(settings):
        client = await connect(settings)
        async with running_workers(client, settings):
            content = asyncio.create_task(_content_scenario(ContentService(client, settings), settings, content_id))
            campaign = asyncio.create_task(
                run_campaign_demo(CampaignService(client, settings), settings, console, settings.campaigns_dir)
            )
            await _scenario(LeadService(client, settings), settings, leads)
            view, campaign_demo = await content, await campaign
            # Ada's deal is won; the week is collected and the dashboard written.
            ada = leads.get("ada")
            report = await run_report_demo(client, settings, console, ada.state.deal_id if ada and ada.state else None)
            if after is not None:
                await after(client)
    return view, campaign_demo, report


async def run_demo(settings: Settings, *, as_json: bool = False) -> None:
    setup_tracing("mops-demo")
    leads = demo_leads()
    content_id = demo_content_id()
    started = time.monotonic()
    console.print("[bold]mops demo[/]: starting the embedded stack (Temporal dev server, sandbox platforms, workers)")
    content, campaign, report = await run_scenario(settings, leads, content_id)
    elapsed = time.monotonic() - started
    rows = []
    for lead in leads.values():
        s, wf_id = lead.seen, lead.workflow_id
        rows.append(
            {
                "lead": lead.name,
                "email": masked(lead.email),
                "workflow_id": wf_id,
                "stage": s.stage.value,
                "outcome": s.outcome,
                "score": round(s.score.total, 1) if s.score else None,
                "segment": s.segment,
                "owner": s.owner_id,
                "emails_sent": s.emails_sent,
                "touches": s.touches,
                "web_ui": settings.workflow_url(wf_id),
                "notes": lead.notes,
                "expected": lead.expect.value,
            }
        )
    failed = [r for r in rows if r["stage"] != r["expected"]]
    published = {c.channel.value: c.link or c.ref for c in content.channels if c.status.value == "published"}
    content_row = {
        "content_id": content.content_id,
        "title": content.title,
        "stage": content.stage.value,
        "approved_by": [f"{d.approver} ({d.stage})" for d in content.decisions],
        "published": published,
        "web_ui": settings.workflow_url(f"content-{content.content_id}"),
    }
    campaign_row = _campaign_row(campaign, settings)
    if as_json:
        out = {
            "seconds": round(elapsed, 1),
            "leads": rows,
            "content": content_row,
            "campaign": campaign_row,
            "report": report_row(report),
        }
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        _print_summary(rows, elapsed, settings)
        _print_content(content_row)
        _print_campaign(campaign_row)
        print_report(report_row(report))
    if failed:
        ends = ", ".join(f"{r['lead']} {r['stage']} (expected {r['expected']})" for r in failed)
        raise DemoError(f"unexpected end: {ends}")
    if content.stage != ContentStage.PUBLISHED:
        raise DemoError(f"content {content.content_id} ended {content.stage.value}: {content.outcome}")
    if campaign.budget.status != BudgetStatus.APPLIED or campaign.final.status != CampaignStatus.COMPLETED:
        raise DemoError(
            f"campaign {campaign.final.campaign_id}: budget {campaign.budget.status.value} "
            f"({campaign.budget.outcome}), campaign {campaign.final.status.value}"
        )


def _campaign_row(demo: CampaignDemo, settings: Settings) -> dict:
    final, budget = demo.final, demo.budget
    return {
        "campaign_id": final.campaign_id,
        "name": final.name,
        "status": final.status.value,
        "channels": {p.channel.value: p.state.value for p in demo.launched.parts},
        "links": {p.channel.value: p.link for p in demo.launched.parts if p.link},
        "budget_proposal": budget.proposal.reasons if budget.proposal else [],
        "budget_outcome": f"{budget.status.value}: {budget.outcome}",
        "report": [
            {
                "channel": r.channel.value,
                "spend": r.spend,
                "clicks": r.clicks,
                "conversions": r.conversions,
                "cpa": str(r.kpis.cpa) if r.kpis and r.kpis.cpa is not None else None,
            }
            for r in final.report
            if r.kpis is not None
        ],
        "outcome": final.outcome,
        "web_ui": settings.workflow_url(f"campaign-{final.campaign_id}"),
        "budget_web_ui": settings.workflow_url(demo.budget_workflow_id),
    }


def _print_campaign(row: dict) -> None:
    out = make_console(min_width=100)
    out.print(
        f"\n[bold]Campaign[/] '{row['name']}' ({row['campaign_id']}): {row['status']} — {row['outcome']}",
        soft_wrap=True,
    )
    out.print("  went live on " + ", ".join(f"{k} ({v})" for k, v in row["channels"].items()), soft_wrap=True)
    for line in row["budget_proposal"]:
        out.print(f"  proposal: {line}", soft_wrap=True, highlight=False)
    out.print(f"  budget reallocation {row['budget_outcome']}", soft_wrap=True, highlight=False)
    for r in row["report"]:
        out.print(
            f"  {r['channel']}: spend {r['spend']}, {r['clicks']} clicks, {r['conversions']:g} conversions, "
            f"CPA {r['cpa'] or '-'}",
            soft_wrap=True,
            highlight=False,
        )
    out.print(f"  {row['web_ui']}", soft_wrap=True, highlight=False)
    out.print(f"  {row['budget_web_ui']}", soft_wrap=True, highlight=False)


def demo_content_id() -> str:
    return "launch-checklist-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")


def _print_content(row: dict) -> None:
    out = make_console(min_width=100)
    out.print(
        f"\n[bold]Content[/] '{row['title']}' ({row['content_id']}): {row['stage']}, "
        f"approved by {', '.join(row['approved_by'])}",
        soft_wrap=True,
    )
    for channel, where in row["published"].items():
        out.print(f"  {channel}: {where}", soft_wrap=True, highlight=False)
    out.print("  performance is checked at 1, 7 and 30 days by the same workflow", soft_wrap=True)
    out.print(f"  {row['web_ui']}", soft_wrap=True, highlight=False)


def _print_summary(rows: list[dict], elapsed: float, settings: Settings) -> None:
    out = make_console(min_width=100)
    table = Table(title=f"Lead journeys ({elapsed:.0f} s)")
    for col in ("lead", "stage", "score", "segment", "owner", "emails sent", "touches"):
        table.add_column(col, no_wrap=True)
    for r in rows:
        table.add_row(
            f"{r['lead']} ({r['email']})",
            r["stage"],
            str(r["score"]),
            r["segment"] or "-",
            r["owner"] or "-",
            str(r["emails_sent"]),
            str(r["touches"]),
        )
    out.print(table)
    for r in rows:
        out.print(f"[bold]{r['lead']}[/] ({r['outcome']}): {'; '.join(r['notes'])}", soft_wrap=True)
        out.print(f"  {r['web_ui']}", soft_wrap=True, highlight=False)
    out.print(
        f"\nHistories are kept in {settings.data_dir}/temporal.db: run `make up` and open "
        f"{settings.web_ui_url} to inspect every step, timer and signal.",
        soft_wrap=True,
    )
