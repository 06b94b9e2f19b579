"""One lead's whole journey: capture → qualification → nurture → MQL → sales hand-off.

Workflow type `LeadJourney`, id `lead-<keyed hash of the email>`.

Updates
- `capture(LeadCapture) -> CaptureResult`: the capture that started the journey, or
  a later one (recorded as a touch). Sent with update-with-start + USE_EXISTING, so
  the same lead captured twice is one workflow. Idempotent per `capture_id`. For a
  journey with a `reentry` policy, the starting capture answers once the run has decided
  whether this person may enter again (`CaptureResult.refused` says why not).

- `migrate(MigrateRequest) -> MigrateResult`: move the lead, in nurture, from its journey
  version to another at the step the mapping names (`domain.journey_migration`; sent by the
  `JourneyMigration` workflow). The validator refuses (no history) a lead on another
  version (`other_version`), one not at a nurture step (`not_at_a_step`), one whose step
  the mapping does not name (`step_not_mapped`) and one whose email is being sent
  (`mid_send`). Accepted, the wait in progress ends and the lead goes on at the new step of
  the new spec: its wait's deadline kept (`timers: keep`) or started afresh (`restart`).

- `sales_decision(SalesDecision) -> SalesDecisionResult`: the current owner accepted
  (converted) or rejected (recycled into nurture). The validator refuses (no history)
  anyone but the assigned owner (`not_the_owner`) and a lead not waiting for sales
  (`not_waiting_for_sales_decision`), so the caller hears why.

Signals
- `event(EngagementEvent)`: open/click/visit/form/reply/bounce/unsubscribe; moves the
  score (deduplicated by `event_id`).
- `unsubscribe(UnsubscribeRequest)`: stops the journey at once.
- `sales_decision(SalesDecision)`: the same decision as a signal, from before it was an
  update; kept so running journeys and recorded histories that received one replay.
  Decisions from anyone but the current owner are ignored (and counted).
- `consent(ConsentUpdate)`: consent per purpose changed; withdrawing email marketing
  stops the journey like an unsubscribe.
- `erase(EraseRequest)`: right to erasure: the journey ends at once without touching a
  platform (the erasure workflow deletes the lead everywhere afterwards).

Patches: each change below is guarded by its own patch in the runs that recorded it. New
runs record one marker for all of them, `lead-patches-2026-12` (`BUNDLED`), where the run
first asks any patch: one marker and one TemporalChangeVersion upsert per new lead instead of
one of each per patch it reaches. Runs without that marker ask each patch as before.

Contact sync (guarded by `workflow.patched("contact-sync-v1")`): the journey
tells the lead's `ContactSync` workflow about its captures and its opt-out through the
`sync.publish` activity; the sync keeps CRM, email platform, CDP and ad audience in
step. A worker without that activity (`NotFoundError`) is noted and skipped: the
reconciliation run repairs what did not arrive.

The hot path (runs started with `workflow.patched("lead-hot-path-v1")`; older runs keep
their recorded commands): capture → CRM upsert → score → welcome email costs three
workflow tasks and two activity tasks. The journey spec comes in the start input
(`LeadJourneyInput.journey`, resolved by the service; runs started without it load it
with `journeys.load`); search attributes are upserted once per workflow task, with the
last values; the CRM upsert also writes the contact sync's view of the capture (fields
and consent properties) and the first change goes to the sync as read from the CRM
(`origin="crm"`), so the sync does not write the CRM again; `sync.publish` runs as a
local activity (a signal-with-start, no platform), after the welcome, while the
journey waits. The platform calls stay activities on their platforms' task queues: the
server's per-queue rate limit holds across worker processes, and the degraded-platform
hold applies to them.

Conversions (runs that reach one with `workflow.patched("lead-conversions-v1")`): when
the lead moves into a stage the start input's plan names (`LeadJourneyInput.conversions`,
from `MOPS_CONVERSIONS_ON`), the journey sends it to each ad platform it has a click id
for: `conversions.meta` (Conversions API, needs `fbc` or `fbp`) on the Meta queue,
`conversions.google_ads` (click conversion, needs `gclid`, `gbraid` or `wbraid`) on the
Google Ads queue, in the background (the journey goes on to the hand-off; the run waits
for them before it ends or continues as new). The event id / order id and the time are
fixed here, so a retried upload is deduplicated by the platform. A lead without click ids, or one that withdrew
ad consent, sends nothing and costs nothing (not even the patch marker). A refusal is
noted and shown in the state's `conversions`; the journey goes on. A won deal
(`deal_won` in the plan) is not sent from here: it is won after the journey has usually
ended, and the analytics collection sends it (`workflows.deal_conversions`), reading the
ids through the `conversion_identity` query.

The score now (runs that reach it with `workflow.patched("lead-current-score-v1")`):
engagement decays, so every decision (the MQL check, a branch, the step about to run, an
email's score) reads the score with decay applied up to now. What is published follows
the true score within one band (`band_width` of the scoring model): the wait the journey
is in (`_wait`) keeps its one timer at the earlier of its deadline and the moment the
score next leaves its band or crosses the MQL threshold or a segment's score test
(`domain.scoring.next_crossing`); there the score is refreshed, LeadScore upserted
(rounded down, so `LeadScore >= 60` is the MQL test), the CRM contact's `mops_score`
written in the background, and the wait goes on. An MQL that decays under the threshold
before the hand-off goes back to nurture at the step it left; one that rises over it (a
bounce fading) becomes an MQL. A lead with no engagement to decay has no such timer and
does not ask for the patch.

Queries
- `state() -> LeadState`: stage, score with reasons, segment, owner, next step and when,
  conversions sent per platform, and per step the visits, the last step entered and the
  emails, opens, clicks and replies (read by the analytics collection, `domain.journey_stats`).
- `conversion_identity() -> ConversionIdentity`: what a won deal's conversion is sent
  with (the hashed address, the click ids), or why none may be (erased, ad consent
  withdrawn). Asked by the deal-won uploads after the journey has ended; never shown.

Search attributes: LeadStage, LeadScore, Segment, OwnerId, JourneyId, JourneyVariant
(`<split>:<variant>` for each split or experiment the lead passed), and, in runs with
`workflow.patched("lead-step-attributes-v1")`, JourneyVersion and JourneyStep (the 1-based
position of the current step in that version's `steps`; unset once the lead has left), so
`JourneyId = 'demo' AND JourneyVersion = 2 AND JourneyStep = 3` lists the leads at a step.

Splits (runs that reach one with `workflow.patched("lead-split-v1")`): a `split` step puts the
lead in one of its weighted variants by a keyed hash of the lead id and the split's id
(`domain.splits`), the same on every replay and continue-as-new, and records it in
`LeadJourneyState.variants` (the `state` query's `variants`); the `holdout` share ends the
journey there with outcome `holdout (<split id>)` and gets nothing more.

Experiments (runs that reach one with `workflow.patched("lead-experiment-v1")`): an
`experiment` step asks its `JourneyExperiment` workflow (one per journey, version and step)
for the variant through the `experiments.enter` local activity, so the answer is recorded
here: the keyed hash's variant while the experiment runs, the winner once one is decided.
The variant is kept like a split's (`variants`, JourneyVariant). A counted lead that converts
on the experiment's metric within its window (an event of that type, or the lead accepted by
sales for `conversion`) is reported once with `experiments.report`, in the background.

Goals (runs that meet one with `workflow.patched("lead-goals-v1")`): the journey's `goals` are
checked on every rescore (each event, each score crossing; the goals' score tests are
crossings too) and by the run loop while the lead is nurtured; the first met ends the wait in
progress and the journey at once, outcome `goal: <id>`, shown as `state().goal`.

Re-entry (journeys whose `reentry` is `never` or `{after: ...}`, with
`workflow.patched("lead-reentry-v1")`): a fresh run first asks `journeys.last_exit` when this
person (the lead id) last finished the journey; a refused entry ends at once, touching no
platform, and the `capture` update that started it answers `refused` (the service raises
`reentry_refused`). The end of every other run is recorded with `journeys.record_exit`. Runs
started with `keys_per_entry` (by the service) put the entry's first run id in every
idempotency key, so a new entry of the same person sends its emails and makes its deal again.

Emails: each `send_email` step names its template; the `email.send` activity renders
it (workflow code does no I/O) with the lead's fields, firmographics, segment, score and
owner. A message that cannot render or breaks a blocking brand rule (`EmailUnsendable`)
parks the step: nothing is sent in its place, the reason is in the timeline and the
current details, and the send is tried again hourly until the template is fixed.
One contact budget spans this journey, campaign sends and content list sends: `email.send`
records the lead's budget facts and sends in the contact ledger, and when other sends
used the frequency cap it answers `deferred_until`; the step waits until then and checks again.

The journey spec is resolved once when the run starts (passed in by the service, or
loaded by an activity for older starts) and kept in state, so editing the YAML never
disturbs a running lead. All state lives in one model (`LeadJourneyState`) and
the workflow continues-as-new when history grows, after every handler has finished.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.contracts import ActivityRef, ErrorType
    from activities.conversion_models import ConversionResult, GoogleConversionInput, MetaConversionInput
    from activities.experiment_models import (
        EnterExperimentInput,
        ExperimentConversion,
        ExperimentEnter,
        ExperimentRef,
        ReportConversionInput,
    )
    from activities.models import (
        AssignOwnerInput,
        EmailLead,
        HandoffInput,
        LastExitInput,
        ListOwnersInput,
        LoadJourneyInput,
        NotifyInput,
        RecordExitInput,
        SalesOwner,
        SendEmailInput,
        SendEmailResult,
        SuppressInput,
        UpdateContactInput,
        UpsertLeadInput,
    )
    from activities.policies import (
        INTERNAL_RETRY,
        INTERNAL_TIMEOUT,
        PLATFORM_RETRY,
        PLATFORM_TIMEOUT,
    )
    from activities.privacy_models import PublishChangeInput
    from domain.click_ids import ClickIds
    from domain.consent import MARKETING, Purpose, from_capture, opt_out
    from domain.contact_budget import BudgetFacts
    from domain.conversions import (
        ConversionIdentity,
        ConversionOutcome,
        Platform,
        SentConversion,
        conversion_key,
        meta_hash,
    )
    from domain.experiments import Metric
    from domain.journey_migration import MigrateRequest, MigrateResult, Timers
    from domain.journey_stats import ENGAGEMENT_FIELDS, tallied
    from domain.journeys import (
        BranchStep,
        ExperimentStep,
        GoalStep,
        JourneySpec,
        NotifyStep,
        SendEmailStep,
        SplitStep,
        UpdateCrmStep,
        WaitForEventStep,
        WaitStep,
        render_notify_text,
    )
    from domain.leads import EngagementEvent, EventType, LeadCapture, LeadStage, build_profile, capture_touch
    from domain.refusals import Refusal
    from domain.routing import OwnerSlot
    from domain.rules import evaluate
    from domain.schedule import add_business_days, earliest_send_time, next_local_time
    from domain.scoring import assign_segment, band, lead_facts, next_crossing, raw_engagement, score_lead
    from domain.splits import HOLDOUT
    from domain.sync import ContactChange, first_write
    from workflows.approval import refuse
    from workflows.common import (
        PARK_RETRY,
        In,
        Out,
        SearchAttributes,
        WaitResult,
        call,
        call_local,
        call_parked,
        continue_as_new_due,
        is_type,
        reason,
        wait_until,
        with_entry,
    )
    from workflows.lead_models import (
        CaptureResult,
        LeadExperiment,
        LeadJourneyInput,
        LeadJourneyResult,
        LeadJourneyState,
        LeadState,
        SalesDecision,
        SalesDecisionKind,
        SalesDecisionResult,
        SentEmail,
        TimelineEntry,
        UnsubscribeRequest,
    )
    from workflows.privacy_models import ConsentUpdate, EraseRequest
    from workflows.search_attributes import (
        JOURNEY_ID,
        JOURNEY_STEP,
        JOURNEY_VARIANT,
        JOURNEY_VERSION,
        LEAD_SCORE,
        LEAD_STAGE,
        OWNER_ID,
        SEGMENT,
        Updates,
    )

TERMINAL = {LeadStage.CONVERTED, LeadStage.UNSUBSCRIBED, LeadStage.DISQUALIFIED, LeadStage.COMPLETED}
MAX_EVENTS_KEPT = 500  # older events have decayed to nothing for any sane half-life
MAX_TOUCH_PATH = 100  # attribution looks at the recent path; older touches carry no weight
MAX_CAPTURE_IDS = 100
NO_OWNER_RETRY = timedelta(hours=1)
SYNC_PATCH = "contact-sync-v1"
# New runs publish search attributes once per workflow task, tell the contact sync from a
# local activity and hand it the first capture as already written to the CRM.
HOT_PATH_PATCH = "lead-hot-path-v1"
# Stage changes may send conversions to the ad platforms (asked only when one is due).
CONVERSIONS_PATCH = "lead-conversions-v1"
# Decisions read the score now (decay applied); LeadScore and the CRM's mops_score follow it
# band by band, on one timer folded into the waits. Asked only once the lead has engagement
# to decay or the CRM is written: a lead that never engaged records nothing more.
CURRENT_SCORE_PATCH = "lead-current-score-v1"
CRM_SCORE_PROPERTY = "mops_score"
# A split step assigns a variant, keeps it in state and upserts JourneyVariant. Histories from
# before split steps existed cannot reach one (their journeys could not name one); the marker
# says which histories record an assignment.
SPLIT_PATCH = "lead-split-v1"
# An experiment step asks its JourneyExperiment for the variant and reports conversions to it.
# Like splits, only journeys naming an experiment step reach it; the marker says which do.
EXPERIMENT_PATCH = "lead-experiment-v1"
# The experiment's workflow is on this cluster: retry until it answers (the lead waits there).
EXPERIMENT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
EXPERIMENT_TIMEOUT = timedelta(seconds=30)
# Journey-level goals end nurture when met; asked when a goal is first met (journeys without
# goals, all of them before goals existed, never ask).
GOALS_PATCH = "lead-goals-v1"
# A journey whose `reentry` is not `always` reads the person's last finish at the start of a
# run and records its own at the end (asked only by such journeys).
REENTRY_PATCH = "lead-reentry-v1"
# JourneyVersion and JourneyStep say where the lead is (upserted on each step's start), so
# an operator lists the leads at a step; asked at the first step a run takes.
STEP_ATTRIBUTES_PATCH = "lead-step-attributes-v1"
# A lead moved to another journey version by the `migrate` update (asked only when one is accepted).
MIGRATE_PATCH = "journey-migrate-v1"
# Every patch above, in one marker: a run that records it takes each patch's new branch without
# asking, so a new lead costs one marker (and one TemporalChangeVersion upsert, which the SDK
# adds to each) instead of one per patch it reaches. Runs without it (every history recorded
# before it) ask each patch as they did. A patch added later is asked on its own, or goes
# into a new bundle with the ones before it.
BUNDLE_PATCH = "lead-patches-2026-12"
BUNDLED = frozenset(
    {
        SYNC_PATCH,
        HOT_PATH_PATCH,
        CONVERSIONS_PATCH,
        CURRENT_SCORE_PATCH,
        SPLIT_PATCH,
        EXPERIMENT_PATCH,
        GOALS_PATCH,
        REENTRY_PATCH,
        STEP_ATTRIBUTES_PATCH,
        MIGRATE_PATCH,
    }
)
# Telling the contact sync is best effort: a worker without the activity (an older
# worker, a test double) answers NotFoundError at once; reconciliation repairs the rest.
SYNC_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=[ErrorType.NOT_FOUND],
)


@workflow.defn(name="LeadJourney")
class LeadJourneyWorkflow:
    @workflow.init
    def __init__(self, inp: LeadJourneyInput) -> None:
        # Handlers may run before run() starts, so all state is built here.
        self._s = inp.state or LeadJourneyState(
            lead_id=inp.lead_id,
            capture=inp.capture,
            consent=inp.capture.consent,
            capture_ids=[inp.capture.capture_id],
            touch_path=[capture_touch(inp.capture)],
            conversion_plan=inp.conversions,
            click_ids=inp.capture.click_ids,
        )
        if inp.state is None:
            c = inp.capture
            self._s.consents.apply_all(from_capture(c.consent, c.consent_origin(), c.captured_at))
            if inp.keys_per_entry:
                # The first run id stays the same through continue-as-new and differs for each
                # new entry of the same person (the workflow id is the person's).
                self._s.entry = workflow.info().first_execution_run_id[:8]
        self._queues = inp.queues
        self._can_after = inp.continue_as_new_after_events
        self._attributes = SearchAttributes()
        self._publishing = False  # a change on its way to the contact sync
        self._waiting = False  # the run is in a wait (a timer, an event, a decision)
        self._parked: str | None = None  # why the email step is parked (current details)
        self._hot_path = False  # HOT_PATH_PATCH: decided first thing in run()
        self._bundled: bool | None = None  # BUNDLE_PATCH, asked by the first patch asked (see _patched)
        self._unpublished: Updates | None = None  # search attributes not yet upserted
        self._conversion_sends: list[asyncio.Task[None]] = []  # uploads under way (see _send_conversions)
        self._current: bool | None = None  # CURRENT_SCORE_PATCH, once asked (see _keeps_score_current)
        self._crossing_at: datetime | None = None  # when the decaying score next leaves its band
        self._step_attributes: bool | None = None  # STEP_ATTRIBUTES_PATCH, once asked (see _track_step)
        self._sending = False  # an email activity is in flight: a migration waits for the next one
        self._moved = False  # a migration moved the cursor under the step in progress (see migrate)
        # A new run of a journey with a `reentry` policy: the capture that started it answers
        # only once run() has decided whether this person may enter (see _check_reentry).
        self._entry_pending = inp.state is None and inp.journey is not None and inp.journey.reentry.checked

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, inp: LeadJourneyInput) -> LeadJourneyResult:
        s = self._s
        self._hot_path = self._patched(HOT_PATH_PATCH)
        drainer = asyncio.create_task(self._drain_sync_outbox())
        publisher = asyncio.create_task(self._publish_attributes()) if self._hot_path else None
        score_writer = asyncio.create_task(self._write_crm_score())
        if s.journey is None:
            # Resolved by the service and passed in (no round trip), or loaded by the
            # activity for runs started without it; either way pinned in state from here.
            if inp.journey is not None:
                s.journey = inp.journey
            else:
                s.journey = await self._activity(
                    act.JOURNEYS_LOAD,
                    LoadJourneyInput(journey_id=s.capture.journey_id),
                    queue=self._queues.workflows,
                    summary=f"load journey {s.capture.journey_id}",
                )
            self._rescore()
        if inp.state is None and self._journey.reentry.checked:
            await self._check_reentry()
        if s.stage in (LeadStage.NEW, LeadStage.QUALIFYING) and not s.erased:
            await self._qualify()

        while s.stage not in TERMINAL:
            if self._should_continue_as_new():
                await self._continue_as_new()
            self._refresh_score()  # every decision below reads the score now
            self._check_goals()
            if s.unsubscribed:
                await self._finish_unsubscribed()
            elif s.goal is not None and s.stage == LeadStage.NURTURING:
                await self._reach_goal()
            elif s.stage == LeadStage.NURTURING and self._mql_reached():
                await self._set_stage(LeadStage.MQL, crm={"lifecyclestage": "marketingqualifiedlead"})
            elif s.stage == LeadStage.MQL and self._mql_lost():
                await self._back_to_nurture()
            elif s.stage in (LeadStage.MQL, LeadStage.SALES_ASSIGNED):
                await self._sales_phase()
            elif s.cursor is None:
                s.outcome = s.outcome or "journey_end"
                await self._set_stage(LeadStage.COMPLETED)
            else:
                await self._run_step()

        await self._record_exit()
        # Nothing left for the contact sync, and nothing on its way there (an erasure ends
        # the sync right after this run: a late publish must not start it again).
        await workflow.wait_condition(lambda: (not s.sync_outbox or s.erased) and not self._publishing)
        await self._conversions_done()
        drainer.cancel()
        score_writer.cancel()
        self._flush_attributes()
        if publisher is not None:
            publisher.cancel()
        return LeadJourneyResult(
            lead_id=s.lead_id,
            stage=s.stage,
            outcome=s.outcome,
            emails_sent=s.emails_sent,
            owner_id=s.owner_id,
            score=s.score.total if s.score else None,
        )

    # ------------------------------------------------------------- handlers

    @workflow.update(name="capture")
    async def capture(self, c: LeadCapture) -> CaptureResult:
        s = self._s
        created = c.capture_id == s.capture.capture_id
        duplicate = not created and c.capture_id in s.capture_ids
        if not created and not duplicate:
            s.capture_ids = (s.capture_ids + [c.capture_id])[-MAX_CAPTURE_IDS:]
            s.touches += 1
            s.touch_path = (s.touch_path + [capture_touch(c)])[-MAX_TOUCH_PATH:]
            if c.consent and not s.consent:
                s.consent = True
                self._note("consent given")
            if c.consent:
                s.consents.apply_all(from_capture(True, c.consent_origin(), c.captured_at))
            if c.click_ids is not None:
                s.click_ids = (s.click_ids or ClickIds()).merged(c.click_ids)
            self._note(f"touch from {c.source.value}")
            if self._syncs() and not s.erased:
                s.sync_outbox.append(self._sync_change(c, f"capture:{c.capture_id}"))
        if created and self._entry_pending:
            # The caller hears whether the person may enter this journey again (REENTRY_PATCH).
            await workflow.wait_condition(lambda: not self._entry_pending)
        return CaptureResult(
            lead_id=s.lead_id,
            workflow_id=workflow.info().workflow_id,
            created=created,
            duplicate=duplicate,
            stage=s.stage,
            touches=s.touches,
            refused=s.reentry_refused if created else None,
        )

    @capture.validator
    def _validate_capture(self, c: LeadCapture) -> None:
        # The id is a keyed hash of the email; a mismatch means a caller bug or a
        # collision, and must not merge two people.
        if c.email != self._s.capture.email:
            raise ValueError("capture email does not match this lead")

    @workflow.signal(name="event")
    def event(self, ev: EngagementEvent) -> None:
        s = self._s
        if any(e.event_id == ev.event_id for e in s.events):
            return
        if ev.type == EventType.UNSUBSCRIBE:
            self._mark_unsubscribed(f"event:{ev.detail or 'email'}")
        s.events = (s.events + [ev])[-MAX_EVENTS_KEPT:]
        s.event_seq += 1
        if (touch := ev.touch()) is not None:
            s.touch_path = (s.touch_path + [touch])[-MAX_TOUCH_PATH:]
        if ev.type not in s.event_types_seen:
            s.event_types_seen.append(ev.type)
        if (field := ENGAGEMENT_FIELDS.get(ev.type)) and ev.detail in s.step_visits:
            # The email's step (the SendGrid webhook's `mops_step`): counted for that step's analytics.
            s.step_engagement = tallied(s.step_engagement, ev.detail, field)
        if s.experiments:
            self._experiment_conversions(ev.type.value)
        self._rescore()

    @workflow.signal(name="unsubscribe")
    def unsubscribe(self, req: UnsubscribeRequest) -> None:
        self._mark_unsubscribed(req.source, req.at)

    @workflow.signal(name="consent")
    def consent(self, update: ConsentUpdate) -> None:
        s = self._s
        for record in update.records:
            if not s.consents.apply(record) or record.purpose != Purpose.EMAIL_MARKETING:
                continue
            if not record.granted:
                self._mark_unsubscribed(f"consent:{record.source}", record.at)
            elif not s.consent and not s.unsubscribed:
                s.consent = True
                self._note(f"consent given ({record.source})")

    @workflow.signal(name="erase")
    def erase(self, req: EraseRequest) -> None:
        s = self._s
        s.erased = True
        s.sync_outbox = []
        self._mark_unsubscribed("erasure")

    @workflow.update(name="migrate")
    def migrate(self, req: MigrateRequest) -> MigrateResult:
        s = self._s
        if not self._patched(MIGRATE_PATCH):
            raise RuntimeError(f"migrate: history has no {MIGRATE_PATCH} marker")
        old = s.cursor
        assert old is not None, "the validator refuses a lead at no step"
        new = req.mapping[old]
        step = req.journey.step(new)
        s.journey = req.journey
        s.cursor = s.next_step = new
        kept = req.timers == Timers.KEEP and isinstance(step, WaitStep | WaitForEventStep)
        if kept:
            # The step in progress carries on as the new one: `_run_step` sees no fresh start
            # and waits for the deadline already set (a new one if the lead was not waiting).
            s.active_step = new
            s.step_visits[new] = s.step_visits.get(new, 0) + 1
            if isinstance(step, WaitForEventStep) and s.wait_from_seq is None:
                s.wait_from_seq = s.event_seq
        else:
            s.active_step, s.wait_until, s.wait_from_seq = None, None, None
        # Ends the wait in progress; the step that was running does not move the cursor on.
        self._moved = True
        self._note(
            f"migrated from v{req.from_version} step {old} to v{req.journey.version} step {new} ({req.migration_id})"
        )
        self._publish()
        return MigrateResult(lead_id=s.lead_id, from_step=old, to_step=new, wait_until=s.wait_until if kept else None)

    @migrate.validator
    def _validate_migrate(self, req: MigrateRequest) -> None:
        s = self._s
        at = s.journey.version if s.journey else None
        if s.journey is None or s.journey.id != req.journey.id or at != req.from_version:
            refuse(Refusal.OTHER_VERSION, f"the lead runs {s.capture.journey_id} v{at}, not v{req.from_version}")
        if s.stage != LeadStage.NURTURING or s.cursor is None or self._moved:
            refuse(Refusal.NOT_AT_A_STEP, f"the lead is {s.stage.value}, not at a nurture step")
        if s.cursor not in req.mapping:
            refuse(Refusal.STEP_NOT_MAPPED, f"step {s.cursor} is not in the mapping")
        if self._sending:
            refuse(Refusal.MID_SEND, f"step {s.cursor} is sending its email")

    @workflow.update(name="sales_decision")
    def decide_sales(self, d: SalesDecision) -> SalesDecisionResult:
        self._s.sales_decision = d
        return SalesDecisionResult(decision=d.decision, owner_id=d.owner_id)

    @decide_sales.validator
    def _validate_decide_sales(self, d: SalesDecision) -> None:
        s = self._s
        if s.stage != LeadStage.SALES_ASSIGNED:
            refuse(Refusal.NOT_WAITING_FOR_SALES_DECISION, f"not waiting for a sales decision (stage {s.stage.value})")
        if s.sales_decision is not None:
            refuse(Refusal.NOT_WAITING_FOR_SALES_DECISION, "a sales decision is already being applied")
        if d.owner_id != s.owner_id:
            refuse(Refusal.NOT_THE_OWNER, f"owner {d.owner_id} is not the lead's assigned owner ({s.owner_id})")

    @workflow.signal(name="sales_decision")
    def sales_decision(self, d: SalesDecision) -> None:
        s = self._s
        if s.stage != LeadStage.SALES_ASSIGNED or d.owner_id != s.owner_id or s.sales_decision:
            s.ignored_decisions += 1
            self._note(f"ignored sales decision from owner {d.owner_id}")
            return
        s.sales_decision = d

    @workflow.query(name="state")
    def state(self) -> LeadState:
        s = self._s
        return LeadState(
            lead_id=s.lead_id,
            stage=s.stage,
            journey_id=s.capture.journey_id,
            journey_version=s.journey.version if s.journey else None,
            score=s.score,
            segment=s.segment,
            owner_id=s.owner_id,
            deal_id=s.deal_id,
            consent=s.consent,
            unsubscribed=s.unsubscribed,
            touches=s.touches,
            touch_path=s.touch_path,
            emails_sent=s.emails_sent,
            events_recorded=s.event_seq,
            next_step=s.next_step,
            next_step_at=s.next_step_at,
            outcome=s.outcome,
            cycle=s.cycle,
            timeline=s.timeline,
            consents=s.consents.records,
            erased=s.erased,
            conversions=s.conversions,
            variants=s.variants,
            goal=s.goal,
            key_prefix=self._keys,
            step_visits=s.step_visits,
            last_step=s.last_step,
            step_engagement=s.step_engagement,
        )

    @workflow.query(name="conversion_identity")
    def conversion_identity(self) -> ConversionIdentity:
        # A query, not a copy kept elsewhere: the click ids and the address stay in this
        # lead's own (per-lead encrypted) payloads, and an erased lead answers nothing.
        s = self._s
        if s.erased:
            return ConversionIdentity(lead_id=s.lead_id, withheld="lead erased")
        if s.consents.granted(Purpose.AD_AUDIENCES) is False:
            return ConversionIdentity(lead_id=s.lead_id, withheld="ad consent withdrawn")
        if s.conversion_plan is None or not s.conversion_plan.deal_won:
            # The plan pinned at capture (its campaign's, else MOPS_CONVERSIONS_ON) decides.
            return ConversionIdentity(lead_id=s.lead_id, withheld="its conversions do not count won deals")
        return ConversionIdentity(lead_id=s.lead_id, email_hash=meta_hash(s.capture.email), click_ids=s.click_ids)

    # -------------------------------------------------------- qualification

    async def _qualify(self) -> None:
        s = self._s
        await self._set_stage(LeadStage.QUALIFYING)
        c = s.capture
        props = {
            k: v
            for k, v in {
                "firstname": c.first_name,
                "lastname": c.last_name,
                "company": c.company,
                "country": c.country,
                "lifecyclestage": "lead",
                "hs_lead_status": "NEW",
                "mops_lead_id": s.lead_id,
                "mops_source": c.source.value,
            }.items()
            if v
        }
        first: ContactChange | None = None
        if self._hot_path:
            # The contact sync's first change is written to the CRM by this upsert (the
            # sync's view of it: fields and consent properties), and handed over as read
            # from the CRM, so the sync does not write the same contact again.
            first = self._sync_change(c, f"capture:{c.capture_id}", with_consent=True, origin="crm")
            props |= first_write(first, "crm")
        res = await self._platform(
            act.CRM_UPSERT_LEAD,
            UpsertLeadInput(email=c.email, properties=props),
            queue=self._queues.crm,
            summary="upsert contact in CRM",
        )
        s.contact_id, s.firmographics = res.contact_id, res.firmographics
        if first is not None:
            first.contact_id = s.contact_id
            s.sync_outbox.append(first)
        elif self._syncs():  # the contact sync starts alongside the first email
            s.sync_outbox.append(
                self._sync_change(c, f"capture:{c.capture_id}", contact_id=s.contact_id, with_consent=True)
            )
        self._rescore()
        if s.score and s.score.disqualified:
            s.outcome = "disqualified: " + "; ".join(s.score.disqualify_reasons)
            await self._set_stage(LeadStage.DISQUALIFIED, crm={"hs_lead_status": "UNQUALIFIED"})
            return
        s.cursor = self._journey.first_step_id
        await self._set_stage(LeadStage.NURTURING)

    # ------------------------------------------------------------- nurture

    async def _run_step(self) -> None:
        s, spec = self._s, self._journey
        assert s.cursor is not None, "run() steps only while the journey has a step to run"
        self._moved = False
        step = spec.step(s.cursor)
        entered = s.active_step != step.id
        if entered:  # a fresh start of this step (not a resume after CAN)
            s.active_step = step.id
            s.step_visits[step.id] = s.step_visits.get(step.id, 0) + 1
            s.last_step = step.id
            s.wait_until, s.wait_from_seq = None, None
        self._track_step(entered)
        key = f"{self._keys}:c{s.cycle}:{step.id}:{s.step_visits[step.id]}"
        s.next_step = step.id
        goto: str | None = spec.following(step.id)

        if isinstance(step, SendEmailStep):
            if await self._send(step, key) != "done":
                return
        elif isinstance(step, WaitStep):
            if s.wait_until is None:
                s.wait_until = self._wait_deadline(step)
            if await self._wait(s.wait_until, self._interrupted, f"wait {step.id}") != "timeout":
                return
        elif isinstance(step, WaitForEventStep):
            if s.wait_until is None:
                s.wait_until = workflow.now() + step.timeout
                s.wait_from_seq = s.event_seq
            wanted = set(step.events)

            def seen() -> bool:
                return any(e.type in wanted for e in self._events_after(s.wait_from_seq))

            result = await self._wait(
                s.wait_until, lambda: seen() or self._interrupted(), f"wait for {'/'.join(step.events)}"
            )
            if result == "done" and seen():
                goto = step.on_event or goto
            elif result == "timeout":
                goto = step.on_timeout or goto
            else:
                return
        elif isinstance(step, BranchStep):
            goto = self._branch(step) or goto
        elif isinstance(step, SplitStep):
            variant = self._split(step)
            if variant == HOLDOUT:
                # The control group gets nothing more from this journey: it ends here.
                s.outcome, goto = f"holdout ({step.id})", None
            else:
                goto = step.target(variant) or goto
        elif isinstance(step, ExperimentStep):
            goto = step.target(await self._experiment(step)) or goto
        elif isinstance(step, UpdateCrmStep):
            await self._update_crm(step.properties, summary=f"step {step.id}")
        elif isinstance(step, NotifyStep):
            text = render_notify_text(
                step.text,
                stage=s.stage.value,
                score=self._score_text(),
                segment=s.segment or "",
                journey=spec.id,
            )
            await self._notify(
                NotifyInput(idempotency_key=key, text=text, channel=step.channel), f"notify {step.channel}"
            )
        elif isinstance(step, GoalStep):
            s.outcome = step.outcome
            goto = None
        if self._moved:
            return  # migrated meanwhile: the cursor already names the new version's step
        s.active_step, s.wait_until, s.wait_from_seq = None, None, None
        s.cursor = goto
        s.next_step, s.next_step_at = goto, None
        self._note(f"step {step.id} done")

    def _track_step(self, entered: bool) -> None:
        """Publish JourneyStep when a step starts, and once at the first step of each run
        (a run continued-as-new says where it resumed)."""
        if self._step_attributes is None:
            self._step_attributes, entered = self._patched(STEP_ATTRIBUTES_PATCH), True
        if self._step_attributes and entered:
            self._publish()

    def _split(self, step: SplitStep) -> str:
        """The variant this lead gets at `step`: the one recorded (a loop back, a resumed run),
        else the keyed hash of the lead id, recorded in state and in JourneyVariant. The hash is
        a pure function of ids, so a replay or a later run computes the same variant anyway;
        keeping it shows it in the state query and survives a journey edited under the lead."""
        s = self._s
        if (variant := s.variants.get(step.id)) is not None:
            return variant
        if not self._patched(SPLIT_PATCH):
            # Only a history recorded by code without split steps lacks the marker here, and
            # such code could not have run a journey with one: refuse rather than guess.
            raise RuntimeError(f"split {step.id}: history has no {SPLIT_PATCH} marker")
        variant = step.assign(self._journey.id, s.lead_id)
        s.variants = {**s.variants, step.id: variant}
        self._note(f"split {step.id}: {variant}")
        self._publish()
        return variant

    async def _experiment(self, step: ExperimentStep) -> str:
        """The variant this lead takes at an experiment step: the one recorded (a loop back,
        a resumed run), else the experiment workflow's answer, recorded as the local
        activity's result (a replay reads it back and never asks the experiment again)."""
        s, spec = self._s, self._journey
        if (variant := s.variants.get(step.id)) is not None:
            return variant
        if not self._patched(EXPERIMENT_PATCH):
            # Only code without experiment steps records no marker here, and it could not
            # have run a journey naming one: refuse rather than guess.
            raise RuntimeError(f"experiment {step.id}: history has no {EXPERIMENT_PATCH} marker")
        entered = await call_local(
            act.EXPERIMENTS_ENTER,
            EnterExperimentInput(
                experiment=self._experiment_ref(step),
                enter=ExperimentEnter(lead_id=s.lead_id, proposed=step.assign(spec.id, s.lead_id)),
            ),
            summary=f"experiment {step.id}: enter",
            retry=EXPERIMENT_RETRY,
            timeout=EXPERIMENT_TIMEOUT,
        )
        s.variants = {**s.variants, step.id: entered.variant}
        if entered.counted:
            s.experiments = {**s.experiments, step.id: LeadExperiment(variant=entered.variant, at=workflow.now())}
        self._note(f"experiment {step.id}: {entered.variant}" + ("" if entered.counted else " (decided)"))
        self._publish()
        return entered.variant

    def _experiment_ref(self, step: ExperimentStep) -> ExperimentRef:
        spec = self._journey
        return ExperimentRef(journey_id=spec.id, version=spec.version, step=step, task_queue=self._queues.workflows)

    def _experiment_conversions(self, metric: str) -> None:
        """Report a conversion on `metric` (an event type, or `conversion`) to each experiment
        that counted this lead, measures it and is still within its window; once each."""
        s = self._s
        for step_id, entry in s.experiments.items():
            step = self._journey.step(step_id)
            if entry.reported or not isinstance(step, ExperimentStep) or step.metric.event.value != metric:
                continue
            if workflow.now() - entry.at > step.metric.within:
                continue
            entry.reported = True
            report = ReportConversionInput(
                experiment=self._experiment_ref(step),
                conversion=ExperimentConversion(lead_id=s.lead_id, at=workflow.now()),
            )
            # In the background with the ad conversions: the run waits for both before it ends.
            self._conversion_sends.append(asyncio.create_task(self._report_conversion(report)))

    async def _report_conversion(self, report: ReportConversionInput) -> None:
        await call_local(
            act.EXPERIMENTS_REPORT,
            report,
            summary=f"experiment {report.experiment.step.id}: converted",
            retry=EXPERIMENT_RETRY,
            timeout=EXPERIMENT_TIMEOUT,
        )

    def _wait_deadline(self, step: WaitStep) -> datetime:
        now = workflow.now()
        tz = self._tz()
        if step.duration is not None:
            return now + step.duration
        if step.business_days is not None:
            return add_business_days(
                now, step.business_days, tz, frozenset(self._journey.business_days), frozenset(self._journey.holidays)
            )
        assert step.until_local_time is not None, "a wait step has a duration, business days or a local time"
        return next_local_time(now, step.until_local_time, tz)

    async def _send(self, step: SendEmailStep, key: str) -> WaitResult:
        while True:
            result = await self._send_once(step, key)
            if result != "parked":
                return result
            # Parked: the message cannot go out as it is (its template does not render, or
            # it breaks a blocking brand rule) and nothing is sent in its place. The step
            # waits, shown in the timeline and the current details, and tries again hourly
            # until someone fixes the template; an opt-out or MQL ends the wait as any other.
            s = self._s
            s.wait_until = workflow.now() + PARK_RETRY
            result = await self._wait(s.wait_until, self._interrupted, f"parked: email {step.template}")
            s.wait_until = None
            if result != "timeout":
                return result

    async def _send_once(self, step: SendEmailStep, key: str) -> WaitResult | Literal["parked"]:
        s, spec = self._s, self._journey
        while True:
            # Consent, unsubscribe and the frequency cap are checked again right
            # before the send: a timer that fires after an opt-out sends nothing.
            if not self._may_email():
                self._note(f"step {step.id}: email skipped (no consent or unsubscribed)")
                return "done"
            release = earliest_send_time(
                workflow.now(), [e.at for e in s.emails], spec.frequency_cap, spec.quiet_hours, self._tz()
            )
            if release <= workflow.now():
                break
            s.wait_until = release
            result = await self._wait(release, self._interrupted, "quiet hours / frequency cap")
            if result != "timeout":
                return result
        s.wait_until = None
        self._refresh_score()  # the email shows the score now, also after a quiet-hours wait
        try:
            self._sending = True
            res = await self._send_activity(step, key)
        except ActivityError as err:
            if is_type(err, ErrorType.EMAIL_UNSENDABLE):
                parked = f"step {step.id}: {reason(err)}"
                if parked != self._parked:  # once per reason: hourly retries must not flood the timeline
                    self._note(f"step {step.id}: email parked, not sent ({reason(err)}); retrying every {PARK_RETRY}")
                self._parked = parked
                return "parked"
            if not is_type(err, ErrorType.PLATFORM_REJECTED):
                raise
            # The platform refused this email (e.g. a template or address it cannot
            # take): retrying cannot help, so the journey goes on without it.
            self._note(f"step {step.id}: email rejected by the platform ({reason(err)}); skipped")
            return "done"
        finally:
            self._sending = False
        if res.deferred_until is not None:
            # Other sends to this lead (a campaign, a content list send) used its frequency
            # cap: nothing went out; wait until one more fits, then check everything again.
            self._note(
                f"step {step.id}: email deferred to {res.deferred_until:%Y-%m-%d %H:%M:%S} UTC "
                "(the frequency cap is used by other sends)"
            )
            s.wait_until = res.deferred_until
            result = await self._wait(res.deferred_until, self._interrupted, "frequency cap (other sends)")
            s.wait_until = None
            return result if result != "timeout" else await self._send_once(step, key)
        if self._parked:
            self._note(f"step {step.id}: email no longer parked (the message renders and passes the brand rules)")
            self._parked = None
        for warning in res.warnings:
            self._note(f"step {step.id}: {warning}")
        if res.suppressed:
            # The address opted out on the platform (another channel): honour it.
            self._mark_unsubscribed("email_platform_suppression")
            return "done"
        s.emails.append(SentEmail(at=workflow.now(), step_id=step.id, idempotency_key=key, message_id=res.message_id))
        s.emails = s.emails[-50:]
        s.emails_sent += 1
        s.step_engagement = tallied(s.step_engagement, step.id, "emails")
        return "done"

    async def _send_activity(self, step: SendEmailStep, key: str) -> SendEmailResult:
        s, spec = self._s, self._journey
        return await self._activity(
            act.EMAIL_SEND,
            SendEmailInput(
                idempotency_key=key,
                to_email=s.capture.email,
                from_email=spec.from_email,
                subject=step.subject,
                template=step.template,
                first_name=s.capture.first_name,
                unsubscribe_group_id=spec.unsubscribe_group_id,
                journey_id=spec.id,
                step_id=step.id,
                lead_id=s.lead_id,
                lead=self._email_lead(),
                budget=BudgetFacts(timezone=self._tz(), quiet_hours=spec.quiet_hours, frequency_cap=spec.frequency_cap),
                at=workflow.now(),
            ),
            queue=self._queues.email,
            summary=f"send email {step.template}",
        )

    def _email_lead(self) -> EmailLead:
        s = self._s
        profile = build_profile(s.capture, s.firmographics)
        return EmailLead(
            first_name=s.capture.first_name,
            last_name=s.capture.last_name,
            company=profile.company,
            job_title=profile.job_title,
            industry=profile.industry,
            country=profile.country,
            employees=profile.employees,
            segment=s.segment,
            score=s.score.total if s.score else None,
            owner_name=s.owner_name,
        )

    def _branch(self, step: BranchStep) -> str | None:
        self._refresh_score()
        facts = self._facts()
        for case in step.cases:
            if all(evaluate(c, facts) for c in case.when) and (
                case.event_seen is None or case.event_seen in self._s.event_types_seen
            ):
                return case.goto
        return step.default

    # ---------------------------------------------------------- sales phase

    async def _sales_phase(self) -> None:
        s, policy = self._s, self._journey.handoff
        if s.owner_id is None:
            await self._assign_owner()
            if s.owner_id is None:
                return  # nobody available: retried after a pause, or CAN
        while s.sales_decision is None and not s.unsubscribed:
            if s.wait_until is None and not s.final_escalation:
                s.wait_until = workflow.now() + policy.sla
            result = await self._wait(
                None if s.final_escalation else s.wait_until,
                lambda: s.sales_decision is not None or s.unsubscribed,
                "sales SLA",
            )
            if result == "continue_as_new":
                return
            if result == "timeout":
                await self._sla_breached()
        if s.unsubscribed:
            return
        decision, s.sales_decision = s.sales_decision, None
        assert decision is not None, "the SLA wait ends on a decision, an unsubscribe or continue-as-new"
        s.wait_until = None
        if decision.decision == SalesDecisionKind.ACCEPTED:
            s.outcome = "converted"
            await self._set_stage(
                LeadStage.CONVERTED,
                crm={"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "IN_PROGRESS"},
            )
        else:
            await self._recycle(decision)

    async def _assign_owner(self, exclude: list[str] | None = None) -> None:
        s, policy = self._s, self._journey.handoff
        owners = (
            await self._platform(
                act.CRM_LIST_OWNERS,
                ListOwnersInput(),
                queue=self._queues.crm,
                summary="list sales owners",
            )
        ).owners
        team = [o for o in owners if not policy.owner_weights or o.owner_id in policy.owner_weights]
        slots = [OwnerSlot(owner_id=o.owner_id, weight=policy.owner_weights.get(o.owner_id, 1)) for o in team]
        n = len(s.owner_history)
        owner_id: str | None
        try:
            owner_id = (
                await self._activity(
                    act.ROUTING_ASSIGN_OWNER,
                    AssignOwnerInput(
                        request_id=f"{self._keys}:c{s.cycle}:assign{n}",
                        owners=slots,
                        exclude=exclude or [],
                    ),
                    queue=self._queues.workflows,
                    summary="pick owner (weighted round-robin)",
                    retry=INTERNAL_RETRY,
                    timeout=INTERNAL_TIMEOUT,
                )
            ).owner_id
        except ActivityError as err:
            if not is_type(err, ErrorType.NO_OWNER_AVAILABLE):
                raise
            owner_id = policy.manager_owner_id
        if owner_id is None:
            self._note("no sales owner available; retrying in 1h")
            await self._wait(
                workflow.now() + NO_OWNER_RETRY, lambda: s.unsubscribed or self._mql_lost(), "no owner available"
            )
            return
        owner = next((o for o in owners if o.owner_id == owner_id), SalesOwner(owner_id=owner_id))
        handoff = await self._platform(
            act.CRM_UPSERT_HANDOFF,
            HandoffInput(
                key=f"{self._keys}:c{s.cycle}",
                contact_id=s.contact_id,
                owner_id=owner_id,
                deal_name=f"MQL {s.lead_id[:8]} ({s.segment or 'general'})",
                pipeline=policy.deal_pipeline,
                deal_stage=policy.deal_stage,
                task_subject="Follow up on new MQL",
                task_body=(
                    f"Score {self._score_text()}; journey {self._journey.id}. Accept or reject within {policy.sla}."
                ),
                task_due_epoch_ms=int((workflow.now() + policy.task_due).timestamp() * 1000),
            ),
            queue=self._queues.crm,
            summary="create deal + task for owner",
        )
        s.deal_id = handoff.deal_id
        s.owner_name = owner.name or None
        s.owner_id = owner_id
        s.owner_history.append(owner_id)
        s.assigned_at = workflow.now()
        s.wait_until = None
        await self._set_stage(LeadStage.SALES_ASSIGNED)
        text = (
            f"New MQL for you: deal {handoff.deal_id}, score {self._score_text()}, segment "
            f"{s.segment or 'general'}. Please accept or reject within {policy.sla}."
        )
        if owner.email:
            await self._notify(
                NotifyInput(
                    idempotency_key=f"{self._keys}:c{s.cycle}:assign{n}:owner",
                    text=text,
                    user_email=owner.email,
                ),
                f"notify owner {owner_id}",
            )
        if policy.notify_channel:
            await self._notify(
                NotifyInput(
                    idempotency_key=f"{self._keys}:c{s.cycle}:assign{n}:channel",
                    text=f"MQL {s.lead_id[:8]} assigned to owner {owner_id}.",
                    channel=policy.notify_channel,
                ),
                f"notify {policy.notify_channel}",
            )

    async def _sla_breached(self) -> None:
        s, policy = self._s, self._journey.handoff
        s.wait_until = None
        n = len(s.owner_history)
        self._note(f"SLA breached by owner {s.owner_id}")
        reassign = s.reassignments < policy.max_reassignments
        text = (
            f"SLA breached: MQL {s.lead_id[:8]} (deal {s.deal_id}) not accepted by owner {s.owner_id} "
            f"within {policy.sla}; " + ("reassigning." if reassign else "no reassignments left, please act.")
        )
        if policy.notify_channel:
            await self._notify(
                NotifyInput(
                    idempotency_key=f"{self._keys}:c{s.cycle}:sla{n}",
                    text=text,
                    channel=policy.notify_channel,
                ),
                "escalate SLA breach",
            )
        if reassign:
            s.reassignments += 1
            await self._assign_owner(exclude=list(s.owner_history))
        else:
            s.final_escalation = True

    async def _recycle(self, decision: SalesDecision) -> None:
        s = self._s
        s.cycle += 1
        s.recycle_seq = s.event_seq  # engagement starts again from zero
        s.owner_id, s.reassignments, s.final_escalation, s.assigned_at = None, 0, False, None
        s.cursor = self._journey.restart_step_id
        s.active_step = None
        self._note(f"recycled by sales: {decision.reason or 'no reason given'}")
        self._rescore()
        await self._set_stage(
            LeadStage.RECYCLED, crm={"lifecyclestage": "lead", "hs_lead_status": "ATTEMPTED_TO_CONTACT"}
        )
        await self._set_stage(LeadStage.NURTURING)

    async def _finish_unsubscribed(self) -> None:
        s, spec = self._s, self._journey
        if s.erased:
            # Right to erasure: end now and touch nothing; the erasure workflow deletes
            # the lead on every platform once this run has closed.
            s.outcome = "erased"
            await self._set_stage(LeadStage.UNSUBSCRIBED)
            return
        s.outcome = f"unsubscribed ({s.unsubscribe_source})"
        # The opt-out reaches the email platform and the CRM, not just this workflow.
        await self._platform(
            act.EMAIL_SUPPRESS,
            SuppressInput(email=s.capture.email, group_id=spec.unsubscribe_group_id, lead_id=s.lead_id),
            queue=self._queues.email,
            summary="suppress address",
        )
        if self._syncs():
            # ... and, through the contact sync, the ad audience, the CDP and the CRM's consent properties.
            records = [r for p, r in s.consents.records.items() if p in MARKETING and not r.granted]
            s.sync_outbox.append(
                ContactChange(
                    change_id=f"{self._keys}:opt-out",
                    source=f"journey:{s.unsubscribe_source}",
                    at=workflow.now(),
                    consent=records or opt_out(f"journey:{s.unsubscribe_source}", workflow.now()),
                )
            )
        await self._set_stage(LeadStage.UNSUBSCRIBED, crm={"hs_email_optout": "true"})

    # ---------------------------------------------------------- contact sync

    def _sync_change(
        self,
        c: LeadCapture,
        key: str,
        *,
        contact_id: str | None = None,
        with_consent: bool = False,
        origin: str | None = None,
    ) -> ContactChange:
        """A capture as a contact-sync change: the fields it carries, at capture time."""
        fields = {
            k: v
            for k, v in (
                ("first_name", c.first_name),
                ("last_name", c.last_name),
                ("company", c.company),
                ("country", c.country),
            )
            if v
        }
        consent = list(self._s.consents.records.values()) if with_consent else []
        return ContactChange(
            change_id=f"{self._keys}:{key}",
            source="journey",
            at=c.captured_at,
            fields=fields,
            consent=consent,
            contact_id=contact_id,
            origin=origin,
        )

    async def _publish_sync(self, change: ContactChange) -> None:
        s = self._s
        if s.erased:
            return
        inp = PublishChangeInput(lead_id=s.lead_id, email=s.capture.email, change=change)
        try:
            if self._hot_path:
                # A signal-with-start on the Temporal server, no platform: it needs no task
                # queue of its own, and as a local activity it costs one marker.
                await call_local(
                    act.SYNC_PUBLISH, inp, summary="tell the contact sync", retry=SYNC_RETRY, timeout=INTERNAL_TIMEOUT
                )
            else:
                await call(
                    act.SYNC_PUBLISH,
                    inp,
                    queue=self._queues.workflows,
                    summary="tell the contact sync",
                    retry=SYNC_RETRY,
                    timeout=INTERNAL_TIMEOUT,
                )
        except ActivityError:
            self._note("contact sync not reached; the next reconciliation repairs it")

    async def _drain_sync_outbox(self) -> None:
        """Changes reach the contact sync from here, while the journey waits (it waits
        nearly all the time): the capture update answers at once and a send is never
        held up by bookkeeping. The run ends only once the outbox is empty."""
        s = self._s
        while True:
            await workflow.wait_condition(lambda: bool(s.sync_outbox) and (self._waiting or s.stage in TERMINAL))
            change = s.sync_outbox[0]
            self._publishing = True
            try:
                await self._publish_sync(change)
            finally:
                self._publishing = False
            if s.sync_outbox and s.sync_outbox[0] is change:
                s.sync_outbox.pop(0)

    # --------------------------------------------------------------- helpers

    async def _activity(
        self,
        ref: ActivityRef[In, Out],
        arg: In,
        *,
        queue: str,
        summary: str,
        retry: RetryPolicy = PLATFORM_RETRY,
        timeout: timedelta = PLATFORM_TIMEOUT,
    ) -> Out:
        return await call(ref, arg, queue=queue, summary=summary, retry=retry, timeout=timeout)

    async def _platform(self, ref: ActivityRef[In, Out], arg: In, *, queue: str, summary: str) -> Out:
        return await call_parked(ref, arg, queue=queue, summary=summary, note=self._note)

    async def _update_crm(self, properties: dict[str, str], summary: str) -> None:
        s = self._s
        if s.contact_id:
            # Every write of the contact carries the score as it is (runs keeping it current).
            score = s.score.total if s.score is not None and self._keeps_score_current() else None
            if score is not None:
                properties = {**properties, CRM_SCORE_PROPERTY: str(math.floor(score))}
            await self._platform(
                act.CRM_UPDATE_CONTACT,
                UpdateContactInput(contact_id=s.contact_id, properties=properties),
                queue=self._queues.crm,
                summary=summary,
            )
            if score is not None:
                s.crm_score = score

    async def _notify(self, inp: NotifyInput, summary: str) -> None:
        # A chat message that cannot be delivered (unknown channel or person) must
        # not stop the journey: it is recorded in the timeline instead.
        try:
            await self._activity(act.CHAT_NOTIFY, inp, queue=self._queues.chat, summary=summary)
        except ActivityError as err:
            if not is_type(err, ErrorType.PLATFORM_REJECTED):
                raise
            self._note(f"{summary} failed: rejected by the chat platform ({reason(err)})")

    async def _wait(self, until: datetime | None, done: Callable[[], bool], summary: str) -> WaitResult:
        """Wait until `done()` or the deadline; give way to continue-as-new.

        A decaying score adds no timer of its own: the wait's one timer is due at the
        earlier of the deadline and the moment the score next leaves its band. At that
        moment the score is refreshed (LeadScore; the CRM's mops_score by `_write_crm_score`,
        a lost or reached MQL by `done()`) and the same wait goes on. An event that brings
        the crossing before the timer re-plans it."""
        self._s.next_step_at = until
        self._publish_details()
        self._waiting = True
        try:
            while True:
                crossing = self._crossing_at
                if crossing is None or (until is not None and until <= crossing):
                    deadline, label = until, summary
                else:
                    deadline, label = crossing, f"{summary} (score leaves its band)"

                def replan(deadline: datetime | None = deadline) -> bool:
                    return self._crossing_at is not None and (deadline is None or self._crossing_at < deadline)

                result = await wait_until(deadline, lambda: done() or replan(), label, self._can_after)
                if result == "done" and not done():
                    continue  # the score moved: wait for its new crossing
                if result != "timeout" or deadline == until:
                    return result
                self._rescore()  # the crossing: refresh what is published, then go on waiting
        finally:
            self._waiting = False

    def _patched(self, patch_id: str) -> bool:
        """`workflow.patched(patch_id)`, answered by the bundle for the patches it holds. The
        bundle is asked where the run first asks any patch, the same point on every replay."""
        if self._bundled is None:
            self._bundled = workflow.patched(BUNDLE_PATCH)
        return (self._bundled and patch_id in BUNDLED) or workflow.patched(patch_id)

    def _syncs(self) -> bool:
        """Whether this run tells the contact sync. New runs always do; asking for the older
        patch only when the newer one is off spares each new run a marker and the
        search-attribute upsert that comes with every patch."""
        return self._hot_path or self._patched(SYNC_PATCH)

    def _should_continue_as_new(self) -> bool:
        return continue_as_new_due(self._can_after)

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._conversions_done()
        self._flush_attributes()
        workflow.continue_as_new(
            LeadJourneyInput(
                lead_id=self._s.lead_id,
                capture=self._s.capture,
                queues=self._queues,
                state=self._s,
                continue_as_new_after_events=self._can_after,
            )
        )

    def _interrupted(self) -> bool:
        return self._s.unsubscribed or self._mql_reached() or self._s.goal is not None or self._moved

    # ------------------------------------------------------ goals, re-entry

    def _check_goals(self) -> None:
        """Note the first journey goal met, while the lead is in nurture. Pure state: called on
        every rescore (each event, each score crossing) and by the run loop; a wait in progress
        ends on it (`_interrupted`) and the loop ends the journey (`_reach_goal`)."""
        s = self._s
        if s.goal is not None or s.stage != LeadStage.NURTURING or s.journey is None or not s.journey.goals:
            return
        s.goal = s.journey.first_goal_met(self._facts(), s.event_types_seen)

    async def _reach_goal(self) -> None:
        s = self._s
        if not self._patched(GOALS_PATCH):
            # Only a history from before goals lacks the marker here, and its journey has none.
            raise RuntimeError(f"goal {s.goal}: history has no {GOALS_PATCH} marker")
        s.outcome = f"goal: {s.goal}"
        self._note(f"goal {s.goal} met")
        await self._set_stage(LeadStage.COMPLETED)

    async def _check_reentry(self) -> None:
        """Whether this person may enter the journey again, by its `reentry` policy and when
        it last finished it (the contact ledger, keyed by the lead id: the run that finished
        has ended). A refused run ends at once, touching no platform, and the capture that
        started it answers the refusal."""
        s, spec = self._s, self._journey
        try:
            if not self._patched(REENTRY_PATCH):
                raise RuntimeError(f"reentry: history has no {REENTRY_PATCH} marker")
            last = await self._activity(
                act.JOURNEYS_LAST_EXIT,
                LastExitInput(lead_id=s.lead_id, journey_id=spec.id),
                queue=self._queues.workflows,
                summary=f"when did this lead last finish {spec.id}",
                retry=INTERNAL_RETRY,
                timeout=INTERNAL_TIMEOUT,
            )
            s.reentry_refused = spec.reentry.refusal(spec.id, last.finished_at, workflow.now())
            if s.reentry_refused is not None:
                s.outcome = f"re-entry refused: {s.reentry_refused}"
                self._note(f"re-entry refused ({spec.reentry.mode})")
                await self._set_stage(LeadStage.COMPLETED)
        finally:
            self._entry_pending = False

    async def _record_exit(self) -> None:
        """The person finished this journey now: kept for its next entry (journeys with a
        `reentry` policy only; not for a refused entry, nor an erased lead)."""
        s, spec = self._s, self._s.journey
        if spec is None or not spec.reentry.checked or s.erased or s.reentry_refused is not None:
            return
        if not self._patched(REENTRY_PATCH):
            raise RuntimeError(f"reentry: history has no {REENTRY_PATCH} marker")
        await self._activity(
            act.JOURNEYS_RECORD_EXIT,
            RecordExitInput(
                lead_id=s.lead_id, journey_id=spec.id, at=workflow.now(), outcome=s.outcome or s.stage.value
            ),
            queue=self._queues.workflows,
            summary=f"record the finish of {spec.id}",
            retry=INTERNAL_RETRY,
            timeout=INTERNAL_TIMEOUT,
        )

    def _mql_reached(self) -> bool:
        s = self._s
        engaged_since_recycle = s.cycle == 0 or s.event_seq > s.recycle_seq
        return bool(s.score and s.score.mql and engaged_since_recycle)

    def _mql_lost(self) -> bool:
        """An MQL not yet handed to sales whose score decayed under the threshold (runs
        keeping the score current; read in wait conditions, so it never asks the patch)."""
        s = self._s
        return self._current is True and s.stage == LeadStage.MQL and s.owner_id is None and not self._mql_reached()

    async def _back_to_nurture(self) -> None:
        """Lost by decay before the hand-off: back to nurture, at the step it left (its wait
        resumes with the time it had left), and an MQL again when it earns it again."""
        self._note(f"score decayed to {self._score_text()}, under the MQL threshold before the hand-off")
        await self._set_stage(LeadStage.NURTURING, crm={"lifecyclestage": "lead"})

    def _may_email(self) -> bool:
        s = self._s
        return not s.unsubscribed and (s.consent or not self._journey.requires_consent)

    def _mark_unsubscribed(self, source: str, at: datetime | None = None) -> None:
        s = self._s
        if not s.unsubscribed:
            s.unsubscribed, s.unsubscribe_source = True, source
            self._note(f"unsubscribed via {source}")
        when = at if at is not None and at.tzinfo is not None else workflow.now()
        s.consents.apply_all(opt_out(source, when))

    def _events_after(self, seq: int | None) -> list[EngagementEvent]:
        s = self._s
        newer = s.event_seq - (seq or 0)
        return s.events[-newer:] if newer > 0 else []

    def _rescore(self) -> None:
        s = self._s
        if s.journey is None:
            return
        profile = build_profile(s.capture, s.firmographics)
        s.score = score_lead(s.journey.scoring, profile, self._events_after(s.recycle_seq), workflow.now())
        s.segment = assign_segment(s.journey.scoring, profile, s.score)
        self._plan_crossing()
        self._check_goals()
        self._publish()

    def _keeps_score_current(self) -> bool:
        """Whether this run keeps a current score (CURRENT_SCORE_PATCH), asked the first time
        it matters: when the score has engagement to decay, or the CRM is written."""
        if self._current is None:
            self._current = self._patched(CURRENT_SCORE_PATCH)
        return self._current

    def _decaying(self) -> bool:
        s = self._s
        return s.score is not None and s.score.engagement != 0 and self._keeps_score_current()

    def _refresh_score(self) -> None:
        """The score now, before a decision reads it: decay applied since the last change."""
        if self._decaying():
            self._rescore()

    def _plan_crossing(self) -> None:
        """When the decaying score next leaves its band or crosses the MQL threshold or a
        segment's score test; none when there is no engagement to decay (no timer, no marker)."""
        s, model = self._s, self._journey.scoring
        self._crossing_at = None
        if s.score is None or not self._decaying():
            return
        now = workflow.now()
        self._crossing_at = next_crossing(
            fit=s.score.fit,
            engagement=raw_engagement(model, self._events_after(s.recycle_seq), now),
            now=now,
            half_life_days=model.half_life_days,
            band_width=model.band_width,
            cap=model.max_engagement,
            thresholds=self._journey.score_thresholds(),
        )

    def _crm_score_due(self) -> bool:
        """The CRM's mops_score is in another band than the score (read in a wait condition)."""
        s = self._s
        if self._current is not True or s.score is None or not s.contact_id or s.erased or s.stage in TERMINAL:
            return False
        width = self._journey.scoring.band_width
        return s.crm_score is None or band(s.crm_score, width) != band(s.score.total, width)

    async def _write_crm_score(self) -> None:
        """The CRM contact's mops_score follows the score band by band, written while the
        journey waits (a crossing, an event), like the contact sync's changes. A failed write
        (a portal without the property) is noted and the next band tries again; a run that
        continues as new with a write under way leaves it to the next run."""
        s = self._s
        while True:
            await workflow.wait_condition(lambda: self._waiting and self._crm_score_due())
            assert s.score is not None and s.contact_id is not None, "checked by _crm_score_due"
            score = s.score.total
            value = str(math.floor(score))
            try:
                await self._activity(
                    act.CRM_UPDATE_CONTACT,
                    UpdateContactInput(contact_id=s.contact_id, properties={CRM_SCORE_PROPERTY: value}),
                    queue=self._queues.crm,
                    summary=f"CRM: score {value}",
                )
            except ActivityError as err:
                # Never retried in a loop: the score moves on, and the next band writes again.
                self._note(f"CRM: score {value} not written ({reason(err)}); the next band tries again")
            s.crm_score = score

    @property
    def _keys(self) -> str:
        """What every idempotency key of this entry starts with: the workflow id (the person),
        and, for runs started with `keys_per_entry`, the entry."""
        wf_id = workflow.info().workflow_id
        return f"{wf_id}:{self._s.entry}" if self._s.entry else wf_id

    @property
    def _journey(self) -> JourneySpec:
        journey = self._s.journey
        assert journey is not None, "the journey is loaded first thing in run(), before any step"
        return journey

    def _facts(self) -> dict[str, Any]:
        s = self._s
        return lead_facts(build_profile(s.capture, s.firmographics), s.score, s.segment)

    def _tz(self) -> str:
        return self._s.capture.timezone or self._journey.default_timezone

    def _score_text(self) -> str:
        return f"{self._s.score.total:.0f}" if self._s.score else "n/a"

    def _note(self, what: str) -> None:
        s = self._s
        s.timeline = with_entry(s.timeline, TimelineEntry(at=workflow.now(), what=what))

    async def _set_stage(self, stage: LeadStage, crm: dict[str, str] | None = None) -> None:
        s = self._s
        changed = s.stage != stage
        if changed:
            s.stage = stage
            self._note(f"stage → {stage.value}")
        self._publish()
        if crm:
            await self._update_crm(crm, summary=f"CRM: stage {stage.value}")
        if changed and stage == LeadStage.CONVERTED and s.experiments:
            self._experiment_conversions(Metric.CONVERSION.value)
        if changed and self._conversion_due(stage):
            # In the background: a slow or degraded ad platform must not hold up the
            # hand-off to sales; the run waits for the uploads before it ends or continues.
            self._conversion_sends.append(asyncio.create_task(self._send_conversions(stage)))

    # ---------------------------------------------------------- conversions

    def _conversion_due(self, stage: LeadStage) -> bool:
        s = self._s
        plan = s.conversion_plan
        return plan is not None and s.click_ids is not None and stage in plan.on and not s.erased

    async def _conversions_done(self) -> None:
        """Wait for the uploads under way; an erased lead's are dropped (nothing more of
        it goes to a platform, and the erasure waits for this run to close)."""
        sends, self._conversion_sends = self._conversion_sends, []
        if self._s.erased:
            for task in sends:
                task.cancel()
            return
        if sends:
            await asyncio.gather(*sends)

    async def _send_conversions(self, stage: LeadStage) -> None:
        """The stage change as a conversion to each ad platform the lead has a click id
        for, when the plan counts this stage. Asks for the patch only when something is
        due, so a lead without click ids records nothing more."""
        s = self._s
        plan, ids = s.conversion_plan, s.click_ids
        if plan is None or ids is None:
            return
        google = ids.google() if plan.google_conversion_action and plan.google_customer_id else None
        meta = plan.meta_pixel_id is not None and ids.meta()
        if not (google or meta) or not self._patched(CONVERSIONS_PATCH):
            return
        if s.consents.granted(Purpose.AD_AUDIENCES) is False:
            self._note(f"conversion {stage.value} not sent: ad consent withdrawn")
            return
        key, at = conversion_key(s.lead_id, stage, s.cycle), workflow.now()
        done = {(c.platform, c.key) for c in s.conversions}
        sends = []
        if meta and plan.meta_pixel_id and (Platform.META, key) not in done:
            meta_input = MetaConversionInput(
                pixel_id=plan.meta_pixel_id,
                event_name=stage.value,
                event_id=key,
                at=at,
                email=s.capture.email,
                lead_id=s.lead_id,
                fbc=ids.fbc,
                fbp=ids.fbp,
                value=plan.value,
                currency=plan.currency,
            )
            sends.append(self._convert(Platform.META, stage, key, act.CONVERSIONS_META, meta_input, self._queues.meta))
        if (
            google
            and plan.google_conversion_action
            and plan.google_customer_id
            and (Platform.GOOGLE_ADS, key) not in done
        ):
            google_input = GoogleConversionInput(
                customer_id=plan.google_customer_id,
                conversion_action=plan.google_conversion_action,
                click_field=google[0],
                click_id=google[1],
                at=at,
                order_id=key,
                value=plan.value,
                currency=plan.currency,
            )
            sends.append(
                self._convert(
                    Platform.GOOGLE_ADS, stage, key, act.CONVERSIONS_GOOGLE_ADS, google_input, self._queues.google_ads
                )
            )
        await asyncio.gather(*sends)

    async def _convert(
        self,
        platform: Platform,
        stage: LeadStage,
        key: str,
        ref: ActivityRef[In, ConversionResult],
        arg: In,
        queue: str,
    ) -> None:
        s = self._s
        try:
            res = await call(ref, arg, queue=queue, summary=f"conversion {stage.value} → {platform.value}")
            outcome, detail = res.outcome, res.detail
        except ActivityError as err:
            if not is_type(err, ErrorType.PLATFORM_REJECTED):
                raise
            # A refusal (an unknown pixel or conversion action, an expired click) does not
            # get better by retrying: it is shown, and the journey goes on.
            outcome, detail = ConversionOutcome.REJECTED, reason(err)
        s.conversions = with_entry(
            s.conversions,
            SentConversion(platform=platform, stage=stage, key=key, at=workflow.now(), outcome=outcome, detail=detail),
        )
        self._note(f"conversion {stage.value} → {platform.value}: {outcome.value}" + (f" ({detail})" if detail else ""))

    def _publish(self) -> None:
        """Search attributes and current details, so the Web UI reads like a CRM record."""
        s = self._s
        updates: Updates = [
            LEAD_STAGE.value_set(s.stage.value),
            JOURNEY_ID.value_set(s.capture.journey_id),
        ]
        if s.score is not None:
            # Rounded down in runs keeping the score current, so `LeadScore >= 60` is the MQL test.
            published = math.floor(s.score.total) if self._current is True else round(s.score.total)
            updates.append(LEAD_SCORE.value_set(published))
        if s.segment:
            updates.append(SEGMENT.value_set(s.segment))
        updates.append(OWNER_ID.value_set(s.owner_id) if s.owner_id else OWNER_ID.value_unset())
        if s.variants:  # only journeys with a split (SPLIT_PATCH): older runs upsert what they did
            updates.append(JOURNEY_VARIANT.value_set([f"{k}:{v}" for k, v in sorted(s.variants.items())]))
        if self._step_attributes:
            # A lead that has left (or finished) is at no step any more.
            at = s.cursor if s.stage not in TERMINAL else None
            updates.append(JOURNEY_VERSION.value_set(self._journey.version))
            updates.append(JOURNEY_STEP.value_set(self._journey.position(at)) if at else JOURNEY_STEP.value_unset())
        if self._hot_path:
            self._unpublished = updates  # upserted by _publish_attributes, once per workflow task
        else:
            self._attributes.upsert(updates)
        self._publish_details()

    async def _publish_attributes(self) -> None:
        """Every upsert is a history event, and one workflow task can move the stage and
        the score several times (capture → qualifying → scored → nurturing): the last
        values are upserted once, when the run and the handlers have given way."""
        while True:
            await workflow.wait_condition(lambda: self._unpublished is not None)
            self._flush_attributes()

    def _flush_attributes(self) -> None:
        if self._unpublished is not None:
            updates, self._unpublished = self._unpublished, None
            self._attributes.upsert(updates)

    def _publish_details(self) -> None:
        s = self._s
        lines = [f"**Stage:** {s.stage.value}  ·  **Score:** {self._score_text()}  ·  **Segment:** {s.segment or '-'}"]
        if s.score:
            lines.append(f"**Fit:** {s.score.fit:.0f}  ·  **Engagement:** {s.score.engagement:.1f}")
        if s.owner_id:
            lines.append(f"**Owner:** {s.owner_id}  ·  **Deal:** {s.deal_id or '-'}")
        if s.next_step:
            when = f" until {s.next_step_at.isoformat(timespec='seconds')}" if s.next_step_at else ""
            lines.append(f"**Step:** `{s.next_step}`{when}")
        if self._parked:
            lines.append(f"**Parked:** {self._parked}")
        lines.append(f"**Emails sent:** {s.emails_sent}  ·  **Touches:** {s.touches}")
        workflow.set_current_details("\n\n".join(lines))
