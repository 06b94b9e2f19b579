"""Deterministic, plausible page traffic for the GA4 stand-in.

Every number is a pure function of (page path, day, launch day): the same question
always gets the same answer, across runs and machines. A page's launch day is the
publish date of the sandbox WordPress post at that path when there is one, else a
day in 2023 derived from the path (an older page of the site, in its long tail).
From launch, views ramp up over three days, then decay (a half-life of 3-12 days)
to a long tail of 4% of the peak; weekends see 35% less; each day wobbles ±15%.
Sessions, active users and conversions follow from views with per-page ratios.
Before launch a page has no traffic at all.

The sandbox does not know what day it is: future days have traffic too, so tests
that skip time still see numbers.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, timedelta

EPOCH = date(2024, 1, 1)
SEED_PAGES = ("/", "/blog/", "/pricing/")
TAIL = 0.04


def _unit(*parts: object) -> float:
    """A stable number in [0, 1) for the given parts."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def default_launch(path: str) -> date:
    return EPOCH - timedelta(days=1 + int(_unit(path, "launch") * 365))


@dataclass(frozen=True)
class DayMetrics:
    screenPageViews: int  # named as GA4 names the metrics
    sessions: int
    activeUsers: int
    conversions: int

    def get(self, metric: str) -> int:
        return self.conversions if metric == "keyEvents" else getattr(self, metric)


def day_metrics(path: str, day: date, launch: date | None = None) -> DayMetrics:
    launch = launch or default_launch(path)
    age = (day - launch).days
    if age < 0:
        return DayMetrics(0, 0, 0, 0)
    peak = 120 + 1380 * _unit(path, "peak")
    ramp = min(1.0, (age + 1) / 3)
    half_life = 3 + 9 * _unit(path, "half-life")
    decay = 0.5 ** (max(age - 2, 0) / half_life)
    weekday = 0.65 if day.weekday() >= 5 else 1.0
    wobble = 0.85 + 0.3 * _unit(path, day.isoformat(), "views")
    views = round(peak * ramp * (TAIL + (1 - TAIL) * decay) * weekday * wobble)
    sessions = round(views * (0.62 + 0.2 * _unit(path, "sessions-per-view")))
    users = round(sessions * (0.78 + 0.17 * _unit(path, "users-per-session")))
    rate = 0.005 + 0.03 * _unit(path, "conversion-rate")
    conversions = math.floor(sessions * rate + _unit(path, day.isoformat(), "conversions"))
    return DayMetrics(views, sessions, users, conversions)
