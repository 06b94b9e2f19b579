"""Pacing under the time-skipping server: a 30-day campaign whose spend runs hot has its
daily budgets lowered through a BudgetReallocation run that waits for one approval, and
lands on its total; one that keeps overspending is stopped before the total is overrun
by more than one day's spend."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.approvals import Decision
from domain.campaigns import ChannelKind
from domain.decision_proofs import ProofProblem
from tests.conftest import eventually
from tests.decisions import SIGNER, proven
from tests.workflows.campaign_fakes import FakeCampaignPlatforms
from tests.workflows.test_campaign_timers import launch, new_queues, running
from workflows.budget import BudgetReallocationWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.campaign_models import BudgetStatus, CampaignStatus, PartState

PAID = (ChannelKind.META_ADS, ChannelKind.GOOGLE_ADS)
DIRECTOR = {
    "name": "director",
    "approvers": ["dana"],
    "remind_after": "4h",
    "escalate_after": "1d",
    "expire_after": "2d",
}


def spent_minor(view) -> int:
    return sum(int(Decimal(r.spend) * 100) for r in view.report if r.channel in PAID)


async def test_hot_spend_is_paced_down_with_one_approval_and_lands_on_the_total(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeCampaignPlatforms(), new_queues()
    for ch in fake.paid.values():
        ch.spend_factor = Decimal(4)  # the first day spends four times its budget
    now = (await time_env.get_current_time()).replace(microsecond=0)  # the server's clock skips
    async with running(time_env, fake, q):
        handle = await launch(
            time_env,
            q,
            start=None,
            end=(now + timedelta(days=30)).isoformat(),
            history=400,
            pacing={"curve": "even", "max_step_pct": 20, "tolerance_pct": 5},
            reallocation={"approval": [DIRECTOR]},
            guardrails={},  # the hot day's CPA would pause Meta: this test is about pacing alone
        )

        async def awaiting_approval():
            v = await handle.query(CampaignWorkflow.state)
            run = v.pacing_run and time_env.client.get_workflow_handle_for(BudgetReallocationWorkflow.run, v.pacing_run)
            b = run and await run.query(BudgetReallocationWorkflow.state)
            return b and b.status == BudgetStatus.AWAITING_APPROVAL and (v, run, b)

        # Time stands still while the test does not wait for a result: the first tick's change waits.
        view, run, budget = await eventually(awaiting_approval, what="the pacing change to wait for approval")
        first = view.pacing_steps[0].decision
        current = sum(first.current.values())
        assert first.day_number == 1 and first.action == "approval" and first.spent_minor == 4 * current
        assert (
            first.planned_minor == 300_000 // first.days
            and first.variance_minor == first.spent_minor - first.planned_minor
        )
        assert first.target_daily_minor == (300_000 - first.spent_minor) // (first.days - 1)
        assert sum(first.proposed.values()) == first.target_daily_minor < current  # within the 20% step
        assert first.change_pct > 5 and "needs approval" in first.reason
        assert budget.proposal.kind == "pacing" and budget.proposal.proposed == first.proposed
        assert budget.pending_approvers == ["dana"]
        assert fake.of("meta.set_budget") == []  # nothing changes before the decision

        for ch in fake.paid.values():
            ch.spend_factor = Decimal(1)  # from the second day on, spend follows the budget
        # A proof for another workflow (this campaign's) does not decide this run's change.
        elsewhere = SIGNER.sign(
            Decision(approver="dana", kind="approve", revision=1),
            workflow_id=handle.id,
            now=await time_env.get_current_time(),
        )
        with pytest.raises(WorkflowUpdateFailedError):
            await run.execute_update(BudgetReallocationWorkflow.decide, elsewhere)
        refused = (await run.query(BudgetReallocationWorkflow.state)).approval.refused
        assert [r.problem for r in refused] == [ProofProblem.OTHER_WORKFLOW]
        await run.execute_update(
            BudgetReallocationWorkflow.decide,
            await proven(time_env, run, Decision(approver="dana", kind="approve", revision=1)),
        )
        view = await handle.result()

    assert view.status == CampaignStatus.COMPLETED and "ended at its end date" in view.outcome
    # The one change, approved by dana, set on both platforms and told to the campaign.
    assert [c.decided_by for c in view.budget_changes] == [["dana"]]
    assert view.budget_changes[0].after == first.proposed
    assert fake.paid["meta"].budget_minor == first.proposed[ChannelKind.META_ADS]
    assert fake.paid["google_ads"].budget_minor == first.proposed[ChannelKind.GOOGLE_ADS]
    # One decision a day (a tick a day for 30 days; the end's last check does not pace), every
    # later one within tolerance: no second change.
    assert [s.decision.day_number for s in view.pacing_steps] == list(range(1, 31))
    assert [s.decision.action for s in view.pacing_steps[1:]] == ["none"] * 29
    assert [s.budget_run for s in view.pacing_steps if s.budget_run] == [run.id]
    assert view.pacing_steps[0].outcome.startswith("applied")
    # Spent: the hot first day, then the lowered budgets every day after it.
    spent = spent_minor(view)
    assert spent == first.spent_minor + (first.days - 1) * sum(first.proposed.values())
    assert 300_000 - first.day_allowance_minor <= spent <= 300_000 + first.day_allowance_minor


async def test_overspend_stops_the_campaign_before_the_total_is_overrun(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeCampaignPlatforms(), new_queues()
    for ch in fake.paid.values():
        ch.spend_factor = Decimal(2)  # every day spends twice its budget; nothing paces it
    now = (await time_env.get_current_time()).replace(microsecond=0)
    async with running(time_env, fake, q):
        handle = await launch(
            time_env, q, start=None, end=(now + timedelta(days=30)).isoformat(), history=400, guardrails={}
        )
        view = await handle.result()

    assert view.status == CampaignStatus.COMPLETED and view.outcome.startswith("stopped by pacing")
    stop = view.pacing_steps[-1].decision
    assert stop.action == "stop" and "over the total by more than one day's spend" in stop.reason
    assert stop.day_number < stop.days  # stopped early
    daily = sum(stop.current.values())
    # Day n spent 2 x budget: the day before the stop one more day still fitted, the stop day's did not.
    assert stop.spent_minor == 2 * daily * stop.day_number
    assert stop.spent_minor + 2 * daily > 300_000 + stop.day_allowance_minor >= stop.spent_minor
    assert all(s.decision.action == "none" for s in view.pacing_steps[:-1])
    # Paused everywhere, then ended; nothing spent after the stop.
    assert fake.paid["meta"].status == fake.paid["google_ads"].status == "paused"
    assert all(p.state == PartState.PAUSED for p in view.parts if p.channel in PAID)
    assert spent_minor(view) == stop.spent_minor <= 300_000 + stop.day_allowance_minor
    told = [c.arg.text for c in fake.of("chat.notify") if ":pacing-stop-" in c.arg.idempotency_key]
    assert len(told) == 1 and "is stopped" in told[0]
