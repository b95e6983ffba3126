"""Plan expressions (the JSON trees of :mod:`pql.expr`) as Spark Column expressions.

Conditions use two-valued logic, as PQL.md says of undefined values: every comparison, ``IN``, ``LIKE``,
``CONTAINS``, ``STARTS WITH`` and ``ENDS WITH`` whose operand is NULL is *false* (so its NOT is true),
``IS NULL`` is true for it. A condition therefore never evaluates to NULL, and ``AND``/``OR``/``NOT``
behave as in Python.

Columns and aggregations are not evaluated here: the caller passes ``resolve``, which turns a ``column``
or ``agg`` node into the Spark column that holds its value (an entity column, a joined column, or an
aggregation computed per entity and anchor time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from data_engine.training_table.errors import ExpressionError

if TYPE_CHECKING:
    from pyspark.sql import Column

__all__ = ["to_column", "literal_value", "is_condition", "Resolver", "CONDITION_OPS", "COMPARISONS"]

#: Resolves a ``column`` or ``agg`` node to the Spark column holding its value.
Resolver = Callable[[dict[str, Any]], "Column"]

COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
_STRING_MATCHES = ("like", "contains", "starts_with", "ends_with")
CONDITION_OPS = frozenset({*COMPARISONS, "in", "not_in", "is_null", "is_not_null", "and", "or", "not",
                           *_STRING_MATCHES, *(f"not_{op}" for op in _STRING_MATCHES)})
_VALUE_OPS = frozenset({"literal", "column", "agg"})
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def is_condition(expr: dict[str, Any]) -> bool:
    """Whether ``expr`` is a boolean condition (a comparison, a match, AND/OR/NOT) rather than a value."""
    return _op(expr) in CONDITION_OPS


def _op(expr: Any) -> str:
    if not isinstance(expr, dict) or "op" not in expr:
        raise ExpressionError(f"not an expression node (a dict with an 'op'): {expr!r:.120}")
    return expr["op"]


def _field(expr: dict[str, Any], key: str) -> Any:
    try:
        return expr[key]
    except KeyError:
        raise ExpressionError(f"expression node {expr['op']!r} lacks its {key!r} field: {expr!r:.160}") from None


def literal_value(expr: dict[str, Any]) -> Any:
    """The Python value of a ``literal`` node: dates as :class:`datetime.date`, datetimes as UTC-aware
    :class:`datetime.datetime` (a datetime without offset is read as UTC).

    Raises:
        ExpressionError: an unknown literal type, or a date/datetime text that does not parse.
    """
    kind, value = _field(expr, "type"), _field(expr, "value")
    if kind == "null":
        return None
    if kind in ("int", "float", "bool", "string"):
        return value
    if kind in ("date", "datetime"):
        text = str(value).strip()
        try:
            if kind == "date" and len(text) <= 10:
                return dt.date.fromisoformat(text)
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ExpressionError(f"the {kind} literal {value!r} is not an ISO date or datetime") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        return parsed.astimezone(dt.timezone.utc)
    raise ExpressionError(f"unknown literal type {kind!r} in {expr!r:.120}")


def _literal(expr: dict[str, Any]) -> "Column":
    from pyspark.sql import functions as F

    value = literal_value(expr)
    if isinstance(value, dt.datetime):
        # Through epoch microseconds: a Python datetime literal would be shifted by the driver's time zone.
        micros = (value - _EPOCH) // dt.timedelta(microseconds=1)
        return F.timestamp_micros(F.lit(micros))
    if isinstance(value, dt.date):
        return F.make_date(F.lit(value.year), F.lit(value.month), F.lit(value.day))
    if value is None:
        return F.lit(None)
    return F.lit(value)


def _false_if_null(condition: "Column") -> "Column":
    from pyspark.sql import functions as F

    return F.coalesce(condition, F.lit(False))


def _pattern(expr: dict[str, Any]) -> str:
    right = _field(expr, "right")
    if _op(right) != "literal" or not isinstance(right.get("value"), str):
        raise ExpressionError(f"{expr['op']} needs a string literal on its right, got {right!r:.120}")
    return right["value"]


def to_column(expr: dict[str, Any], resolve: Resolver) -> "Column":
    """Translate a plan expression into a Spark column.

    Args:
        expr: a JSON expression tree (see :mod:`pql.expr`).
        resolve: gives the Spark column of each ``column`` and ``agg`` node.

    Returns:
        A boolean column that is never NULL for a condition; the value's column otherwise.

    Raises:
        ExpressionError: an unknown node kind, a node missing a field, or a malformed literal.
    """
    from pyspark.sql import functions as F

    op = _op(expr)
    if op == "literal":
        return _literal(expr)
    if op in ("column", "agg"):
        return resolve(expr)
    if op in COMPARISONS:
        left, right = to_column(_field(expr, "left"), resolve), to_column(_field(expr, "right"), resolve)
        result = {"=": left == right, "!=": left != right, "<": left < right, "<=": left <= right,
                  ">": left > right, ">=": left >= right}[op]
        return _false_if_null(result)
    if op in ("in", "not_in"):
        values = _field(expr, "values")
        if not isinstance(values, list) or not values:
            raise ExpressionError(f"{op} needs a non-empty list of values: {expr!r:.120}")
        left = to_column(_field(expr, "left"), resolve)
        member = left.isin([to_column(v, resolve) for v in values])
        # NOT IN is false, not true, for a NULL operand (or a NULL among the values): unknown stays false.
        return _false_if_null(member if op == "in" else ~member)
    if op == "is_null":
        return to_column(_field(expr, "arg"), resolve).isNull()
    if op == "is_not_null":
        return to_column(_field(expr, "arg"), resolve).isNotNull()
    if op in ("and", "or"):
        args = _field(expr, "args")
        if not isinstance(args, list) or not args:
            raise ExpressionError(f"{op} needs a non-empty list of args: {expr!r:.120}")
        out = to_column(args[0], resolve)
        for arg in args[1:]:
            nxt = to_column(arg, resolve)
            out = (out & nxt) if op == "and" else (out | nxt)
        return out
    if op == "not":
        return ~to_column(_field(expr, "arg"), resolve)
    negated = op.startswith("not_")
    base = op[4:] if negated else op
    if base in _STRING_MATCHES:
        left = to_column(_field(expr, "left"), resolve).cast("string")
        pattern = _pattern(expr)
        text = F.lit(pattern)
        match = {"like": left.like(pattern), "contains": F.contains(left, text),
                 "starts_with": F.startswith(left, text), "ends_with": F.endswith(left, text)}[base]
        return _false_if_null(~match if negated else match)
    known = ", ".join(sorted(CONDITION_OPS | _VALUE_OPS))
    raise ExpressionError(f"unknown expression node kind {op!r} (known: {known})")
