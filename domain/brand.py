"""Brand and compliance rules as data (YAML), and the pure engine that checks content against them.

Terms, required text and claims are matched against the *visible* text of the title and
body (Markdown markers and URLs removed, link text and image alt text kept). Findings come
out in a fixed order: banned terms, required text, claims, images without alt text,
reading grade, channel limits (each in rule order, then term/pattern order).

A rule scoped to regions applies to content for one of those regions and to "global"
content, which reaches every region.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, computed_field, field_validator, model_validator

from domain.content import (
    CHANNEL_LIMITS,
    GLOBAL_REGION,
    Channel,
    ContentType,
    images,
    markdown_to_text,
)
from domain.fields import ConfigModel, SpecError, load_yaml_model

_EXCERPT_CONTEXT = 30
_MAX_PATTERN = 500  # claim patterns run inside workflows' activities: keep them small
_URL = re.compile(r"https?://[^\s<>\"'`)\]]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?*_"


class Severity(StrEnum):
    BLOCKING = "blocking"  # must be fixed before review
    WARNING = "warning"  # shown to reviewers


class Finding(BaseModel):
    rule: str
    severity: Severity
    message: str  # for people; never carries personal data
    excerpt: str | None = None


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


NonBlank = Annotated[str, AfterValidator(_non_blank)]
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]


def _regex(pattern: str) -> str:
    if len(pattern) > _MAX_PATTERN:
        raise ValueError(f"regular expression is longer than {_MAX_PATTERN} characters")
    try:
        re.compile(pattern, re.IGNORECASE)
    except re.error as err:
        raise ValueError(f"invalid regular expression {pattern!r}: {err}") from None
    return pattern


Regex = Annotated[str, AfterValidator(_non_blank), AfterValidator(_regex)]


class _Scoped(ConfigModel):
    id: RuleId
    reason: NonBlank
    types: list[ContentType] = []  # empty = every content type
    regions: list[str] = []  # empty = every region

    @field_validator("regions")
    @classmethod
    def _lower(cls, regions: list[str]) -> list[str]:
        return [r.strip().lower() for r in regions]

    def applies(self, content_type: ContentType, region: str) -> bool:
        if self.types and content_type not in self.types:
            return False
        return not self.regions or region == GLOBAL_REGION or region in self.regions


class TermRule(_Scoped):
    """Words and phrases that must not appear (case-insensitive, whole words)."""

    terms: list[NonBlank] = Field(min_length=1)
    severity: Severity


class RequiredText(_Scoped):
    """Text that must appear (case-insensitive), e.g. a disclaimer."""

    text: NonBlank
    severity: Severity
    channels: list[Channel] = []  # empty = every channel; else when the content goes to any of them


class ClaimRule(_Scoped):
    """Claims a legal reviewer must see: a match is a WARNING and adds the legal stage."""

    patterns: list[Regex] = Field(min_length=1)  # case-insensitive regular expressions


class BrandRules(ConfigModel):
    banned: list[TermRule] = []
    required: list[RequiredText] = []
    claims: list[ClaimRule] = []
    max_reading_grade: dict[ContentType, Annotated[float, Field(gt=0)]] = {}  # Flesch–Kincaid; over = WARNING
    require_alt_text: bool = True  # an image without alt text is BLOCKING
    channel_limits: dict[Channel, Annotated[int, Field(ge=1)]] = {}  # overrides CHANNEL_LIMITS; over = BLOCKING

    @model_validator(mode="after")
    def _unique_ids(self) -> BrandRules:
        seen: dict[str, str] = {}
        for kind in ("banned", "required", "claims"):
            for i, rule in enumerate(getattr(self, kind)):
                if rule.id in seen:
                    raise ValueError(f"{kind}.{i}.id: duplicate rule id {rule.id!r} (first used at {seen[rule.id]})")
                seen[rule.id] = f"{kind}.{i}"
        return self

    def limit(self, channel: Channel) -> int:
        return self.channel_limits.get(channel, CHANNEL_LIMITS[channel])


class CheckResult(BaseModel):
    findings: list[Finding]
    needs_legal: bool
    links: list[str]  # absolute http(s) links in the body, in order of appearance, unique
    reading_grade: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def blocking(self) -> bool:
        return any(f.severity == Severity.BLOCKING for f in self.findings)


class BrandRulesError(SpecError):
    """A brand rules file that cannot be used: `<path>: <field.path>: <reason>` on one line."""


def load_brand_rules(path: Path) -> BrandRules:
    """Load and validate the brand rules YAML file; raises BrandRulesError."""
    return load_yaml_model(path, BrandRules, BrandRulesError, "brand rule fields")


# --- the engine ----------------------------------------------------------------------------


def _term_pattern(term: str) -> re.Pattern[str]:
    # Whole words: no letter/digit/underscore right before or after; any whitespace between words.
    words = [re.escape(w) for w in term.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def _excerpt(text: str, start: int, end: int) -> str:
    lo, hi = max(0, start - _EXCERPT_CONTEXT), min(len(text), end + _EXCERPT_CONTEXT)
    snippet = " ".join(text[lo:hi].split())
    return ("…" if lo > 0 else "") + snippet + ("…" if hi < len(text) else "")


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def extract_links(body_markdown: str) -> list[str]:
    """Absolute http(s) URLs in the body (links, images, bare URLs), in order, without repeats."""
    links: list[str] = []
    for match in _URL.finditer(body_markdown):
        url = match[0].rstrip(_URL_TRAILING)
        if url not in links:
            links.append(url)
    return links


def check_content(
    rules: BrandRules,
    *,
    title: str,
    body_markdown: str,
    type: ContentType,  # noqa: A002 - the brief's field name
    region: str,
    channels: list[Channel],
) -> CheckResult:
    """Check one revision of content against the rules; deterministic, no I/O."""
    region = region.strip().lower()
    body_text = markdown_to_text(body_markdown)
    text = f"{title.strip()}\n\n{body_text}"
    findings: list[Finding] = []
    needs_legal = False

    for rule in rules.banned:
        if not rule.applies(type, region):
            continue
        for term in rule.terms:
            if match := _term_pattern(term).search(text):
                findings.append(
                    Finding(
                        rule=rule.id,
                        severity=rule.severity,
                        message=f"{term!r} is not allowed: {rule.reason}",
                        excerpt=_excerpt(text, match.start(), match.end()),
                    )
                )

    haystack = _normalised(text)
    for required in rules.required:
        if not required.applies(type, region):
            continue
        if required.channels and not set(required.channels) & set(channels):
            continue
        if _normalised(required.text) not in haystack:
            findings.append(
                Finding(
                    rule=required.id,
                    severity=required.severity,
                    message=f"required text is missing: {required.text!r} ({required.reason})",
                )
            )

    for claim in rules.claims:
        if not claim.applies(type, region):
            continue
        for pattern in claim.patterns:
            if match := re.search(pattern, text, re.IGNORECASE):
                needs_legal = True
                findings.append(
                    Finding(
                        rule=claim.id,
                        severity=Severity.WARNING,
                        message=f"claim needs legal review: {claim.reason}",
                        excerpt=_excerpt(text, match.start(), match.end()),
                    )
                )

    if rules.require_alt_text:
        for alt, url in images(body_markdown):
            if not alt.strip():
                findings.append(
                    Finding(
                        rule="alt_text",
                        severity=Severity.BLOCKING,
                        message=f"image {url or '(no url)'} has no alt text",
                        excerpt=f"![]({url})",
                    )
                )

    grade = reading_grade(body_text)
    limit = rules.max_reading_grade.get(type)
    if limit is not None and grade > limit:
        findings.append(
            Finding(
                rule="reading_grade",
                severity=Severity.WARNING,
                message=f"reading grade {grade:.1f} is above the {type.value} maximum of {limit:g}",
            )
        )

    for channel in channels:
        channel_limit = rules.limit(channel)
        if len(body_markdown) > channel_limit:
            findings.append(
                Finding(
                    rule="channel_limit",
                    severity=Severity.BLOCKING,
                    message=(
                        f"body: {len(body_markdown)} characters is over the {channel.value} limit of {channel_limit}"
                    ),
                )
            )

    return CheckResult(
        findings=findings, needs_legal=needs_legal, links=extract_links(body_markdown), reading_grade=grade
    )


def link_findings(statuses: list[tuple[str, bool, int]]) -> list[Finding]:
    """One BLOCKING finding per broken link, from (url, ok, HTTP status; 0 = no response)."""
    findings: list[Finding] = []
    for url, ok, status in statuses:
        if ok:
            continue
        what = f"HTTP {status}" if status else "no response"
        findings.append(Finding(rule="links", severity=Severity.BLOCKING, message=f"broken link {url} ({what})"))
    return findings


# --- readability ---------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|\n+")
_VOWEL_GROUP = re.compile(r"[aeiouy]+")


def syllables(word: str) -> int:
    """Estimated syllables: vowel groups (a e i o u y), minus a silent final "e"
    (but not "-le" as in "table"), at least one. Numbers count as one."""
    word = word.lower().replace("'", "").replace("’", "")
    if not word.isalpha():
        return 1
    count = len(_VOWEL_GROUP.findall(word))
    if word.endswith("e") and not word.endswith(("le", "ee", "ye")) and count > 1:
        count -= 1
    return max(1, count)


def reading_grade(text: str) -> float:
    """Flesch–Kincaid grade level: 0.39·(words/sentences) + 11.8·(syllables/words) − 15.59.

    Sentences end at . ! ? followed by a space or the end, and at line breaks (headings
    and list items count as sentences). Syllables come from the vowel-group heuristic in
    `syllables`, so the figure is an estimate, good for comparing drafts. Empty text is
    0; the result is rounded to two decimals and never below 0.
    """
    sentences = [s for s in _SENTENCE_END.split(text) if _WORD.search(s)]
    words = _WORD.findall(text)
    if not words:
        return 0.0
    syllable_count = sum(syllables(w) for w in words)
    grade = 0.39 * len(words) / max(1, len(sentences)) + 11.8 * syllable_count / len(words) - 15.59
    return round(max(0.0, grade), 2)
