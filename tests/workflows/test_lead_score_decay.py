"""A lead's score is the score now: decay is applied at every decision, and what is published
(the LeadScore search attribute, the CRM's mops_score) follows the score band by band, on
the one timer of the wait the journey is in. Under the time-skipping server, with the
platform activities as recording fakes (tests/workflows/fakes.py)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import yaml
from temporalio import activity
from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities import contracts as act
from activities.contracts import ErrorType
from activities.models import AssignOwnerInput, AssignOwnerResult
from domain.leads import EventType, Firmographics, LeadStage
from domain.scoring import band, next_crossing
from tests.conftest import eventually, signal_taken
from tests.workflows.fakes import FakePlatforms
from tests.workflows.test_lead_journey_timers import HOT, JOURNEYS, event, new_queues, running, start_lead
from workflows.lead_journey import CURRENT_SCORE_PATCH, LeadJourneyWorkflow
from workflows.lead_models import SalesDecision, SalesDecisionKind
from workflows.search_attributes import LEAD_SCORE

MID_MARKET = Firmographics(company="Mid Co", industry="retail", employees=200)  # fit 15

# Waits ten days, then branches on the score it has then.
JOURNEY = """
id: {id}
version: 1
name: Score decay test
from_email: marketing@mops.example
unsubscribe_group_id: 1
scoring: {scoring}
handoff: {{sla: 1d}}
steps:
  - {{id: hello, type: send_email, template: hello, subject: Hello}}
  - {{id: pause, type: wait, duration: {pause}}}
  - id: by-score
    type: branch
    cases:
      - {{when: [{{field: score, op: gte, value: {warm}}}], goto: warm}}
    default: cooled
  - {{id: warm, type: goal, outcome: warm}}
  - {{id: cooled, type: goal, outcome: cooled}}
"""


def journeys(
    tmp_path: Path, *, half_life_days: float = 14, pause: str = "14d", warm: int = 30, mql_threshold: float = 60
) -> Path:
    shutil.copytree(JOURNEYS / "scoring", tmp_path / "scoring")
    scoring = yaml.safe_load((JOURNEYS / "scoring" / "default.yaml").read_text())
    scoring |= {"half_life_days": half_life_days, "mql_threshold": mql_threshold}
    (tmp_path / "scoring" / "fast.yaml").write_text(yaml.safe_dump(scoring))
    (tmp_path / "decay-test.yaml").write_text(JOURNEY.format(id="decay-test", scoring="fast", pause=pause, warm=warm))
    return tmp_path


@dataclass
class NoOwnerPlatforms(FakePlatforms):
    """Every sales owner is away: an MQL waits for one, hour after hour."""

    @activity.defn(name=act.ROUTING_ASSIGN_OWNER.name)
    async def assign_owner(self, inp: AssignOwnerInput) -> AssignOwnerResult:
        self._record(act.ROUTING_ASSIGN_OWNER.name, inp)
        raise ApplicationError("nobody", type=ErrorType.NO_OWNER_AVAILABLE, non_retryable=True)


async def in_step(handle: WorkflowHandle, step: str) -> None:
    async def there():
        st = await handle.query(LeadJourneyWorkflow.state)
        return st.next_step == step and st.next_step_at is not None

    await eventually(there, what=f"the lead in step {step}")


async def lead_score(handle: WorkflowHandle) -> int | None:
    return (await handle.describe()).typed_search_attributes.get(LEAD_SCORE)


def crm_scores(fake: FakePlatforms) -> list[tuple[str, dict[str, str]]]:
    return [
        (c.arg.properties["mops_score"], c.arg.properties)  # type: ignore[attr-defined]
        for c in fake.of("crm.update_contact")
        if "mops_score" in c.arg.properties  # type: ignore[attr-defined]
    ]


async def test_an_mql_that_decays_before_the_hand_off_goes_back_to_nurture(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # Fit 50 (enterprise, software, director) + a form (15) = 65: an MQL. With a one-day
    # half-life it is under 60 once the form is worth less than 9.995: log2(15 / 9.995) days.
    fake, queues = NoOwnerPlatforms(firmographics=HOT), new_queues()
    async with running(time_env, fake, queues, journeys(tmp_path, half_life_days=1, pause="10d", warm=55)):
        handle = await start_lead(time_env, queues, journey="decay-test")
        await in_step(handle, "pause")
        form = await event(time_env, EventType.FORM)
        await signal_taken(handle, LeadJourneyWorkflow.event, form)

        async def mql():
            st = await handle.query(LeadJourneyWorkflow.state)
            return st.stage == LeadStage.MQL and st.score is not None and st.score.total == 65 and st

        await eventually(mql, what="the MQL waiting for an owner")
        due = next_crossing(
            fit=50, engagement=15, now=form.at, half_life_days=1, band_width=10, cap=80, thresholds=[60]
        )
        assert due is not None and timedelta(hours=14) < due - form.at < timedelta(hours=14, minutes=10)
        await time_env.sleep(timedelta(hours=20))

        async def back_in_nurture():
            st = await handle.query(LeadJourneyWorkflow.state)
            return st.stage == LeadStage.NURTURING and st

        state = await eventually(back_in_nurture, what="the lead back in nurture")
        [lost] = [t for t in state.timeline if "under the MQL threshold" in t.what]
        assert abs(lost.at - due) <= timedelta(seconds=1), (lost.at, due)
        assert "score decayed to 60" in lost.what  # 59.99, shown rounded
        assert state.score is not None and (state.score.total, state.score.mql) == (59.99, False)
        assert state.next_step == "pause", "the nurture step it left resumes"
        # The search attribute follows, rounded down: `LeadScore >= 60` is the MQL test.
        assert await lead_score(handle) == 59
        # The CRM heard the score with each stage: 65 as an MQL, 59 back as a lead.
        stages = [(score, p.get("lifecyclestage")) for score, p in crm_scores(fake) if "lifecyclestage" in p]
        assert stages == [("65", "marketingqualifiedlead"), ("59", "lead")]
        assert not fake.of("crm.upsert_handoff"), "never handed to sales"

        # Ten days on, the branch reads the score then (50.00), not the 65 it had.
        result = await handle.result()
    assert (result.stage, result.outcome) == (LeadStage.COMPLETED, "cooled")
    assert result.score is not None and result.score < 51


async def test_a_recycled_lead_whose_bounce_fades_becomes_an_mql_on_time(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Reached by decay: fit 50 is the MQL threshold of this model; after sales recycles the
    lead, a bounce (−5) holds it at 45 until the bounce has faded to nothing (reported 50.00
    once it is above −0.005: log2(5 / 0.005) = 9.97 half-lives of one day)."""
    fake, queues = FakePlatforms(firmographics=HOT), new_queues()
    paths = journeys(tmp_path, half_life_days=1, pause="20d", warm=55, mql_threshold=50)
    async with running(time_env, fake, queues, paths):
        handle = await start_lead(time_env, queues, journey="decay-test")

        async def assigned():
            st = await handle.query(LeadJourneyWorkflow.state)
            return st.stage == LeadStage.SALES_ASSIGNED and st.owner_id == "101"

        await eventually(assigned, what="the hand-off to sales")
        rejected = SalesDecision(decision=SalesDecisionKind.REJECTED, owner_id="101", reason="not now")
        await signal_taken(handle, LeadJourneyWorkflow.sales_decision, rejected)

        async def recycled_and_paused():
            st = await handle.query(LeadJourneyWorkflow.state)
            return st.cycle == 1 and st.stage == LeadStage.NURTURING and st.next_step == "pause"

        await eventually(recycled_and_paused, what="the recycled lead in its pause")
        bounce = await event(time_env, EventType.BOUNCE)
        await signal_taken(handle, LeadJourneyWorkflow.event, bounce)
        state = await handle.query(LeadJourneyWorkflow.state)
        assert state.score is not None and (state.score.total, state.score.mql) == (45, False)
        due = next_crossing(
            fit=50, engagement=-5, now=bounce.at, half_life_days=1, band_width=10, cap=80, thresholds=[45, 50]
        )
        assert due is not None and timedelta(days=9.9) < due - bounce.at < timedelta(days=10)
        # To an hour after the crossing: well inside the new owner's one-day SLA.
        await time_env.sleep(due - await time_env.get_current_time() + timedelta(hours=1))

        async def handed_off_again():
            return len(fake.of("crm.upsert_handoff")) == 2

        await eventually(handed_off_again, what="the second hand-off")
        state = await handle.query(LeadJourneyWorkflow.state)
        [mql_again] = [t for t in state.timeline if t.what == "stage → mql" and t.at > bounce.at]
        assert abs(mql_again.at - due) <= timedelta(seconds=1), (mql_again.at, due)
        assert state.stage == LeadStage.SALES_ASSIGNED and state.cycle == 1
        assert await lead_score(handle) == 50


async def test_a_branch_days_later_reads_the_decayed_score(time_env: WorkflowEnvironment, tmp_path: Path) -> None:
    # Fit 15 + a reply (20) = 35; after the 14-day wait (one half-life) it is about 25.
    fake, queues = FakePlatforms(firmographics=MID_MARKET), new_queues()
    async with running(time_env, fake, queues, journeys(tmp_path)):
        handle = await start_lead(time_env, queues, journey="decay-test")
        await in_step(handle, "pause")
        reply = await event(time_env, EventType.REPLY)
        await signal_taken(handle, LeadJourneyWorkflow.event, reply)

        async def written():
            return [s for s, _ in crm_scores(fake)] == ["35"]

        await eventually(written, what="the score's first write to the CRM")
        result = await handle.result()
        published = await lead_score(handle)

    assert (result.stage, result.outcome) == (LeadStage.COMPLETED, "cooled"), "the score without decay (35) is warm"
    assert result.score is not None and 25 <= result.score < 25.1
    assert published == 25
    # One CRM write per band: 35 at the reply, 29 when it fell under 30 (14 · log2(20 / 14.995)
    # days later, to the second); the rest of the way down stays in band 2 (20-29).
    writes = [c for c in fake.of("crm.update_contact") if "mops_score" in c.arg.properties]  # type: ignore[attr-defined]
    assert [c.arg.properties for c in writes] == [{"mops_score": "35"}, {"mops_score": "29"}]  # type: ignore[attr-defined]
    due = next_crossing(fit=15, engagement=20, now=reply.at, half_life_days=14, band_width=10, cap=80)
    assert due is not None and abs(writes[1].at - due) <= timedelta(seconds=1), (writes[1].at, due)
    assert band(29, 10) == band(result.score, 10)


async def test_a_lead_without_engagement_has_no_score_timer(time_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """Nothing to decay: the journey's own timer only, no patch marker, no CRM write."""
    fake, queues = FakePlatforms(firmographics=MID_MARKET), new_queues()
    async with running(time_env, fake, queues, journeys(tmp_path)):
        handle = await start_lead(time_env, queues, journey="decay-test")
        result = await handle.result()
        events = [e async for e in handle.fetch_history_events()]

    assert (result.outcome, result.score) == ("cooled", 15)
    timers = [e for e in events if e.event_type == HistoryEventType.EVENT_TYPE_TIMER_STARTED]
    assert len(timers) == 1, "the pause, and no timer for a score that does not move"
    markers = [e for e in events if e.event_type == HistoryEventType.EVENT_TYPE_MARKER_RECORDED]
    assert not [m for m in markers if CURRENT_SCORE_PATCH in str(m.marker_recorded_event_attributes)]
    assert not fake.of("crm.update_contact")
