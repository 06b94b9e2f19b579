"""One budget reallocation for one live campaign: measure, propose, approve, apply, verify.

Workflow type `BudgetReallocation`; id `budget-<campaign id>-<when>` on demand, or the
Schedule's `budget-<campaign id>` (the server appends the run time).

Steps: read the campaign's state (channels, their platform refs and current daily
budgets) → for a pacing change handed in by the campaign (`BudgetInput.pacing`, from
`domain/pacing.py`): take it as the proposal, skipped when the budgets changed since;
otherwise fetch each live paid channel's figures over the lookback window → propose
by the campaign's rules (`domain/budget.py`: towards lower CPA / higher ROAS, bounded
step, floors and caps, total unchanged, nothing on thin data) → apply at once when the
move is under the auto-apply threshold, else wait for approval (same rules as content
approval: update with validator, reminders, escalation, expiry) → set each changed
channel's absolute daily budget and read it back; if any set fails or reads back
different, every change made is set back to its old value → tell the campaign
workflow (signal `budgets_applied`) and the campaign owner.

Updates
- `decide(Decision) -> DecisionResult`: approve / reject the proposal (a decision
  without valid proof of who made it is refused and kept in `approval.refused`).

Queries
- `state() -> BudgetView`: the proposal with its reasons, decisions, each change with
  what the platform read back, the outcome and a timeline.

Search attributes: CampaignId, BudgetState, ApprovalState, PendingApprovers.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.contracts import AD_PLATFORMS as ADS
    from activities.contracts import ErrorType
    from activities.models import CampaignSnapshotInput, NotifyInput, PaidBudgetInput, PaidFiguresInput
    from activities.policies import INTERNAL_RETRY, INTERNAL_TIMEOUT
    from domain.approvals import Decision
    from domain.budget import ChannelPerformance, Proposal, changed, propose
    from domain.campaigns import PAID, ChannelKind
    from domain.fields import zone
    from domain.money import show
    from domain.performance import ChannelFigures
    from domain.refusals import Refusal
    from workflows.approval import ApprovalGate, ApprovalProgress, DecisionResult, Wording, refuse
    from workflows.campaign_models import (
        AppliedChange,
        BudgetChange,
        BudgetInput,
        BudgetsApplied,
        BudgetStatus,
        BudgetView,
        CampaignStatus,
        CampaignView,
        PartState,
    )
    from workflows.common import SearchAttributes, call, is_type, reason, with_note
    from workflows.search_attributes import APPROVAL_STATE, BUDGET_STATE, CAMPAIGN_ID, PENDING_APPROVERS, Updates


@workflow.defn(name="BudgetReallocation")
class BudgetReallocationWorkflow:
    @workflow.init
    def __init__(self, inp: BudgetInput) -> None:
        self._inp, self._q = inp, inp.queues
        self._v = BudgetView(campaign_id=inp.campaign_id)
        self._campaign: CampaignView | None = None
        self._gate: ApprovalGate | None = None
        self._attributes = SearchAttributes()

    @workflow.run
    async def run(self, inp: BudgetInput) -> BudgetView:
        v = self._v
        self._publish()
        campaign = await self._read_campaign()
        if campaign is None:
            return await self._end(BudgetStatus.SKIPPED, "the campaign is not live")
        self._campaign = campaign
        v.currency = campaign.currency
        current = {
            p.channel: p.daily_budget_minor
            for p in campaign.parts
            if p.channel in PAID and p.state == PartState.LIVE and p.daily_budget_minor is not None
        }
        rules = campaign.reallocation
        if inp.pacing is not None:
            v.proposal = inp.pacing
            if inp.pacing.current != {k: current.get(k) for k in inp.pacing.current}:
                return await self._end(
                    BudgetStatus.SKIPPED, "the daily budgets changed since the pacing decision: it no longer applies"
                )
        else:
            if len(current) < 2:
                return await self._end(BudgetStatus.NO_CHANGE, "fewer than two live paid channels: nothing to move")
            performance = await self._performance(campaign, current)
            v.proposal = propose(current, performance, rules, metric=campaign.metric, currency=campaign.currency)
        self._note(f"proposal: {v.proposal.action} — " + "; ".join(v.proposal.reasons))
        if v.proposal.action == "none":
            return await self._end(BudgetStatus.NO_CHANGE, "; ".join(v.proposal.reasons))
        if v.proposal.action == "approval":
            if not rules.approval:
                return await self._end(
                    BudgetStatus.REJECTED, "the change needs approval but the campaign names no reallocation approvers"
                )
            v.approval = ApprovalProgress(stages=rules.approval)
            self._gate = ApprovalGate(
                v.approval,
                inp.directory,
                requester=inp.requested_by,
                messages=Wording(subject=self._subject(), how=self._how()),
                tell=self._tell,
                note=self._note,
                publish=self._publish,
                history_limit=1_000_000,
                keys=inp.decision_keys,
            )
            await self._set_status(BudgetStatus.AWAITING_APPROVAL)
            outcome = await self._gate.run()
            self._publish()  # the gate's outcome, before the status that follows from it
            if outcome != "approved":
                status = BudgetStatus.REJECTED if outcome == "rejected" else BudgetStatus.EXPIRED
                return await self._end(status, v.approval.detail or outcome)
        await self._apply()
        return self.state()

    # ------------------------------------------------------------- handlers

    @workflow.update(name="decide")
    def decide(self, d: Decision) -> DecisionResult:
        assert self._gate is not None, "the validator refuses decisions while no approval is open"
        return self._gate.record(d)

    @decide.validator
    def _validate_decide(self, d: Decision) -> None:
        if self._gate is None or self._v.status != BudgetStatus.AWAITING_APPROVAL:
            refuse(Refusal.NOT_WAITING_FOR_DECISIONS, f"not waiting for decisions (status {self._v.status.value})")
        self._gate.validate(d)

    @workflow.query(name="state")
    def state(self) -> BudgetView:
        return self._v.model_copy(update={"pending_approvers": self._gate.pending() if self._gate else []})

    # ---------------------------------------------------------------- steps

    async def _read_campaign(self) -> CampaignView | None:
        snap = await call(
            act.CAMPAIGNS_SNAPSHOT,
            CampaignSnapshotInput(workflow_id=f"campaign-{self._inp.campaign_id}"),
            queue=self._q.workflows,
            summary="read the campaign's state",
            retry=INTERNAL_RETRY,
            timeout=INTERNAL_TIMEOUT,
        )
        if not snap.found or snap.view is None:
            return None
        view = CampaignView.model_validate(snap.view)
        return view if view.status == CampaignStatus.LIVE else None

    async def _performance(
        self, campaign: CampaignView, current: dict[ChannelKind, int]
    ) -> dict[ChannelKind, ChannelPerformance]:
        rules = campaign.reallocation
        tz = zone(campaign.timezone)
        until = workflow.now().astimezone(tz).date() - timedelta(days=1)  # complete days only
        since = until - timedelta(days=rules.lookback_days - 1)
        out = {}
        for part in campaign.parts:
            if part.channel not in current:
                continue
            got = await call(
                ADS[part.channel].figures,
                PaidFiguresInput(ref=part.ref, since=since, until=until, currency=campaign.currency),
                queue=self._queue(part.channel),
                summary=f"{part.channel.value} figures {since}..{until}",
            )
            fig = ChannelFigures(channel=part.channel, days=got.days)
            out[part.channel] = ChannelPerformance(
                channel=part.channel,
                spend=fig.spend,
                clicks=fig.clicks,
                conversions=fig.conversions,
                revenue=fig.revenue,
            )
        return out

    async def _apply(self) -> None:
        v, campaign, proposal = self._v, self._campaign_view, self._proposal
        await self._set_status(BudgetStatus.APPLYING)
        refs = {p.channel: p.ref for p in campaign.parts}
        failed: str | None = None
        moves = changed(proposal)
        for channel in [p.channel for p in campaign.parts if p.channel in moves]:  # the campaign's channel order
            after = moves[channel]
            change = AppliedChange(channel=channel, before=proposal.current[channel], after=after)
            v.changes.append(change)
            try:
                got = await call(
                    ADS[channel].set_budget,
                    PaidBudgetInput(ref=refs[channel], daily_budget_minor=after, currency=campaign.currency),
                    queue=self._queue(channel),
                    summary=f"set {channel.value} daily budget to {self._money(after)}",
                )
            except ActivityError as err:
                if not is_type(err, ErrorType.PLATFORM_REJECTED):
                    raise
                change.error = reason(err)
                failed = f"{channel.value} refused the new budget ({change.error})"
                break
            change.verified = got.daily_budget_minor
            if got.daily_budget_minor != after:
                failed = (
                    f"{channel.value} reads back {self._money(got.daily_budget_minor)} instead of {self._money(after)}"
                )
                break
            self._note(f"{channel.value}: {self._money(change.before)} → {self._money(after)} (verified)")
        if failed is None:
            decided = sorted({d.approver for d in v.approval.decisions}) if v.approval else []
            signal = BudgetsApplied(
                change=BudgetChange(
                    at=workflow.now(),
                    proposal_id=workflow.info().workflow_id,
                    before=proposal.current,
                    after={c.channel: c.after for c in v.changes},
                    decided_by=decided,
                )
            )
            await workflow.get_external_workflow_handle(f"campaign-{v.campaign_id}").signal("budgets_applied", signal)
            changes = workflow.metric_meter().create_counter(
                "mops_budget_changes", "Daily budgets changed on a platform", "{change}"
            )
            for c in v.changes:  # not emitted again on replay
                changes.add(1, {"channel": c.channel.value, "direction": "up" if c.after > c.before else "down"})
            done = ", ".join(f"{c.channel.value} {self._money(c.before)} → {self._money(c.after)}" for c in v.changes)
            await self._end(BudgetStatus.APPLIED, f"applied and verified: {done}")
            return
        self._note(f"apply failed: {failed}; rolling back every change")
        for change in v.changes:
            if change.verified is None and change.error is not None:
                continue  # the refused set changed nothing
            # Absolute value, retried until it holds: the old budget is always valid.
            await call(
                ADS[change.channel].set_budget,
                PaidBudgetInput(ref=refs[change.channel], daily_budget_minor=change.before, currency=campaign.currency),
                queue=self._queue(change.channel),
                summary=f"roll back {change.channel.value} daily budget to {self._money(change.before)}",
            )
            change.rolled_back = True
        await self._end(BudgetStatus.ROLLED_BACK, f"{failed}; every change was set back")

    # ------------------------------------------------------------ helpers

    async def _end(self, status: BudgetStatus, outcome: str) -> BudgetView:
        self._v.outcome = outcome
        await self._set_status(status)
        if status not in (BudgetStatus.SKIPPED, BudgetStatus.NO_CHANGE) and self._campaign is not None:
            await self._tell(
                [self._campaign.owner],
                "outcome",
                f"Budget reallocation for '{self._campaign.name}': {status.value} — {outcome}",
            )
        return self.state()

    @property
    def _proposal(self) -> Proposal:
        assert self._v.proposal is not None, "proposed in run() before any step that uses it"
        return self._v.proposal

    @property
    def _campaign_view(self) -> CampaignView:
        assert self._campaign is not None, "read in run() before any step that uses it"
        return self._campaign

    def _subject(self) -> str:
        p, c = self._proposal, self._campaign_view
        moves = ", ".join(f"{k.value} {self._money(p.current[k])} → {self._money(v)}" for k, v in changed(p).items())
        what = "a pacing change of the daily budgets" if p.kind == "pacing" else "a budget move"
        return (
            f"{what} for campaign '{c.name}' ({p.moved_pct}% of the daily budget: {moves}; "
            + "; ".join(p.reasons)
            + ")"
        )

    def _how(self) -> str:
        wid = workflow.info().workflow_id
        return (
            f"Decide with `mops budget approve {wid} --as <you>`"
            + (f" or at {self._inp.gateway_url}/approvals" if self._inp.gateway_url else "")
            + "."
        )

    def _queue(self, channel: ChannelKind) -> str:
        return self._q.meta if channel == ChannelKind.META_ADS else self._q.google_ads

    def _money(self, minor: int) -> str:
        return show(minor, self._v.currency or "EUR", minor=True)

    async def _tell(self, people: list[str], kind: str, text: str) -> None:
        wid = workflow.info().workflow_id
        for person_id in people:
            person = self._inp.directory.get(person_id)
            if person is None:
                continue
            try:
                await call(
                    act.CHAT_NOTIFY,
                    NotifyInput(idempotency_key=f"{wid}:{kind}:{person_id}", text=text, user_email=person.email),
                    queue=self._q.chat,
                    summary=f"tell {person_id}: {kind}",
                )
            except ActivityError as err:
                if not is_type(err, ErrorType.PLATFORM_REJECTED):
                    raise
                self._note(f"chat to {person_id} failed ({reason(err)})")

    def _note(self, what: str) -> None:
        v = self._v
        v.timeline = with_note(v.timeline, what)

    async def _set_status(self, status: BudgetStatus) -> None:
        if self._v.status != status:
            self._v.status = status
            self._note(f"status → {status.value}")
        self._publish()

    def _publish(self) -> None:
        v = self._v
        approval = self._gate.state() if self._gate else "none"
        pending = self._gate.pending() if self._gate else []
        updates: Updates = [
            CAMPAIGN_ID.value_set(v.campaign_id),
            BUDGET_STATE.value_set(v.status.value),
            APPROVAL_STATE.value_set(approval),
            PENDING_APPROVERS.value_set(pending),
        ]
        self._attributes.upsert(updates)
        lines = [f"**Campaign:** {v.campaign_id}  ·  **Status:** {v.status.value}"]
        if v.proposal is not None:
            lines.append(f"**Proposal:** {v.proposal.action}, {v.proposal.moved_pct}% moved by {v.proposal.metric}")
        if pending:
            lines.append(f"**Waiting for:** {', '.join(pending)}")
        if v.outcome:
            lines.append(f"**Outcome:** {v.outcome}")
        workflow.set_current_details("\n\n".join(lines))
