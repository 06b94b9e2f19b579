"""`mops journeys simulate J --version V2 --against V1`: a dry run of a new journey version
on the recorded paths of real leads of the old one.

The leads of V1 are listed on the Temporal server by the `JourneyId`/`JourneyVersion` search
attributes (the first N by workflow id). From each one's histories, every run of it in order
(a lead that continued-as-new has its earlier events in the earlier runs), come its capture
(the first run's start input) and its engagement events (the `event` signals, with their
times after the capture);
from its `state` query what V1 really did: the email steps sent and when, the goals, the end.
Each lead is then driven through V2 with `mops journeys test`'s machinery (starter/journey_trial.py:
the time-skipping server, the real workers, the sandbox; nothing reaches a real platform, so
no personal data leaves the machine), its events sent at the same offsets from its capture,
for as long as it really ran (capture to now, or to its close). V2 is published into the run's
scratch store, so captures pin exactly that version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from domain.journey_simulation import LeadPath, RecordedEvent, SimulationReport, compare, lead_path
from domain.journeys import JourneySpec
from domain.leads import EngagementEvent, LeadCapture
from mops.journey_versions import JourneyVersions
from mops.settings import Settings
from starter.journey_trial import TrialEvent, TrialPlan, drive_contact, trial_stack
from starter.service.errors import InputError
from starter.service.journeys import history, version, versions
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.lead_models import LeadJourneyInput, LeadState

DEFAULT_LEADS = 20
# A lead seen for less than this still gets this long in V2: the test server needs a span.
MIN_SPAN = timedelta(seconds=1)


class SimulationInputError(InputError):
    pass


@dataclass(frozen=True)
class RecordedLead:
    path: LeadPath  # what V1 did
    plan: TrialPlan  # the same capture and events, for V2


@dataclass(frozen=True)
class SimulationPlan:
    old: JourneySpec
    new: JourneySpec
    new_source: str


def prepare(settings: Settings, journey_id: str, *, version_: int, against: int) -> SimulationPlan:
    """Both versions, published; an unknown journey or version is one line (nothing started)."""
    if not history(settings, journey_id):
        raise SimulationInputError(f"journey: {journey_id!r} has no published version")
    old, new = version(settings, journey_id, against), version(settings, journey_id, version_)
    if against == version_:
        raise SimulationInputError(f"version: v{version_} is the version the leads ran (--against)")
    old_spec = versions(settings).spec(journey_id, old.version)
    new_spec = versions(settings).spec(journey_id, new.version)
    assert old_spec is not None and new_spec is not None, "a listed version has a spec"
    return SimulationPlan(old=old_spec, new=new_spec, new_source=new.source)


async def recorded_leads(client: Client, plan: SimulationPlan, *, limit: int) -> list[RecordedLead]:
    """The first `limit` leads of the old version (by workflow id), read back; refused when none."""
    spec = plan.old
    query = f"WorkflowType = 'LeadJourney' AND JourneyId = '{spec.id}' AND JourneyVersion = {spec.version}"
    # Visibility lists each run of a lead: the runs before a continue-as-new are closed ones.
    runs: dict[str, list[WorkflowExecution]] = {}
    async for w in client.list_workflows(query):
        runs.setdefault(w.id, []).append(w)
    if not runs:
        raise SimulationInputError(f"against: {spec.id} v{spec.version} has no leads on the server")
    out = []
    for wf_id in sorted(runs)[:limit]:
        out.append(await _recorded(client, plan, wf_id, sorted(runs[wf_id], key=lambda w: w.start_time)))
    return out


async def _recorded(client: Client, plan: SimulationPlan, wf_id: str, runs: list[WorkflowExecution]) -> RecordedLead:
    convert = client.data_converter
    capture: LeadCapture | None = None
    recorded: list[RecordedEvent] = []
    for run in runs:
        events = (await client.get_workflow_handle(wf_id, run_id=run.run_id).fetch_history()).events
        if capture is None:
            started = events[0].workflow_execution_started_event_attributes
            (inp,) = await convert.decode(started.input.payloads, [LeadJourneyInput])
            capture = inp.state.capture if inp.state is not None else inp.capture
        for e in events:
            signal = e.workflow_execution_signaled_event_attributes
            if e.HasField("workflow_execution_signaled_event_attributes") and signal.signal_name == "event":
                (ev,) = await convert.decode(signal.input.payloads, [EngagementEvent])
                recorded.append(RecordedEvent(type=ev.type, offset=max(ev.at - capture.captured_at, timedelta(0))))
    assert capture is not None, "a listed lead has a run"
    st: LeadState = await client.get_workflow_handle(wf_id).query(LeadJourneyWorkflow.state)
    # Still running, or its last listed run continued as new (visibility has not listed the next yet).
    last = runs[-1]
    closed = last.close_time if last.status not in (None, WorkflowExecutionStatus.CONTINUED_AS_NEW) else None
    span = max((closed or datetime.now(UTC)) - capture.captured_at, MIN_SPAN)
    path = lead_path(
        st.lead_id,
        plan.old,
        [(t.at - capture.captured_at, t.what) for t in st.timeline],
        {step for step, n in st.step_engagement.items() if n.emails},
        st.goal,
        st.stage.value,
        st.outcome,
    )
    trial_events = [
        TrialEvent(e.type, e.offset, f"{e.type.value}@{int(e.offset.total_seconds())}s")
        for e in sorted(recorded, key=lambda e: e.offset)
        if e.offset < span
    ]
    trial = TrialPlan(
        journey=plan.new,
        capture=capture,
        timezone=capture.timezone or plan.new.default_timezone,
        timezone_given=capture.timezone is not None,
        events=trial_events,
        horizon=span,
    )
    return RecordedLead(path=path, plan=trial)


async def simulate(settings: Settings, plan: SimulationPlan, leads: list[RecordedLead]) -> SimulationReport:
    """Each lead through the new version, one after another, on one time-skipping server."""
    simulated: list[LeadPath] = []
    async with trial_stack(settings) as stack:
        store = stack.data_dir / "journeys.db"
        scratch = JourneyVersions(store)
        try:
            scratch.publish(plan.new, plan.new_source, by="mops journeys simulate", note="simulated")
        finally:
            scratch.close()
        s = stack.settings.model_copy(update={"journey_versions_path": store})
        for lead in leads:
            d = await drive_contact(stack, lead.plan, s)
            st = d.state
            simulated.append(
                lead_path(
                    lead.path.lead_id,
                    plan.new,
                    [(e.at - d.captured_at, e.what) for e in d.run.timeline()],
                    {step for step, n in st.step_engagement.items() if n.emails},
                    st.goal,
                    st.stage.value,
                    st.outcome,
                )
            )
        platforms = f"sandbox {stack.sandbox} (started for this run; nothing reached a real platform)"
    report = compare(plan.old, plan.new, [lead.path for lead in leads], simulated)
    return report.model_copy(update={"platforms": platforms})


def _span(d: timedelta | None) -> str:
    if d is None:
        return "-"
    total = int(d.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"+{days}d {hours}h"
    if hours:
        return f"+{hours}h {minutes}m"
    return f"+{minutes}m {seconds}s" if minutes else f"+{seconds}s"


def print_report(console: Console, r: SimulationReport) -> None:
    v1, v2 = f"v{r.against}", f"v{r.version}"
    title = f"{r.journey_id}: {r.leads} leads of {v1} (real) through {v2} (simulated)"
    table = Table("email step", f"{v1} leads", f"{v1} median", f"{v2} leads", f"{v2} median", title=title)
    for c in r.steps:
        table.add_row(
            c.step,
            str(c.real.leads),
            _span(c.real.median_offset),
            str(c.simulated.leads),
            _span(c.simulated.median_offset),
        )
    console.print(table)
    outcomes = Table("goal / end", v1, v2)
    for g, (a, b) in r.goals.items():
        outcomes.add_row(f"goal {g}", str(a), str(b))
    for e, (a, b) in r.ends.items():
        outcomes.add_row(f"end {e}", str(a), str(b))
    console.print(outcomes)
    for line in r.differences or ["no differences"]:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"simulated: time-skipping Temporal test server, {r.platforms}", markup=False, highlight=False, soft_wrap=True
    )
