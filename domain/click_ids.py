"""Ad click ids a lead arrived with: Google's `gclid` / `wbraid` / `gbraid`, Meta's
`fbclid` and its `_fbc` / `_fbp` browser cookies.

They are what lets mops tell an ad platform which of its clicks became a lead worth
something (conversion upload). Read from explicit fields or from the landing URL's query
(`ClickIds.from_url`). Shapes are checked loosely (the platforms do not publish a
grammar), but garbage is refused with the field named. They identify a browser, so they
travel only inside the lead's own (per-lead encrypted) workflow payloads.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, field_validator

# Google and Meta click ids are URL-safe tokens (base64url-like); nothing else appears in them.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{10,512}")
# Meta's cookie formats: `fb.<subdomain index>.<creation time, ms>.<fbclid>` (`_fbc`) and
# `fb.<subdomain index>.<creation time, ms>.<random number>` (`_fbp`).
_FBC = re.compile(r"fb\.[0-2]\.\d{10,13}\.[A-Za-z0-9_-]{10,512}")
_FBP = re.compile(r"fb\.[0-2]\.\d{10,13}\.\d{1,20}")
URL_KEYS = ("gclid", "wbraid", "gbraid", "fbclid")


def _blank(value: object) -> object:
    if isinstance(value, str):
        return value.strip() or None
    return value


def derive_fbc(fbclid: str, clicked_at: datetime) -> str:
    """Meta's `fbc` when only the `fbclid` query parameter is known: `fb.1.<ms>.<fbclid>`,
    the time in milliseconds being when the click was first seen (Meta documents this)."""
    return f"fb.1.{int(clicked_at.timestamp() * 1000)}.{fbclid}"


class ClickIds(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    gclid: str | None = None
    wbraid: str | None = None
    gbraid: str | None = None
    fbclid: str | None = None
    fbc: str | None = None
    fbp: str | None = None

    @field_validator("gclid", "wbraid", "gbraid", "fbclid", "fbc", "fbp", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return _blank(value)

    @field_validator("gclid", "wbraid", "gbraid", "fbclid")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and not _TOKEN.fullmatch(value):
            raise ValueError("is not a click id (10 to 512 letters, digits, '-' or '_')")
        return value

    @field_validator("fbc")
    @classmethod
    def _fbc(cls, value: str | None) -> str | None:
        if value is not None and not _FBC.fullmatch(value):
            raise ValueError("is not a Meta click cookie (fb.1.<creation time ms>.<fbclid>)")
        return value

    @field_validator("fbp")
    @classmethod
    def _fbp(cls, value: str | None) -> str | None:
        if value is not None and not _FBP.fullmatch(value):
            raise ValueError("is not a Meta browser cookie (fb.1.<creation time ms>.<random number>)")
        return value

    @classmethod
    def from_url(cls, url: str | None) -> ClickIds | None:
        """The click ids in a URL's query, or None when it carries none. A malformed id
        raises (pydantic's ValidationError, naming it) rather than being dropped."""
        if not url:
            return None
        query = parse_qs(urlsplit(url).query)
        found = {k: query[k][0] for k in URL_KEYS if query.get(k)}
        return cls(**found) if found else None

    def merged(self, newer: ClickIds | None) -> ClickIds:
        """These ids with `newer`'s where it has them (a later click is the one to credit)."""
        if newer is None:
            return self
        return self.model_copy(update=newer.model_dump(exclude_none=True))

    def google(self) -> tuple[str, str] | None:
        """The one Google click id an upload carries (`gclid`, else `gbraid`, else `wbraid`:
        Google takes exactly one per conversion), as (field, value)."""
        for name in ("gclid", "gbraid", "wbraid"):
            if value := getattr(self, name):
                return name, value
        return None

    def meta(self) -> bool:
        """Whether Meta can match the lead to a click or browser (`fbc` or `fbp`)."""
        return bool(self.fbc or self.fbp)
