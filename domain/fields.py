"""Annotated field types shared by the domain models (pure; no I/O beyond tzdata)."""

from __future__ import annotations

import re
from datetime import time, timedelta, UTC
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    TypeAdapter,
    ValidationInfo,
    model_validator,
)

_DURATION_RE = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_ISO_DURATION = TypeAdapter(timedelta)


def parse_duration(text: str) -> timedelta:
    """Parse `90d`, `36h`, `15m`, `30s`, `2w`, combos like `1d12h`, or ISO-8601 (`P3D`, `PT2H`)."""
    error = ValueError(f"invalid duration {text!r}: use e.g. 3d, 12h, 30m, 1d12h")
    raw = text.strip() if isinstance(text, str) else ""
    if raw[:1] in ("P", "p"):
        # ISO 8601 is also how pydantic serialises timedelta, so models round-trip.
        try:
            value = _ISO_DURATION.validate_python(raw.upper())
        except ValueError:
            raise error from None
        if value < timedelta(0):
            raise error
        return value
    match = _DURATION_RE.fullmatch(raw.lower())
    if not raw or match is None:
        raise error
    w, d, h, m, s = (int(g or 0) for g in match.groups())
    return timedelta(weeks=w, days=d, hours=h, minutes=m, seconds=s)


def _coerce_duration(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    # A bare number is ambiguous (seconds? days?), so it is refused rather than guessed.
    raise ValueError(f"invalid duration {value!r}: use e.g. 3d, 12h, 30m, 1d12h")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("duration must be longer than zero")
    return value


def _coerce_local_time(value: Any) -> Any:
    # pydantic would read an int as seconds after midnight; in config that is always a mistake.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"invalid time {value!r}: write it as a quoted 'HH:MM'")
    return value


def _naive_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("use a local wall-clock time without a timezone, e.g. 09:30")
    return value


@lru_cache(maxsize=1)
def _iana_names() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(name: str) -> str:
    """Return `name` if it is an IANA timezone name, else raise ValueError."""
    if name not in _iana_names():
        raise ValueError(f"unknown timezone {name!r}: use an IANA name such as Europe/Berlin")
    return name


def zone(name: str) -> ZoneInfo:
    """Build the ZoneInfo for an IANA name (kept internal: ZoneInfo must not cross the workflow sandbox)."""
    return ZoneInfo(check_timezone(name))


Duration = Annotated[timedelta, BeforeValidator(_coerce_duration), AfterValidator(_positive)]
LocalTime = Annotated[time, BeforeValidator(_coerce_local_time), AfterValidator(_naive_time)]
TimezoneName = Annotated[str, AfterValidator(check_timezone)]
# Aware datetimes are normalised to UTC so equal instants compare and serialise alike.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(lambda v: v.astimezone(UTC))]

STRICT_KEYS = "strict_keys"


class ConfigModel(BaseModel):
    """Base for models written by people (journeys, scoring): unknown keys are typos.

    The check only runs when validated with context `{"strict_keys": True}` (the journey
    loader does this), so specs already stored in workflow histories stay readable when
    a later version adds a field.
    """

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and info.context and info.context.get(STRICT_KEYS):
            unknown = sorted(str(k) for k in data if k not in cls.model_fields)
            if unknown:
                allowed = ", ".join(cls.model_fields)
                raise ValueError(f"unknown key {unknown[0]!r} (allowed: {allowed})")
        return data
