"""Per-step journey analytics: what one lead did at each step, and the sums per step and variant.

The lead journey is the source of truth: it knows which steps a lead entered
(`step_visits`), the step it was at when it left (`last_step`) and, per step, the emails
it sent and the opens, clicks and replies that came back for them (`StepEngagement`: an
event counts for the step named in its `detail`, which the SendGrid event webhook fills
from the `mops_step` custom arg every journey email carries). The analytics collection
reads that from each journey's `state` query and stores one keyed row per lead and step
(`lead_step_rows`), replaced on every reading, so a retried or repeated collection gives
the same counts, never more. A person who enters the journey again (a new run of the
same workflow id) counts as their latest entry. `sum_steps` adds the rows up per step
and variant, `funnels` per step for the dashboard.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from domain.leads import EventType, LeadStage

EngagementField = Literal["emails", "opens", "clicks", "replies"]
ENGAGEMENT_FIELDS: dict[EventType, EngagementField] = {
    EventType.OPEN: "opens",
    EventType.CLICK: "clicks",
    EventType.REPLY: "replies",
}
# The stages after which a lead is at no step any more (the journey's terminal stages).
LEFT_STAGES = frozenset({LeadStage.CONVERTED, LeadStage.UNSUBSCRIBED, LeadStage.DISQUALIFIED, LeadStage.COMPLETED})
NO_VARIANT = ""
COUNTS = ("entered", "left", "goal", "converted", "emails", "opens", "clicks", "replies")


class StepEngagement(BaseModel):
    """One lead's emails sent at a step and the engagement they brought back."""

    emails: int = 0
    opens: int = 0
    clicks: int = 0
    replies: int = 0


def tallied(tally: dict[str, StepEngagement], step_id: str, field: EngagementField) -> dict[str, StepEngagement]:
    """`tally` with one more `field` at `step_id` (a new dict: workflow state is replaced, not mutated)."""
    counts = tally.get(step_id, StepEngagement())
    return {**tally, step_id: counts.model_copy(update={field: getattr(counts, field) + 1})}


class StepCounts(BaseModel):
    entered: int = 0  # leads that entered the step (once per lead, however often it looped back)
    left: int = 0  # leads whose journey ended while at this step
    goal: int = 0  # of those, the ones that met a journey goal there
    converted: int = 0  # leads that entered the step and converted (became customers)
    emails: int = 0
    opens: int = 0
    clicks: int = 0
    replies: int = 0


class LeadStepRow(StepCounts):
    """One lead's counts at one step: the store's keyed row (workflow id, step id)."""

    workflow_id: str
    journey_id: str
    version: int
    step_id: str
    variant: str = NO_VARIANT


class StepStats(StepCounts):
    """The sums over the leads of one journey version, step and variant."""

    journey_id: str
    version: int
    step_id: str
    variant: str = NO_VARIANT


def variant_label(variants: dict[str, str]) -> str:
    """A lead's split arms as one label, `split:variant` joined by commas (as JourneyVariant)."""
    return ",".join(f"{split}:{arm}" for split, arm in sorted(variants.items()))


def lead_step_rows(workflow_id: str, state: dict[str, Any]) -> list[LeadStepRow]:
    """A lead journey's `state` query answer (JSON) as its rows, one per step it entered;
    none for a run that has no journey version (it never got that far)."""
    version = state.get("journey_version")
    if version is None:
        return []
    visits: dict[str, int] = state.get("step_visits") or {}
    engagement = {k: StepEngagement.model_validate(v) for k, v in (state.get("step_engagement") or {}).items()}
    stage = LeadStage(state["stage"])
    left_at = state.get("last_step") if stage in LEFT_STAGES else None
    variant = variant_label(state.get("variants") or {})
    rows = []
    for step_id in visits:
        e = engagement.get(step_id, StepEngagement())
        left = step_id == left_at
        rows.append(
            LeadStepRow(
                workflow_id=workflow_id,
                journey_id=str(state["journey_id"]),
                version=int(version),
                step_id=step_id,
                variant=variant,
                entered=1,
                left=int(left),
                goal=int(left and state.get("goal") is not None),
                converted=int(stage == LeadStage.CONVERTED),
                emails=e.emails,
                opens=e.opens,
                clicks=e.clicks,
                replies=e.replies,
            )
        )
    return rows


def sum_steps(rows: list[LeadStepRow]) -> list[StepStats]:
    """The rows summed per (journey, version, step, variant), in the rows' first-seen order."""
    out: dict[tuple[str, int, str, str], StepStats] = {}
    for r in rows:
        key = (r.journey_id, r.version, r.step_id, r.variant)
        total = out.setdefault(
            key, StepStats(journey_id=r.journey_id, version=r.version, step_id=r.step_id, variant=r.variant)
        )
        for name in COUNTS:
            setattr(total, name, getattr(total, name) + getattr(r, name))
    return list(out.values())


class Funnel(BaseModel):
    """One journey version's steps, variants added up, widest first: the dashboard's funnel."""

    journey_id: str
    version: int
    steps: list[StepStats] = []

    @property
    def widest(self) -> int:
        return max((s.entered for s in self.steps), default=0)


def funnels(rows: list[LeadStepRow]) -> list[Funnel]:
    """Per journey and version, each step's sums over every variant, by leads entered (most
    first: a lead passes the earlier steps of a path before the later ones)."""
    merged = sum_steps([r.model_copy(update={"variant": NO_VARIANT}) for r in rows])
    out: dict[tuple[str, int], Funnel] = {}
    for s in merged:
        out.setdefault((s.journey_id, s.version), Funnel(journey_id=s.journey_id, version=s.version)).steps.append(s)
    for f in out.values():
        f.steps.sort(key=lambda s: (-s.entered, s.step_id))
    return [out[k] for k in sorted(out)]
