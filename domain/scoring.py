"""Lead scoring: fit rules plus time-decayed engagement, score bands, and segmentation.

A score moves by itself: engagement halves every `half_life_days`. What is published
(the `LeadScore` search attribute, the CRM's `mops_score`) is kept within one band of
width `band_width` of the true score: `next_crossing` says when the decayed score next
leaves its band (or crosses the MQL threshold), so a journey wakes once per band, not
every hour."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from domain.fields import ConfigModel
from domain.leads import EngagementEvent, EventType, LeadProfile
from domain.rules import Condition, evaluate_all

ORDERED = frozenset(("gte", "gt", "lte", "lt"))  # the ops that compare a number


class FitRule(ConfigModel):
    id: str = Field(min_length=1)
    when: list[Condition]
    points: float = 0
    disqualify: bool = False
    reason: str = Field(min_length=1)  # shown to people: describe the rule, never the lead


class SegmentRule(ConfigModel):
    name: str = Field(min_length=1)
    when: list[Condition]


class ScoringModel(ConfigModel):
    fit_rules: list[FitRule]
    engagement_points: dict[EventType, float]
    half_life_days: float = Field(gt=0)
    mql_threshold: float = Field(gt=0)
    max_engagement: float | None = Field(default=None, gt=0)
    segments: list[SegmentRule] = []  # first match wins
    default_segment: str = "general"
    # The published score (search attribute, CRM property) is refreshed when the true
    # score leaves its band [k·width, (k+1)·width): the smaller, the more wake-ups.
    band_width: float = Field(default=10, gt=0, allow_inf_nan=False)

    def score_thresholds(self) -> list[float]:
        """Scores where something flips besides a band boundary: the MQL threshold and the
        segments' score tests (`hot` from 45), so the stage and the segment follow on time."""
        tests = (c for rule in self.segments for c in rule.when if c.field == "score" and c.op in ORDERED)
        return sorted({self.mql_threshold, *(float(c.value) for c in tests)})


class ScoreReason(BaseModel):
    rule: str
    points: float
    detail: str


class Score(BaseModel):
    fit: float
    engagement: float
    total: float
    reasons: list[ScoreReason]
    disqualified: bool = False
    disqualify_reasons: list[str] = []
    mql: bool


SCORE_DECIMALS = 2  # totals are reported (and compared with the MQL threshold) to two decimals
HALF_HUNDREDTH = 0.005


def decayed(points: float, age: timedelta, half_life_days: float) -> float:
    """Points halve every `half_life_days`; events from the future count as fresh."""
    age_days = max(age, timedelta(0)) / timedelta(days=1)
    return points * math.pow(0.5, age_days / half_life_days)


def band(total: float, width: float) -> int:
    """The band a (reported) score is in: k for k·width <= total < (k+1)·width."""
    return math.floor(total / width)


def _reported(fit: float, engagement: float, cap: float | None) -> float:
    """The total `score_lead` reports for these raw parts (capped, two decimals)."""
    return round(fit + (min(engagement, cap) if cap is not None else engagement), SCORE_DECIMALS)


def next_crossing(
    *,
    fit: float,
    engagement: float,
    now: datetime,
    half_life_days: float,
    band_width: float,
    cap: float | None = None,
    thresholds: Iterable[float] = (),
) -> datetime | None:
    """The first whole second after `now` at which the reported score leaves its band or
    crosses one of `thresholds`; None when it never will (no engagement left to decay,
    or it only tends towards the fit inside its band).

    `engagement` is the raw (uncapped) decayed sum at `now`: from here on it is
    engagement·½^(t/h) for t days, so the score tends to `fit`, down for positive
    engagement and up for negative (a bounce). Scores are reported to two decimals, so
    the score is below a boundary b once the exact value is below b − 0.005: the level
    solved for is that, t = h·log2(engagement / (b − 0.005 − fit)).
    """
    if engagement == 0:
        return None
    total = _reported(fit, engagement, cap)
    k = band(total, band_width)
    limits = list(thresholds)
    if engagement > 0:  # falling: the floor of its band, or a threshold it is at or above
        target = max([k * band_width, *(t for t in limits if t <= total)])
    else:  # rising: the next band's floor, or a threshold above it
        target = min([(k + 1) * band_width, *(t for t in limits if t > total)])
    level = target - HALF_HUNDREDTH - fit  # the engagement at which the report crosses `target`
    if level == 0 or (level > 0) != (engagement > 0) or abs(level) > abs(engagement):
        return None  # never reached: engagement only tends towards zero
    days = half_life_days * math.log2(engagement / level)
    at = _ceil_second(now + timedelta(days=days))

    def crossed(when: datetime) -> bool:
        e = engagement * math.pow(0.5, (when - now) / timedelta(days=1) / half_life_days)
        reported = _reported(fit, e, cap)
        return reported < target if engagement > 0 else reported >= target

    while not crossed(at):  # a rounding tie at the level itself: a second later is clear of it
        at += timedelta(seconds=1)
    return max(at, _ceil_second(now + timedelta(microseconds=1)))


def _ceil_second(when: datetime) -> datetime:
    return when if when.microsecond == 0 else when.replace(microsecond=0) + timedelta(seconds=1)


def lead_facts(profile: LeadProfile, score: Score | None = None, segment: str | None = None) -> dict[str, Any]:
    """The facts conditions are evaluated against: profile fields plus computed ones."""
    facts: dict[str, Any] = profile.model_dump()
    facts.update(
        score=score.total if score else None,
        fit=score.fit if score else None,
        engagement=score.engagement if score else None,
        segment=segment,
    )
    return facts


def _decayed_by_type(model: ScoringModel, events: list[EngagementEvent], now: datetime) -> dict[EventType, list[float]]:
    # Webhooks deliver at least once: an event id counts once.
    by_type: dict[EventType, list[float]] = defaultdict(list)
    seen: set[str] = set()
    for event in events:
        if event.event_id in seen or event.type not in model.engagement_points:
            continue
        seen.add(event.event_id)
        points = decayed(model.engagement_points[event.type], now - event.at, model.half_life_days)
        by_type[event.type].append(points)
    return by_type


def raw_engagement(model: ScoringModel, events: list[EngagementEvent], now: datetime) -> float:
    """The decayed engagement at `now` before the cap: what goes on decaying (`next_crossing`)."""
    by_type = _decayed_by_type(model, events, now)
    return sum(sum(by_type[t]) for t in EventType if t in by_type and model.engagement_points[t] != 0)


def score_lead(model: ScoringModel, profile: LeadProfile, events: list[EngagementEvent], now: datetime) -> Score:
    """Score a lead at `now`; `reasons` add up to the total (to rounding)."""
    facts = lead_facts(profile)
    reasons: list[ScoreReason] = []
    disqualify_reasons: list[str] = []
    fit = 0.0
    for rule in model.fit_rules:
        if not evaluate_all(rule.when, facts):
            continue
        fit += rule.points
        reasons.append(ScoreReason(rule=f"fit:{rule.id}", points=round(rule.points, 2), detail=rule.reason))
        if rule.disqualify:
            disqualify_reasons.append(rule.reason)

    by_type = _decayed_by_type(model, events, now)
    engagement = 0.0
    for event_type in EventType:  # enum order keeps the reasons stable
        if event_type in by_type and model.engagement_points[event_type] != 0:
            points = sum(by_type[event_type])
            engagement += points
            count = len(by_type[event_type])
            reasons.append(
                ScoreReason(
                    rule=f"engagement:{event_type.value}",
                    points=round(points, 2),
                    detail=f"{count} {event_type.value}(s), decayed",
                )
            )
    if model.max_engagement is not None and engagement > model.max_engagement:
        reasons.append(
            ScoreReason(
                rule="engagement:cap",
                points=round(model.max_engagement - engagement, 2),
                detail=f"engagement capped at {model.max_engagement:g}",
            )
        )
        engagement = model.max_engagement

    total = round(fit + engagement, 2)
    disqualified = bool(disqualify_reasons)
    return Score(
        fit=round(fit, 2),
        engagement=round(engagement, 2),
        total=total,
        reasons=reasons,
        disqualified=disqualified,
        disqualify_reasons=disqualify_reasons,
        mql=total >= model.mql_threshold and not disqualified,
    )


def assign_segment(model: ScoringModel, profile: LeadProfile, score: Score) -> str:
    """Name of the first segment whose conditions all hold, else the default segment."""
    facts = lead_facts(profile, score)
    for segment in model.segments:
        if evaluate_all(segment.when, facts):
            return segment.name
    return model.default_segment
