"""Journey versions for the CLI and the capture path: publish, list, show, diff, and the
spec a new lead pins (the latest published version, else the file).

Refusals are `JourneyVersionError` (an input error: one line, exit 2); an unknown
version is `NotFound`.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from pathlib import Path

from domain.journeys import JourneyError, JourneySpec, journey_source, load_journey
from mops.journey_versions import JourneyVersions, Published, PublishedVersion, PublishRefused
from mops.settings import Settings
from starter.service.errors import InputError, NotFound


class JourneyVersionError(InputError):
    pass


@functools.lru_cache(maxsize=8)
def _store(path: Path) -> JourneyVersions:
    # One connection per store file and process: every capture asks it for the latest version.
    return JourneyVersions(path)


def versions(settings: Settings) -> JourneyVersions:
    return _store(settings.journey_versions_file)


def publish(settings: Settings, file: Path, *, by: str, note: str) -> Published:
    """Store the journey in `file` (validated as it loads now) as an immutable version."""
    file = Path(file)
    if file.suffix != ".yaml" or not file.is_file():
        raise JourneyVersionError(f"file: {file} is not a journey file (<id>.yaml)")
    try:
        spec = load_journey(file.parent, file.stem)
    except JourneyError as err:
        raise JourneyVersionError(str(err)) from None
    try:
        return versions(settings).publish(spec, journey_source(file.parent, file.stem), by=by, note=note)
    except PublishRefused as err:
        raise JourneyVersionError(str(err)) from None


def published_spec(settings: Settings, journey_id: str) -> JourneySpec | None:
    return versions(settings).latest_spec(journey_id)


@dataclass(frozen=True)
class FileStatus:
    """How a journey's file stands against what was published."""

    journey_id: str
    file_version: int
    published: int | None  # the latest published version; None: never published
    edited: bool  # the file differs from every published version

    def describe(self) -> str:
        if self.published is None:
            return "not published: captures read the file"
        if self.edited:
            return (
                f"edited since published v{self.published}: captures use v{self.published} until this file is published"
            )
        return f"published v{self.published}"


def file_status(settings: Settings, spec: JourneySpec) -> FileStatus:
    published = versions(settings).history(spec.id)  # oldest first
    latest = published[-1] if published else None
    known = {v.fingerprint for v in published}
    return FileStatus(
        journey_id=spec.id,
        file_version=spec.version,
        published=latest.version if latest else None,
        edited=latest is not None and spec.fingerprint not in known,
    )


def history(settings: Settings, journey_id: str | None = None) -> list[PublishedVersion]:
    return versions(settings).history(journey_id)


def version(settings: Settings, journey_id: str, number: int) -> PublishedVersion:
    found = versions(settings).get(journey_id, number)
    if found is None:
        known = ", ".join(f"v{v.version}" for v in history(settings, journey_id)) or "none"
        raise NotFound(f"version: {journey_id} has no published v{number} (published: {known})")
    return found


def diff(settings: Settings, journey_id: str, old: int, new: int) -> str:
    """A unified diff of two published versions' sources."""
    a, b = version(settings, journey_id, old), version(settings, journey_id, new)
    lines = difflib.unified_diff(
        a.source.splitlines(keepends=True),
        b.source.splitlines(keepends=True),
        fromfile=f"{journey_id} v{old}",
        tofile=f"{journey_id} v{new}",
    )
    return "".join(lines)


def parse_version(value: str, field: str) -> int:
    text = value.removeprefix("v")
    if not text.isdigit() or int(text) < 1:
        raise JourneyVersionError(f"{field}: {value!r} is not a version (1, 2, ... or v1, v2, ...)")
    return int(text)
