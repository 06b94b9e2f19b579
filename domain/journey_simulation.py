"""A new journey version tried on real leads' recorded paths (`mops journeys simulate`):
each lead's path as recorded (or as simulated), and the side-by-side report of the two
versions per email step, goal and end. Pure: no I/O, no personal data (a path keeps the
lead's keyed id and step ids, never its address)."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from datetime import timedelta

from pydantic import BaseModel

from domain.journeys import GoalStep, JourneySpec, SendEmailStep
from domain.leads import EventType

_STEP_DONE = re.compile(r"^step (?P<id>\S+) done$")


class RecordedEvent(BaseModel):
    type: EventType
    offset: timedelta  # after the lead's capture


class LeadPath(BaseModel):
    """What one lead's journey did, times relative to its capture."""

    lead_id: str
    emails: dict[str, timedelta] = {}  # email step id -> when it was first sent
    goals: list[str] = []  # goal steps reached, and the journey goal met
    end: str  # the stage it stopped at, with its outcome ("completed: new path", "nurturing")


def lead_path(
    lead_id: str,
    spec: JourneySpec,
    timeline: list[tuple[timedelta, str]],
    emailed: set[str],
    goal: str | None,
    stage: str,
    outcome: str | None,
) -> LeadPath:
    """A lead's path from its timeline (offset, note), the steps whose email went out (the
    journey counts a send at its step), its goal and stage."""
    emails: dict[str, timedelta] = {}
    goals: list[str] = []
    known = {s.id for s in spec.steps}
    for offset, what in timeline:
        m = _STEP_DONE.match(what)
        if m is None or m.group("id") not in known:
            continue
        step = spec.step(m.group("id"))
        if isinstance(step, SendEmailStep) and step.id in emailed:
            emails.setdefault(step.id, offset)
        elif isinstance(step, GoalStep) and step.id not in goals:
            goals.append(step.id)
    if goal and goal not in goals:
        goals.append(goal)
    return LeadPath(lead_id=lead_id, emails=emails, goals=goals, end=f"{stage}: {outcome}" if outcome else stage)


class StepSide(BaseModel):
    leads: int
    median_offset: timedelta | None = None


class StepComparison(BaseModel):
    step: str
    real: StepSide  # the version the leads ran
    simulated: StepSide  # the new version


class SimulationReport(BaseModel):
    journey_id: str
    against: int  # the version the leads really ran
    version: int  # the version simulated
    leads: int
    steps: list[StepComparison]  # every email step of either version, the old one's order first
    goals: dict[str, tuple[int, int]]  # goal -> (real, simulated) leads
    ends: dict[str, tuple[int, int]]  # end -> (real, simulated) leads
    differences: list[str]
    platforms: str = ""  # where the simulation's platform calls went


def compare(old: JourneySpec, new: JourneySpec, real: list[LeadPath], simulated: list[LeadPath]) -> SimulationReport:
    order = [s.id for s in old.steps if isinstance(s, SendEmailStep)]
    order += [s.id for s in new.steps if isinstance(s, SendEmailStep) and s.id not in order]

    def side(paths: list[LeadPath], step: str) -> StepSide:
        offsets = [p.emails[step] for p in paths if step in p.emails]
        median = timedelta(seconds=statistics.median(o.total_seconds() for o in offsets)) if offsets else None
        return StepSide(leads=len(offsets), median_offset=median)

    steps = [StepComparison(step=s, real=side(real, s), simulated=side(simulated, s)) for s in order]
    goals_r, goals_s = Counter(g for p in real for g in p.goals), Counter(g for p in simulated for g in p.goals)
    ends_r, ends_s = Counter(p.end for p in real), Counter(p.end for p in simulated)
    goals = {g: (goals_r[g], goals_s[g]) for g in dict.fromkeys([*goals_r, *goals_s])}
    ends = {e: (ends_r[e], ends_s[e]) for e in dict.fromkeys([*ends_r, *ends_s])}
    v1, v2 = f"v{old.version}", f"v{new.version}"
    differences = [
        f"step {c.step}: {c.real.leads} in {v1}, {c.simulated.leads} in {v2}"
        for c in steps
        if c.real.leads != c.simulated.leads
    ]
    differences += [f"goal {g}: {a} in {v1}, {b} in {v2}" for g, (a, b) in goals.items() if a != b]
    differences += [f"end {e}: {a} in {v1}, {b} in {v2}" for e, (a, b) in ends.items() if a != b]
    return SimulationReport(
        journey_id=old.id,
        against=old.version,
        version=new.version,
        leads=len(real),
        steps=steps,
        goals=goals,
        ends=ends,
        differences=differences,
    )
