import pytest
from pydantic import ValidationError

from domain.rules import Condition, evaluate

FACTS = {
    "industry": "Financial Services",
    "employees": 250,
    "job_title": "Head of Growth",
    "country": None,
    "source": "webinar",
    "score": 61.5,
}


def cond(field, op, value=None):
    return Condition(field=field, op=op, value=value)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (cond("industry", "eq", "financial services"), True),
        (cond("industry", "ne", "software"), True),
        (cond("industry", "in", ["software", "FINANCIAL SERVICES"]), True),
        (cond("industry", "not_in", ["software"]), True),
        (cond("employees", "gte", 250), True),
        (cond("employees", "gt", 250), False),
        (cond("employees", "lt", 1000), True),
        (cond("employees", "lte", 249), False),
        (cond("job_title", "contains", "head"), True),
        (cond("job_title", "contains", ["director", "vp"]), False),
        (cond("score", "gte", 60), True),
        (cond("country", "exists"), False),
        (cond("country", "exists", False), True),
        (cond("industry", "exists"), True),
    ],
)
def test_evaluate(condition, expected):
    assert evaluate(condition, FACTS) is expected


@pytest.mark.parametrize("op", ["eq", "ne", "in", "not_in", "gte", "lt", "contains"])
def test_missing_fact_never_matches(op):
    value = {"in": ["x"], "not_in": ["x"], "gte": 1, "lt": 1}.get(op, "x")
    assert evaluate(cond("country", op, value), FACTS) is False
    assert evaluate(cond("annual_revenue", op, value), FACTS) is False  # absent from facts


def test_numeric_op_on_text_fact_does_not_match():
    assert evaluate(cond("industry", "gte", 1), FACTS) is False


def test_unknown_field_lists_allowed_fields():
    with pytest.raises(ValidationError) as info:
        cond("salary", "gte", 1)
    message = str(info.value)
    assert "unknown field 'salary'" in message and "employees" in message and "segment" in message


@pytest.mark.parametrize(
    ("op", "value", "text"),
    [
        ("in", "software", "non-empty list"),
        ("gte", "10", "number"),
        ("eq", None, "needs a value"),
        ("exists", 3, "exists"),
    ],
)
def test_value_must_fit_op(op, value, text):
    with pytest.raises(ValidationError, match=text):
        cond("employees", op, value)
