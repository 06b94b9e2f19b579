"""Annotated field types shared by the domain models, and the YAML reading they share.

Pure except for `read_yaml_mapping`/`load_yaml_model` (reading data files) and tzdata.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, available_timezones

import yaml
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    TypeAdapter,
    ValidationError,
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


# --- data files ----------------------------------------------------------------------------


class SpecError(ValueError):
    """Data that cannot be used; the message is one line: `<path>: <field.path>: <reason>`.

    Empty parts are left out, so an error about input that came from no file reads
    `<field.path>: <reason>`.
    """

    def __init__(self, path: Path | str, loc: str, reason: str) -> None:
        self.path, self.loc = str(path), loc
        self.reason = " ".join(reason.split())
        super().__init__(": ".join(p for p in (self.path, self.loc, self.reason) if p))


class YamlLoader(yaml.SafeLoader):
    """YAML 1.1 without sexagesimal numbers, so `20:00` stays a time and is not read as 1200."""


YamlLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def read_yaml_mapping(path: Path, error: type[SpecError], what: str) -> tuple[str, dict[str, Any]]:
    """Read `path` as YAML whose top level is a mapping of `what`; return (text, data).

    Every problem (missing file, not UTF-8, bad YAML, not a mapping) raises `error` with a one-line message.
    """
    path = Path(path)
    if not path.is_file():
        raise error(path, "", "no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(path, "", "not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=YamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "yaml"
        raise error(path, where, f"invalid YAML: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise error(path, "yaml", f"invalid YAML: {err}") from None
    if not isinstance(data, dict):
        raise error(path, "", f"expected a mapping of {what} at the top level")
    return text, data


def dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc)


_LEADING_PATH = re.compile(r"([A-Za-z_]\w*(?:\.\w+)*): (.+)", re.DOTALL)


def first_error(
    err: ValidationError, loc: Callable[[tuple[int | str, ...]], str] = dotted, *, split_path: bool = False
) -> tuple[str, str]:
    """(field path, reason) of the first error, without pydantic's "Value error, " prefix.

    With `split_path`, a reason written as `"<field.path>: <reason>"` by a model validator
    (whose own location is the model) has that path appended to the location.
    """
    first = err.errors(include_url=False)[0]
    where = loc(first["loc"])
    reason = first["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if split_path and (match := _LEADING_PATH.fullmatch(reason)):
        where = ".".join(p for p in (where, match[1]) if p)
        reason = match[2]
    return where, reason


Model = TypeVar("Model", bound=BaseModel)


def load_yaml_model(path: Path, model: type[Model], error: type[SpecError], what: str) -> Model:
    """Read a YAML mapping and validate it as `model` with strict keys; raises `error` (one line)."""
    _, data = read_yaml_mapping(path, error, what)
    try:
        return model.model_validate(data, context={STRICT_KEYS: True})
    except ValidationError as err:
        raise error(path, *first_error(err, split_path=True)) from None
