"""Pure time arithmetic for journeys: durations, business days, local times, quiet hours, caps.

Timezones are passed as IANA names (str); datetimes are aware and returned in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, model_validator

from domain.fields import Duration, LocalTime, parse_duration, zone

__all__ = [
    "FrequencyCap",
    "QuietHours",
    "add_business_days",
    "earliest_send_time",
    "frequency_cap_release",
    "local_instant",
    "next_local_time",
    "parse_duration",
    "quiet_hours_release",
]

UTC = UTC
_MAX_CALENDAR_SCAN = 3660  # ten years: a calendar with no business day left is a config error


class QuietHours(BaseModel):
    """No email between `start` and `end` local time; may wrap midnight (20:00 -> 08:00)."""

    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours start and end must differ")
        return self


class FrequencyCap(BaseModel):
    """At most `max_emails` in any rolling window of length `per`."""

    max_emails: int = Field(ge=1)
    per: Duration


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def _resolve(day: date, at: time, tz: ZoneInfo, fold: int = 0) -> datetime:
    """The UTC instant when the wall clock in `tz` reads `at` on `day`.

    Ambiguous times (clocks go back) use `fold`. Times skipped by a DST jump map to the
    first valid instant after them, i.e. the moment the clocks jump.
    """
    wall = datetime.combine(day, at, tzinfo=tz).replace(fold=fold)
    instant = wall.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return instant
    # In a gap: the jump happens between the two readings of the wall time; find it to the second.
    lo = int(wall.replace(fold=1).astimezone(UTC).timestamp())
    hi = int(wall.replace(fold=0).astimezone(UTC).timestamp())
    lo, hi = min(lo, hi), max(lo, hi)
    after = wall.replace(fold=0).astimezone(UTC).astimezone(tz).utcoffset()
    while lo < hi:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid + 1
    return datetime.fromtimestamp(lo, UTC)


def local_instant(day: date, at: time, tz: str) -> datetime:
    """UTC instant of the local wall time `at` on `day` in `tz` (first one if ambiguous)."""
    return _resolve(day, at, zone(tz))


def add_business_days(
    start: datetime,
    days: int,
    tz: str,
    business_days: frozenset[int] = frozenset({0, 1, 2, 3, 4}),
    holidays: frozenset[date] = frozenset(),
) -> datetime:
    """Move `days` business days forward in the local calendar of `tz`, keeping the local time of day."""
    if days < 0:
        raise ValueError("days must be zero or more")
    if not business_days:
        raise ValueError("business_days must name at least one weekday")
    tzinfo = zone(tz)
    local = _utc(start, "start").astimezone(tzinfo)
    day, counted = local.date(), 0
    for _ in range(_MAX_CALENDAR_SCAN):
        if counted == days:
            break
        day += timedelta(days=1)
        if day.weekday() in business_days and day not in holidays:
            counted += 1
    else:
        raise ValueError("no business days found within ten years: check business_days and holidays")
    if days == 0:
        return local.astimezone(UTC)
    return _resolve(day, local.time(), tzinfo, local.fold)


def next_local_time(now: datetime, at: time, tz: str) -> datetime:
    """Next instant strictly after `now` when the wall clock in `tz` reads `at` (UTC)."""
    tzinfo = zone(tz)
    now = _utc(now, "now")
    today = now.astimezone(tzinfo).date()
    for offset in range(3):  # today, tomorrow, and one spare for a skipped calendar day
        day = today + timedelta(days=offset)
        for fold in (0, 1):  # on a fall-back day the wall time occurs twice
            candidate = _resolve(day, at, tzinfo, fold)
            if candidate > now:
                return candidate
    raise AssertionError("unreachable: a wall time recurs within three days")


def quiet_hours_release(at: datetime, quiet: QuietHours | None, tz: str) -> datetime:
    """`at` if outside quiet hours in `tz`, else the instant quiet hours end (UTC)."""
    at = _utc(at, "at")
    if quiet is None:
        return at
    tzinfo = zone(tz)
    local = at.astimezone(tzinfo)
    now, day = local.time().replace(tzinfo=None), local.date()
    if quiet.start < quiet.end:
        inside, end_day = quiet.start <= now < quiet.end, day
    elif now >= quiet.start:  # wraps midnight, evening part: ends tomorrow
        inside, end_day = True, day + timedelta(days=1)
    else:  # wraps midnight, morning part: ends today
        inside, end_day = now < quiet.end, day
    return _resolve(end_day, quiet.end, tzinfo) if inside else at


def frequency_cap_release(sent: list[datetime], cap: FrequencyCap | None, now: datetime) -> datetime:
    """`now` if one more email fits the rolling window, else the earliest instant it does."""
    now = _utc(now, "now")
    if cap is None:
        return now
    window = sorted(s for s in (_utc(s, "sent") for s in sent) if s > now - cap.per)
    if len(window) < cap.max_emails:
        return now
    # Wait until enough of the oldest sends have left the window to make room for one more.
    return window[len(window) - cap.max_emails] + cap.per


def earliest_send_time(
    now: datetime,
    sent: list[datetime],
    cap: FrequencyCap | None,
    quiet: QuietHours | None,
    tz: str,
) -> datetime:
    """Earliest instant >= `now` that respects both the frequency cap and quiet hours (UTC)."""
    at = _utc(now, "now")
    for _ in range(100):  # converges in two rounds; the bound only guards against surprises
        moved = quiet_hours_release(frequency_cap_release(sent, cap, at), quiet, tz)
        if moved == at:
            return at
        at = moved
    return at
