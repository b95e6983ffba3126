"""What kind of target a query has: static or temporal, condition or value, and its modifiers."""

from __future__ import annotations

from dataclasses import dataclass

from pql import ast
from pql.passes.common import aggregations, describe, error_at, is_condition, static_columns
from pql.passes.typecheck import VType
from pql.schema import GraphSchema

#: Aggregations whose value over an empty window is 0 (the example is kept).
ZERO_ON_EMPTY = frozenset({"COUNT", "COUNT_DISTINCT", "SUM"})


def empty_window_rule(func: str, clause: str) -> str:
    """What an aggregation is worth when its window holds no row.

    Args:
        func: the aggregation (``"COUNT"``...).
        clause: where it appears: ``"target"``, ``"where"`` or ``"assuming"``.

    Returns:
        ``"zero"`` (COUNT, COUNT_DISTINCT, SUM: the value is 0); otherwise ``"drop"`` in the target (the
        value is undefined and the training example is dropped) or ``"null"`` in WHERE and ASSUMING (the
        value is NULL: a comparison with it is false, ``IS NULL`` is true).
    """
    if func in ZERO_ON_EMPTY:
        return "zero"
    return "drop" if clause == "target" else "null"


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """Facts about the target that decide the task and the label computation.

    Attributes:
        temporal: the target aggregates over a future window (else it reads static columns).
        condition: the target is a boolean condition.
        value_type: the target's type (:attr:`VType.BOOLEAN` for a condition).
        rank_k: k of RANK TOP k, if written.
        classify: CLASSIFY was written.
        forecast: n of FORECAST n TIMEFRAMES, if written.
        label_columns: static columns the target reads (``"table.column"``); hidden from the model.
        ranked_table: for LIST_DISTINCT of a foreign key, the table whose rows are ranked or classified.
    """

    temporal: bool
    condition: bool
    value_type: VType
    rank_k: int | None
    classify: bool
    forecast: int | None
    label_columns: tuple[str, ...]
    ranked_table: str | None


def analyze_target(query: ast.Query, schema: GraphSchema, target_type: VType) -> TargetInfo:
    """Classify the target and check the rules tied to its shape.

    Rules: a target does not mix static columns with temporal aggregations; RANK TOP k and CLASSIFY apply
    to LIST_DISTINCT or a multicategorical column (which need one of them); FORECAST applies to a
    numerical temporal aggregation; free text, timestamps and keys are not predictable values; ASSUMING
    needs a temporal target.

    Args:
        query: the query, after type checking.
        schema: the graph schema.
        target_type: what :func:`~pql.passes.typecheck.check_types` returned.

    Returns:
        The :class:`TargetInfo`.

    Raises:
        PQLError: at the offending clause.
    """
    target = query.target
    aggs = aggregations(target)
    cols = static_columns(target)
    if aggs and cols:
        raise error_at(cols[0], f"a target cannot mix the static column {cols[0]} with temporal aggregations",
                       "predict either static columns or aggregations over a future window")
    if not aggs and not cols:
        raise error_at(target, "the target must refer to a column or an aggregation")
    temporal = bool(aggs)
    condition = is_condition(target)
    modifier = query.modifier

    if modifier is not None:
        word = "RANK TOP k" if isinstance(modifier, ast.RankTop) else "CLASSIFY"
        if condition or target_type not in (VType.LIST, VType.IDLIST):
            raise error_at(modifier, f"{word} applies to LIST_DISTINCT(...) or a multicategorical column, not "
                                     f"{describe(target)}",
                           "e.g. PREDICT LIST_DISTINCT(orders.product_id, 0, 7) RANK TOP 12")
    elif not condition and target_type in (VType.LIST, VType.IDLIST):
        what = "LIST_DISTINCT" if target_type is VType.IDLIST else f"the multicategorical column {describe(target)}"
        raise error_at(target, f"{what} needs RANK TOP k or CLASSIFY",
                       "RANK TOP k ranks the k likeliest values; CLASSIFY predicts each value yes or no")

    if query.forecast is not None:
        if condition or not temporal or target_type is not VType.NUMBER:
            what = ("a condition" if condition else
                    f"the static column {describe(target)}" if not temporal else
                    f"{describe(target)} ({target_type.value})")
            raise error_at(query.forecast, f"FORECAST needs a numerical aggregation over a future window, not {what}",
                           "e.g. PREDICT SUM(orders.price, 0, 7, days) FORECAST 4 TIMEFRAMES")

    if not condition:
        _check_predictable(target, target_type)

    if query.assuming is not None and not temporal:
        raise error_at(query.assuming, "ASSUMING needs a temporal target (an aggregation over a future window)",
                       "conditions on a static target's entities belong in WHERE")

    ranked_table = None
    if not condition and target_type is VType.IDLIST:
        assert isinstance(target, ast.Aggregation)
        link = schema.foreign_key(target.target.table, target.target.column)
        assert link is not None
        ranked_table = link.to
    return TargetInfo(
        temporal=temporal,
        condition=condition,
        value_type=target_type,
        rank_k=modifier.k if isinstance(modifier, ast.RankTop) else None,
        classify=isinstance(modifier, ast.Classify),
        forecast=query.forecast.timeframes if query.forecast is not None else None,
        label_columns=tuple(dict.fromkeys(str(c) for c in cols)),
        ranked_table=ranked_table,
    )


def _check_predictable(target: ast.Operand, vtype: VType) -> None:
    what = describe(target)
    if vtype is VType.TEXT:
        raise error_at(target, f"free text cannot be predicted; {what} is text",
                       f"predict a condition on it instead, e.g. {what} CONTAINS '...'")
    if vtype is VType.TIMESTAMP:
        raise error_at(target, f"a timestamp cannot be predicted directly; {what} is a timestamp",
                       f"predict a condition on it instead, e.g. {what} > '2024-01-01'")
    if vtype is VType.ID:
        hint = None
        if isinstance(target, ast.Aggregation):
            hint = f"to predict which rows, use LIST_DISTINCT({target.target}, ...) RANK TOP k"
        raise error_at(target, f"a key cannot be predicted as a value; {what} is a key", hint)
