"""Lead scoring: fit rules plus time-decayed engagement, and segmentation."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from domain.fields import ConfigModel
from domain.leads import EngagementEvent, EventType, LeadProfile
from domain.rules import Condition, evaluate_all


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


def decayed(points: float, age: timedelta, half_life_days: float) -> float:
    """Points halve every `half_life_days`; events from the future count as fresh."""
    age_days = max(age, timedelta(0)) / timedelta(days=1)
    return points * math.pow(0.5, age_days / half_life_days)


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

    # Webhooks deliver at least once: an event id counts once.
    by_type: dict[EventType, list[float]] = defaultdict(list)
    seen: set[str] = set()
    for event in events:
        if event.event_id in seen or event.type not in model.engagement_points:
            continue
        seen.add(event.event_id)
        points = decayed(model.engagement_points[event.type], now - event.at, model.half_life_days)
        by_type[event.type].append(points)
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
