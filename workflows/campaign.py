"""One multi-channel campaign from launch to final report: a saga over every channel.

Workflow type `Campaign`, id `campaign-<campaign id>`.

Status: preflight (each ad account's currency) → awaiting_approval? → creating (landing
page draft, Meta campaign + ad set + image + creative + ad and Google Ads budget +
campaign, all PAUSED) →
scheduled (durable timer until the start date) → launching (publish the page, activate
the ads, post on LinkedIn, send the email — the irreversible send last) → live
(monitoring on an interval: figures per channel, pacing, KPIs, anomaly alerts, a
channel paused when it breaks a hard rule; pacing (`domain/pacing.py`) stops the
campaign before the total is overrun by more than one day's spend, and with a `pacing:`
section changes the daily budgets to stay on plan through a child `BudgetReallocation`
run, `budget-<id>-pacing-<day>`, at most one open at a time) → stopping (end date or `stop`: pause every
ad, final figures) → completed. If a channel fails for good while creating or
launching, every channel already made is rolled back (ads deleted/removed, page back
to draft, post deleted, email unscheduled) and the campaign ends `failed` with a
per-channel report. Also rejected / expired (launch approval). The email goes only to
the list members whose contact budget allows a message now; who was left out and why
is in the email part's `audience` and the timeline.

Updates
- `preflight() -> PreflightResult`: waits until preflight is done (for update-with-start
  callers: the CLI hears at once when an ad account bills in another currency).
- `decide(Decision) -> DecisionResult`: launch approval (content-approval rules; a
  decision without valid proof of who made it is refused and kept in `approval.refused`).
- `stop(StopRequest) -> None`: end now (owner or an approver); pauses everything.

Signals
- `budgets_applied(BudgetsApplied)`: from a `BudgetReallocation` run (a reallocation
  or a pacing change) that set and verified new daily budgets.

Queries
- `state() -> CampaignView`: status, per-channel parts and figures, pacing and its
  decisions (`pacing_steps`), KPIs, anomalies, budget changes, approval progress,
  timeline, final report.

Search attributes: CampaignId, CampaignStatus, Channels, BudgetState, ApprovalState,
PendingApprovers. Long campaigns continue-as-new with their state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ChildWorkflowError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.contracts import AD_PLATFORMS as ADS
    from activities.contracts import ActivityRef, ErrorType
    from activities.models import (
        AdAccountInput,
        CancelListSendInput,
        CreateDraftInput,
        ListSendEmail,
        ListSendInput,
        NotifyInput,
        PageMetricsInput,
        PaidCreateInput,
        PaidFiguresInput,
        PaidNamedInput,
        PaidStatusInput,
        PostRef,
        PublishPostInput,
        SocialDeleteInput,
        SocialPostInput,
    )
    from domain.approvals import Decision
    from domain.budget import Proposal
    from domain.campaigns import PAID, ChannelKind, ChannelSpec, currency_mismatch, min_daily_minor, utm_url
    from domain.content import markdown_to_html
    from domain.fields import zone
    from domain.money import from_minor, show, to_minor
    from domain.pacing import PacingDecision, decide
    from domain.performance import ChannelFigures, anomalies, kpis, pacing
    from domain.refusals import Refusal
    from workflows.approval import ApprovalGate, ApprovalProgress, DecisionResult, Wording, refuse
    from workflows.budget import BudgetReallocationWorkflow
    from workflows.campaign_models import (
        TERMINAL_CAMPAIGN,
        BudgetInput,
        BudgetsApplied,
        BudgetView,
        CampaignInput,
        CampaignState,
        CampaignStatus,
        CampaignView,
        ChannelPart,
        ChannelReport,
        PacingStep,
        PartState,
        PreflightResult,
        StopRequest,
    )
    from workflows.common import (
        EMAIL_SUPPRESSION_GROUP,
        In,
        Out,
        SearchAttributes,
        call,
        continue_as_new_due,
        is_type,
        reason,
        with_note,
    )
    from workflows.search_attributes import (
        APPROVAL_STATE,
        BUDGET_STATE,
        CAMPAIGN_ID,
        CAMPAIGN_STATUS,
        CHANNELS,
        PENDING_APPROVERS,
        Updates,
    )

# Launch and rollback order: reversible parts first, the email (which cannot be
# recalled once delivered) last.
ORDER = [
    ChannelKind.LANDING_PAGE,
    ChannelKind.META_ADS,
    ChannelKind.GOOGLE_ADS,
    ChannelKind.LINKEDIN,
    ChannelKind.EMAIL,
]
# A launch is a coordinated moment: a platform still failing after ~6 minutes of
# retries fails the launch (and rolls it back) rather than leaving it half-live.
LAUNCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=8,
)
DEGRADED_WAIT = timedelta(minutes=2)
# Runs started before pacing neither stop at the total nor change budgets to stay on plan.
PACING_PATCH = "campaign-pacing-v1"
PACING = "pacing"  # who a pacing stop is requested by


def _required(value: str | None, ch: ChannelSpec, name: str) -> str:
    """A field the channel's kind requires (CHANNEL_FIELDS): a spec without it does not load."""
    if value is None:
        raise ValueError(f"{name}: required for {ch.kind} channels")
    return value


class LaunchFailed(Exception):
    def __init__(self, channel: ChannelKind, why: str) -> None:
        super().__init__(f"{channel.value}: {why}")
        self.channel, self.why = channel, why


@workflow.defn(name="Campaign")
class CampaignWorkflow:
    @workflow.init
    def __init__(self, inp: CampaignInput) -> None:
        spec = inp.spec
        self._inp, self._spec, self._q = inp, spec, inp.queues
        self._s = inp.state or CampaignState(
            parts=[ChannelPart(channel=k) for k in ORDER if spec.channel(k) is not None],
            approval=ApprovalProgress(stages=spec.approval) if spec.approval else None,
        )
        self._gate: ApprovalGate | None = None
        if self._s.approval is not None:
            how = (
                f"Decide with `mops campaign approve {spec.id} --as <you>`"
                + (f" or at {inp.gateway_url}/approvals" if inp.gateway_url else "")
                + "."
            )
            self._gate = ApprovalGate(
                self._s.approval,
                inp.directory,
                requester=spec.owner,
                messages=Wording(
                    subject=f"campaign '{spec.name}' ({show(spec.total_budget, spec.currency)}, "
                    f"{', '.join(p.channel.value for p in self._s.parts)})",
                    how=how,
                ),
                tell=self._tell,
                note=self._note,
                publish=self._publish,
                history_limit=inp.continue_as_new_after_events,
                keys=inp.decision_keys,
            )
        self._attributes = SearchAttributes()
        self._pacing_task: asyncio.Task[None] | None = None

    @workflow.run
    async def run(self, inp: CampaignInput) -> CampaignView:
        s = self._s
        self._publish()
        while s.status not in TERMINAL_CAMPAIGN:
            if self._may_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(inp.model_copy(update={"state": s}))
            if s.status == CampaignStatus.PREFLIGHT:
                await self._preflight()
            elif s.status == CampaignStatus.AWAITING_APPROVAL:
                await self._approval()
            elif s.status in (CampaignStatus.CREATING, CampaignStatus.LAUNCHING):
                await self._launch()
            elif s.status == CampaignStatus.SCHEDULED:
                await self._wait_for_start()
            elif s.status == CampaignStatus.LIVE:
                await self._monitor()
            else:
                await self._finish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state()

    # ------------------------------------------------------------- handlers

    @workflow.update(name="preflight")
    async def preflight(self) -> PreflightResult:
        await workflow.wait_condition(lambda: self._s.status != CampaignStatus.PREFLIGHT)
        s = self._s
        return PreflightResult(ok=not s.problems, status=s.status, problems=s.problems)

    @workflow.update(name="decide")
    def decide(self, d: Decision) -> DecisionResult:
        return self._open_gate().record(d)

    @decide.validator
    def _validate_decide(self, d: Decision) -> None:
        if self._gate is None or self._s.status != CampaignStatus.AWAITING_APPROVAL:
            refuse(Refusal.NOT_WAITING_FOR_DECISIONS, f"not waiting for decisions (status {self._s.status.value})")
        self._gate.validate(d)

    @workflow.update(name="stop")
    def stop(self, r: StopRequest) -> None:
        self._s.stop = r
        self._note(f"stop requested by {r.requested_by}: {r.reason}")

    @stop.validator
    def _validate_stop(self, r: StopRequest) -> None:
        s, spec = self._s, self._spec
        if s.status in TERMINAL_CAMPAIGN or s.stop is not None:
            refuse(Refusal.NOTHING_TO_STOP, f"nothing to stop (status {s.status.value})")
        allowed = {spec.owner} | {a for st in spec.approval + spec.reallocation.approval for a in st.approvers}
        if r.requested_by not in allowed:
            refuse(Refusal.MAY_NOT_STOP, f"'{r.requested_by}' may not stop this campaign (owner or approvers only)")

    @workflow.signal(name="budgets_applied")
    def budgets_applied(self, msg: BudgetsApplied) -> None:
        s = self._s
        if any(c.proposal_id == msg.change.proposal_id for c in s.budget_changes):
            return  # a redelivered signal changes nothing
        for part in s.parts:
            if part.channel in msg.change.after:
                part.daily_budget_minor = msg.change.after[part.channel]
        s.budget_changes.append(msg.change)
        moves = ", ".join(f"{k.value} {self._money(v)}" for k, v in msg.change.after.items())
        self._note(f"daily budgets changed by {msg.change.proposal_id}: {moves}")
        self._publish()

    @workflow.query(name="state")
    def state(self) -> CampaignView:
        spec = self._spec
        return CampaignView(
            **self._s.model_dump(),
            campaign_id=spec.id,
            name=spec.name,
            currency=spec.currency,
            total_budget=str(spec.total_budget),
            start=spec.start_at(self._s.launched_at) if self._s.launched_at else None,
            end=spec.end_at(),
            owner=spec.owner,
            pending_approvers=self._gate.pending() if self._gate else [],
            metric=spec.metric(),
            timezone=spec.timezone,
            reallocation=spec.reallocation,
        )

    # --------------------------------------------------------------- stages

    async def _preflight(self) -> None:
        s, spec = self._s, self._spec
        s.launched_at = s.launched_at or workflow.now()
        for part in self._parts(PAID):
            account = await call(
                ADS[part.channel].account,
                AdAccountInput(),
                queue=self._queue(part.channel),
                summary=f"read {part.channel.value} account",
            )
            problem = currency_mismatch(spec, part.channel.value, account.currency)
            if problem:
                s.problems.append(problem)
        if s.problems:
            s.outcome = "refused at preflight: " + "; ".join(s.problems)
            await self._set_status(CampaignStatus.FAILED)
            return
        await self._set_status(CampaignStatus.AWAITING_APPROVAL if self._gate else CampaignStatus.CREATING)

    async def _approval(self) -> None:
        s, gate = self._s, self._open_gate()
        outcome = await gate.run()
        if outcome == "continue_as_new":
            return
        self._publish()  # the gate's outcome, before the status that follows from it
        if outcome == "approved":
            await self._set_status(CampaignStatus.CREATING)
            return
        s.outcome = gate.p.detail  # the gate runs on s.approval
        await self._set_status(CampaignStatus.REJECTED if outcome == "rejected" else CampaignStatus.EXPIRED)
        await self._tell([self._spec.owner], "approval", f"Campaign '{self._spec.name}' {gate.p.detail}.")

    async def _launch(self) -> None:
        """Create everything paused (creating), or make it live (launching); roll back on failure."""
        s = self._s
        try:
            if s.status == CampaignStatus.CREATING:
                for part in s.parts:
                    await self._create(part)
                await self._set_status(CampaignStatus.SCHEDULED)
            else:
                for part in s.parts:
                    await self._activate(part)
                s.live_since = workflow.now()
                await self._set_status(CampaignStatus.LIVE)
                await self._tell(
                    [self._spec.owner],
                    "live",
                    f"Campaign '{self._spec.name}' is live on " + ", ".join(p.channel.value for p in s.parts) + ".",
                )
        except LaunchFailed as err:
            part = self._part(err.channel)
            part.state, part.error = PartState.FAILED, err.why
            s.problems.append(str(err))
            self._note(f"{err.channel.value} failed for good ({err.why}); rolling back")
            await self._rollback()
            s.outcome = f"launch failed at {err.channel.value} ({err.why}); every channel rolled back"
            s.report = self._report()
            await self._set_status(CampaignStatus.FAILED)
            await self._tell([self._spec.owner], "failed", f"Campaign '{self._spec.name}': {s.outcome}.")

    async def _wait_for_start(self) -> None:
        s = self._s
        start = self._spec.start_at(self._launched_at)
        self._publish()
        if workflow.now() < start:
            try:
                await workflow.wait_condition(
                    lambda: s.stop is not None or continue_as_new_due(self._inp.continue_as_new_after_events),
                    timeout=start - workflow.now(),
                    timeout_summary="start date",
                )
            except TimeoutError:
                pass
            else:
                if s.stop is None:
                    return  # continue-as-new first
                await self._rollback()
                s.outcome = f"stopped before the start by {s.stop.requested_by}: {s.stop.reason}"
                s.report = self._report()
                await self._set_status(CampaignStatus.COMPLETED)
                return
        await self._set_status(CampaignStatus.LAUNCHING)

    async def _monitor(self) -> None:
        """One monitoring tick, then wait for the next one, the end date or a stop."""
        s, spec = self._s, self._spec
        if s.next_check_at is None or workflow.now() >= s.next_check_at:
            await self._check_performance(final=False)
            s.next_check_at = workflow.now() + spec.monitor_every
        end = spec.end_at()
        if s.stop is None and workflow.now() < end:
            wait = min(s.next_check_at, end) - workflow.now()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: s.stop is not None or self._may_continue_as_new(),
                    timeout=wait,
                    timeout_summary="next performance check",
                )
        if s.stop is not None or workflow.now() >= end:
            await self._set_status(CampaignStatus.STOPPING)

    async def _finish(self) -> None:
        s = self._s
        for part in s.parts:
            if part.channel in PAID and part.state == PartState.LIVE:
                await self._platform_call(
                    ADS[part.channel].set_status,
                    PaidStatusInput(ref=part.ref, active=False),
                    part.channel,
                    f"pause {part.channel.value}",
                )
                part.state, part.note = PartState.PAUSED, "paused at the end of the campaign"
        await self._check_performance(final=True)
        s.report = self._report()
        ended = "stopped by " + s.stop.requested_by if s.stop else "ended at its end date"
        spent = sum((Decimal(r.spend) for r in s.report), Decimal(0))
        s.outcome = f"{ended}; spent {spent} {self._spec.currency} of {self._spec.total_budget}"
        await self._set_status(CampaignStatus.COMPLETED)
        lines = [
            f"{r.channel.value}: spend {r.spend}, {r.clicks} clicks, {r.conversions:g} conversions"
            + (f", CPA {r.kpis.cpa}" if r.kpis and r.kpis.cpa is not None else "")
            for r in s.report
            if r.channel in PAID
        ]
        await self._tell([self._spec.owner], "report", f"Campaign '{self._spec.name}' {s.outcome}. " + "; ".join(lines))

    # ------------------------------------------------------- launch steps

    async def _create(self, part: ChannelPart) -> None:
        spec = self._spec
        if part.state != PartState.PENDING:
            return  # made before a continue-as-new or a retry of this stage
        if part.channel == ChannelKind.LANDING_PAGE:
            ch = self._channel(part.channel)
            draft = await self._launch_call(
                act.CMS_CREATE_DRAFT,
                CreateDraftInput(
                    idempotency_key=f"{self._id}:landing",
                    title=ch.title,
                    html=markdown_to_html(_required(ch.body, ch, "body")),
                    slug=spec.id,
                ),
                part.channel,
                "create landing page draft",
            )
            part.post_id, part.link = draft.post_id, draft.link
        elif part.channel in PAID:
            ch, launched_at = self._channel(part.channel), self._launched_at
            budget = spec.daily_budget_minor(part.channel, launched_at)
            part.daily_budget_minor = budget
            part.ref = await self._launch_call(
                ADS[part.channel].create,
                PaidCreateInput(
                    name=self._platform_name(part.channel),
                    objective=spec.objective.value,
                    daily_budget_minor=budget,
                    currency=spec.currency,
                    countries=ch.countries,
                    start=spec.start_at(launched_at),
                    end=spec.end_at(),
                    # The ad and where it leads, the landing page tagged as the channel's
                    # link is (activity input fields only: the command sequence is the same
                    # as before ads)
                    ad=ch.ad,
                    search=ch.search,
                    final_url=utm_url(spec.landing_url, spec, part.channel) if ch.ad or ch.search else None,
                ),
                part.channel,
                f"create {part.channel.value} campaign (paused)",
            )
        else:
            return  # email and LinkedIn have nothing to prepare: they go out at launch
        part.state = PartState.CREATED
        self._note(f"{part.channel.value} created (not live)")
        self._publish()

    async def _activate(self, part: ChannelPart) -> None:
        spec = self._spec
        if part.state not in (PartState.PENDING, PartState.CREATED):
            return
        ch = self._channel(part.channel)
        link = utm_url(spec.landing_url, spec, part.channel)
        if part.channel == ChannelKind.LANDING_PAGE:
            published = await self._launch_call(
                act.CMS_PUBLISH,
                PublishPostInput(post_id=part.post_id),
                part.channel,
                "publish landing page",
            )
            part.link = published.link
        elif part.channel in PAID:
            await self._launch_call(
                ADS[part.channel].set_status,
                PaidStatusInput(ref=part.ref, active=True),
                part.channel,
                f"activate {part.channel.value}",
            )
            part.link = link
        elif part.channel == ChannelKind.LINKEDIN:
            posted = await self._launch_call(
                act.SOCIAL_POST,
                SocialPostInput(idempotency_key=f"{self._id}:linkedin", commentary=f"{ch.text}\n\n{link}"),
                part.channel,
                "post on LinkedIn",
            )
            part.urn, part.link = posted.urn, link
        else:
            html = markdown_to_html(_required(ch.body, ch, "body")) + f'<p><a href="{link}">{spec.name}</a></p>'
            sent = await self._launch_call(
                act.EMAIL_SEND_TO_LISTS,
                ListSendInput(
                    idempotency_key=f"{self._id}:email",
                    name=self._platform_name(part.channel),
                    subject=ch.subject,
                    html=html,
                    list_ids=ch.list_ids,
                    suppression_group_id=EMAIL_SUPPRESSION_GROUP,
                    email=self._list_email(ch, link),
                ),
                part.channel,
                "send campaign email",
            )
            part.single_send_id, part.link, part.audience = sent.single_send_id, link, sent.audience
            if sent.audience is not None:
                self._note(f"email: {sent.audience.describe()}")
        part.state = PartState.SENT if part.channel == ChannelKind.EMAIL else PartState.LIVE
        self._note(f"{part.channel.value} live")
        self._publish()

    def _list_email(self, ch: ChannelSpec, link: str) -> ListSendEmail | None:
        # Rendered by the email activity from the channel's template (a campaign launched
        # before templates has none: its `html` goes out as it did).
        if ch.template is None:
            return None
        spec = self._spec
        return ListSendEmail(
            template=ch.template, campaign_id=spec.id, campaign_name=spec.name, body_markdown=ch.body, landing_url=link
        )

    async def _rollback(self) -> None:
        """Undo every part made so far, last made first. Each undo is idempotent and
        retried until it succeeds: nothing may stay live and unrecorded."""
        for part in reversed(self._s.parts):
            c = part.channel
            made = part.ref or part.post_id or part.urn or part.single_send_id
            # A paid create that failed half way (campaign made, ad set refused) has no
            # ref yet: its objects are found by their unique name.
            half_made = c in PAID and part.state == PartState.FAILED and part.ref is None
            if part.state == PartState.ROLLED_BACK or not (made or half_made):
                continue
            if c in PAID:
                if part.ref is not None:
                    result = await self._platform_call(
                        ADS[c].remove, part.ref, c, f"roll back {c.value}: delete campaign"
                    )
                else:
                    result = await self._platform_call(
                        ADS[c].remove_named,
                        PaidNamedInput(name=self._platform_name(c)),
                        c,
                        f"roll back {c.value}: delete by name",
                    )
                part.note = "deleted" if result.removed else "nothing left to delete"
            elif c == ChannelKind.LANDING_PAGE and part.post_id is not None:
                await self._platform_call(
                    act.CMS_UNPUBLISH,
                    PostRef(post_id=part.post_id),
                    c,
                    "roll back landing page: back to draft",
                )
                part.note = "back to draft"
            elif c == ChannelKind.LINKEDIN and part.urn:
                await self._platform_call(
                    act.SOCIAL_DELETE, SocialDeleteInput(urn=part.urn), c, "roll back LinkedIn post: delete"
                )
                part.note = "post deleted"
            elif c == ChannelKind.EMAIL and part.single_send_id:
                res = await self._platform_call(
                    act.EMAIL_CANCEL_LIST_SEND,
                    CancelListSendInput(single_send_id=part.single_send_id),
                    c,
                    "roll back email: unschedule",
                )
                part.note = "unscheduled" if res.recalled else "already delivered: cannot be recalled"
            if part.state != PartState.FAILED:
                part.state = PartState.ROLLED_BACK
            self._note(f"{c.value} rolled back" + (f" ({part.note})" if part.note else ""))
        self._publish()

    # --------------------------------------------------------- monitoring

    async def _check_performance(self, *, final: bool) -> None:
        s, spec = self._s, self._spec
        tz = zone(spec.timezone)
        today = workflow.now().astimezone(tz).date()
        start = spec.start_at(self._launched_at)
        start_day = start.astimezone(tz).date()
        end_day = (spec.end_at() - timedelta(microseconds=1)).astimezone(tz).date()
        until = min(today, end_day)
        if until < start_day:
            return
        for part in self._parts(PAID):
            if part.ref is None or part.state not in (PartState.LIVE, PartState.PAUSED):
                continue
            got = await self._platform_call(
                ADS[part.channel].figures,
                PaidFiguresInput(ref=part.ref, since=start_day, until=until, currency=spec.currency),
                part.channel,
                f"{part.channel.value} figures to {until}",
            )
            s.figures[part.channel] = got.days
        landing = self._part(ChannelKind.LANDING_PAGE) if spec.channel(ChannelKind.LANDING_PAGE) else None
        if landing is not None and landing.state == PartState.LIVE and landing.link:
            s.landing = await self._platform_call(
                act.ANALYTICS_PAGE_METRICS,
                PageMetricsInput(page_path=urlsplit(landing.link).path or "/", start_date=start_day, end_date=until),
                ChannelKind.LANDING_PAGE,
                f"landing page traffic to {until} (GA4)",
                queue=self._q.analytics,
            )
        s.checked_at = workflow.now()
        s.complete_through = until if final else today - timedelta(days=1)
        figures = [ChannelFigures(channel=k, days=v) for k, v in s.figures.items()]
        spent = sum((f.spend for f in figures), Decimal(0))
        s.pacing = pacing(
            total_budget=spec.total_budget,
            start=start,
            end=spec.end_at(),
            spent=spent,
            now=workflow.now(),
        )
        s.kpis = {f.channel: f.kpis() for f in figures}
        live = {p.channel for p in s.parts if p.state == PartState.LIVE}
        budgets = {
            p.channel: from_minor(p.daily_budget_minor, spec.currency)
            for p in self._parts(PAID)
            if p.daily_budget_minor is not None
        }
        s.anomalies = anomalies(
            figures=figures,
            daily_budgets=budgets,
            kpis=spec.kpis,
            guardrails=spec.guardrails,
            live=live,
            complete_through=s.complete_through,
        )
        for a in s.anomalies:
            key = f"{a.channel.value}:{a.kind}:{a.day or ''}"
            if key in s.alerted:
                continue
            s.alerted.append(key)
            part = self._part(a.channel)
            paused = a.hard and part.state == PartState.LIVE and not final
            if paused:
                await self._platform_call(
                    ADS[a.channel].set_status,
                    PaidStatusInput(ref=part.ref, active=False),
                    a.channel,
                    f"pause {a.channel.value}: {a.kind}",
                )
                part.state, part.note = PartState.PAUSED, f"paused by guardrail: {a.detail}"
            self._note(f"alert {a.channel.value} {a.kind}: {a.detail}" + (" — channel paused" if paused else ""))
            await self._tell(
                [spec.owner],
                f"alert-{key}",
                f"Campaign '{spec.name}' alert ({a.channel.value}, "
                f"{a.kind}): {a.detail}" + (". The channel is paused." if paused else "."),
            )
        if not final and s.stop is None and workflow.patched(PACING_PATCH):
            await self._pace(figures, today)
        self._publish()

    async def _pace(self, figures: list[ChannelFigures], today: date) -> None:
        """Spend against the plan: record the decision, stop the campaign, or change its
        daily budgets through a BudgetReallocation run (approval above the threshold)."""
        s, spec = self._s, self._spec
        tz = zone(spec.timezone)
        current = {
            p.channel: p.daily_budget_minor
            for p in self._parts(PAID)
            if p.state == PartState.LIVE and p.daily_budget_minor is not None
        }
        decision = decide(
            total_minor=to_minor(spec.total_budget, spec.currency),
            first_day=spec.start_at(self._launched_at).astimezone(tz).date(),
            days=spec.days(self._launched_at),
            today=today,
            spent_minor=sum(to_minor(f.spend, spec.currency) for f in figures),
            last_day_minor=sum(to_minor(f.since(today).spend, spec.currency) for f in figures),
            current=current,
            minimums={k: min_daily_minor(k, spec.currency) for k in current},
            pacing=spec.pacing,
            reallocation=spec.reallocation,
            currency=spec.currency,
        )
        # One change a day (max_step_pct is per day), none while another waits for approval.
        changes = decision.action in ("auto", "approval") and s.pacing_run is None and not self._paced_on(today)
        acts = decision.action == "stop" or changes
        first_today = not any(p.decision.day == today for p in s.pacing_steps)
        if not (acts or first_today):
            return
        step = PacingStep(at=workflow.now(), decision=decision)
        s.pacing_steps.append(step)
        if not acts:
            held = ""
            if decision.action != "none":
                held = f" (held: {s.pacing_run} is still open)" if s.pacing_run else " (held: one change a day)"
            self._note(f"pacing {decision.action}: {decision.reason}{held}")
            return
        if decision.action == "stop":
            self._note(f"pacing stops the campaign: {decision.reason}")
            s.stop = StopRequest(requested_by=PACING, reason=decision.reason)
            await self._tell(
                [spec.owner], f"pacing-stop-{today}", f"Campaign '{spec.name}' is stopped: {decision.reason}."
            )
            return
        step.budget_run = f"budget-{spec.id}-pacing-{today.isoformat()}"
        self._note(f"pacing {decision.action}: {decision.reason} ({step.budget_run})")
        handle = await workflow.start_child_workflow(
            BudgetReallocationWorkflow.run,
            BudgetInput(
                campaign_id=spec.id,
                directory=self._inp.directory,
                decision_keys=self._inp.decision_keys,
                queues=self._q,
                gateway_url=self._inp.gateway_url,
                pacing=self._pacing_proposal(decision),
            ),
            id=step.budget_run,
            task_queue=workflow.info().task_queue,
            # The campaign's end (or stop) withdraws a change still waiting for approval.
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            static_summary=f"pacing · {spec.id} · {today.isoformat()}",
        )
        s.pacing_run = step.budget_run
        self._pacing_task = asyncio.create_task(self._pacing_outcome(handle, step))

    def _paced_on(self, day: date) -> bool:
        return any(p.decision.day == day and p.budget_run is not None for p in self._s.pacing_steps)

    def _pacing_proposal(self, d: PacingDecision) -> Proposal:
        assert d.action in ("auto", "approval"), "only a change goes to a budget run"
        return Proposal(
            kind="pacing",
            current=d.current,
            proposed=d.proposed,
            moved_minor=abs(d.change_minor),
            moved_pct=d.change_pct,
            metric=self._spec.metric(),
            reasons=[d.reason],
            action=d.action,
        )

    async def _pacing_outcome(
        self, handle: ChildWorkflowHandle[BudgetReallocationWorkflow, BudgetView], step: PacingStep
    ) -> None:
        """Waits for the pacing budget run; its applied budgets arrive by `budgets_applied`."""
        try:
            view = await handle
            step.outcome = f"{view.status.value}: {view.outcome}"
        except ChildWorkflowError as err:
            step.outcome = f"failed: {err.cause or err}"
        self._s.pacing_run = None
        self._note(f"pacing change {step.budget_run} {step.outcome}")
        self._publish()

    def _may_continue_as_new(self) -> bool:
        # A pacing run still open is awaited by this run: the next one would not hear its end.
        return self._s.pacing_run is None and continue_as_new_due(self._inp.continue_as_new_after_events)

    def _report(self) -> list[ChannelReport]:
        s = self._s
        out = []
        for part in s.parts:
            fig = ChannelFigures(channel=part.channel, days=s.figures.get(part.channel, []))
            out.append(
                ChannelReport(
                    channel=part.channel,
                    state=part.state,
                    spend=str(fig.spend),
                    impressions=fig.impressions,
                    clicks=fig.clicks,
                    conversions=fig.conversions,
                    revenue=str(fig.revenue),
                    kpis=kpis(
                        spend=fig.spend,
                        impressions=fig.impressions,
                        clicks=fig.clicks,
                        conversions=fig.conversions,
                        revenue=fig.revenue,
                    )
                    if part.channel in PAID
                    else None,
                )
            )
        return out

    # ------------------------------------------------------------ helpers

    @property
    def _id(self) -> str:
        return f"campaign-{self._spec.id}"

    def _platform_name(self, channel: ChannelKind) -> str:
        """Unique per campaign and channel: the key a retried create finds."""
        return f"{self._spec.name} [mops:{self._spec.id}:{channel.value}]"

    @property
    def _launched_at(self) -> datetime:
        """When preflight ran: every stage after it plans from this moment."""
        if self._s.launched_at is None:
            raise RuntimeError("the campaign has no launch time before preflight")
        return self._s.launched_at

    def _open_gate(self) -> ApprovalGate:
        """The launch approval's gate: awaiting_approval and decide (its validator) are only reached with one."""
        if self._gate is None:
            raise RuntimeError("campaign has no launch approval")
        return self._gate

    def _channel(self, kind: ChannelKind) -> ChannelSpec:
        """The spec of a part's channel: parts are made only for the channels the spec has."""
        ch = self._spec.channel(kind)
        if ch is None:
            raise RuntimeError(f"campaign has a {kind.value} part but no {kind.value} channel")
        return ch

    def _parts(self, kinds: Collection[ChannelKind]) -> list[ChannelPart]:
        return [p for p in self._s.parts if p.channel in kinds]

    def _part(self, channel: ChannelKind) -> ChannelPart:
        return next(p for p in self._s.parts if p.channel == channel)

    def _queue(self, channel: ChannelKind) -> str:
        q = self._q
        return {
            ChannelKind.META_ADS: q.meta,
            ChannelKind.GOOGLE_ADS: q.google_ads,
            ChannelKind.EMAIL: q.email,
            ChannelKind.LINKEDIN: q.social,
            ChannelKind.LANDING_PAGE: q.cms,
        }[channel]

    async def _launch_call(self, ref: ActivityRef[In, Out], arg: In, channel: ChannelKind, summary: str) -> Out:
        """A launch step: a rejection, or a failure that outlasts LAUNCH_RETRY, fails the launch.
        A platform the health check marked degraded is not a failure: the launch holds
        (the step is tried again every few minutes) until it recovers."""
        while True:
            try:
                return await call(ref, arg, queue=self._queue(channel), summary=summary, retry=LAUNCH_RETRY)
            except ActivityError as err:
                if is_type(err, ErrorType.PLATFORM_DEGRADED):
                    self._note(f"{channel.value} is degraded: {summary} holds until it recovers")
                    await workflow.sleep(DEGRADED_WAIT, summary=f"hold: {channel.value} degraded")
                    continue
                # A rejection, or an email that cannot go out as it is, says why in its details.
                told = is_type(err, ErrorType.PLATFORM_REJECTED) or is_type(err, ErrorType.EMAIL_UNSENDABLE)
                why = reason(err) if told else "still failing after retries"
                raise LaunchFailed(channel, why) from None

    async def _platform_call(
        self, ref: ActivityRef[In, Out], arg: In, channel: ChannelKind, summary: str, queue: str | None = None
    ) -> Out:
        """Monitoring, pausing and rollback: retried until it succeeds (unlimited attempts)."""
        return await call(ref, arg, queue=queue or self._queue(channel), summary=summary)

    def _money(self, minor: int) -> str:
        return f"{from_minor(minor, self._spec.currency)} {self._spec.currency}"

    async def _tell(self, people: list[str], kind: str, text: str) -> None:
        """Chat to people from the directory (by work email); undeliverable → noted."""
        for person_id in people:
            person = self._inp.directory.get(person_id)
            if person is None:
                continue
            inp = NotifyInput(idempotency_key=f"{self._id}:{kind}:{person_id}", text=text, user_email=person.email)
            try:
                await call(act.CHAT_NOTIFY, inp, queue=self._q.chat, summary=f"tell {person_id}: {kind}")
            except ActivityError as err:
                if not is_type(err, ErrorType.PLATFORM_REJECTED):
                    raise
                self._note(f"chat to {person_id} failed ({reason(err)})")

    def _note(self, what: str) -> None:
        s = self._s
        s.timeline = with_note(s.timeline, what)

    async def _set_status(self, status: CampaignStatus) -> None:
        if self._s.status != status:
            self._s.status = status
            self._note(f"status → {status.value}")
        self._publish()

    def _publish(self) -> None:
        """Search attributes (only when changed) and current details for the Web UI."""
        s, spec = self._s, self._spec
        approval = self._gate.state() if self._gate else "none"
        pending = self._gate.pending() if self._gate else []
        budget_state = f"reallocated x{len(s.budget_changes)}" if s.budget_changes else "as_planned"
        updates: Updates = [
            CAMPAIGN_ID.value_set(spec.id),
            CAMPAIGN_STATUS.value_set(s.status.value),
            CHANNELS.value_set([p.channel.value for p in s.parts]),
            BUDGET_STATE.value_set(budget_state),
            APPROVAL_STATE.value_set(approval),
            PENDING_APPROVERS.value_set(pending),
        ]
        self._attributes.upsert(updates)
        lines = [
            f"**Status:** {s.status.value}  ·  **Budget:** {spec.total_budget} {spec.currency}  ·  "
            f"**Ends:** {spec.end_at():%Y-%m-%d %H:%M} UTC"
        ]
        if pending:
            lines.append(f"**Waiting for:** {', '.join(pending)}")
        lines.append(
            "**Channels:** "
            + ", ".join(
                f"{p.channel.value} {p.state.value}"
                + (f" ({self._money(p.daily_budget_minor)}/day)" if p.daily_budget_minor is not None else "")
                for p in s.parts
            )
        )
        if s.pacing is not None:
            lines.append(
                f"**Pacing:** {s.pacing.status} — spent {s.pacing.spent_to_date} of "
                f"{s.pacing.planned_to_date} planned to date"
            )
        if s.pacing_steps:
            last = s.pacing_steps[-1].decision
            lines.append(f"**Pacing decision:** {last.action} — {last.reason}")
        if s.outcome:
            lines.append(f"**Outcome:** {s.outcome}")
        workflow.set_current_details("\n\n".join(lines))
