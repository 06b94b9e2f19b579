"""Experiment steps under the time-skipping server: a seeded population of leads reaches a
decision for the variant that converts better, later entrants all get the winner, counts stay
exact under retried reports and entries, and operators stop or force a winner through the
updates (an unknown variant refused). Real workflows and the real experiment activities;
platform activities are the stand-ins of tests/workflows/fakes.py."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.experiment_models import (
    EnterExperimentInput,
    ExperimentConversion,
    ExperimentEnter,
    ExperimentRef,
    ReportConversionInput,
)
from domain.experiments import BayesianRule, experiment_workflow_id
from domain.journeys import ExperimentStep, load_journey
from domain.leads import EventType, LeadStage, lead_key
from domain.refusals import Refusal, Refused
from starter.service.experiments import ExperimentInputError, ExperimentNotFound, ExperimentService
from starter.service.updates import refused
from tests.conftest import eventually, make_settings, signal_taken
from tests.workflows.fakes import FakePlatforms
from tests.workflows.test_lead_journey_timers import HOT, JOURNEYS, event, new_queues, running, start_lead
from workers.experiments import ExperimentActivities
from workflows.experiment import JourneyExperimentWorkflow
from workflows.experiment_models import ExperimentStatus
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.lead_models import SalesDecision, SalesDecisionKind

EXPERIMENT = """
id: exp-test
version: 1
name: Experiment
from_email: marketing@mops.example
unsubscribe_group_id: 1
scoring: default
handoff: {sla: 1d}
steps:
  - id: subject-test
    type: experiment
    variants:
      - {id: a, goto: email-a}
      - {id: b, goto: email-b}
    metric: {event: click, within: 2d}
    decide: {rule: bayesian, probability: 0.95, sample: 40}
  - {id: email-a, type: send_email, template: t-a, subject: Variant A, next: pause}
  - {id: email-b, type: send_email, template: t-b, subject: Variant B, next: pause}
  - {id: pause, type: wait, duration: 5d}
  - {id: done, type: goal, outcome: tested}
"""
CLICK_RATE = {"a": 0.1, "b": 0.7}  # B clearly better
POPULATION = 120  # 61 of them hashed to a, 59 to b: past the horizon of 40 each
LATER = 10


def _journeys(tmp_path: Path) -> Path:
    shutil.copytree(JOURNEYS / "scoring", tmp_path / "scoring")
    (tmp_path / "exp-test.yaml").write_text(EXPERIMENT)
    return tmp_path


def _step(journeys: Path) -> ExperimentStep:
    step = load_journey(journeys, "exp-test").step("subject-test")
    assert isinstance(step, ExperimentStep)
    return step


async def test_a_seeded_population_promotes_the_better_variant(time_env: WorkflowEnvironment, tmp_path: Path):
    journeys = _journeys(tmp_path)
    fake, queues = FakePlatforms(), new_queues()
    rng = random.Random(20261203)
    experiment = time_env.client.get_workflow_handle_for(
        JourneyExperimentWorkflow.run, experiment_workflow_id("exp-test", 1, "subject-test")
    )
    async with running(time_env, fake, queues, journeys=journeys):
        handles = [
            await start_lead(time_env, queues, journey="exp-test", email=f"lead-{i}@experiment.example")
            for i in range(POPULATION)
        ]

        async def variants(hs):
            got = [(await h.query(LeadJourneyWorkflow.state)).variants.get("subject-test") for h in hs]
            return all(got) and got

        arms = await eventually(lambda: variants(handles), timeout=90, what="every lead entered the experiment")
        clicks: Counter[str] = Counter()
        clicked = []
        for handle, arm in zip(handles, arms, strict=True):
            if rng.random() < CLICK_RATE[arm]:
                await handle.signal(LeadJourneyWorkflow.event, await event(time_env, EventType.CLICK))
                clicks[arm] += 1
                clicked.append(handle)
        # A second click of the same lead is not a second conversion.
        await clicked[0].signal(LeadJourneyWorkflow.event, await event(time_env, EventType.CLICK))

        async def reported():
            view = await experiment.query(JourneyExperimentWorkflow.state)
            return view.converted == {"a": clicks["a"], "b": clicks["b"]} and view

        before = await eventually(reported, timeout=60, what="every conversion reported")
        assert before.status == ExperimentStatus.RUNNING, "no decision before the windows are over"
        assert before.entered == dict(Counter(arms))

        async def decided():
            await time_env.sleep(timedelta(days=1))
            view = await experiment.query(JourneyExperimentWorkflow.state)
            return view.decision is not None and view

        view = await eventually(decided, timeout=60, what="the experiment's decision")

        later = [
            await start_lead(time_env, queues, journey="exp-test", email=f"later-{i}@experiment.example")
            for i in range(LATER)
        ]
        later_arms = await eventually(lambda: variants(later), timeout=60, what="the later leads entered")
        after = await experiment.query(JourneyExperimentWorkflow.state)

    decision = view.decision
    assert decision is not None
    assert (decision.kind, decision.winner, decision.by) == ("winner", "b", "rule")
    # Decided once, on each variant's first 40 entrants (the horizon), past the corrected 0.975.
    figures = {f.variant: f for f in decision.figures}
    assert all(f.n == 40 and f.conversions <= clicks[v] for v, f in figures.items())
    assert figures["b"].probability_best is not None and figures["b"].probability_best >= 0.975
    assert decision.reason.endswith(">= 0.975 (0.95 corrected for 2 variants) at 40 per variant")
    assert [(f.n, f.conversions) for f in after.figures] == [(f.n, f.conversions) for f in decision.figures]
    # Every entrant counted once, each clicker once.
    assert (after.entered, after.converted) == (dict(Counter(arms)), {"a": clicks["a"], "b": clicks["b"]})
    assert set(later_arms) == {"b"}, "every entrant after the decision gets the winner"
    assert sum(Counter(later_arms).values()) == LATER
    assert after.entered == before.entered, "entrants routed to the winner are not counted"
    # The hash alone would have sent some of the later leads to A.
    step = _step(journeys)
    assert {
        step.assign("exp-test", lead_key(f"later-{i}@experiment.example", "test-secret")) for i in range(LATER)
    } == {
        "a",
        "b",
    }


async def test_retries_count_once_and_operators_stop_or_promote(time_env: WorkflowEnvironment, tmp_path: Path):
    journeys = _journeys(tmp_path)
    step = _step(journeys)
    fake, queues = FakePlatforms(), new_queues()
    settings = make_settings(
        "http://127.0.0.1:9", time_env.client.service_client.config.target_host, journeys_dir=journeys
    )
    ref = ExperimentRef(journey_id="exp-test", version=1, step=step, task_queue=queues.workflows)
    acts = ExperimentActivities(time_env.client)  # called as a retried activity would be
    service = ExperimentService(time_env.client, settings)

    async def enter(lead: str, proposed: str):
        return await acts.enter(
            EnterExperimentInput(experiment=ref, enter=ExperimentEnter(lead_id=lead, proposed=proposed))
        )

    async def report(lead: str):
        at = await time_env.get_current_time()
        await acts.report(ReportConversionInput(experiment=ref, conversion=ExperimentConversion(lead_id=lead, at=at)))

    async with running(time_env, fake, queues, journeys=journeys):
        with pytest.raises(ExperimentNotFound):
            await service.show("exp-test", "subject-test")
        with pytest.raises(ExperimentInputError, match=r"step: journey 'exp-test' has no experiment step 'pause'"):
            await service.show("exp-test", "pause")
        assert (await enter("lead-1", "a")).model_dump() == {"variant": "a", "counted": True}
        assert (await enter("lead-2", "b")).variant == "b"
        assert (await enter("lead-1", "b")).model_dump() == {"variant": "a", "counted": True}, "a retried entry"
        await report("lead-1")
        await report("lead-1")  # the same report retried
        await report("stranger")  # never entered: not counted

        view = await eventually(
            lambda: _shown(service, lambda v: v.converted["a"] == 1), what="the conversion recorded"
        )
        assert (view.entered, view.converted) == ({"a": 1, "b": 1}, {"a": 1, "b": 0})

        with pytest.raises(Refused) as refusal:
            await service.promote("exp-test", "subject-test", "c", by="ops")
        assert refusal.value.code == Refusal.UNKNOWN_VARIANT
        assert str(refusal.value) == "variant: 'c' is not a variant of subject-test (variants: a, b)"
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await enter("lead-3", "c")
        assert refused(failed.value).code == Refusal.UNKNOWN_VARIANT

        stopped = await service.stop("exp-test", "subject-test", by="ops", reason="subject lines were wrong")
        assert (stopped.kind, stopped.winner, stopped.reason) == (
            "stopped",
            None,
            "stopped by ops: subject lines were wrong",
        )
        assert (await enter("lead-3", "b")).model_dump() == {"variant": "b", "counted": False}
        with pytest.raises(Refused) as refusal:
            await service.promote("exp-test", "subject-test", "b", by="ops")
        assert refusal.value.code == Refusal.EXPERIMENT_OVER
        with pytest.raises(Refused) as refusal:
            await service.stop("exp-test", "subject-test", by="ops")
        assert refusal.value.code == Refusal.EXPERIMENT_OVER

        # A second journey version is a second experiment: forced to a winner by an operator.
        ref2 = ref.model_copy(update={"version": 2})
        await acts.enter(EnterExperimentInput(experiment=ref2, enter=ExperimentEnter(lead_id="lead-1", proposed="a")))
        promoted = await service.promote("exp-test", "subject-test", "b", by="ops", version=2)
        assert (promoted.kind, promoted.winner, promoted.by) == ("winner", "b", "ops")
        entered = await acts.enter(
            EnterExperimentInput(experiment=ref2, enter=ExperimentEnter(lead_id="lead-9", proposed="a"))
        )
        assert entered.model_dump() == {"variant": "b", "counted": False}
        shown = await service.show("exp-test", "subject-test", version=2)
        assert (shown.status, shown.entered) == (ExperimentStatus.DECIDED, {"a": 1, "b": 0})


AA_SEED = 2  # found by trying seeds from 0: the first where the two rules disagree
AA_RATE, AA_BATCH, AA_BATCHES = 0.3, 10, 6  # both variants convert 30 %; 6 batches of 10 each


async def test_equal_variants_get_no_winner_at_the_default_where_peeking_calls_one(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The same seeded A/A population, fed batch by batch (each batch's windows closing before
    the next enters), to the default rule (once, at 60 per variant) and to the opt-in
    `looks: every_report` (from 10 per variant): the opt-in calls a winner after the fourth
    batch (P(b best) = 0.976 >= 0.95), the default ends at its horizon without one
    (P(b best) = 0.885 < 0.975)."""
    journeys = _journeys(tmp_path)
    step = _step(journeys)
    fake, queues = FakePlatforms(), new_queues()
    rules = {
        1: BayesianRule(sample=AA_BATCH * AA_BATCHES),
        2: BayesianRule(sample=AA_BATCH, looks="every_report"),
    }
    refs = {
        version: ExperimentRef(
            journey_id="exp-test",
            version=version,
            step=step.model_copy(update={"decide": rule}),
            task_queue=queues.workflows,
        )
        for version, rule in rules.items()
    }
    handles = {
        version: time_env.client.get_workflow_handle_for(
            JourneyExperimentWorkflow.run, experiment_workflow_id("exp-test", version, "subject-test")
        )
        for version in refs
    }
    acts = ExperimentActivities(time_env.client)
    rng = random.Random(AA_SEED)
    async with running(time_env, fake, queues, journeys=journeys):
        for batch in range(AA_BATCHES):
            for i in range(AA_BATCH):
                for arm in ("a", "b"):
                    lead, converts = f"lead-{batch}-{i}-{arm}", rng.random() < AA_RATE
                    for ref in refs.values():
                        await acts.enter(
                            EnterExperimentInput(experiment=ref, enter=ExperimentEnter(lead_id=lead, proposed=arm))
                        )
                        if converts:
                            at = await time_env.get_current_time()
                            conversion = ExperimentConversion(lead_id=lead, at=at)
                            await acts.report(ReportConversionInput(experiment=ref, conversion=conversion))
            await time_env.sleep(step.metric.within + timedelta(hours=1))
            matured = AA_BATCH * (batch + 1)

            async def looked(handle, matured=matured):
                view = await handle.query(JourneyExperimentWorkflow.state)
                return (view.decision is not None or all(f.n == matured for f in view.figures)) and view

            default = await eventually(lambda: looked(handles[1]), what=f"the default's look at {matured}")
            peeking = await eventually(lambda: looked(handles[2]), what=f"the opt-in's look at {matured}")
            if batch < AA_BATCHES - 1:
                assert default.decision is None, "the default does not look before its horizon"

    assert peeking.decision is not None and peeking.decision.kind == "winner", "peeking called a winner"
    assert peeking.decision.winner in ("a", "b") and peeking.decision.by == "rule"
    decision = default.decision
    assert decision is not None
    assert (decision.kind, decision.winner, decision.by) == ("no_winner", None, "rule")
    assert [(f.n, f.conversions) for f in decision.figures] == [(60, 14), (60, 20)]
    assert decision.reason.startswith("no variant probably best: P(b is best) = 0.885 < 0.975")
    assert default.status == ExperimentStatus.DECIDED


async def _shown(service: ExperimentService, test):
    view = await service.show("exp-test", "subject-test")
    return test(view) and view


CONVERSION = EXPERIMENT.replace("id: exp-test", "id: exp-conv").replace(
    "metric: {event: click, within: 2d}", "metric: {event: conversion, within: 30d}"
)


async def test_a_lead_accepted_by_sales_converts_on_the_conversion_metric(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    shutil.copytree(JOURNEYS / "scoring", tmp_path / "scoring")
    (tmp_path / "exp-conv.yaml").write_text(CONVERSION)
    fake, queues = FakePlatforms(firmographics=HOT), new_queues()
    experiment = time_env.client.get_workflow_handle_for(
        JourneyExperimentWorkflow.run, experiment_workflow_id("exp-conv", 1, "subject-test")
    )
    async with running(time_env, fake, queues, journeys=tmp_path):
        handle = await start_lead(time_env, queues, journey="exp-conv")

        async def entered():
            return (await handle.query(LeadJourneyWorkflow.state)).variants.get("subject-test")

        arm = await eventually(entered, what="the lead entered the experiment")
        await handle.signal(LeadJourneyWorkflow.event, await event(time_env, EventType.FORM))

        async def assigned():
            st = await handle.query(LeadJourneyWorkflow.state)
            return st.stage == LeadStage.SALES_ASSIGNED and st

        owner = (await eventually(assigned, what="the hand-off to sales")).owner_id
        await signal_taken(
            handle,
            LeadJourneyWorkflow.sales_decision,
            SalesDecision(decision=SalesDecisionKind.ACCEPTED, owner_id=owner),
        )
        assert (await handle.result()).stage == LeadStage.CONVERTED

        async def converted():
            view = await experiment.query(JourneyExperimentWorkflow.state)
            return view.converted[arm] == 1 and view

        view = await eventually(converted, what="the conversion reported")
    assert sum(view.converted.values()) == 1 and sum(view.entered.values()) == 1
