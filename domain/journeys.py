"""Nurture journeys as data: step models, the journey spec, and the YAML loader."""

from __future__ import annotations

import difflib
import hashlib
import re
import string
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator

from domain.experiments import BayesianRule, DecisionRule, ExperimentMetric
from domain.fields import (
    STRICT_KEYS,
    ConfigModel,
    Duration,
    LocalTime,
    SpecError,
    TimezoneName,
    first_error,
    read_yaml_mapping,
)
from domain.leads import JOURNEY_ID_PATTERN, EventType, normalise_email
from domain.reentry import ReentryPolicy
from domain.routing import OwnerSlot
from domain.rules import Condition, evaluate_all
from domain.schedule import FrequencyCap, QuietHours
from domain.scoring import ORDERED, ScoringModel
from domain.splits import HOLDOUT, PERCENT, bucket, choose

STEP_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
NOTIFY_PLACEHOLDERS = frozenset({"stage", "score", "segment", "journey"})
StepId = Annotated[str, Field(pattern=STEP_ID_PATTERN)]
# CRM owner ids are numeric strings; YAML reads an unquoted `101` as an int.
OwnerId = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v)]


class _StepBase(ConfigModel):
    id: StepId
    next: StepId | None = None  # goto; None = the following step in the list


class SendEmailStep(_StepBase):
    type: Literal["send_email"] = "send_email"
    template: str = Field(min_length=1)
    subject: str = Field(min_length=1)


class WaitStep(_StepBase):
    """Wait for exactly one of: a duration, N business days, or the next local wall time."""

    type: Literal["wait"] = "wait"
    duration: Duration | None = None
    business_days: int | None = Field(default=None, ge=1)
    until_local_time: LocalTime | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> WaitStep:
        given = [k for k in ("duration", "business_days", "until_local_time") if getattr(self, k) is not None]
        if len(given) != 1:
            got = ", ".join(given) or "none"
            raise ValueError(f"wait needs exactly one of duration, business_days, until_local_time (got {got})")
        return self


class WaitForEventStep(_StepBase):
    type: Literal["wait_for_event"] = "wait_for_event"
    events: list[EventType] = Field(min_length=1)
    timeout: Duration
    on_event: StepId | None = None
    on_timeout: StepId | None = None


class BranchCase(ConfigModel):
    """Holds when every condition holds and, if set, `event_seen` was ever recorded."""

    when: list[Condition] = []
    event_seen: EventType | None = None
    goto: StepId

    @model_validator(mode="after")
    def _has_a_test(self) -> BranchCase:
        if not self.when and self.event_seen is None:
            raise ValueError("a case needs `when` conditions or `event_seen` (use `default` for the fallback)")
        return self

    def matches(self, facts: dict[str, Any], seen: Iterable[EventType]) -> bool:
        return evaluate_all(self.when, facts) and (self.event_seen is None or self.event_seen in set(seen))


class BranchStep(_StepBase):
    type: Literal["branch"] = "branch"
    cases: list[BranchCase] = Field(min_length=1)
    default: StepId | None = None

    def choose(self, facts: dict[str, Any], seen: Iterable[EventType]) -> str | None:
        """The goto of the first matching case, else `default` (None = the following step)."""
        seen = set(seen)
        return next((c.goto for c in self.cases if c.matches(facts, seen)), self.default)


class SplitVariant(ConfigModel):
    """One arm of a split: its share of the leads, in percent, and where it goes."""

    id: StepId
    weight: float = Field(gt=0)
    goto: StepId | None = None  # None = the step after the split


class SplitStep(_StepBase):
    """An A/B(/n) test: each lead goes to one variant, by a keyed hash of its id (the same
    variant on every run and replay), or, for the `holdout` share, leaves the journey here
    and gets nothing more (the control group). Weights and holdout are percent and sum to 100."""

    type: Literal["split"] = "split"
    variants: list[SplitVariant] = Field(min_length=1)
    holdout: float = Field(default=0, ge=0, lt=PERCENT)

    @model_validator(mode="after")
    def _shares(self) -> SplitStep:
        seen: set[str] = set()
        for j, variant in enumerate(self.variants):
            if variant.id == HOLDOUT:
                raise ValueError(f"variants.{j}.id: {HOLDOUT!r} is reserved for the holdout share")
            if variant.id in seen:
                raise ValueError(f"variants.{j}.id: duplicate variant id {variant.id!r}")
            seen.add(variant.id)
        total = sum(v.weight for v in self.variants) + self.holdout
        if abs(total - PERCENT) > 1e-6:
            weights = " + ".join(f"{v.weight:g}" for v in self.variants)
            raise ValueError(
                f"variants: weights ({weights}) and holdout ({self.holdout:g}) sum to {total:g}, not {PERCENT:g}"
            )
        return self

    def assign(self, journey_id: str, lead_id: str) -> str:
        """The variant id this lead gets, or `holdout`."""
        point = bucket(journey_id, self.id, lead_id)
        return choose(point, self.holdout, [(v.id, v.weight) for v in self.variants])

    def target(self, variant_id: str) -> str | None:
        """Where a variant goes (None = the step after the split)."""
        return next(v.goto for v in self.variants if v.id == variant_id)


class ExperimentVariant(ConfigModel):
    """One arm of an experiment: a variant of a step or of a path, by where it goes."""

    id: StepId
    goto: StepId | None = None  # None = the step after the experiment


class ExperimentStep(_StepBase):
    """An A/B(/n) test that decides: entrants are split evenly between the variants (the
    keyed hash `split` uses), the journey's `JourneyExperiment` workflow counts who converts on
    `metric` within its window, and once `decide` calls a winner every new entrant goes to it.
    The default rule is Bayesian, decided once at 1000 per variant with P(best) >= 0.95 corrected
    for the number of variants (`domain/experiments.py`)."""

    type: Literal["experiment"] = "experiment"
    variants: list[ExperimentVariant] = Field(min_length=2)
    metric: ExperimentMetric
    decide: DecisionRule = BayesianRule()

    @model_validator(mode="after")
    def _variants(self) -> ExperimentStep:
        seen: set[str] = set()
        for j, variant in enumerate(self.variants):
            if variant.id == HOLDOUT:
                raise ValueError(f"variants.{j}.id: {HOLDOUT!r} is reserved (an experiment has no holdout)")
            if variant.id in seen:
                raise ValueError(f"variants.{j}.id: duplicate variant id {variant.id!r}")
            seen.add(variant.id)
        return self

    @property
    def variant_ids(self) -> list[str]:
        return [v.id for v in self.variants]

    def assign(self, journey_id: str, lead_id: str) -> str:
        """The variant this lead gets while the experiment runs: equal shares of the hash line."""
        share = PERCENT / len(self.variants)
        return choose(bucket(journey_id, self.id, lead_id), 0, [(v, share) for v in self.variant_ids])

    def target(self, variant_id: str) -> str | None:
        """Where a variant goes (None = the step after the experiment)."""
        return next(v.goto for v in self.variants if v.id == variant_id)


class UpdateCrmStep(_StepBase):
    type: Literal["update_crm"] = "update_crm"
    properties: dict[str, str] = Field(min_length=1)


class NotifyStep(_StepBase):
    type: Literal["notify"] = "notify"
    channel: str = Field(min_length=1)
    text: str = Field(min_length=1)

    @field_validator("text")
    @classmethod
    def _placeholders(cls, text: str) -> str:
        allowed = ", ".join("{" + p + "}" for p in sorted(NOTIFY_PLACEHOLDERS))
        try:
            fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
        except ValueError as err:
            raise ValueError(f"text is not a valid template ({err}); placeholders: {allowed}") from None
        for name, spec, conv in fields:
            # Only whitelisted names: the text goes to a chat channel and must not leak personal data.
            if name not in NOTIFY_PLACEHOLDERS or spec or conv:
                raise ValueError(f"text uses {{{name}}}; only {allowed} are allowed")
        return text


class GoalStep(_StepBase):
    type: Literal["goal"] = "goal"
    outcome: str = Field(min_length=1)


Step = Annotated[
    SendEmailStep
    | WaitStep
    | WaitForEventStep
    | BranchStep
    | SplitStep
    | ExperimentStep
    | UpdateCrmStep
    | NotifyStep
    | GoalStep,
    Field(discriminator="type"),
]
STEP_TYPES = frozenset(
    ("send_email", "wait", "wait_for_event", "branch", "split", "experiment", "update_crm", "notify", "goal")
)
_WAITING_TYPES = frozenset(("wait", "wait_for_event"))


class JourneyGoal(ConfigModel):
    """What the journey is for: met when every condition holds (on the score now, the
    segment, the lead's fields) and, if set, `event_seen` was ever recorded. Checked on every
    event and every score change while the lead is in nurture; the first one met ends the
    journey at once, with outcome `goal: <id>`, even in the middle of a wait."""

    id: StepId
    when: list[Condition] = []
    event_seen: EventType | None = None

    @model_validator(mode="after")
    def _has_a_test(self) -> JourneyGoal:
        if not self.when and self.event_seen is None:
            raise ValueError("a goal needs `when` conditions or `event_seen`")
        return self

    def met(self, facts: dict[str, Any], seen: Iterable[EventType]) -> bool:
        return evaluate_all(self.when, facts) and (self.event_seen is None or self.event_seen in set(seen))


class HandoffPolicy(ConfigModel):
    """How an MQL is handed to sales: SLA, reassignment, routing weights, CRM deal."""

    sla: Duration
    max_reassignments: int = Field(default=2, ge=0)
    manager_owner_id: OwnerId | None = None
    owner_weights: dict[OwnerId, Annotated[int, Field(ge=1)]] = {}  # owners not listed weigh 1
    notify_channel: str | None = None
    deal_pipeline: str = "default"
    deal_stage: str = "appointmentscheduled"
    task_due: Duration = timedelta(days=1)

    def owner_slots(self, owner_ids: Iterable[str] | None = None) -> list[OwnerSlot]:
        """Routing slots for `owner_ids` (default: the weighted owners), in id order."""
        ids = sorted(set(self.owner_weights if owner_ids is None else owner_ids))
        return [OwnerSlot(owner_id=i, weight=self.owner_weights.get(i, 1)) for i in ids]


class JourneySpec(ConfigModel):
    id: str = Field(pattern=JOURNEY_ID_PATTERN)
    version: int = Field(ge=1)
    name: str = Field(min_length=1)
    requires_consent: bool = True
    from_email: str
    unsubscribe_group_id: int = Field(ge=1)
    default_timezone: TimezoneName = "UTC"
    quiet_hours: QuietHours | None = None
    frequency_cap: FrequencyCap | None = None
    business_days: list[Annotated[int, Field(ge=0, le=6)]] = Field(default=[0, 1, 2, 3, 4], min_length=1)
    holidays: list[date] = []
    steps: list[Step] = Field(min_length=1)
    scoring: ScoringModel
    handoff: HandoffPolicy
    recycle_to: str | None = None  # where nurture restarts after sales rejects; None = first step
    goals: list[JourneyGoal] = []
    reentry: ReentryPolicy = ReentryPolicy()
    fingerprint: str = ""  # sha256 of the source text, set by the loader

    @field_validator("from_email")
    @classmethod
    def _from_email(cls, value: str) -> str:
        return normalise_email(value)

    @model_validator(mode="after")
    def _references(self) -> JourneySpec:
        index: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            if step.id in index:
                raise ValueError(f"steps.{i}.id: duplicate step id {step.id!r} (first used at steps.{index[step.id]})")
            index[step.id] = i
        for path, target in self._gotos():
            if target is not None and target not in index:
                hint = difflib.get_close_matches(target, index, n=1)
                suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise ValueError(f"{path}: no step with id {target!r}{suffix}")
        goals: dict[str, int] = {}
        for i, goal in enumerate(self.goals):
            if goal.id in goals:
                raise ValueError(f"goals.{i}.id: duplicate goal id {goal.id!r} (first used at goals.{goals[goal.id]})")
            goals[goal.id] = i
        loop = self._loop_without_wait()
        if loop:
            raise ValueError(f"steps: loop without a wait would never pause: {' -> '.join(loop)}")
        return self

    def score_thresholds(self) -> list[float]:
        """The scoring model's thresholds and the goals' score tests: a decaying score that
        crosses one meets (or stops meeting) a goal, so the journey looks again right then."""
        tests = (c for goal in self.goals for c in goal.when if c.field == "score" and c.op in ORDERED)
        return sorted({*self.scoring.score_thresholds(), *(float(c.value) for c in tests)})

    def first_goal_met(self, facts: dict[str, Any], seen: Iterable[EventType]) -> str | None:
        seen = set(seen)
        return next((goal.id for goal in self.goals if goal.met(facts, seen)), None)

    def _gotos(self) -> Iterable[tuple[str, str | None]]:
        for i, step in enumerate(self.steps):
            yield f"steps.{i}.next", step.next
            if isinstance(step, WaitForEventStep):
                yield f"steps.{i}.on_event", step.on_event
                yield f"steps.{i}.on_timeout", step.on_timeout
            if isinstance(step, BranchStep):
                for j, case in enumerate(step.cases):
                    yield f"steps.{i}.cases.{j}.goto", case.goto
                yield f"steps.{i}.default", step.default
            if isinstance(step, SplitStep | ExperimentStep):
                for j, goto in enumerate(v.goto for v in step.variants):
                    yield f"steps.{i}.variants.{j}.goto", goto
        yield "recycle_to", self.recycle_to

    def successors(self, step_id: str) -> list[str]:
        """Every step that can run right after `step_id`."""
        step, after = self.step(step_id), self.following(step_id)
        targets: list[str | None]
        if isinstance(step, WaitForEventStep):
            targets = [step.on_event or after, step.on_timeout or after]
        elif isinstance(step, BranchStep):
            targets = [*(c.goto for c in step.cases), step.default or after]
        elif isinstance(step, SplitStep | ExperimentStep):
            targets = [v.goto or after for v in step.variants]
        else:
            targets = [after]
        return sorted({t for t in targets if t is not None})

    def _loop_without_wait(self) -> list[str] | None:
        # A cycle through steps that never wait would spin the workflow forever.
        done: set[str] = set()

        def visit(step_id: str, path: list[str]) -> list[str] | None:
            if step_id in path:
                return path[path.index(step_id) :] + [step_id]
            if step_id in done or self.step(step_id).type in _WAITING_TYPES:
                return None
            for nxt in self.successors(step_id):
                if found := visit(nxt, path + [step_id]):
                    return found
            done.add(step_id)
            return None

        return next((found for step in self.steps if (found := visit(step.id, []))), None)

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"journey {self.id!r} has no step {step_id!r}")

    def position(self, step_id: str) -> int:
        """The step's 1-based place in `steps`: its name in the JourneyStep search attribute."""
        for i, step in enumerate(self.steps, start=1):
            if step.id == step_id:
                return i
        raise KeyError(f"journey {self.id!r} has no step {step_id!r}")

    def step_at(self, position: int) -> Step:
        """The step a JourneyStep value names (see `position`)."""
        if not 1 <= position <= len(self.steps):
            raise KeyError(f"journey {self.id!r} version {self.version} has no step at position {position}")
        return self.steps[position - 1]

    def following(self, step_id: str) -> str | None:
        """The explicit `next` of a step, else the next one in list order (None at the end)."""
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                if step.next is not None:
                    return step.next
                return self.steps[i + 1].id if i + 1 < len(self.steps) else None
        raise KeyError(f"journey {self.id!r} has no step {step_id!r}")

    @property
    def first_step_id(self) -> str:
        return self.steps[0].id

    @property
    def restart_step_id(self) -> str:
        """Where nurture resumes after sales recycles the lead."""
        return self.recycle_to or self.first_step_id


def render_notify_text(text: str, **facts: Any) -> str:
    """Fill `{stage}`, `{score}`, `{segment}`, `{journey}`; other braces are left as written."""
    out: list[str] = []
    for literal, name, _spec, _conv in string.Formatter().parse(text):
        out.append(literal)
        if name is None:
            continue
        if name in NOTIFY_PLACEHOLDERS:
            value = facts.get(name)
            if isinstance(value, float):
                value = f"{value:.2f}".rstrip("0").rstrip(".")
            out.append("n/a" if value is None else str(value))
        else:
            out.append("{" + name + "}")
    return "".join(out)


# --- loading -----------------------------------------------------------------------------


class JourneyError(SpecError):
    """A journey file that cannot be used; the message is one line: `<path>: <field.path>: <reason>`."""


def _read_yaml(path: Path) -> tuple[str, dict[str, Any]]:
    return read_yaml_mapping(path, JourneyError, "journey fields")


def _loc(loc: tuple[int | str, ...]) -> str:
    # Drop the discriminator tag pydantic puts after a step index (steps.2.wait.duration -> steps.2.duration).
    parts = [p for i, p in enumerate(loc) if not (i and isinstance(loc[i - 1], int) and p in STEP_TYPES)]
    return ".".join(str(p) for p in parts)


def _first_error(path: Path, err: ValidationError) -> JourneyError:
    return JourneyError(path, *first_error(err, _loc, split_path=True))


def _names(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml") if p.is_file())


def list_journeys(journeys_dir: Path) -> list[str]:
    """Ids of the journeys in `journeys_dir` (one `<id>.yaml` each)."""
    return _names(Path(journeys_dir))


def _load_scoring(journeys_dir: Path, journey_path: Path, name: str) -> ScoringModel:
    scoring_dir = journeys_dir / "scoring"
    path = scoring_dir / f"{name}.yaml"
    if not re.fullmatch(JOURNEY_ID_PATTERN, name) or not path.is_file():
        available = ", ".join(_names(scoring_dir)) if scoring_dir.is_dir() else "none"
        raise JourneyError(journey_path, "scoring", f"unknown scoring model {name!r} (available: {available})")
    _, data = _read_yaml(path)
    try:
        return ScoringModel.model_validate(data, context={STRICT_KEYS: True})
    except ValidationError as err:
        raise _first_error(path, err) from None


def load_journey(journeys_dir: Path, journey_id: str) -> JourneySpec:
    """Load and validate `<journeys_dir>/<journey_id>.yaml`; raises JourneyError."""
    journeys_dir = Path(journeys_dir)
    path = journeys_dir / f"{journey_id}.yaml"
    if not re.fullmatch(JOURNEY_ID_PATTERN, journey_id) or not path.is_file():
        available = ", ".join(list_journeys(journeys_dir)) or "none"
        raise JourneyError(path, "", f"no journey {journey_id!r} (available: {available})")
    text, data = _read_yaml(path)
    if "id" in data and data["id"] != journey_id:
        raise JourneyError(path, "id", f"{data.get('id')!r} must match the file name {path.name!r}")
    digest = hashlib.sha256(text.encode())
    if isinstance(data.get("scoring"), str):
        name = data["scoring"]
        data["scoring"] = _load_scoring(journeys_dir, path, name)
        # A shared scoring file is part of the journey's behaviour, so it is part of its fingerprint.
        digest.update((journeys_dir / "scoring" / f"{name}.yaml").read_bytes())
    data["fingerprint"] = digest.hexdigest()
    try:
        return JourneySpec.model_validate(data, context={STRICT_KEYS: True})
    except ValidationError as err:
        raise _first_error(path, err) from None


def journey_source(journeys_dir: Path, journey_id: str) -> str:
    """The text behind a journey's fingerprint: its YAML and, when it names a shared scoring
    file, that file's, each under a comment naming it (what a published version keeps)."""
    journeys_dir = Path(journeys_dir)
    path = journeys_dir / f"{journey_id}.yaml"
    text, data = _read_yaml(path)
    parts = [f"# {path.name}\n{text}"]
    if isinstance(data.get("scoring"), str):
        scoring = journeys_dir / "scoring" / f"{data['scoring']}.yaml"
        parts.append(f"# scoring/{scoring.name}\n{scoring.read_text()}")
    return "\n".join(parts)


def validate_all(journeys_dir: Path) -> list[JourneySpec]:
    """Load every journey in `journeys_dir`; raises the first JourneyError."""
    return [load_journey(journeys_dir, journey_id) for journey_id in list_journeys(journeys_dir)]
