"""Conversions from the lead journey under the time-skipping server: a lead that came
through an ad click reports each configured stage once to each platform it has a click
id for, even when an upload is retried after the platform applied it; a lead without
click ids sends nothing and records nothing more.

The conversion activities are stand-ins that keep uploads by the platforms' own
deduplication rules (Meta: event name + event id; Google: click + action + time) and
lose the answer of each first attempt, as a platform whose response never arrives."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime

from temporalio import activity
from temporalio.api.enums.v1 import EventType as HistoryEvent
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import contracts as act
from activities.contracts import ErrorType
from activities.conversion_models import ConversionResult, GoogleConversionInput, MetaConversionInput
from domain.click_ids import ClickIds
from domain.conversions import ConversionOutcome, ConversionPlan, Platform
from domain.leads import EventType, LeadCapture, LeadStage, lead_key, lead_workflow_id
from mops.queues import PlatformQueues
from tests.conftest import daytime_zone, eventually
from tests.workflows.fakes import FakePlatforms
from tests.workflows.test_lead_journey_timers import HOT, JOURNEYS, event
from workflows.lead_journey import BUNDLE_PATCH, BUNDLED, CONVERSIONS_PATCH, LeadJourneyWorkflow
from workflows.lead_models import LeadJourneyInput, SalesDecision, SalesDecisionKind

PLAN = ConversionPlan(
    on=[LeadStage.MQL, LeadStage.CONVERTED],
    meta_pixel_id="1234567890123456",
    google_customer_id="1234567890",
    google_conversion_action="customers/1234567890/conversionActions/987654321",
)


@dataclass
class FakeAdPlatforms:
    """Uploads kept as the platforms keep them; every first attempt's answer is lost."""

    meta_attempts: list[MetaConversionInput] = field(default_factory=list)
    google_attempts: list[GoogleConversionInput] = field(default_factory=list)
    meta_kept: dict[tuple[str, str], MetaConversionInput] = field(default_factory=dict)
    google_kept: dict[tuple[str, str, datetime], GoogleConversionInput] = field(default_factory=dict)
    meta_down: bool = False  # every Meta attempt fails (a platform down for long)

    @staticmethod
    def _lose_first_answer() -> None:
        if activity.info().attempt == 1:
            raise ApplicationError("503: the answer was lost", type=ErrorType.PLATFORM_UNAVAILABLE)

    @activity.defn(name=act.CONVERSIONS_META.name)
    async def meta(self, inp: MetaConversionInput) -> ConversionResult:
        self.meta_attempts.append(inp)
        if self.meta_down:
            raise ApplicationError("503: Meta is down", type=ErrorType.PLATFORM_UNAVAILABLE)
        self.meta_kept.setdefault((inp.event_name, inp.event_id), inp)  # Meta drops a repeat silently
        self._lose_first_answer()
        return ConversionResult(outcome=ConversionOutcome.SENT)

    @activity.defn(name=act.CONVERSIONS_GOOGLE_ADS.name)
    async def google_ads(self, inp: GoogleConversionInput) -> ConversionResult:
        self.google_attempts.append(inp)
        key = (inp.click_id, inp.conversion_action, inp.at)
        repeat = key in self.google_kept
        self.google_kept.setdefault(key, inp)
        self._lose_first_answer()
        if repeat:  # CLICK_CONVERSION_ALREADY_EXISTS: the activity takes it as done
            return ConversionResult(outcome=ConversionOutcome.DUPLICATE, detail="CLICK_CONVERSION_ALREADY_EXISTS")
        return ConversionResult(outcome=ConversionOutcome.SENT)


def new_queues() -> PlatformQueues:
    s = uuid.uuid4().hex[:6]
    return PlatformQueues(
        workflows=f"wf-{s}", crm=f"crm-{s}", email=f"em-{s}", chat=f"chat-{s}", meta=f"meta-{s}", google_ads=f"g-{s}"
    )


async def start(env: WorkflowEnvironment, queues: PlatformQueues, click_ids: ClickIds | None) -> WorkflowHandle:
    email = f"lead-{uuid.uuid4().hex[:8]}@example.com"
    capture = LeadCapture(
        capture_id=str(uuid.uuid4()),
        email=email,
        source="paid_search",
        consent=True,
        captured_at=await env.get_current_time(),
        timezone=await daytime_zone(env),
        click_ids=click_ids,
    )
    key = lead_key(email, "test-secret")
    return await env.client.start_workflow(
        LeadJourneyWorkflow.run,
        LeadJourneyInput(lead_id=key, capture=capture, queues=queues, conversions=PLAN),
        id=lead_workflow_id(key),
        task_queue=queues.workflows,
    )


async def convert(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    """MQL by a form fill (hot firmographics), then accepted by the owner: converted."""
    await handle.signal(LeadJourneyWorkflow.event, await event(env, EventType.FORM))

    async def assigned():
        st = await handle.query(LeadJourneyWorkflow.state)
        return st.stage == LeadStage.SALES_ASSIGNED and st

    st = await eventually(assigned, what="hand-off to sales")
    decision = SalesDecision(decision=SalesDecisionKind.ACCEPTED, owner_id=st.owner_id)
    await handle.execute_update(LeadJourneyWorkflow.decide_sales, decision)
    assert (await handle.result()).stage == LeadStage.CONVERTED


def has_patch_marker(history, patch_id: str = CONVERSIONS_PATCH) -> bool:
    markers = [
        e.marker_recorded_event_attributes
        for e in history.events
        if e.event_type == HistoryEvent.EVENT_TYPE_MARKER_RECORDED
    ]
    return any(patch_id.encode() in m.SerializeToString() for m in markers)


async def test_each_stage_reaches_each_platform_once_despite_lost_answers(time_env: WorkflowEnvironment) -> None:
    fake, ads, queues = FakePlatforms(firmographics=HOT), FakeAdPlatforms(), new_queues()
    ids = ClickIds(gclid="Cj0KCQiA1234567890abc", fbclid="IwAR2abcdefghijk")
    async with AsyncExitStack() as stack:
        for w in [
            *fake.workers(time_env.client, queues, JOURNEYS),
            Worker(time_env.client, task_queue=queues.meta, activities=[ads.meta]),
            Worker(time_env.client, task_queue=queues.google_ads, activities=[ads.google_ads]),
        ]:
            await stack.enter_async_context(w)
        handle = await start(time_env, queues, ids)
        await convert(time_env, handle)
        state = await handle.query(LeadJourneyWorkflow.state)
        history = await handle.fetch_history()

    # New runs take it from the bundle of patches they record where they first ask one.
    assert CONVERSIONS_PATCH in BUNDLED and has_patch_marker(history, BUNDLE_PATCH)
    assert not has_patch_marker(history), "no marker of its own"

    # Two attempts per upload (the first answer lost), one conversion kept per stage and platform.
    assert len(ads.meta_attempts) == len(ads.google_attempts) == 4
    assert sorted(k[0] for k in ads.meta_kept) == ["converted", "mql"]
    assert len(ads.google_kept) == 2
    for attempts in (
        {i.event_id: [a for a in ads.meta_attempts if a.event_id == i.event_id] for i in ads.meta_attempts},
        {i.order_id: [a for a in ads.google_attempts if a.order_id == i.order_id] for i in ads.google_attempts},
    ):
        assert len(attempts) == 2, "two conversions: mql and converted"
        for same in attempts.values():
            assert len(same) == 2 and same[0] == same[1], "a retry sends the very same conversion"
    mql = next(i for i in ads.meta_kept.values() if i.event_name == "mql")
    assert mql.fbc is not None and mql.fbc.endswith(".IwAR2abcdefghijk"), "fbc derived from the fbclid"
    assert mql.event_id.endswith("-mql-0")
    assert {i.click_field for i in ads.google_kept.values()} == {"gclid"}
    assert {i.order_id for i in ads.google_kept.values()} == {mql.event_id, mql.event_id.replace("mql", "converted")}
    # The lead's state shows each conversion once per platform.
    shown = [(c.platform, c.stage, c.outcome) for c in state.conversions]
    assert shown.count((Platform.META, LeadStage.MQL, ConversionOutcome.SENT)) == 1
    assert shown.count((Platform.GOOGLE_ADS, LeadStage.MQL, ConversionOutcome.DUPLICATE)) == 1
    assert len(shown) == 4
    assert any("conversion mql → meta: sent" in t.what for t in state.timeline)


async def test_a_lead_without_click_ids_sends_nothing_and_records_nothing_more(time_env: WorkflowEnvironment) -> None:
    fake, ads, queues = FakePlatforms(firmographics=HOT), FakeAdPlatforms(), new_queues()
    async with AsyncExitStack() as stack:
        for w in [
            *fake.workers(time_env.client, queues, JOURNEYS),
            Worker(time_env.client, task_queue=queues.meta, activities=[ads.meta]),
            Worker(time_env.client, task_queue=queues.google_ads, activities=[ads.google_ads]),
        ]:
            await stack.enter_async_context(w)
        handle = await start(time_env, queues, None)
        await convert(time_env, handle)
        state = await handle.query(LeadJourneyWorkflow.state)
        history = await handle.fetch_history()

    assert ads.meta_attempts == [] and ads.google_attempts == []
    assert state.conversions == []
    assert not has_patch_marker(history), "no patch marker"


async def test_a_platform_that_is_down_does_not_hold_up_the_hand_off(time_env: WorkflowEnvironment) -> None:
    fake, ads, queues = FakePlatforms(firmographics=HOT), FakeAdPlatforms(meta_down=True), new_queues()
    async with AsyncExitStack() as stack:
        for w in [
            *fake.workers(time_env.client, queues, JOURNEYS),
            Worker(time_env.client, task_queue=queues.meta, activities=[ads.meta]),
            Worker(time_env.client, task_queue=queues.google_ads, activities=[ads.google_ads]),
        ]:
            await stack.enter_async_context(w)
        handle = await start(time_env, queues, ClickIds(gclid="Cj0KCQiA1234567890abc", fbclid="IwAR2abcdefghijk"))
        await handle.signal(LeadJourneyWorkflow.event, await event(time_env, EventType.FORM))

        async def handed_off():
            st = await handle.query(LeadJourneyWorkflow.state)
            return st.stage == LeadStage.SALES_ASSIGNED and st.conversions and ads.meta_attempts and st

        st = await eventually(handed_off, what="the hand-off while Meta is down")
        assert [(c.platform, c.stage) for c in st.conversions] == [(Platform.GOOGLE_ADS, LeadStage.MQL)]
        assert not ads.meta_kept, "Meta has nothing yet; its upload is still being retried"
