"""Per-step journey analytics as collected into the analytics store (`mops journeys stats`).

The counts are what the last analytics collection read from the lead journeys
(`activities/analytics_collect.py`, `domain/journey_stats.py`); run `mops report collect`
first for fresh ones. Steps are listed in the journey's order when the version asked for
is the one new leads pin (its spec is known here), else by step id. A journey with no file,
no published version and nothing collected is `NotFound`.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from domain.journey_stats import StepStats, sum_steps
from domain.leads import JOURNEY_ID_PATTERN
from integrations.analytics_store import DuckDBStore
from mops.settings import Settings
from starter.service.errors import InputError, NotFound
from starter.service.leads import journey_spec


class JourneyStatsError(InputError):
    pass


class JourneyStatsView(BaseModel):
    journey_id: str
    version: int | None = None  # the version asked for; None: every version
    steps: list[StepStats] = []


def journey_stats(settings: Settings, journey_id: str, version: int | None = None) -> JourneyStatsView:
    """The per-step, per-variant sums of a journey's collected leads (blocking: DuckDB)."""
    if not re.fullmatch(JOURNEY_ID_PATTERN, journey_id):
        raise JourneyStatsError(f"journey: {journey_id!r} is not a journey id (lower-case letters, digits, dashes)")
    rows = DuckDBStore(settings.analytics_store_file).journey_steps(journey_id, version)
    steps = sum_steps(rows)
    order: dict[tuple[int, str], int] = {}
    try:
        spec = journey_spec(settings, journey_id)
    except InputError:
        spec = None  # no file and no published version any more: the collected rows still stand
    if spec is None and not rows:
        raise NotFound(f"journey: no journey {journey_id!r} (no file, no published version, no collected leads)")
    if spec is not None:
        order = {(spec.version, s.id): i for i, s in enumerate(spec.steps)}
    steps.sort(key=lambda s: (s.version, order.get((s.version, s.step_id), len(order)), s.step_id, s.variant))
    return JourneyStatsView(journey_id=journey_id, version=version, steps=steps)
