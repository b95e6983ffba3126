"""Plan expressions: literals and the errors for trees this job cannot evaluate (no Spark needed)."""

from __future__ import annotations

import datetime as dt

import pytest

from data_engine.training_table.errors import ExpressionError, TrainingTableError
from data_engine.training_table.expr_to_spark import is_condition, literal_value, to_column
from platform_core.errors import UserFacingError

pytestmark = pytest.mark.unit

UTC = dt.timezone.utc


@pytest.mark.parametrize("node, value", [
    ({"op": "literal", "type": "int", "value": 3}, 3),
    ({"op": "literal", "type": "string", "value": "a'b"}, "a'b"),
    ({"op": "literal", "type": "null", "value": None}, None),
    ({"op": "literal", "type": "date", "value": "2024-01-15"}, dt.date(2024, 1, 15)),
    ({"op": "literal", "type": "datetime", "value": "2024-01-15 10:30:00"}, dt.datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
    ({"op": "literal", "type": "datetime", "value": "2024-01-15T10:30:00+02:00"},
     dt.datetime(2024, 1, 15, 8, 30, tzinfo=UTC)),
    ({"op": "literal", "type": "datetime", "value": "2024-01-15T10:30:00Z"}, dt.datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
])
def test_literal_values(node, value) -> None:
    assert literal_value(node) == value


def _never(node):
    raise AssertionError(f"resolve must not be called for {node}")


@pytest.mark.parametrize("node, message", [
    ({"op": "xor", "args": []}, "unknown expression node kind 'xor'"),
    ({"op": "literal", "type": "decimal128", "value": "1"}, "unknown literal type 'decimal128'"),
    ({"op": "literal", "type": "date", "value": "15/01/2024"}, "not an ISO date"),
    ({"op": "literal", "type": "int"}, "lacks its 'value' field"),
    ({"op": "and", "args": []}, "non-empty list of args"),
    ({"op": "in", "left": {"op": "literal", "type": "int", "value": 1}, "values": []}, "non-empty list of values"),
    ({"kind": "literal"}, "not an expression node"),
    ("COUNT(*)", "not an expression node"),
])
def test_malformed_trees_raise_clear_errors(node, message) -> None:
    with pytest.raises(ExpressionError, match=message) as info:
        to_column(node, _never)
    assert isinstance(info.value, TrainingTableError) and isinstance(info.value, UserFacingError)


def test_is_condition() -> None:
    lit = {"op": "literal", "type": "int", "value": 1}
    assert is_condition({"op": ">", "left": lit, "right": lit})
    assert is_condition({"op": "not_ends_with", "left": lit, "right": lit})
    assert not is_condition({"op": "agg", "agg": "SUM"})
    assert not is_condition(lit)
