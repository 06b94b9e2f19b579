from datetime import UTC, date, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from domain.schedule import (
    FrequencyCap,
    QuietHours,
    add_business_days,
    earliest_send_time,
    frequency_cap_release,
    next_local_time,
    parse_duration,
    quiet_hours_release,
)

UTC = UTC


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("36h", timedelta(hours=36)),
        ("15m", timedelta(minutes=15)),
        ("30s", timedelta(seconds=30)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 1h30m ", timedelta(hours=1, minutes=30)),
        ("P3D", timedelta(days=3)),
        ("PT2H", timedelta(hours=2)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["soon", "", "3", "1.5h", "h", "12h1d", "3 days", "P", "-P1D"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == f"invalid duration {text!r}: use e.g. 3d, 12h, 30m, 1d12h"


def test_frequency_cap_accepts_duration_strings_and_round_trips():
    cap = FrequencyCap(max_emails=2, per="7d")
    assert cap.per == timedelta(days=7)
    assert FrequencyCap.model_validate_json(cap.model_dump_json()) == cap
    with pytest.raises(ValidationError, match="invalid duration"):
        FrequencyCap(max_emails=2, per=7)
    with pytest.raises(ValidationError):
        FrequencyCap(max_emails=0, per="7d")


def test_quiet_hours_validation():
    assert QuietHours(start="20:00", end="08:00").start == time(20, 0)
    with pytest.raises(ValidationError, match="must differ"):
        QuietHours(start="08:00", end="08:00")
    with pytest.raises(ValidationError, match="HH:MM"):
        QuietHours(start=1200, end="08:00")


# Europe/Berlin, Easter 2026: Good Friday 3 April and Easter Monday 6 April are holidays.
EASTER = frozenset({date(2026, 4, 3), date(2026, 4, 6)})


def test_business_days_skip_weekend_and_holidays_in_berlin():
    start = utc(2026, 4, 2, 8, 0)  # Thursday 10:00 CEST
    assert add_business_days(start, 1, "Europe/Berlin", holidays=EASTER) == utc(2026, 4, 7, 8, 0)
    assert add_business_days(start, 2, "Europe/Berlin", holidays=EASTER) == utc(2026, 4, 8, 8, 0)
    assert add_business_days(start, 1, "Europe/Berlin") == utc(2026, 4, 3, 8, 0)


def test_business_days_keep_local_time_across_dst():
    start = utc(2026, 3, 27, 9, 0)  # Friday 10:00 CET; clocks go forward on Sunday 29 March
    assert add_business_days(start, 1, "Europe/Berlin") == utc(2026, 3, 30, 8, 0)  # Monday 10:00 CEST


def test_business_days_use_local_calendar_not_utc():
    start = utc(2026, 4, 9, 23, 30)  # Thursday in UTC, but already Friday 01:30 in Berlin
    assert add_business_days(start, 1, "Europe/Berlin") == utc(2026, 4, 12, 23, 30)  # Monday 01:30


def test_business_days_edge_cases():
    start = utc(2026, 4, 4, 12, 0)  # a Saturday
    assert add_business_days(start, 0, "UTC") == start
    assert add_business_days(start, 1, "UTC", business_days=frozenset({5, 6})) == utc(2026, 4, 5, 12, 0)
    with pytest.raises(ValueError):
        add_business_days(start, 1, "UTC", business_days=frozenset())
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_days(datetime(2026, 4, 4), 1, "UTC")


def test_next_local_time_same_day_and_wrap_past_midnight():
    ny = "America/New_York"
    assert next_local_time(utc(2026, 3, 9, 12, 0), time(9, 30), ny) == utc(2026, 3, 9, 13, 30)
    # 23:30 local: 09:30 has passed, so the next one is tomorrow.
    assert next_local_time(utc(2026, 3, 10, 3, 30), time(9, 30), ny) == utc(2026, 3, 10, 13, 30)
    # Strictly after: at exactly 09:30 the answer is tomorrow's 09:30.
    assert next_local_time(utc(2026, 3, 9, 13, 30), time(9, 30), ny) == utc(2026, 3, 10, 13, 30)


def test_next_local_time_on_dst_change_day_new_york():
    ny = "America/New_York"
    midnight_est = utc(2026, 3, 8, 5, 0)  # 2026-03-08 00:00 EST; at 02:00 clocks jump to 03:00 EDT
    assert next_local_time(midnight_est, time(9, 30), ny) == utc(2026, 3, 8, 13, 30)  # EDT, UTC-4
    assert next_local_time(utc(2026, 3, 7, 15, 0), time(9, 30), ny) == utc(2026, 3, 8, 13, 30)
    # 02:30 does not exist that day: the first valid instant after it is 03:00 EDT.
    assert next_local_time(midnight_est, time(2, 30), ny) == utc(2026, 3, 8, 7, 0)
    assert next_local_time(utc(2026, 3, 8, 7, 0), time(2, 30), ny) == utc(2026, 3, 9, 6, 30)


def test_next_local_time_on_fall_back_day_uses_second_occurrence():
    ny = "America/New_York"
    after_first = utc(2026, 11, 1, 5, 45)  # 01:45 EDT; 01:30 happens again at 06:30 UTC (EST)
    assert next_local_time(after_first, time(1, 30), ny) == utc(2026, 11, 1, 6, 30)
    assert next_local_time(utc(2026, 11, 1, 4, 0), time(1, 30), ny) == utc(2026, 11, 1, 5, 30)


def test_next_local_time_rejects_naive_and_unknown_zone():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_local_time(datetime(2026, 3, 9, 12, 0), time(9, 30), "UTC")
    with pytest.raises(ValueError, match="unknown timezone"):
        next_local_time(utc(2026, 3, 9, 12, 0), time(9, 30), "Mars/Olympus")


NIGHT = QuietHours(start="20:00", end="08:00")


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 3, 2, 20, 0), utc(2026, 3, 3, 7, 0)),  # 21:00 Berlin: evening part, ends tomorrow 08:00
        (utc(2026, 3, 2, 19, 0), utc(2026, 3, 3, 7, 0)),  # 20:00 exactly: start is inside
        (utc(2026, 3, 3, 5, 0), utc(2026, 3, 3, 7, 0)),  # 06:00 Berlin: morning part, ends today
        (utc(2026, 3, 3, 7, 0), utc(2026, 3, 3, 7, 0)),  # 08:00 exactly: end is outside
        (utc(2026, 3, 3, 11, 0), utc(2026, 3, 3, 11, 0)),  # midday: not quiet
    ],
)
def test_quiet_hours_wrapping_midnight(at, expected):
    assert quiet_hours_release(at, NIGHT, "Europe/Berlin") == expected


def test_quiet_hours_not_wrapping_and_none():
    lunch = QuietHours(start="12:00", end="13:00")
    assert quiet_hours_release(utc(2026, 3, 3, 12, 30), lunch, "UTC") == utc(2026, 3, 3, 13, 0)
    assert quiet_hours_release(utc(2026, 3, 3, 11, 59), lunch, "UTC") == utc(2026, 3, 3, 11, 59)
    assert quiet_hours_release(utc(2026, 3, 3, 23, 0), None, "UTC") == utc(2026, 3, 3, 23, 0)


CAP = FrequencyCap(max_emails=2, per="7d")
NOW = utc(2026, 3, 2, 12, 0)


def test_frequency_cap_allows_when_window_has_room():
    assert frequency_cap_release([], CAP, NOW) == NOW
    assert frequency_cap_release([NOW - timedelta(days=1)], CAP, NOW) == NOW
    assert frequency_cap_release([NOW - timedelta(days=8), NOW - timedelta(days=1)], CAP, NOW) == NOW
    # Exactly one window ago has left the window.
    assert frequency_cap_release([NOW - timedelta(days=7), NOW - timedelta(days=1)], CAP, NOW) == NOW
    assert frequency_cap_release([NOW] * 5, None, NOW) == NOW


def test_frequency_cap_waits_for_oldest_to_leave_window():
    sent = [NOW - timedelta(days=6), NOW - timedelta(days=1)]
    assert frequency_cap_release(sent, CAP, NOW) == NOW + timedelta(days=1)
    three = [NOW - timedelta(days=1), NOW - timedelta(days=5), NOW - timedelta(days=3)]  # order does not matter
    assert frequency_cap_release(three, CAP, NOW) == NOW + timedelta(days=4)


def test_earliest_send_time_applies_cap_then_quiet_hours():
    sent = [utc(2026, 2, 23, 21, 0), utc(2026, 2, 25, 10, 0)]
    # The cap frees a slot at 21:00, which is inside quiet hours, so the send waits for 08:00.
    assert earliest_send_time(NOW, sent, CAP, NIGHT, "UTC") == utc(2026, 3, 3, 8, 0)
    assert earliest_send_time(NOW, [], CAP, NIGHT, "UTC") == NOW
    assert earliest_send_time(utc(2026, 3, 2, 22, 0), [], None, NIGHT, "UTC") == utc(2026, 3, 3, 8, 0)


def test_earliest_send_time_rechecks_cap_after_quiet_hours():
    cap = FrequencyCap(max_emails=1, per="10h")
    sent = [utc(2026, 3, 2, 0, 0)]
    # Quiet hours push a 23:00 send to 08:00, which the 10h window (from a 00:00 send) does not block.
    assert earliest_send_time(utc(2026, 3, 1, 23, 0), [], cap, NIGHT, "UTC") == utc(2026, 3, 2, 8, 0)
    # The cap moves 05:00 to 10:00, outside quiet hours.
    assert earliest_send_time(utc(2026, 3, 2, 5, 0), sent, cap, NIGHT, "UTC") == utc(2026, 3, 2, 10, 0)
