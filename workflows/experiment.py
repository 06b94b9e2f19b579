"""One experiment step of one journey version: the one writer of its counts and its decision.

Workflow type `JourneyExperiment`, id `experiment-<journey>-v<version>-<step>`
(`domain.experiments.experiment_workflow_id`), started by the first lead that reaches the
step (update-with-start from the `experiments.enter` activity) and running from then on, so
that every later entrant can be told the variant to take.

Updates
- `enter(ExperimentEnter) -> ExperimentEntered`: a lead reaches the step. While the
  experiment runs it is counted in the variant its keyed hash proposed; once a winner is
  decided it is sent to the winner (not counted); after a stop or a "no winner" it keeps
  its proposed variant (not counted). Idempotent per lead id: a retried enter answers the
  recorded variant, so counts are exact under retries and replays.
- `promote(PromoteRequest) -> ExperimentDecision`: an operator forces a winner. Refused
  (validator, no history) for a variant the step does not have (`unknown_variant`) or an
  experiment already decided or stopped (`experiment_over`).
- `stop(StopRequest) -> ExperimentDecision`: an operator ends the experiment without a
  winner; entrants keep being split evenly, no longer counted. Refused once over.

Signals
- `convert(ExperimentConversion)`: a counted lead converted on the metric. Kept once per
  lead, and only within the metric's window after its entry.

Queries
- `state() -> ExperimentView`: the rule, the figures now (n is the leads whose window is
  over, with the conversions among them; `probability_best` under the Bayesian rule) and
  the decision: winner, who, when, why and the figures it was made on.

The rule (`domain.experiments.evaluate`) is evaluated after every entry and conversion and
on a timer at the moment the next entrant's window closes. A fixed-horizon rule (the
default Bayesian `looks: once`, and `z_test`) is given only each variant's first `sample`
entrants, so it answers exactly once, when they are all past their window; only the opt-in
`looks: every_report` decides on whatever has matured at each look. The state (each entrant and its
conversion) is carried through continue-as-new when the history grows.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.experiment_models import ExperimentConversion, ExperimentEnter, ExperimentEntered
    from domain.experiments import (
        BayesianRule,
        VariantFigures,
        Verdict,
        evaluate,
        experiment_workflow_id,
        matured,
        probability_best,
    )
    from domain.refusals import Refusal
    from workflows.approval import refuse
    from workflows.common import continue_as_new_due
    from workflows.experiment_models import (
        ExperimentDecision,
        ExperimentEntry,
        ExperimentStatus,
        ExperimentView,
        JourneyExperimentInput,
        JourneyExperimentState,
        PromoteRequest,
        StopRequest,
    )


@workflow.defn(name="JourneyExperiment")
class JourneyExperimentWorkflow:
    @workflow.init
    def __init__(self, inp: JourneyExperimentInput) -> None:
        self._inp = inp
        self._s = inp.state or JourneyExperimentState()
        self._step = inp.step
        self._changed = False

    @workflow.run
    async def run(self, inp: JourneyExperimentInput) -> None:
        while True:
            if self._s.decision is None:
                self._decide()
            if continue_as_new_due(inp.continue_as_new_after_events):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(inp.model_copy(update={"state": self._s}))
            self._changed = False
            wake = self._next_maturity()
            timeout = None if wake is None else max(wake - workflow.now(), timedelta(seconds=1))
            with contextlib.suppress(TimeoutError):  # a window closed: evaluate again
                await workflow.wait_condition(
                    lambda: self._changed or continue_as_new_due(inp.continue_as_new_after_events),
                    timeout=timeout,
                    timeout_summary="the next entrant's window closes",
                )

    # ------------------------------------------------------------ handlers

    @workflow.update(name="enter")
    def enter(self, req: ExperimentEnter) -> ExperimentEntered:
        s = self._s
        if (entry := s.entries.get(req.lead_id)) is not None:
            return ExperimentEntered(variant=entry.variant, counted=True)
        if s.decision is not None:
            return ExperimentEntered(variant=s.decision.winner or req.proposed, counted=False)
        s.entries[req.lead_id] = ExperimentEntry(variant=req.proposed, at=workflow.now())
        self._changed = True
        return ExperimentEntered(variant=req.proposed, counted=True)

    @enter.validator
    def _check_enter(self, req: ExperimentEnter) -> None:
        if req.proposed not in self._step.variant_ids:
            refuse(Refusal.UNKNOWN_VARIANT, self._unknown(req.proposed))

    @workflow.signal(name="convert")
    def convert(self, rep: ExperimentConversion) -> None:
        entry = self._s.entries.get(rep.lead_id)
        if entry is None or entry.converted_at is not None or rep.at < entry.at:
            return
        if rep.at - entry.at > self._step.metric.within:
            return  # converted after its window: not a conversion of this experiment
        entry.converted_at = rep.at
        self._changed = True

    @workflow.update(name="promote")
    def promote(self, req: PromoteRequest) -> ExperimentDecision:
        reason = f"promoted by {req.by}" + (f": {req.reason}" if req.reason else "")
        return self._end("winner", req.variant, req.by, reason)

    @promote.validator
    def _check_promote(self, req: PromoteRequest) -> None:
        self._check_running()
        if req.variant not in self._step.variant_ids:
            refuse(Refusal.UNKNOWN_VARIANT, self._unknown(req.variant))

    @workflow.update(name="stop")
    def stop(self, req: StopRequest) -> ExperimentDecision:
        reason = f"stopped by {req.by}" + (f": {req.reason}" if req.reason else "")
        return self._end("stopped", None, req.by, reason)

    @stop.validator
    def _check_stop(self, req: StopRequest) -> None:
        self._check_running()

    @workflow.query(name="state")
    def state(self) -> ExperimentView:
        inp, s = self._inp, self._s
        entered = {v: 0 for v in self._step.variant_ids}
        converted = dict(entered)
        for entry in s.entries.values():
            entered[entry.variant] += 1
            converted[entry.variant] += entry.converted_at is not None
        return ExperimentView(
            workflow_id=experiment_workflow_id(inp.journey_id, inp.version, self._step.id),
            journey_id=inp.journey_id,
            version=inp.version,
            step_id=self._step.id,
            variants=self._step.variant_ids,
            metric=self._step.metric,
            rule=self._step.decide,
            status=s.status,
            figures=self._figures(workflow.now()),
            entered=entered,
            converted=converted,
            decision=s.decision,
        )

    # ------------------------------------------------------------- the rule

    def _counts(self, now: datetime) -> dict[str, tuple[int, int]]:
        """{variant: (leads whose window is over, conversions among them)}; under a
        fixed-horizon rule (the default) only each variant's first `sample` entrants, so the
        rule answers once, on the sample it planned, however long the leads keep coming."""
        window, rule = self._step.metric.within, self._step.decide
        per: dict[str, list[ExperimentEntry]] = {v: [] for v in self._step.variant_ids}
        for entry in self._s.entries.values():
            per[entry.variant].append(entry)
        if rule.fixed_horizon:
            per = {v: entries[: rule.sample] for v, entries in per.items()}
        counts = {}
        for v, entries in per.items():
            done = [e for e in entries if matured(e.at, window, now)]
            counts[v] = (len(done), sum(1 for e in done if e.converted_at is not None))
        return counts

    def _figures(self, now: datetime) -> list[VariantFigures]:
        counts = self._counts(now)
        probs = probability_best(counts) if isinstance(self._step.decide, BayesianRule) else {}
        return [
            VariantFigures(variant=v, n=n, conversions=c, probability_best=probs.get(v)) for v, (n, c) in counts.items()
        ]

    def _decide(self) -> None:
        verdict: Verdict | None = evaluate(self._step.decide, self._counts(workflow.now()))
        if verdict is None:
            return
        self._s.decision = ExperimentDecision(
            kind="winner" if verdict.winner else "no_winner",
            winner=verdict.winner,
            by="rule",
            at=workflow.now(),
            reason=verdict.reason,
            figures=verdict.figures,
            p_values=verdict.p_values,
        )

    def _next_maturity(self) -> datetime | None:
        """When the next entrant's window closes (the counts change then), while running."""
        if self._s.decision is not None:
            return None
        now, window = workflow.now(), self._step.metric.within
        pending = [e.at + window for e in self._s.entries.values() if not matured(e.at, window, now)]
        return min(pending, default=None)

    def _end(self, kind: str, winner: str | None, by: str, reason: str) -> ExperimentDecision:
        assert kind in ("winner", "stopped")
        self._s.decision = ExperimentDecision(
            kind="winner" if kind == "winner" else "stopped",
            winner=winner,
            by=by,
            at=workflow.now(),
            reason=reason,
            figures=self._figures(workflow.now()),
        )
        self._changed = True
        return self._s.decision

    def _check_running(self) -> None:
        s = self._s
        if s.status != ExperimentStatus.RUNNING:
            assert s.decision is not None
            refuse(Refusal.EXPERIMENT_OVER, f"experiment is {s.status.value} ({s.decision.reason})")

    def _unknown(self, variant: str) -> str:
        return f"{variant!r} is not a variant of {self._step.id} (variants: {', '.join(self._step.variant_ids)})"
