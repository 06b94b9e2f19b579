"""Deterministic, plausible ad delivery for the Meta and Google Ads stand-ins.

Every number is a pure function of (platform, campaign name, day, seed, the campaign's
setting on that day, performance overrides): the same question always gets the same
answer, across runs and machines.

Settings over time. The sandbox does not know what day it is (tests skip time), so a
change cannot be dated by the clock. Instead each campaign keeps a `Timeline` of
settings (delivering or not, daily budget), and a change takes effect from its "data
day": the day after the latest `until` anyone has asked that campaign's metrics for
(its `horizon`), or from the beginning of time when nobody has asked yet. So "monitor
days 1..N, then pause" shows spend on days 1..N and none after, and a budget change
shows on the days not yet reported.

Per delivering day: spend is the daily budget × a utilisation of 0.80-1.00 (wobbling
per day, 15% lower at weekends); impressions follow from a CPM, clicks from a CTR,
conversions from a conversion rate and value from a value per conversion, each drawn
per campaign name from stable hashes. The channels differ on purpose, so budget
reallocation has something to choose: Google Search costs more per impression but
converts far better, so over a week or more its cost per conversion (about 6-13 in the
account currency) stays clearly below Meta's (about 14-37).

Overrides (`POST /_sandbox/ads/performance`) scale spend, CTR or conversion rate, or stop
delivery, for every campaign whose name contains a string (last match wins).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, Field

AdsPlatform = Literal["meta", "google_ads"]

# (low, high) per platform: CPM in minor units per 1,000 impressions, click-through
# rate, conversions per click, value per conversion in minor units.
PROFILES: dict[str, dict[str, tuple[float, float]]] = {
    "meta": {"cpm": (800, 1100), "ctr": (0.010, 0.014), "cvr": (0.030, 0.040), "value": (3500, 5500)},
    "google_ads": {"cpm": (2800, 3600), "ctr": (0.045, 0.055), "cvr": (0.060, 0.080), "value": (3500, 5500)},
}
WEEKEND = 0.85


def unit(*parts: object) -> float:
    """A stable number in [0, 1) for the given parts."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class PerformanceOverride(BaseModel):
    """How to bend delivery for the campaigns whose name contains `name_contains`
    (case-insensitive; an empty string matches every campaign of the platform)."""

    platform: AdsPlatform
    name_contains: str = ""
    spend_factor: float = Field(1.0, ge=0, le=100)
    ctr_factor: float = Field(1.0, ge=0, le=100)
    conversion_factor: float = Field(1.0, ge=0, le=100)
    zero_delivery: bool = False

    def matches(self, platform: str, name: str) -> bool:
        return platform == self.platform and self.name_contains.casefold() in name.casefold()


def override_for(overrides: list[PerformanceOverride], platform: str, name: str) -> PerformanceOverride | None:
    """The last override that matches, if any."""
    return next((o for o in reversed(overrides) if o.matches(platform, name)), None)


@dataclass(frozen=True)
class Setting:
    since: date | None  # None: from the beginning of time
    active: bool
    daily_budget: int  # minor units of the account currency


@dataclass
class Timeline:
    """A campaign's (or Meta ad set's) delivery settings over days."""

    settings: list[Setting] = field(default_factory=list)

    def change(self, horizon: date | None, active: bool, daily_budget: int) -> None:
        """Record a setting effective from the day after `horizon` (from the start when None)."""
        since = horizon + timedelta(days=1) if horizon else None
        # Horizons only grow, so only a setting from the same data day (or, before any
        # report, every setting) is replaced.
        self.settings = [s for s in self.settings if since is not None and (s.since is None or s.since < since)]
        last = self.settings[-1] if self.settings else None
        if last is None or (last.active, last.daily_budget) != (active, daily_budget):
            self.settings.append(Setting(since, active, daily_budget))

    def at(self, day: date) -> Setting | None:
        current = None
        for setting in self.settings:
            if setting.since is None or setting.since <= day:
                current = setting
        return current

    def view(self) -> list[dict]:
        return [
            {"since": s.since.isoformat() if s.since else None, "active": s.active, "daily_budget": s.daily_budget}
            for s in self.settings
        ]


@dataclass(frozen=True)
class DayPerformance:
    spend: int  # minor units
    impressions: int
    clicks: int
    conversions: float  # whole numbers for Meta, two decimals for Google (attribution splits them)
    value: int  # minor units

    @property
    def empty(self) -> bool:
        return self.impressions == 0 and self.spend == 0


NOTHING = DayPerformance(0, 0, 0, 0, 0)


def _draw(platform: str, name: str, seed: int, metric: str) -> float:
    low, high = PROFILES[platform][metric]
    return low + (high - low) * unit(seed, platform, name, metric)


def day_performance(
    platform: str,
    name: str,
    day: date,
    daily_budget: int,
    *,
    seed: int,
    override: PerformanceOverride | None = None,
) -> DayPerformance:
    """One delivering day of a campaign with `daily_budget` (minor units) on `platform`."""
    if daily_budget <= 0 or (override and override.zero_delivery):
        return NOTHING
    spend_factor = override.spend_factor if override else 1.0
    ctr_factor = override.ctr_factor if override else 1.0
    conversion_factor = override.conversion_factor if override else 1.0
    d = day.isoformat()
    utilisation = 0.80 + 0.20 * unit(seed, platform, name, d, "utilisation")
    weekday = WEEKEND if day.weekday() >= 5 else 1.0
    spend = round(daily_budget * utilisation * weekday * spend_factor)
    if spend <= 0:
        return NOTHING
    cpm = _draw(platform, name, seed, "cpm") * (0.93 + 0.14 * unit(seed, platform, name, d, "cpm"))
    impressions = round(spend * 1000 / cpm)
    ctr = _draw(platform, name, seed, "ctr") * ctr_factor * (0.9 + 0.2 * unit(seed, platform, name, d, "ctr"))
    clicks = min(impressions, round(impressions * ctr))
    cvr = _draw(platform, name, seed, "cvr") * conversion_factor * (0.85 + 0.3 * unit(seed, platform, name, d, "cvr"))
    expected = clicks * cvr
    if platform == "meta":
        conversions: float = math.floor(expected + unit(seed, platform, name, d, "round"))
    else:
        conversions = round(expected, 2)
    per_conversion = _draw(platform, name, seed, "value") * (0.9 + 0.2 * unit(seed, platform, name, d, "value"))
    return DayPerformance(spend, impressions, clicks, conversions, round(conversions * per_conversion))


def total(days: list[DayPerformance], platform: str) -> DayPerformance:
    """The sum of several days (Google's conversions stay rounded to two decimals)."""
    conversions = sum(p.conversions for p in days)
    return DayPerformance(
        sum(p.spend for p in days),
        sum(p.impressions for p in days),
        sum(p.clicks for p in days),
        conversions if platform == "meta" else round(conversions, 2),
        sum(p.value for p in days),
    )


def days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]
