"""A Google Ads channel's search ad: the responsive search ad and the keywords it serves on.

The `search:` section of a `kind: google_ads` channel in a campaign file:

    search:
      headlines: [Marketing automation, Workflows that run themselves, Launch in days]
      descriptions: [Durable campaign workflows with approvals built in., Start free today.]
      path1: automation          # optional display path, shown after the domain
      path2: spring              # optional, only with path1
      keywords: ["[marketing automation]", '"campaign workflows"', marketing ops]
      negative_keywords: [free, "[jobs]"]

Keywords use Google's own notation for the match type: `[exact]`, `"phrase"`, `broad`
(no brackets or quotes). The ad's final URL is the campaign's landing URL tagged for the
channel (`domain.campaigns.utm_url`), so it is not written here.

Pure: the platform's limits (headline 30 characters, description 90, display path 15,
keyword 80 characters and 10 words; 3-15 headlines, 2-4 descriptions) are refused at
validate time, each error naming the field and the item.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    field_validator,
    model_validator,
)

from domain.fields import ConfigModel

HEADLINE_LIMIT = 30
DESCRIPTION_LIMIT = 90
PATH_LIMIT = 15
KEYWORD_LIMIT = 80
KEYWORD_WORDS = 10
HEADLINES = (3, 15)
DESCRIPTIONS = (2, 4)
NOTATION_HELP = 'write [exact], "phrase" or broad'


class MatchType(StrEnum):
    """Google Ads `KeywordMatchType` values."""

    EXACT = "EXACT"
    PHRASE = "PHRASE"
    BROAD = "BROAD"


class Keyword(BaseModel):
    """One keyword: its text (single spaces) and how queries must match it."""

    model_config = ConfigDict(frozen=True)

    text: str
    match_type: MatchType

    def notation(self) -> str:
        if self.match_type == MatchType.EXACT:
            return f"[{self.text}]"
        if self.match_type == MatchType.PHRASE:
            return f'"{self.text}"'
        return self.text

    def key(self) -> tuple[str, MatchType]:
        """What makes two keywords the same on Google (case does not matter)."""
        return self.text.casefold(), self.match_type


# Wrappers Google's notation does not have: someone meant a match type we do not know.
_UNKNOWN_WRAPPERS = re.compile(r"^[\[\"({<].*|.*[\])}>\"]$|^\+|\s\+", re.S)


def parse_keyword(value: Any) -> Keyword:
    """`[text]` exact, `"text"` phrase, bare text broad; a Keyword passes as it is."""
    if isinstance(value, Keyword):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a keyword is text ({NOTATION_HELP}), got {value!r}")
    raw = value.strip()
    match = re.fullmatch(r"\[(.*)\]", raw, re.S) or re.fullmatch(r'"(.*)"', raw, re.S)
    if match is not None:
        kind = MatchType.EXACT if raw.startswith("[") else MatchType.PHRASE
        text = match.group(1)
    elif _UNKNOWN_WRAPPERS.match(raw):
        modifier = " (broad match modifier +word was retired by Google)" if "+" in raw else ""
        raise ValueError(f"{raw!r}: unknown match type{modifier}; {NOTATION_HELP}")
    else:
        kind, text = MatchType.BROAD, raw
    text = " ".join(text.split())
    if not text:
        raise ValueError(f"{raw!r}: a keyword must not be blank")
    if any(c in text for c in '[]"'):
        raise ValueError(f"{raw!r}: unknown match type; {NOTATION_HELP}")
    if len(text) > KEYWORD_LIMIT:
        raise ValueError(f"{text[:20]!r}... is {len(text)} characters, over the limit of {KEYWORD_LIMIT}")
    words = len(text.split())
    if words > KEYWORD_WORDS:
        raise ValueError(f"{text[:20]!r}... has {words} words, over the limit of {KEYWORD_WORDS}")
    return Keyword(text=text, match_type=kind)


# In files and in stored workflow inputs a keyword is its notation, read back by the same parser.
KeywordText = Annotated[Keyword, BeforeValidator(parse_keyword), PlainSerializer(Keyword.notation, return_type=str)]


def _limited(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        text = " ".join(value.split())
        if not text:
            raise ValueError("must not be blank")
        if len(text) > limit:
            raise ValueError(f"{text!r} is {len(text)} characters, over the limit of {limit}")
        return text

    return check


Headline = Annotated[str, AfterValidator(_limited(HEADLINE_LIMIT))]
Description = Annotated[str, AfterValidator(_limited(DESCRIPTION_LIMIT))]
DisplayPath = Annotated[str, AfterValidator(_limited(PATH_LIMIT))]


def _count(items: list[Any], bounds: tuple[int, int], what: str) -> None:
    low, high = bounds
    if not low <= len(items) <= high:
        raise ValueError(f"a responsive search ad has {low} to {high} {what}, got {len(items)}")


def _unique(items: list[str], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.casefold() in seen:
            raise ValueError(f"{what} {item!r} is listed twice")
        seen.add(item.casefold())


class SearchAd(ConfigModel):
    """The `search:` section of a google_ads channel (see the module docstring)."""

    headlines: list[Headline]
    descriptions: list[Description]
    path1: DisplayPath | None = None
    path2: DisplayPath | None = None
    keywords: list[KeywordText]
    negative_keywords: list[KeywordText] = []

    @field_validator("headlines")
    @classmethod
    def _headlines(cls, headlines: list[str]) -> list[str]:
        _count(headlines, HEADLINES, "headlines")
        _unique(headlines, "headline")
        return headlines

    @field_validator("descriptions")
    @classmethod
    def _descriptions(cls, descriptions: list[str]) -> list[str]:
        _count(descriptions, DESCRIPTIONS, "descriptions")
        _unique(descriptions, "description")
        return descriptions

    @field_validator("keywords", "negative_keywords")
    @classmethod
    def _keywords(cls, keywords: list[Keyword]) -> list[Keyword]:
        seen: set[tuple[str, MatchType]] = set()
        for keyword in keywords:
            if keyword.key() in seen:
                raise ValueError(f"{keyword.notation()!r} is listed twice")
            seen.add(keyword.key())
        return keywords

    @model_validator(mode="after")
    def _consistent(self) -> SearchAd:
        if not self.keywords:
            raise ValueError("keywords: at least one keyword is needed, or the ad never shows")
        if self.path2 is not None and self.path1 is None:
            raise ValueError("path2: needs path1 (the display path is path1/path2)")
        positive = {k.key() for k in self.keywords}
        for i, keyword in enumerate(self.negative_keywords):
            if keyword.key() in positive:
                raise ValueError(
                    f"negative_keywords.{i}: {keyword.notation()!r} is also a keyword (it would block its own ad)"
                )
        return self
