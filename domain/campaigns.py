"""Campaign specs: what a campaign runs on which channel, for how long, with what budget,
who approves it, and the rules that watch and rebalance it once it is live.

Pure: no I/O except the YAML loader, no clock (`now` and the launch time are passed in).
Errors are one line, `<file>: <field.path>: <reason>`, with list positions written as
`channels[2].kind`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import pycountry
from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo, field_validator, model_validator

from domain.content import (
    CHANNEL_LIMITS,
    ApprovalMode,
    ApprovalStage,
    Channel,
    Directory,
    PersonId,
)
from domain.conversions import check_conversion_names
from domain.fields import (
    STRICT_KEYS,
    ConfigModel,
    Duration,
    SpecError,
    TimezoneName,
    first_error,
    parse_duration,
    read_yaml_mapping,
    zone,
)
from domain.meta_ads import IMAGE_BASE, MetaAd
from domain.money import check_currency, exponent, pow10, quantum, show
from domain.search_ads import SearchAd

CAMPAIGN_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
NOW = "now"  # validation context key: the launch time a relative `end` (e.g. "14d") counts from


class ChannelKind(StrEnum):
    META_ADS = "meta_ads"
    GOOGLE_ADS = "google_ads"
    EMAIL = "email"
    LINKEDIN = "linkedin"
    LANDING_PAGE = "landing_page"


PAID: frozenset[ChannelKind] = frozenset({ChannelKind.META_ADS, ChannelKind.GOOGLE_ADS})


class Objective(StrEnum):
    AWARENESS = "awareness"
    TRAFFIC = "traffic"
    LEADS = "leads"
    SALES = "sales"


# Meta Marketing API campaign objectives (ODAX).
META_OBJECTIVES: dict[Objective, str] = {
    Objective.AWARENESS: "OUTCOME_AWARENESS",
    Objective.TRAFFIC: "OUTCOME_TRAFFIC",
    Objective.LEADS: "OUTCOME_LEADS",
    Objective.SALES: "OUTCOME_SALES",
}

# The smallest daily budget a platform takes, in minor units of a currency with 2 decimals
# (100 = 1.00 EUR). For other currencies the same nominal amount is used, scaled to their
# minor unit (1 JPY, 1.000 KWD): see `min_daily_minor`. This is a floor that catches budgets
# spread too thin; the platforms apply their own per-currency minimums and refuse at launch.
MIN_DAILY_MINOR: dict[ChannelKind, int] = {
    ChannelKind.META_ADS: 100,
    ChannelKind.GOOGLE_ADS: 100,
}


def min_daily_minor(kind: ChannelKind, currency: str) -> int:
    """The platform minimum daily budget of `kind` in minor units of `currency` (0 for unpaid channels)."""
    base = MIN_DAILY_MINOR.get(kind, 0)
    if not base:
        return 0
    exp = exponent(currency)
    if exp >= 2:
        return base * pow10(exp - 2)
    return max(1, base // pow10(2 - exp))


_KIND_VALUES = frozenset(k.value for k in ChannelKind)


def _channel_kind(value: Any) -> Any:
    if isinstance(value, ChannelKind) or (isinstance(value, str) and value in _KIND_VALUES):
        return value
    expected = ", ".join(k.value for k in ChannelKind)
    raise ValueError(f"unknown channel {value!r} (expected one of: {expected})")


Kind = Annotated[ChannelKind, BeforeValidator(_channel_kind)]


def _pct(value: Decimal) -> str:
    """A percentage without trailing zeros: 90, 12.5."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _text(value: str, *, limit: int | None = None) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank")
    if limit is not None and len(stripped) > limit:
        raise ValueError(f"{len(stripped)} characters is over the limit of {limit}")
    return stripped


# --- UTM tagging ---------------------------------------------------------------------------

DEFAULT_UTM_SOURCE: dict[ChannelKind, str] = {
    ChannelKind.META_ADS: "facebook",
    ChannelKind.GOOGLE_ADS: "google",
    ChannelKind.EMAIL: "newsletter",
    ChannelKind.LINKEDIN: "linkedin",
    ChannelKind.LANDING_PAGE: "website",
}
DEFAULT_UTM_MEDIUM: dict[ChannelKind, str] = {
    ChannelKind.META_ADS: "paid_social",
    ChannelKind.GOOGLE_ADS: "cpc",
    ChannelKind.EMAIL: "email",
    ChannelKind.LINKEDIN: "social",
    ChannelKind.LANDING_PAGE: "referral",
}
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content")


class UtmScheme(ConfigModel):
    """How links are tagged per channel; values given here replace the defaults for their channel."""

    campaign: str | None = None  # utm_campaign; None = the campaign id
    source: dict[Kind, str] = Field(default_factory=lambda: dict(DEFAULT_UTM_SOURCE))
    medium: dict[Kind, str] = Field(default_factory=lambda: dict(DEFAULT_UTM_MEDIUM))

    @field_validator("campaign")
    @classmethod
    def _campaign(cls, value: str | None) -> str | None:
        return None if value is None else _text(value, limit=200)

    @field_validator("source", "medium")
    @classmethod
    def _merge(cls, value: dict[ChannelKind, str], info: ValidationInfo) -> dict[ChannelKind, str]:
        for kind, tag in value.items():
            if not tag.strip():
                raise ValueError(f"{kind.value}: must not be blank")
        defaults = DEFAULT_UTM_SOURCE if info.field_name == "source" else DEFAULT_UTM_MEDIUM
        return {**defaults, **{k: v.strip() for k, v in value.items()}}


def utm_url(url: str, spec: CampaignSpec, channel: ChannelKind) -> str:
    """`url` tagged for `channel`: utm_source, utm_medium, utm_campaign and utm_content (the channel).

    Other query parameters and the fragment are kept as written, in their order; any utm
    parameter of the four is replaced, and the four always come last in that order.
    """
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and unquote_plus(p.split("=", 1)[0]) not in UTM_KEYS]
    tags = urlencode(
        [
            ("utm_source", spec.utm.source.get(channel, DEFAULT_UTM_SOURCE[channel])),
            ("utm_medium", spec.utm.medium.get(channel, DEFAULT_UTM_MEDIUM[channel])),
            ("utm_campaign", spec.utm.campaign or spec.id),
            ("utm_content", channel.value),
        ]
    )
    return urlunsplit(parts._replace(query="&".join([*kept, tags])))


# --- channels ------------------------------------------------------------------------------

# The per-kind fields each channel kind uses, and whether it must have them.
CHANNEL_FIELDS: dict[ChannelKind, dict[str, bool]] = {
    # `ad` and `search` are required in campaign files (see _REQUIRED_IN_FILES).
    ChannelKind.META_ADS: {"share": True, "countries": True, "ad": False},
    ChannelKind.GOOGLE_ADS: {"share": True, "countries": False, "search": False},
    # An email's template is required at launch (starter/service/campaigns.py checks it renders);
    # optional here, so campaigns launched before templates still load.
    ChannelKind.EMAIL: {"subject": True, "list_ids": True, "body": True, "template": False},
    ChannelKind.LINKEDIN: {"text": True},
    ChannelKind.LANDING_PAGE: {"title": True, "body": True},
}
_PER_KIND = ("share", "countries", "search", "ad", "subject", "list_ids", "text", "title", "body", "template")
# Required when a campaign file is validated (strict keys), not when a stored spec is read
# back: campaigns launched before ads were part of the file had none, and their histories
# must still load.
_REQUIRED_IN_FILES: dict[ChannelKind, tuple[str, ...]] = {
    ChannelKind.META_ADS: ("ad",),
    ChannelKind.GOOGLE_ADS: ("search",),
}
_BODY_LIMITS = {ChannelKind.EMAIL: CHANNEL_LIMITS[Channel.EMAIL], ChannelKind.LANDING_PAGE: CHANNEL_LIMITS[Channel.CMS]}
LINKEDIN_TEXT_LIMIT = CHANNEL_LIMITS[Channel.LINKEDIN]


# Read once at import: pycountry opens its data file on first use, and a workflow
# that decodes a campaign inside Temporal's sandbox may not open files.
_COUNTRY_CODES = frozenset(c.alpha_2 for c in pycountry.countries)


def _country_codes() -> frozenset[str]:
    return _COUNTRY_CODES


def _listed_twice(values: list[str], *, fold: bool = False) -> None:
    seen: set[str] = set()
    for value in values:
        key = value.casefold() if fold else value
        if key in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.add(key)


class ChannelSpec(ConfigModel):
    """One channel of a campaign; which fields apply depends on `kind` (see CHANNEL_FIELDS)."""

    kind: Kind
    share: Decimal | None = Field(default=None, gt=0, le=100)  # percent of total_budget; paid channels only
    countries: list[str] = []  # ISO 3166 alpha-2 targeting (meta_ads: required; google_ads: optional)
    search: SearchAd | None = None  # google_ads: the responsive search ad and its keywords
    subject: str | None = None  # email
    list_ids: list[str] = []  # email: SendGrid marketing list ids
    text: str | None = None  # linkedin post text
    title: str | None = None  # landing_page
    body: str | None = None  # email and landing_page: Markdown
    # email: the message template, `<name>.html` and `<name>.txt` in the campaigns' templates/
    template: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    ad: MetaAd | None = None  # meta_ads: the creative and its targeting (domain/meta_ads.py)

    @field_validator("countries")
    @classmethod
    def _countries(cls, countries: list[str]) -> list[str]:
        codes = [c.strip().upper() for c in countries]
        for code in codes:
            if code == "UK":
                raise ValueError("unknown country 'UK' (the ISO code of the United Kingdom is 'GB')")
            if code not in _country_codes():
                raise ValueError(f"unknown country {code!r} (use ISO 3166 alpha-2 codes such as DE, FR, US)")
        _listed_twice(codes)
        return codes

    @field_validator("list_ids")
    @classmethod
    def _list_ids(cls, list_ids: list[str]) -> list[str]:
        cleaned = [i.strip() for i in list_ids]
        if any(not i for i in cleaned):
            raise ValueError("a list id must not be blank")
        _listed_twice(cleaned)
        return cleaned

    @field_validator("subject", "title")
    @classmethod
    def _line(cls, value: str | None) -> str | None:
        return None if value is None else _text(value, limit=200)

    @field_validator("text")
    @classmethod
    def _post_text(cls, value: str | None) -> str | None:
        return None if value is None else _text(value, limit=LINKEDIN_TEXT_LIMIT)

    @field_validator("body")
    @classmethod
    def _body(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _fields_for_kind(self, info: ValidationInfo) -> ChannelSpec:
        uses = CHANNEL_FIELDS[self.kind]
        if info.context and info.context.get(STRICT_KEYS):
            uses = {**uses, **{name: True for name in _REQUIRED_IN_FILES.get(self.kind, ())}}
        for name in _PER_KIND:
            given = getattr(self, name) not in (None, [])
            if given and name not in uses:
                if name == "share":
                    paid = ", ".join(sorted(k.value for k in PAID))
                    raise ValueError(f"share: only paid channels ({paid}) take a share of the budget, not {self.kind}")
                users = ", ".join(k.value for k, fields in CHANNEL_FIELDS.items() if name in fields)
                raise ValueError(f"{name}: not used by {self.kind} channels (only by {users})")
            if not given and uses.get(name):
                if name == "share":
                    raise ValueError(f"share: required for {self.kind}: the percent of total_budget it gets")
                if name == "search":
                    raise ValueError(
                        f"search: required for {self.kind} channels (the ad's headlines and descriptions, its keywords)"
                    )
                raise ValueError(f"{name}: required for {self.kind} channels")
        limit = _BODY_LIMITS.get(self.kind)
        if self.body is not None and limit is not None and len(self.body) > limit:
            raise ValueError(f"body: {len(self.body)} characters is over the {self.kind} limit of {limit}")
        return self


# --- KPIs, guardrails, reallocation -------------------------------------------------------


class KpiTargets(ConfigModel):
    """What good looks like; missing a target raises a soft alert, never an action."""

    target_cpa: Decimal | None = Field(default=None, gt=0)
    target_roas: Decimal | None = Field(default=None, gt=0)
    min_ctr: float | None = None  # a fraction: 0.01 is 1%

    @field_validator("min_ctr")
    @classmethod
    def _fraction(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value < 1:
            raise ValueError(f"write the click-through rate as a fraction, e.g. 0.01 for 1% (got {value})")
        return value


class Guardrails(ConfigModel):
    """Hard rules pause a channel on their own; the others alert the owner."""

    max_cpa: Decimal | None = Field(default=None, gt=0)  # hard: see domain.performance.anomalies
    spend_spike_factor: float = Field(default=1.5, ge=1)  # a day's spend > factor x daily budget -> alert
    pause_on_spend_spike: bool = False
    zero_delivery_days: int = Field(default=1, ge=1)  # complete live days with 0 impressions -> alert
    min_conversions_for_cpa: int = Field(default=3, ge=1)


def _unique_stage_names(stages: list[ApprovalStage]) -> list[ApprovalStage]:
    seen: set[str] = set()
    for stage in stages:
        if stage.name in seen:
            raise ValueError(f"stage {stage.name!r} is listed twice")
        seen.add(stage.name)
    return stages


class ReallocationRules(ConfigModel):
    """How budget moves between the paid channels (domain.budget.propose)."""

    metric: Literal["cpa", "roas"] | None = None  # None: roas for objective sales, else cpa
    lookback_days: int = Field(default=7, ge=1, le=90)
    max_step_pct: Decimal = Field(default=Decimal("20"), gt=0, le=100)  # of the total daily budget, per run
    floor_pct: Decimal = Field(default=Decimal("10"), ge=0, lt=100)  # no paid channel below this % of the total
    cap_pct: Decimal = Field(default=Decimal("80"), gt=0, le=100)  # nor above this
    min_spend: Decimal = Field(default=Decimal("50"), ge=0)  # per channel over the lookback, campaign currency
    min_clicks: int = Field(default=100, ge=0)
    min_conversions: int = Field(default=5, ge=0)
    auto_apply_under_pct: Decimal = Field(default=Decimal("5"), ge=0, le=100)  # moves up to this % need no approval
    min_improvement_pct: Decimal = Field(default=Decimal("10"), ge=0)  # best must beat worst by this much
    approval: list[ApprovalStage] = []  # stages for moves above auto_apply_under_pct

    @field_validator("cap_pct")
    @classmethod
    def _cap_above_floor(cls, cap: Decimal, info: ValidationInfo) -> Decimal:
        floor = info.data.get("floor_pct")
        if floor is not None and cap <= floor:
            raise ValueError(f"must be above floor_pct ({_pct(floor)}%), got {_pct(cap)}%")
        return cap

    @field_validator("approval")
    @classmethod
    def _stage_names(cls, stages: list[ApprovalStage]) -> list[ApprovalStage]:
        return _unique_stage_names(stages)


PacingCurve = Literal["even", "front_loaded"]


class PacingRules(ConfigModel):
    """How the daily budgets follow a spending plan so the campaign lands on total_budget
    (domain.pacing.decide). The split between the paid channels is the reallocation's: its
    floor_pct/cap_pct hold as they do, and a change above its auto_apply_under_pct waits for
    its approval stages, like a move between channels.

    curve: `even` plans the same spend every campaign day; `front_loaded` is a linear
    ramp-down: of N days, day i (0 = the first) gets 2N-1-i parts, so the first day plans
    about twice the last and the first half of the days about 7/12 (58%) of the total.
    """

    curve: PacingCurve = "even"
    max_step_pct: Decimal = Field(default=Decimal("20"), gt=0, le=100)  # of the daily total, at most once a day
    tolerance_pct: Decimal = Field(default=Decimal("5"), ge=0, lt=100)  # no change while within this of the plan

    @field_validator("tolerance_pct")
    @classmethod
    def _tolerance_under_step(cls, tolerance: Decimal, info: ValidationInfo) -> Decimal:
        step = info.data.get("max_step_pct")
        if step is not None and tolerance >= step:
            raise ValueError(f"must be below max_step_pct ({_pct(step)}%), got {_pct(tolerance)}%")
        return tolerance


# --- the campaign -----------------------------------------------------------------------

_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")
_WHEN_HELP = "write a date and time such as 2026-04-01T09:00 (in the campaign's timezone) or with an offset"


def _moment(value: Any) -> Any:
    date_only = isinstance(value, str) and _DATE_ONLY.match(value)
    if date_only or (isinstance(value, date) and not isinstance(value, datetime)):
        raise ValueError(f"a date alone is ambiguous: {_WHEN_HELP}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"invalid date and time {value!r}: {_WHEN_HELP}")
    return value


def _when(moment: datetime, timezone: str) -> str:
    return f"{moment.astimezone(zone(timezone)):%Y-%m-%d %H:%M} {timezone}"


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def _localise(moment: datetime, tz: ZoneInfo, field: str) -> datetime:
    """A naive wall-clock time in `tz` (the first one when clocks go back) as aware UTC."""
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    aware = moment.replace(tzinfo=tz)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != moment:
        raise ValueError(f"{field}: {moment:%Y-%m-%d %H:%M} does not exist in {tz.key} (the clocks go forward then)")
    return aware.astimezone(UTC)


def _never_approvable(stage: ApprovalStage, owner: str, directory: Directory | None) -> bool:
    """True when the stage cannot finish without the owner, even after escalation to backups."""
    if directory is None:
        return stage.approvers == [owner]  # backups unknown: only the plain case is certain
    if stage.mode == ApprovalMode.ALL:
        return owner in stage.approvers and directory.backup_of(owner) in (None, owner)
    backups = [directory.backup_of(a) for a in stage.approvers]
    possible = {p for p in [*stage.approvers, *backups] if p is not None and p != owner}
    return len(possible) < stage.needed


def _owner_cannot_approve(stage: ApprovalStage, owner: str) -> str:
    if stage.approvers == [owner]:
        return f"{owner!r} owns the campaign and cannot approve it; stage {stage.name!r} needs another approver"
    return (
        f"stage {stage.name!r} can never be approved: the owner {owner!r} cannot approve their own campaign "
        "and too few other approvers or backups are left"
    )


class CampaignConversions(ConfigModel):
    """What the leads this campaign brings (their capture's utm_campaign is the campaign's)
    report back to the ad platforms (`count:`): lead stages and/or `deal_won`. It replaces
    `MOPS_CONVERSIONS_ON` for those leads; where the conversions go (the pixel, the
    conversion action) and their value stay account settings."""

    # Not `on`: YAML reads a bare `on` key as true.
    count: list[str] = Field(min_length=1)

    @field_validator("count")
    @classmethod
    def _count(cls, value: list[str]) -> list[str]:
        names = check_conversion_names([str(v).strip().lower() for v in value])
        if not names:
            raise ValueError("conversions need at least one conversion: a lead stage or deal_won")
        return names


class CampaignSpec(ConfigModel):
    """A multi-channel campaign as the marketing-ops engineer wrote it (campaigns/*.yaml).

    After validation `start` and `end` are aware UTC; naive times in the file are read in `timezone`.
    """

    id: str = Field(pattern=CAMPAIGN_ID_PATTERN)  # the workflow id is f"campaign-{id}"
    name: str
    objective: Objective
    owner: PersonId  # the requester; they cannot approve their own campaign
    start: Annotated[datetime | None, BeforeValidator(_moment)] = None  # None = at launch
    end: datetime  # or a duration after the start ("14d"), resolved when the spec is built
    timezone: TimezoneName = "UTC"
    currency: str
    total_budget: Decimal = Field(gt=0, lt=Decimal("1e15"))  # major units
    audience: str
    landing_url: str
    channels: list[ChannelSpec] = Field(min_length=1)
    utm: UtmScheme = Field(default_factory=UtmScheme)
    kpis: KpiTargets = Field(default_factory=KpiTargets)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    reallocation: ReallocationRules = Field(default_factory=ReallocationRules)
    pacing: PacingRules | None = None  # None: the daily budgets stay as set (the total is still enforced)
    conversions: CampaignConversions | None = None  # None: its leads report what MOPS_CONVERSIONS_ON says
    approval: list[ApprovalStage] = []  # launch approval; empty = launches without one
    monitor_every: Duration = timedelta(hours=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _text(value, limit=200)

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: str) -> str:
        return _text(value)

    @field_validator("end", mode="before")
    @classmethod
    def _end(cls, value: Any, info: ValidationInfo) -> Any:
        value = _moment(value)
        if not isinstance(value, str) or re.match(r"^\s*\d{4}-", value):
            return value
        try:
            length = parse_duration(value)
        except ValueError:
            raise ValueError(f"invalid date and time {value!r}: {_WHEN_HELP}, or a duration such as 14d") from None
        if "start" not in info.data:
            return value  # the start is wrong, and reported on its own
        start = info.data["start"]
        if start is None:
            start = (info.context or {}).get(NOW)
            if start is None:
                raise ValueError(
                    f"{value!r} counts from the start: give a start, or build the campaign with its launch time"
                )
        return start + length

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("total_budget")
    @classmethod
    def _budget_decimals(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        currency = info.data.get("currency")
        if currency is None:
            return value  # the currency is wrong, and reported on its own
        try:
            exact = value == value.quantize(quantum(currency))
        except InvalidOperation:
            exact = False
        if not exact:
            raise ValueError(f"{value} has more decimals than {currency} allows ({exponent(currency)})")
        return value

    @field_validator("landing_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        bad_chars = any(c.isspace() or ord(c) < 32 for c in value)
        if parts.scheme not in ("http", "https") or not parts.hostname or bad_chars:
            raise ValueError(f"must be an http(s) URL such as https://example.com/spring, got {value!r}")
        return value

    @field_validator("approval")
    @classmethod
    def _stage_names(cls, stages: list[ApprovalStage]) -> list[ApprovalStage]:
        return _unique_stage_names(stages)

    @field_validator("monitor_every")
    @classmethod
    def _often_enough(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("must be at least 1m (the platforms report spend hourly at best)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CampaignSpec:
        tz = zone(self.timezone)
        if self.start is not None:
            self.start = _localise(self.start, tz, "start")
        self.end = _localise(self.end, tz, "end")
        if self.start is not None and self.end <= self.start:
            raise ValueError(
                f"end: {_when(self.end, self.timezone)} must be after the start ({_when(self.start, self.timezone)})"
            )
        first: dict[ChannelKind, int] = {}
        for i, channel in enumerate(self.channels):
            if channel.kind in first:
                twice = f"{channel.kind.value!r} is listed twice (first at channels[{first[channel.kind]}])"
                raise ValueError(f"channels.{i}.kind: {twice}")
            first[channel.kind] = i
        paid = self.paid()
        shares = sum((c.share or Decimal(0) for c in paid), Decimal(0))
        if paid and shares != 100:
            raise ValueError(f"channels: paid channel shares sum to {_pct(shares)}%, expected 100%")
        rules = self.reallocation
        if len(paid) >= 2 and rules.floor_pct * len(paid) > 100:
            raise ValueError(
                f"reallocation.floor_pct: {_pct(rules.floor_pct)}% for each of {len(paid)} paid channels is over 100%"
            )
        if len(paid) >= 2 and rules.cap_pct * len(paid) < 100:
            raise ValueError(
                f"reallocation.cap_pct: {_pct(rules.cap_pct)}% for each of {len(paid)} paid channels is under 100%"
            )
        self._check_pacing()
        target, limit = self.kpis.target_cpa, self.guardrails.max_cpa
        if target is not None and limit is not None and target > limit:
            raise ValueError(f"kpis.target_cpa: {target} is above guardrails.max_cpa ({limit})")
        for where, stages in (("approval", self.approval), ("reallocation.approval", rules.approval)):
            for i, stage in enumerate(stages):
                if _never_approvable(stage, self.owner, None):
                    raise ValueError(f"{where}.{i}.approvers: {_owner_cannot_approve(stage, self.owner)}")
        return self

    def _check_pacing(self) -> None:
        pacing, rules = self.pacing, self.reallocation
        if pacing is None:
            return
        if not self.paid():
            raise ValueError("pacing: the campaign has no paid channel whose budget could be paced")
        if pacing.max_step_pct > rules.auto_apply_under_pct and not rules.approval:
            raise ValueError(
                f"pacing.max_step_pct: changes of up to {_pct(pacing.max_step_pct)}% go over "
                f"reallocation.auto_apply_under_pct ({_pct(rules.auto_apply_under_pct)}%) and need approval, "
                "but reallocation.approval names no approvers"
            )

    # --- derived values ---

    def start_at(self, launched_at: datetime) -> datetime:
        """When the campaign starts, aware UTC: `start`, or the launch time when it has none."""
        return self.start.astimezone(UTC) if self.start is not None else _aware(launched_at, "launched_at")

    def end_at(self) -> datetime:
        return _aware(self.end, "end")

    def days(self, launched_at: datetime) -> int:
        """Calendar days in `timezone` that [start, end) touches, partial first and last days included (>= 1)."""
        tz = zone(self.timezone)
        first = self.start_at(launched_at).astimezone(tz).date()
        last = (self.end_at() - timedelta(microseconds=1)).astimezone(tz).date()
        return max(1, (last - first).days + 1)

    def paid(self) -> list[ChannelSpec]:
        return [c for c in self.channels if c.kind in PAID]

    def channel(self, kind: ChannelKind) -> ChannelSpec | None:
        return next((c for c in self.channels if c.kind == kind), None)

    def daily_budget_minor(self, kind: ChannelKind, launched_at: datetime) -> int:
        """total_budget x share / 100 / days, rounded down to minor units (0 for a channel without a share)."""
        channel = self.channel(kind)
        if channel is None or channel.share is None:
            return 0
        total_minor = self.total_budget.scaleb(exponent(self.currency))  # exact: decimals are validated
        return int((total_minor * channel.share) // (100 * self.days(launched_at)))

    def metric(self) -> Literal["cpa", "roas"]:
        """What reallocation optimises: the rules' metric, else roas for sales and cpa otherwise."""
        if self.reallocation.metric is not None:
            return self.reallocation.metric
        return "roas" if self.objective == Objective.SALES else "cpa"


# --- building and loading ----------------------------------------------------------------


class CampaignSpecError(SpecError):
    """A campaign that cannot be used; one line: `<file>: <field.path>: <reason>` (no file part
    when the campaign came from no file)."""

    @property
    def field(self) -> str:
        return self.loc


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc if p != "[key]")


def _brackets(path: str) -> str:
    """channels.2.kind -> channels[2].kind"""
    return re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", path)


def _error(path: Path | str, loc: str, reason: str) -> CampaignSpecError:
    return CampaignSpecError(path, _brackets(loc), reason)


def _check_launch(spec: CampaignSpec, now: datetime | None, path: Path | str) -> None:
    if now is None:
        return
    if spec.start is not None and spec.start < now:
        when = _when(spec.start, spec.timezone)
        raise _error(path, "start", f"{when} is in the past; leave start out to begin at launch")
    if spec.start is None and spec.end <= now:
        end, launch = _when(spec.end, spec.timezone), _when(now, spec.timezone)
        raise _error(path, "end", f"{end} must be after the launch ({launch})")


def _check_minimums(spec: CampaignSpec, now: datetime | None, path: Path | str) -> None:
    launch = spec.start or now
    if launch is None:
        return  # the number of days is not known before launch
    for i, channel in enumerate(spec.channels):
        minimum = min_daily_minor(channel.kind, spec.currency)
        daily = spec.daily_budget_minor(channel.kind, launch)
        if channel.kind in PAID and daily < minimum:
            raise _error(
                path,
                f"channels.{i}.share",
                f"daily budget {show(daily, spec.currency, minor=True)} for {channel.kind} is below the platform "
                f"minimum of {show(minimum, spec.currency, minor=True)}",
            )


def _check_people(spec: CampaignSpec, directory: Directory | None, path: Path | str) -> None:
    if directory is None:
        return
    if directory.get(spec.owner) is None:
        raise _error(path, "owner", f"{spec.owner!r} is not in the directory")
    for where, stages in (("approval", spec.approval), ("reallocation.approval", spec.reallocation.approval)):
        for i, stage in enumerate(stages):
            for approver in stage.approvers:
                if directory.get(approver) is None:
                    raise _error(path, f"{where}.{i}.approvers", f"{approver!r} is not in the directory")
            if _never_approvable(stage, spec.owner, directory):
                raise _error(path, f"{where}.{i}.approvers", _owner_cannot_approve(stage, spec.owner))


def build_campaign(
    data: dict[str, Any],
    *,
    directory: Directory | None = None,
    now: datetime | None = None,
    path: str = "",
    assets: Path | None = None,
) -> CampaignSpec:
    """Validate a YAML/JSON-shaped campaign; raises CampaignSpecError (one line).

    Unknown keys are refused. With `directory`, the owner and approvers must be in it. With
    `now` (the launch time), a start in the past is refused, a relative end ("14d") of a
    campaign without a start counts from it, and budgets are checked against the platform
    minimums even when the campaign starts at launch. Ad images are named relative to the
    campaign assets directory `assets` and must sit in it (default: the directory of the
    file at `path`; neither: a campaign with an image is refused).
    """
    if not isinstance(data, dict):
        raise CampaignSpecError(path, "", "a campaign is a mapping of fields")
    if now is not None:
        now = _aware(now, "now")
    try:
        base = assets if assets is not None else Path(path).parent if path else None
        spec = CampaignSpec.model_validate(data, context={STRICT_KEYS: True, NOW: now, IMAGE_BASE: base})
    except ValidationError as err:
        raise _error(path, *first_error(err, _loc, split_path=True)) from None
    _check_launch(spec, now, path)
    _check_minimums(spec, now, path)
    _check_people(spec, directory, path)
    return spec


def load_campaign(path: Path, *, directory: Directory | None = None, now: datetime | None = None) -> CampaignSpec:
    """Load and validate a campaign YAML file; raises CampaignSpecError `<path>: <field>: <reason>`."""
    _, data = read_yaml_mapping(Path(path), CampaignSpecError, "campaign fields")
    return build_campaign(data, directory=directory, now=now, path=str(path))


def currency_mismatch(spec: CampaignSpec, platform: str, account_currency: str) -> str | None:
    """Why the campaign cannot run on an ad account billing in another currency (one line), or None."""
    account = (account_currency or "").strip().upper()
    if account == spec.currency:
        return None
    bills = account or "an unknown currency"
    return f"currency: campaign is in {spec.currency} but the {platform} account bills in {bills}"
