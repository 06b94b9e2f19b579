"""Won deals sent from the analytics collection, under the time-skipping server with
stand-in activities registered under the real names: each due deal goes to each of its
platforms with the id `deal_won_key` and the plan's value; a refusal is recorded (it
would be refused again), an upload that keeps failing is not (the next collection sends
it with the same id), and a collection without deal_won in its plan asks for nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import contracts as act
from activities.contracts import ErrorType
from activities.conversion_models import (
    ConversionResult,
    DealConversionInput,
    DealsToConvertInput,
    DealsToConvertResult,
    DealWon,
    RecordDealConversionsInput,
    RecordDealConversionsResult,
)
from domain.conversions import ConversionOutcome, ConversionPlan, Platform, deal_won_key
from mops.queues import AnalyticsQueues
from tests.workflows.test_analytics_workflows import FakeAnalytics
from workflows.analytics import AnalyticsCollectionWorkflow
from workflows.analytics_models import CollectionInput, CollectionView
from workflows.deal_conversions import DEAL_WON_PATCH

LEAD = "lead-" + "c" * 24
ACTION = "customers/1234567890/conversionActions/777"
CLOSED = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


@dataclass
class FakeDeals:
    """Two won deals due on both platforms; Google is down for d1, Meta refuses d2."""

    uploads: list[tuple[str, DealConversionInput, int]] = field(default_factory=list)
    due_asked: list[DealsToConvertInput] = field(default_factory=list)
    recorded: list[RecordDealConversionsInput] = field(default_factory=list)

    @activity.defn(name=act.ANALYTICS_DEALS_TO_CONVERT.name)
    async def deals_to_convert(self, inp: DealsToConvertInput) -> DealsToConvertResult:
        self.due_asked.append(inp)
        return DealsToConvertResult(
            deals=[
                DealWon(
                    deal_id=d,
                    lead_workflow_id=LEAD,
                    amount=Decimal("980.50"),
                    currency="USD",
                    closed_at=CLOSED,
                    platforms=inp.platforms,
                )
                for d in ("d1", "d2")
            ]
        )

    @activity.defn(name=act.CONVERSIONS_DEAL_WON_META.name)
    async def meta(self, inp: DealConversionInput) -> ConversionResult:
        self.uploads.append(("meta", inp, activity.info().attempt))
        if inp.deal_id == "d2":
            raise ApplicationError(
                "meta 400: event too old", "invalid_parameter", type=ErrorType.PLATFORM_REJECTED, non_retryable=True
            )
        return ConversionResult(outcome=ConversionOutcome.SENT)

    @activity.defn(name=act.CONVERSIONS_DEAL_WON_GOOGLE_ADS.name)
    async def google_ads(self, inp: DealConversionInput) -> ConversionResult:
        self.uploads.append(("google_ads", inp, activity.info().attempt))
        if inp.deal_id == "d1":
            raise ApplicationError("google_ads 503: down", type=ErrorType.PLATFORM_UNAVAILABLE)
        return ConversionResult(outcome=ConversionOutcome.NOT_SENT, detail="no Google click id")

    @activity.defn(name=act.ANALYTICS_RECORD_DEAL_CONVERSIONS.name)
    async def record(self, inp: RecordDealConversionsInput) -> RecordDealConversionsResult:
        self.recorded.append(inp)
        return RecordDealConversionsResult(recorded=len(inp.entries))


def queues() -> AnalyticsQueues:
    s = uuid.uuid4().hex[:6]
    return AnalyticsQueues(
        workflows=f"wf-{s}",
        reports=f"rep-{s}",
        email=f"em-{s}",
        chat=f"chat-{s}",
        meta=f"meta-{s}",
        google_ads=f"g-{s}",
    )


@asynccontextmanager
async def running(env: WorkflowEnvironment, deals: FakeDeals, q: AnalyticsQueues) -> AsyncIterator[None]:
    fake = FakeAnalytics()
    workers = [
        Worker(env.client, task_queue=q.workflows, workflows=[AnalyticsCollectionWorkflow]),
        Worker(
            env.client,
            task_queue=q.reports,
            activities=[fake.collect, fake.collect_journeys, deals.deals_to_convert, deals.record],
        ),
        Worker(env.client, task_queue=q.meta, activities=[deals.meta]),
        Worker(env.client, task_queue=q.google_ads, activities=[deals.google_ads]),
    ]
    async with AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        yield


async def collect(
    env: WorkflowEnvironment, q: AnalyticsQueues, plan: ConversionPlan | None
) -> tuple[str, CollectionView]:
    inp = CollectionInput(
        since=date(2026, 3, 2), until=date(2026, 3, 8), queues=q, sources=["hubspot"], conversions=plan
    )
    wf_id = f"analytics-collect-{uuid.uuid4().hex[:6]}"
    handle = await env.client.start_workflow(AnalyticsCollectionWorkflow.run, inp, id=wf_id, task_queue=q.workflows)
    return wf_id, await handle.result()


async def test_refusals_are_recorded_and_failures_left_for_the_next_collection(time_env: WorkflowEnvironment) -> None:
    deals, q = FakeDeals(), queues()
    plan = ConversionPlan(
        on=["deal_won"],
        meta_pixel_id="123456",
        google_customer_id="1234567890",
        google_conversion_action=ACTION,
        value="120",
        currency="EUR",
    )
    async with running(time_env, deals, q):
        _, view = await collect(time_env, q, plan)

    assert [a.platforms for a in deals.due_asked] == [[Platform.META, Platform.GOOGLE_ADS]]
    # The plan's fixed value wins over the deal's amount; ids and times are the deal's.
    sent = {(p, i.deal_id) for p, i, _ in deals.uploads}
    assert sent == {("meta", "d1"), ("meta", "d2"), ("google_ads", "d1"), ("google_ads", "d2")}
    for _, inp, _ in deals.uploads:
        assert inp.event_id == deal_won_key("c" * 24, inp.deal_id) and inp.at == CLOSED
        assert (inp.value, inp.currency) == (Decimal("120"), "EUR")
    assert max(n for p, i, n in deals.uploads if (p, i.deal_id) == ("google_ads", "d1")) == 5, "bounded retries"

    recorded = {(e.deal_id, e.platform, e.outcome, e.detail) for r in deals.recorded for e in r.entries}
    assert recorded == {
        ("d1", Platform.META, ConversionOutcome.SENT, None),
        ("d2", Platform.META, ConversionOutcome.REJECTED, "invalid_parameter"),
        ("d2", Platform.GOOGLE_ADS, ConversionOutcome.NOT_SENT, "no Google click id"),
    }, "d1 to Google failed: not recorded, so the next collection sends it"
    assert {(c.deal_id, c.platform) for c in view.deal_conversions} == {(d, p) for d, p, _, _ in recorded}
    assert any("deal d1 won → google_ads: not sent this time" in what for _, what in view.timeline)


async def test_a_collection_without_deal_won_asks_for_nothing(time_env: WorkflowEnvironment) -> None:
    deals, q = FakeDeals(), queues()
    async with running(time_env, deals, q):
        wf_id, view = await collect(time_env, q, ConversionPlan(on=["mql"], meta_pixel_id="123456"))
        history = await time_env.client.get_workflow_handle(wf_id).fetch_history()
    assert deals.due_asked == [] and deals.uploads == [] and view.deal_conversions == []
    markers = [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
    assert not markers, f"no {DEAL_WON_PATCH} marker in a collection that sends no deals"
