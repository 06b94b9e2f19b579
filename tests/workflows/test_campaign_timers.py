"""Campaign workflow under the time-skipping server: a 30-day campaign with daily
monitoring and end-date shutdown, continue-as-new, a guardrail pause with one alert,
launch approval with a start date, expiry, and a stop before the start."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.approvals import Decision
from domain.campaigns import ChannelKind, build_campaign
from domain.content import Directory, Person
from domain.decision_proofs import ProofProblem
from domain.money import from_minor
from domain.refusals import Refusal
from mops.queues import PlatformQueues
from starter.service.updates import refused as refused_by
from tests.ad_fixtures import ASSETS, META_AD
from tests.conftest import eventually
from tests.decisions import KEYS, proven
from tests.google_search import SEARCH_SECTION
from tests.workflows.campaign_fakes import FakeCampaignPlatforms
from workflows.campaign import CampaignWorkflow
from workflows.campaign_models import CampaignInput, CampaignStatus, PartState, StopRequest

DIRECTORY = Directory(
    people=[
        Person(id="maya", name="Maya", email="maya@mops.example", roles=["author"]),
        Person(id="dana", name="Dana", email="dana@mops.example", roles=["director"], backup="omar"),
        Person(id="omar", name="Omar", email="omar@mops.example", roles=["brand"]),
    ]
)


def new_queues() -> PlatformQueues:
    s = uuid.uuid4().hex[:6]
    return PlatformQueues(
        workflows=f"wf-{s}",
        cms=f"cms-{s}",
        social=f"so-{s}",
        email=f"em-{s}",
        chat=f"chat-{s}",
        meta=f"meta-{s}",
        google_ads=f"ga-{s}",
        analytics=f"an-{s}",
    )


def spec_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": f"spring-{uuid.uuid4().hex[:6]}",
        "name": "Spring launch",
        "objective": "leads",
        "owner": "maya",
        "end": "2030-01-31T00:00:00Z",
        "start": "2030-01-01T00:00:00Z",
        "timezone": "UTC",
        "currency": "EUR",
        "total_budget": "3000.00",
        "audience": "smb-eu",
        "landing_url": "https://site.example/spring",
        "monitor_every": "1d",
        "channels": [
            {"kind": "landing_page", "title": "Spring", "body": "Spring is here."},
            {"kind": "meta_ads", "share": 60, "countries": ["DE"], "ad": META_AD},
            {"kind": "google_ads", "share": 40, "search": SEARCH_SECTION},
            {"kind": "linkedin", "text": "Spring is here."},
            {
                "kind": "email",
                "subject": "Spring",
                "body": "Spring is here.",
                "list_ids": ["l1"],
                "template": "campaign-email",
            },
        ],
        "guardrails": {"max_cpa": "40"},
    }
    data.update(overrides)
    return data


@asynccontextmanager
async def running(env: WorkflowEnvironment, fake: FakeCampaignPlatforms, q: PlatformQueues) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for w in fake.workers(env.client, q):
            await stack.enter_async_context(w)
        yield


async def launch(env: WorkflowEnvironment, q: PlatformQueues, *, history: int = 10_000, **overrides) -> WorkflowHandle:
    spec = build_campaign(spec_data(**overrides), directory=DIRECTORY, assets=ASSETS)
    inp = CampaignInput(
        spec=spec, directory=DIRECTORY, queues=q, continue_as_new_after_events=history, decision_keys=KEYS
    )
    return await env.client.start_workflow(CampaignWorkflow.run, inp, id=f"campaign-{spec.id}", task_queue=q.workflows)


async def test_thirty_days_monitored_daily_then_shut_down_at_the_end_date(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeCampaignPlatforms(), new_queues()
    now = (await time_env.get_current_time()).replace(microsecond=0)  # the server's clock skips
    async with running(time_env, fake, q):
        handle = await launch(time_env, q, start=None, end=(now + timedelta(days=30)).isoformat(), history=400)
        view = await handle.result()

    assert view.status == CampaignStatus.COMPLETED and "ended at its end date" in view.outcome
    parts = {p.channel: p for p in view.parts}
    assert parts[ChannelKind.META_ADS].state == parts[ChannelKind.GOOGLE_ADS].state == PartState.PAUSED
    assert fake.paid["meta"].status == fake.paid["google_ads"].status == "paused"
    assert parts[ChannelKind.EMAIL].state == PartState.SENT and parts[ChannelKind.LINKEDIN].state == PartState.LIVE
    # Created paused, activated once, paused once at the end.
    assert [c.arg.active for c in fake.of("meta.set_status")] == [True, False]
    # One monitoring tick a day (plus the final one), each for both paid channels.
    ticks = fake.of("meta.figures")
    assert 30 <= len(ticks) <= 32, len(ticks)
    assert len(fake.of("google_ads.figures")) == len(ticks)
    gaps = [(b.at - a.at) for a, b in zip(ticks, ticks[1:], strict=False)]
    assert all(timedelta(hours=23) <= g <= timedelta(days=1, minutes=5) for g in gaps[:-1]), gaps
    # The final report covers all 30 days per paid channel; spend follows the budgets.
    report = {r.channel: r for r in view.report}
    daily = (from_minor(parts[ChannelKind.META_ADS].daily_budget_minor, "EUR") * Decimal("0.9")).quantize(
        Decimal("0.01")
    )
    days = view.figures[ChannelKind.META_ADS]
    assert len(days) in (30, 31), len(days)  # [launch, launch + 30 days) touches 31 calendar days unless at 00:00
    assert Decimal(report[ChannelKind.META_ADS].spend) == len(days) * daily
    assert view.pacing is not None and view.pacing.status in ("under", "on_track")
    # The landing page's traffic comes from GA4 for the same days.
    page = fake.of("analytics.page_metrics")[-1].arg
    assert page.page_path == "/spring/" and (page.end_date - page.start_date).days + 1 == len(days)
    assert view.landing is not None and view.landing.views == 300.0 * len(days)
    # The history stayed short: the campaign continued as new along the way.
    assert (await handle.describe()).run_id != handle.first_execution_run_id
    report_chats = [c for c in fake.of("chat.notify") if c.arg.idempotency_key.endswith(":report:maya")]
    assert len(report_chats) == 1 and "ended at its end date" in report_chats[0].arg.text


async def test_a_channel_over_max_cpa_is_paused_with_one_alert(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeCampaignPlatforms(), new_queues()
    fake.paid["meta"].conversions_per_day = 0.5  # CPA ~ 54 EUR/conv against a 40 EUR max
    now = (await time_env.get_current_time()).replace(microsecond=0)  # the server's clock skips
    async with running(time_env, fake, q):
        handle = await launch(time_env, q, start=None, end=(now + timedelta(days=10)).isoformat())
        view = await handle.result()

    parts = {p.channel: p for p in view.parts}
    meta = parts[ChannelKind.META_ADS]
    assert meta.state == PartState.PAUSED and meta.note.startswith("paused by guardrail")
    assert parts[ChannelKind.GOOGLE_ADS].state == PartState.PAUSED  # paused at the end only
    alerts = [c for c in fake.of("chat.notify") if ":alert-meta_ads:cpa_over_max" in c.arg.idempotency_key]
    assert len(alerts) == 1, [c.arg.idempotency_key for c in fake.of("chat.notify")]
    # Paused by the guardrail once, and not "paused again" at the end.
    assert [c.arg.active for c in fake.of("meta.set_status")] == [True, False]
    assert [c.arg.active for c in fake.of("google_ads.set_status")] == [True, False]


async def test_launch_waits_for_approval_then_for_the_start_date(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeCampaignPlatforms(), new_queues()
    now = (await time_env.get_current_time()).replace(microsecond=0)  # the server's clock skips
    start, end = now + timedelta(days=5), now + timedelta(days=12)
    stage = {
        "name": "director",
        "approvers": ["dana"],
        "mode": "all",
        "remind_after": "1d",
        "escalate_after": "2d",
        "expire_after": "4d",
    }
    async with running(time_env, fake, q):
        handle = await launch(time_env, q, start=start.isoformat(), end=end.isoformat(), approval=[stage])

        async def awaiting():
            v = await handle.query(CampaignWorkflow.state)
            return v.status == CampaignStatus.AWAITING_APPROVAL and v.pending_approvers == ["dana"] and v

        await eventually(awaiting, what="approval to start")
        assert fake.of("meta.create") == [], "nothing is created before approval"
        refused = []
        for d in (
            Decision(approver="maya", kind="approve", revision=1),
            Decision(approver="omar", kind="approve", revision=1),
        ):
            try:
                await handle.execute_update(CampaignWorkflow.decide, await proven(time_env, handle, d))
            except Exception as err:  # noqa: BLE001 - the validator's refusal
                refused.append(str(err.cause) if hasattr(err, "cause") else str(err))
        assert len(refused) == 2 and "requesters cannot approve" in refused[0] and "not an approver" in refused[1]
        # Dana's name without her proof (a raw update): refused by the handler, recorded, not applied.
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(CampaignWorkflow.decide, Decision(approver="dana", kind="approve", revision=1))
        assert refused_by(err.value).code == Refusal.DECISION_NOT_PROVEN
        v = await handle.query(CampaignWorkflow.state)
        assert [(r.approver, r.problem) for r in v.approval.refused] == [("dana", ProofProblem.MISSING)]
        assert v.approval.decisions == [] and v.pending_approvers == ["dana"]
        await handle.execute_update(
            CampaignWorkflow.decide,
            await proven(time_env, handle, Decision(approver="dana", kind="approve", revision=1)),
        )

        async def scheduled():
            v = await handle.query(CampaignWorkflow.state)
            return v.status == CampaignStatus.SCHEDULED and v

        await eventually(scheduled, what="created and waiting for the start date")
        assert fake.paid["meta"].status == "paused" and fake.of("social.post") == []
        view = await handle.result()

    activated = fake.of("meta.set_status")[0]
    assert activated.arg.active and activated.at >= start
    assert view.status == CampaignStatus.COMPLETED
    assert [d.approver for d in view.approval.decisions] == ["dana"]
    assert len(view.approval.refused) == 1, "the refusal stays on record"


async def test_unanswered_launch_approval_reminds_escalates_and_expires(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeCampaignPlatforms(), new_queues()
    now = (await time_env.get_current_time()).replace(microsecond=0)  # the server's clock skips
    stage = {
        "name": "director",
        "approvers": ["dana"],
        "mode": "all",
        "remind_after": "1d",
        "escalate_after": "2d",
        "expire_after": "4d",
    }
    async with running(time_env, fake, q):
        handle = await launch(time_env, q, start=None, end=(now + timedelta(days=20)).isoformat(), approval=[stage])
        view = await handle.result()

    assert view.status == CampaignStatus.EXPIRED and "expired in director" in view.outcome
    kinds = [c.arg.idempotency_key.split(":")[-2] for c in fake.of("chat.notify")]
    assert kinds == ["review-director", "remind-director", "escalate-director", "approval"], kinds
    assert fake.of("meta.create") == [] and fake.of("cms.create_draft") == []


async def test_stop_before_the_start_rolls_everything_back(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeCampaignPlatforms(), new_queues()
    now = (await time_env.get_current_time()).replace(microsecond=0)  # the server's clock skips
    async with running(time_env, fake, q):
        handle = await launch(
            time_env, q, start=(now + timedelta(days=3)).isoformat(), end=(now + timedelta(days=10)).isoformat()
        )

        async def scheduled():
            v = await handle.query(CampaignWorkflow.state)
            return v.status == CampaignStatus.SCHEDULED and v

        await eventually(scheduled, what="waiting for the start date")
        await handle.execute_update(CampaignWorkflow.stop, StopRequest(requested_by="maya", reason="brief changed"))
        view = await handle.result()

    assert view.status == CampaignStatus.COMPLETED and "stopped before the start" in view.outcome
    assert fake.paid["meta"].status == fake.paid["google_ads"].status == "removed"
    assert len(fake.of("cms.unpublish")) == 1 and fake.of("social.post") == []
    assert all(
        p.state == PartState.ROLLED_BACK
        for p in view.parts
        if p.channel in (ChannelKind.META_ADS, ChannelKind.GOOGLE_ADS, ChannelKind.LANDING_PAGE)
    )


async def test_a_launch_holds_while_a_platform_is_degraded_instead_of_failing(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeCampaignPlatforms(), new_queues()
    fake.degraded_creates = 11  # outlasts the launch's 8 attempts: the workflow waits and tries again
    now = (await time_env.get_current_time()).replace(microsecond=0)
    async with running(time_env, fake, q):
        handle = await launch(time_env, q, start=None, end=(now + timedelta(days=2)).isoformat())
        view = await handle.result()

    assert view.status == CampaignStatus.COMPLETED and "failed" not in (view.outcome or "")
    assert len(fake.of("meta.create")) == 12
    assert any("meta_ads is degraded" in what for _, what in view.timeline)
    assert fake.of("meta.remove") == [], "nothing was rolled back"
