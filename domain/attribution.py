"""Multi-touch attribution over the touch paths mops records on each lead.

Pure and deterministic: the same journeys, model and window always give the same
credits, to the last digit (weights are `Decimal`, time decay uses `Decimal` powers,
rounding leftovers go to the heaviest touch, ties are broken by path order).

What is attributed. A lead journey *converts* when sales accepts the lead (stage
`converted`); if that moment is not known but a deal was won, the deal's close time
counts. Each conversion in the window is worth 1 conversion, 1 customer when the lead
has a closed-won deal, and the amount of its won deals (booked revenue); the model
splits those over the touches of its path.

Which touches count. A path's touches at or before the conversion and within
`lookback` of it (90 days by default), in time order; touches at the same instant keep
the order they were recorded in. A conversion outside [start, end) counts for nothing;
a conversion without an eligible touch is reported as unattributed.

The models (weights over n eligible touches, always summing to 1):
- `first_touch`: all to the first; `last_touch`: all to the last.
- `linear`: 1/n each.
- `time_decay`: 2^(-age / half_life) for each touch's age at the conversion (half-life
  7 days by default, configurable), normalised.
- `u_shaped` (position based): 40% first, 40% last, 20% shared by the touches between;
  one touch gets 100%, two get 50% each.
- `w_shaped`: three milestones get 30% each and the other touches share 10%. The
  milestones in mops' lead lifecycle are (1) the first touch, (2) the lead-creation
  touch — the touch that made the lead a marketing-qualified lead: the last touch at or
  before the lead reached `mql` — and (3) the opportunity touch: the last touch at or
  before the hand-off to sales, when the CRM deal was created (`sales_assigned`). A
  milestone that is not known (a lead that skipped a stage, a trimmed timeline) is left
  out and the others share 90%; milestones on the same touch add up; when no other
  touch is left, the 10% goes to the milestones too.

Channels and campaigns of a touch (`touch_channel`): `utm_content` when it names a mops
channel (mops campaign links carry it), else `utm_medium` (cpc → google_ads,
paid_social → meta_ads, email → email, social → linkedin, referral → landing_page), else
the capture's lead source (`webinar`, `web_form`, ...), else `direct`; the campaign is
`utm_campaign`, or `(none)`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.analytics import NO_CAMPAIGN
from domain.campaigns import ChannelKind
from domain.fields import UtcDatetime
from domain.leads import LeadStage, Touch

DEFAULT_HALF_LIFE = timedelta(days=7)
DEFAULT_LOOKBACK = timedelta(days=90)
SHARE_QUANTUM = Decimal("0.000001")  # conversions and customers
MONEY_QUANTUM = Decimal("0.01")

MEDIUM_CHANNEL = {
    "cpc": ChannelKind.GOOGLE_ADS.value,
    "ppc": ChannelKind.GOOGLE_ADS.value,
    "paid_search": ChannelKind.GOOGLE_ADS.value,
    "paid_social": ChannelKind.META_ADS.value,
    "email": ChannelKind.EMAIL.value,
    "social": ChannelKind.LINKEDIN.value,
    "referral": ChannelKind.LANDING_PAGE.value,
}
_CHANNELS = frozenset(k.value for k in ChannelKind)


class Model(StrEnum):
    FIRST_TOUCH = "first_touch"
    LAST_TOUCH = "last_touch"
    LINEAR = "linear"
    TIME_DECAY = "time_decay"
    U_SHAPED = "u_shaped"
    W_SHAPED = "w_shaped"


MODELS: tuple[Model, ...] = tuple(Model)


class AttributionError(ValueError):
    """Attribution input we refuse; the message is one line naming the field."""


def parse_model(name: str) -> Model:
    """A model by name (`first_touch`, `first-touch`, `First_Touch` all work)."""
    key = str(name).strip().lower().replace("-", "_")
    try:
        return Model(key)
    except ValueError:
        expected = ", ".join(m.value for m in Model)
        raise AttributionError(f"model: unknown model {name!r} (expected one of: {expected})") from None


def parse_models(names: Sequence[str]) -> list[Model]:
    """Models by name, `all` for every model; in the order given, without repeats."""
    out: list[Model] = []
    for name in names or ["all"]:
        for model in MODELS if str(name).strip().lower() == "all" else (parse_model(name),):
            if model not in out:
                out.append(model)
    return out


# --- inputs ---------------------------------------------------------------------------


class PathTouch(BaseModel):
    at: UtcDatetime
    channel: str
    campaign: str = NO_CAMPAIGN
    kind: str = ""


class Journey(BaseModel):
    """One lead's path and the milestones attribution looks at."""

    lead_id: str
    touches: list[PathTouch] = []  # as recorded, oldest first
    stage: str | None = None
    created_at: UtcDatetime | None = None
    mql_at: UtcDatetime | None = None
    opportunity_at: UtcDatetime | None = None
    converted_at: UtcDatetime | None = None
    won_at: UtcDatetime | None = None  # close time of the first closed-won deal
    revenue: Decimal = Field(default=Decimal(0), ge=0)  # closed-won amounts

    @property
    def conversion_at(self) -> datetime | None:
        return self.converted_at or self.won_at

    @property
    def customer(self) -> bool:
        return self.won_at is not None or self.revenue > 0


def touch_channel(touch: Touch) -> tuple[str, str]:
    """(channel, campaign) of a recorded touch (see the module docstring)."""
    utm = touch.utm
    campaign = (utm.campaign if utm and utm.campaign else None) or NO_CAMPAIGN
    if utm and utm.content and utm.content.lower() in _CHANNELS:
        return utm.content.lower(), campaign
    if utm and utm.medium and utm.medium.lower() in MEDIUM_CHANNEL:
        return MEDIUM_CHANNEL[utm.medium.lower()], campaign
    if touch.kind.startswith("capture:"):
        return touch.kind.split(":", 1)[1] or "direct", campaign
    return (utm.source.lower() if utm and utm.source else "direct"), campaign


def path_touch(touch: Touch) -> PathTouch:
    channel, campaign = touch_channel(touch)
    return PathTouch(at=touch.at, channel=channel, campaign=campaign, kind=touch.kind)


_STAGE_NOTE = "stage → "


def stage_times(timeline: Iterable[tuple[datetime, str]]) -> dict[LeadStage, datetime]:
    """When a lead first reached each stage, from its timeline (`stage → mql` notes)."""
    reached: dict[LeadStage, datetime] = {}
    for at, what in timeline:
        if what.startswith(_STAGE_NOTE):
            try:
                stage = LeadStage(what.removeprefix(_STAGE_NOTE).strip())
            except ValueError:
                continue
            reached.setdefault(stage, at)
    return reached


# --- weights --------------------------------------------------------------------------


def eligible(journey: Journey, *, lookback: timedelta = DEFAULT_LOOKBACK) -> list[PathTouch]:
    """The touches that count for the journey's conversion, in time order (ties: path order)."""
    at = journey.conversion_at
    if at is None:
        return []
    indexed = [(t.at, i, t) for i, t in enumerate(journey.touches) if at - lookback <= t.at <= at]
    return [t for _, _, t in sorted(indexed, key=lambda x: (x[0], x[1]))]


def _last_at_or_before(touches: list[PathTouch], moment: datetime | None) -> int | None:
    if moment is None:
        return None
    found = None
    for i, t in enumerate(touches):
        if t.at <= moment:
            found = i
    return found


def weights(
    model: Model,
    touches: list[PathTouch],
    *,
    conversion_at: datetime,
    half_life: timedelta = DEFAULT_HALF_LIFE,
    mql_at: datetime | None = None,
    opportunity_at: datetime | None = None,
) -> list[Decimal]:
    """The share of each touch (time-ordered) in one conversion; they sum to 1."""
    n = len(touches)
    if n == 0:
        return []
    if n == 1:
        return [Decimal(1)]
    with localcontext() as ctx:
        ctx.prec = 28
        if model == Model.FIRST_TOUCH:
            return [Decimal(1)] + [Decimal(0)] * (n - 1)
        if model == Model.LAST_TOUCH:
            return [Decimal(0)] * (n - 1) + [Decimal(1)]
        if model == Model.LINEAR:
            return [Decimal(1) / n] * n
        if model == Model.TIME_DECAY:
            if half_life <= timedelta(0):
                raise AttributionError("half_life: must be longer than zero")
            micro = timedelta(microseconds=1)
            hl = Decimal(half_life // micro)
            raw = [Decimal(2) ** (-Decimal((conversion_at - t.at) // micro) / hl) for t in touches]
            total = sum(raw, Decimal(0))
            return [w / total for w in raw]
        if model == Model.U_SHAPED:
            if n == 2:
                return [Decimal("0.5"), Decimal("0.5")]
            middle = Decimal("0.2") / (n - 2)
            return [Decimal("0.4")] + [middle] * (n - 2) + [Decimal("0.4")]
        # W-shaped: milestone slots (first, lead creation, opportunity), 30% each.
        slots = [0]
        for moment in (mql_at, opportunity_at):
            index = _last_at_or_before(touches, moment)
            if index is not None:
                slots.append(index)
        share = [Decimal(0)] * n
        others = [i for i in range(n) if i not in slots]
        milestone = Decimal("0.9") / len(slots) if others else Decimal(1) / len(slots)
        for index in slots:
            share[index] += milestone
        for index in others:
            share[index] += Decimal("0.1") / len(others)
        return share


def split(value: Decimal, shares: list[Decimal], quantum: Decimal) -> list[Decimal]:
    """`value` split by `shares`, each rounded to `quantum`, adding up to `value` exactly
    (the rounding leftover goes to the largest share; the first of equals)."""
    if not shares:
        return []
    parts = [(value * s).quantize(quantum, rounding=ROUND_HALF_EVEN) for s in shares]
    leftover = value.quantize(quantum) - sum(parts, Decimal(0))
    if leftover:
        heaviest = max(range(len(shares)), key=lambda i: (shares[i], -i))
        parts[heaviest] += leftover
    return parts


# --- attribution ----------------------------------------------------------------------


class Credit(BaseModel):
    channel: str
    campaign: str
    conversions: Decimal = Decimal(0)
    customers: Decimal = Decimal(0)
    revenue: Decimal = Decimal(0)


class AttributionResult(BaseModel):
    model: Model
    start: datetime
    end: datetime
    half_life: timedelta
    lookback: timedelta
    conversions: int = 0  # journeys converting in the window
    customers: int = 0
    revenue: Decimal = Decimal(0)
    unattributed: int = 0  # conversions with no touch in the lookback
    credits: list[Credit] = []  # highest conversions first, then revenue, then channel/campaign

    def by_channel(self) -> dict[str, Credit]:
        out: dict[str, Credit] = {}
        for c in self.credits:
            got = out.setdefault(c.channel, Credit(channel=c.channel, campaign="*"))
            got.conversions += c.conversions
            got.customers += c.customers
            got.revenue += c.revenue
        return out

    def table(self) -> dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]]:
        """(channel, campaign) -> (conversions, customers, revenue)."""
        return {(c.channel, c.campaign): (c.conversions, c.customers, c.revenue) for c in self.credits}


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise AttributionError(f"{name}: must be timezone-aware")
    return moment


def attribute(
    journeys: Iterable[Journey],
    model: Model,
    *,
    start: datetime,
    end: datetime,
    half_life: timedelta = DEFAULT_HALF_LIFE,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> AttributionResult:
    """Credit each conversion in [start, end) to the touches of its path by `model`."""
    start, end = _aware(start, "from"), _aware(end, "to")
    if end <= start:
        raise AttributionError(f"from: {start.isoformat()} is after to {end.isoformat()}")
    if half_life <= timedelta(0):
        raise AttributionError("half_life: must be longer than zero")
    if lookback <= timedelta(0):
        raise AttributionError("lookback: must be longer than zero")
    result = AttributionResult(model=model, start=start, end=end, half_life=half_life, lookback=lookback)
    sums: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for journey in sorted(journeys, key=lambda j: j.lead_id):
        at = journey.conversion_at
        if at is None or not start <= at < end:
            continue
        result.conversions += 1
        customer = Decimal(1) if journey.customer else Decimal(0)
        result.customers += int(customer)
        result.revenue += journey.revenue
        touches = eligible(journey, lookback=lookback)
        if not touches:
            result.unattributed += 1
            continue
        shares = weights(
            model,
            touches,
            conversion_at=at,
            half_life=half_life,
            mql_at=journey.mql_at,
            opportunity_at=journey.opportunity_at,
        )
        for measure, (value, quantum) in enumerate(
            ((Decimal(1), SHARE_QUANTUM), (customer, SHARE_QUANTUM), (journey.revenue, MONEY_QUANTUM))
        ):
            for touch, part in zip(touches, split(value, shares, quantum), strict=True):
                sums[(touch.channel, touch.campaign)][measure] += part
    result.credits = sorted(
        (
            Credit(channel=k[0], campaign=k[1], conversions=v[0], customers=v[1], revenue=v[2])
            for k, v in sums.items()
            if any(v)
        ),
        key=lambda c: (-c.conversions, -c.revenue, c.channel, c.campaign),
    )
    return result


class ComparisonRow(BaseModel):
    channel: str
    conversions: dict[Model, Decimal]
    revenue: dict[Model, Decimal]


class Comparison(BaseModel):
    models: list[Model]
    results: dict[Model, AttributionResult]
    rows: list[ComparisonRow]  # one per channel, ordered by the first model's conversions


def compare(
    journeys: Iterable[Journey],
    models: Sequence[Model],
    *,
    start: datetime,
    end: datetime,
    half_life: timedelta = DEFAULT_HALF_LIFE,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> Comparison:
    """The same journeys under several models, side by side per channel."""
    journeys = list(journeys)
    models = list(dict.fromkeys(models)) or list(MODELS)
    results = {m: attribute(journeys, m, start=start, end=end, half_life=half_life, lookback=lookback) for m in models}
    channels = sorted({c for r in results.values() for c in r.by_channel()})
    first = results[models[0]].by_channel()
    rows = [
        ComparisonRow(
            channel=ch,
            conversions={
                m: (results[m].by_channel().get(ch) or Credit(channel=ch, campaign="*")).conversions for m in models
            },
            revenue={m: (results[m].by_channel().get(ch) or Credit(channel=ch, campaign="*")).revenue for m in models},
        )
        for ch in channels
    ]
    rows.sort(key=lambda r: (-(first[r.channel].conversions if r.channel in first else Decimal(0)), r.channel))
    return Comparison(models=models, results=results, rows=rows)
