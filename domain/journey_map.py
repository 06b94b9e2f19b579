"""A journey drawn as a graph: each step a box in `steps` order, each way out of it an arrow
(the next step, a wait's event and timeout, a branch's cases and default, a split's
variants with their weights), laid out here so the page draws it as inline SVG without
any script or CDN.

The layout is a column: step i is the i-th box from the top. An arrow to the box right
below is a short straight line; any other (a skip, a loop back) leaves the box's right
side into a lane of its own, runs up or down there and comes back into the target's right
side, so arrows never cross a box. Arrows with the same ends are drawn once, their labels
joined.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.journeys import (
    BranchStep,
    GoalStep,
    JourneySpec,
    NotifyStep,
    SendEmailStep,
    SplitStep,
    Step,
    UpdateCrmStep,
    WaitForEventStep,
    WaitStep,
)

BOX_W, BOX_H, GAP, LEFT, TOP, LANE = 320, 64, 36, 20, 20, 28


@dataclass(frozen=True)
class MapNode:
    step_id: str
    type: str
    position: int  # 1-based, as the JourneyStep search attribute
    detail: str  # what the step does, e.g. "email nurture-welcome" or "wait 3 days"
    x: int
    y: int
    w: int = BOX_W
    h: int = BOX_H


@dataclass(frozen=True)
class MapEdge:
    source: str
    target: str
    label: str
    path: str  # SVG path data
    label_x: int
    label_y: int


@dataclass(frozen=True)
class JourneyMap:
    journey_id: str
    version: int
    nodes: list[MapNode]
    edges: list[MapEdge]
    width: int
    height: int
    notes: list[str] = field(default_factory=list)  # ways out that lead to no step (a holdout's end)


def _days(seconds: float) -> str:
    if seconds % 86400 == 0:
        n = int(seconds // 86400)
        return f"{n} day{'s' if n != 1 else ''}"
    if seconds % 3600 == 0:
        n = int(seconds // 3600)
        return f"{n} hour{'s' if n != 1 else ''}"
    return f"{int(seconds // 60)} min"


def describe(step: Step) -> str:
    """One line saying what a step does (the wait's length, the email's template, ...)."""
    if isinstance(step, SendEmailStep):
        return f"email {step.template}"
    if isinstance(step, WaitStep):
        if step.duration is not None:
            return f"wait {_days(step.duration.total_seconds())}"
        if step.business_days is not None:
            return f"wait {step.business_days} business day{'s' if step.business_days != 1 else ''}"
        return f"wait until {step.until_local_time} local time"
    if isinstance(step, WaitForEventStep):
        return f"wait for {'/'.join(e.value for e in step.events)}, up to {_days(step.timeout.total_seconds())}"
    if isinstance(step, BranchStep):
        return f"branch ({len(step.cases)} case{'s' if len(step.cases) != 1 else ''})"
    if isinstance(step, SplitStep):
        return (
            "split "
            + " / ".join(f"{v.id} {v.weight:g}%" for v in step.variants)
            + (f" / holdout {step.holdout:g}%" if step.holdout else "")
        )
    if isinstance(step, UpdateCrmStep):
        return "update CRM " + ", ".join(sorted(step.properties))
    if isinstance(step, NotifyStep):
        return f"notify {step.channel}"
    assert isinstance(step, GoalStep)
    return f"goal: {step.outcome}"


def ways_out(spec: JourneySpec, step: Step) -> list[tuple[str | None, str]]:
    """(target step or None for the journey's end, label) for each way out of `step`."""
    after = spec.following(step.id)
    if isinstance(step, WaitForEventStep):
        return [(step.on_event or after, "/".join(e.value for e in step.events)), (step.on_timeout or after, "timeout")]
    if isinstance(step, BranchStep):
        cases = [(c.goto, f"case {i}") for i, c in enumerate(step.cases, start=1)]
        return [*cases, (step.default or after, "default")]
    if isinstance(step, SplitStep):
        arms: list[tuple[str | None, str]] = [(v.goto or after, f"{v.id} {v.weight:g}%") for v in step.variants]
        return arms + ([(None, f"holdout {step.holdout:g}%")] if step.holdout else [])
    if isinstance(step, GoalStep):
        return []
    return [(after, "")]


def layout(spec: JourneySpec) -> JourneyMap:
    nodes = {
        s.id: MapNode(s.id, s.type, i, describe(s), LEFT, TOP + (i - 1) * (BOX_H + GAP))
        for i, s in enumerate(spec.steps, start=1)
    }
    joined: dict[tuple[str, str], list[str]] = {}
    notes = []
    for s in spec.steps:
        for target, label in ways_out(spec, s):
            if target is None:
                if label:
                    notes.append(f"{s.id}: {label} ends the journey")
                continue
            joined.setdefault((s.id, target), [])
            if label:
                joined[(s.id, target)].append(label)
    edges = []
    lanes = 0
    for (source, target), labels in joined.items():
        a, b = nodes[source], nodes[target]
        label = " · ".join(dict.fromkeys(labels))
        if b.position == a.position + 1:
            x = a.x + a.w // 2
            edges.append(
                MapEdge(source, target, label, f"M {x} {a.y + a.h} L {x} {b.y}", x + 6, a.y + a.h + GAP // 2 + 4)
            )
            continue
        lanes += 1
        lane = a.x + a.w + lanes * LANE
        y1, y2 = a.y + a.h // 2 + 8, b.y + b.h // 2 - 8
        path = f"M {a.x + a.w} {y1} L {lane} {y1} L {lane} {y2} L {b.x + b.w} {y2}"
        edges.append(MapEdge(source, target, label, path, lane + 4, (y1 + y2) // 2))
    height = TOP * 2 + len(spec.steps) * (BOX_H + GAP)
    width = LEFT + BOX_W + (lanes + 1) * LANE + 160  # room for the lanes' labels
    return JourneyMap(spec.id, spec.version, list(nodes.values()), edges, width, height, notes)
