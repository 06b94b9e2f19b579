"""The condition language shared by scoring, segments and journey branches."""

from __future__ import annotations

from typing import Any, Literal, TypeGuard

from pydantic import field_validator, model_validator

from domain.fields import ConfigModel
from domain.leads import LeadProfile

COMPUTED_FIELDS = ("score", "fit", "engagement", "segment")
ALLOWED_FIELDS = frozenset(LeadProfile.model_fields) | frozenset(COMPUTED_FIELDS)

Op = Literal["eq", "ne", "in", "not_in", "gte", "gt", "lte", "lt", "contains", "exists"]


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Condition(ConfigModel):
    """`{field: employees, op: gte, value: 1000}`: one test on one fact."""

    field: str
    op: Op
    value: Any = None

    @field_validator("field")
    @classmethod
    def _known_field(cls, name: str) -> str:
        if name not in ALLOWED_FIELDS:
            raise ValueError(f"unknown field {name!r} (allowed: {', '.join(sorted(ALLOWED_FIELDS))})")
        return name

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        op, value = self.op, self.value
        if op in ("in", "not_in"):
            if not isinstance(value, (list, tuple)) or not value:
                raise ValueError(f"op {op!r} needs a non-empty list value")
            self.value = list(value)
        elif op in ("gte", "gt", "lte", "lt"):
            if not _is_number(value):
                raise ValueError(f"op {op!r} needs a number value, got {value!r}")
        elif op == "contains":
            texts = value if isinstance(value, list) else [value]
            if not texts or not all(isinstance(t, str) and t for t in texts):
                raise ValueError("op 'contains' needs a text value or a list of texts")
        elif op == "exists":
            if value is not None and not isinstance(value, bool):
                raise ValueError("op 'exists' takes true, false or no value")
        elif value is None:
            raise ValueError(f"op {op!r} needs a value")
        return self


def _norm(value: object) -> object:
    # Case-insensitive for text (StrEnum members are str too); numbers compare as numbers.
    return value.casefold() if isinstance(value, str) else value


def _equal(fact: object, value: object) -> bool:
    return _norm(fact) == _norm(value)


def evaluate(cond: Condition, facts: dict[str, Any]) -> bool:
    """True when the fact named by `cond.field` satisfies the condition; a missing fact never matches."""
    fact = facts.get(cond.field)
    if cond.op == "exists":
        present = fact is not None and fact != ""
        return present == (True if cond.value is None else cond.value)
    if fact is None:
        return False
    match cond.op:
        case "eq":
            return _equal(fact, cond.value)
        case "ne":
            return not _equal(fact, cond.value)
        case "in":
            return any(_equal(fact, v) for v in cond.value)
        case "not_in":
            return not any(_equal(fact, v) for v in cond.value)
        case "contains":
            needles = cond.value if isinstance(cond.value, list) else [cond.value]
            return isinstance(fact, str) and any(n.casefold() in fact.casefold() for n in needles)
    if _is_number(fact):
        bound: int | float = cond.value  # the validator lets only a number through for these ops
        match cond.op:
            case "gte":
                return fact >= bound
            case "gt":
                return fact > bound
            case "lte":
                return fact <= bound
            case _:
                return fact < bound
    return False


def evaluate_all(conds: list[Condition], facts: dict[str, Any]) -> bool:
    """All conditions hold (an empty list holds)."""
    return all(evaluate(c, facts) for c in conds)
