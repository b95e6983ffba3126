"""Expressions as small JSON trees (for the plan), and their text rendering (for ``explain``).

Every node is a dict with an ``"op"``:

- ``{"op": "literal", "type": "int|float|bool|string|date|datetime|null", "value": ...}``
- ``{"op": "column", "table", "column", "stype", "path": [hops]}``; ``path`` leads from the entity table
  to the column's table (empty on the entity table) and is absent inside an aggregation's filter, whose
  columns are those of the aggregated row itself.
- ``{"op": "agg", "agg", "table", "column" (or "*"), "time_column", "start", "end", "window",
  "filter", "path", "empty_window"}``: ``start``/``end`` are seconds relative to the anchor time T
  (rows with ``T + start < time <= T + end``; ``start`` is ``null`` for -INF), ``window`` keeps them as
  written (``{"start", "end", "unit"}``), ``filter`` is an expression or ``null``, ``path`` is the list of
  ``{"table", "column", "to"}`` hops from the aggregated table to the entity table, ``empty_window`` is
  ``"zero"``, ``"drop"`` or ``"null"`` (see :func:`pql.passes.target.empty_window_rule`).
- ``{"op": "=|!=|<|<=|>|>=", "left", "right"}``
- ``{"op": "in|not_in", "left", "values": [literals]}``
- ``{"op": "is_null|is_not_null", "arg"}``
- ``{"op": "like|not_like|contains|not_contains|starts_with|not_starts_with|ends_with|not_ends_with",
  "left", "right"}`` (``right`` a literal; LIKE uses SQL wildcards ``%`` and ``_``)
- ``{"op": "and|or", "args": [...]}``, ``{"op": "not", "arg"}``
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pql import ast
from pql.passes.joins import JoinPaths
from pql.passes.target import empty_window_rule
from pql.schema import GraphSchema

__all__ = ["to_json", "render", "iter_aggregations", "render_window"]


def _hops(path) -> list[dict[str, str]]:
    return [{"table": hop.table, "column": hop.column, "to": hop.to} for hop in path]


def to_json(node: ast.Expr, schema: GraphSchema, joins: JoinPaths | None, clause: str) -> dict[str, Any]:
    """Serialize a checked expression.

    Args:
        node: the expression.
        schema: the graph schema (for semantic and time columns).
        joins: the join paths of the query, or ``None`` inside an aggregation's filter.
        clause: ``"target"``, ``"where"`` or ``"assuming"`` (decides the empty-window rule).

    Returns:
        The JSON tree described in the module docstring.
    """
    if isinstance(node, ast.Literal):
        return {"op": "literal", "type": node.kind, "value": node.value}
    if isinstance(node, ast.ColumnRef):
        out: dict[str, Any] = {"op": "column", "table": node.table, "column": node.column,
                               "stype": schema.tables[node.table].columns[node.column].stype.value}
        if joins is not None:
            out["path"] = _hops(joins.of(node))
        return out
    if isinstance(node, ast.Aggregation):
        w = node.window
        table = schema.tables[node.target.table]
        return {
            "op": "agg",
            "agg": node.func,
            "table": node.target.table,
            "column": node.target.column,
            "time_column": table.time_column,
            "start": w.seconds(w.start),
            "end": w.seconds(w.end),
            "window": {"start": w.start, "end": w.end, "unit": w.unit},
            "filter": None if node.filter is None else to_json(node.filter, schema, None, clause),
            "path": _hops(joins.of(node)) if joins is not None else [],
            "empty_window": empty_window_rule(node.func, clause),
        }
    if isinstance(node, ast.Comparison):
        return {"op": node.op, "left": to_json(node.left, schema, joins, clause),
                "right": to_json(node.right, schema, joins, clause)}
    if isinstance(node, ast.InList):
        return {"op": "not_in" if node.negated else "in", "left": to_json(node.operand, schema, joins, clause),
                "values": [to_json(v, schema, joins, clause) for v in node.values.items]}
    if isinstance(node, ast.IsNull):
        return {"op": "is_not_null" if node.negated else "is_null",
                "arg": to_json(node.operand, schema, joins, clause)}
    if isinstance(node, ast.StringMatch):
        op = node.op.lower().replace(" ", "_")
        return {"op": f"not_{op}" if node.negated else op, "left": to_json(node.operand, schema, joins, clause),
                "right": to_json(node.pattern, schema, joins, clause)}
    if isinstance(node, (ast.And, ast.Or)):
        return {"op": "and" if isinstance(node, ast.And) else "or",
                "args": [to_json(item, schema, joins, clause) for item in node.items]}
    if isinstance(node, ast.Not):
        return {"op": "not", "arg": to_json(node.operand, schema, joins, clause)}
    raise TypeError(f"not an expression node: {node!r}")


def iter_aggregations(expr: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    """The aggregation nodes of a JSON expression, left to right (not those inside filters)."""
    if expr is None:
        return
    op = expr["op"]
    if op == "agg":
        yield expr
    elif op in ("and", "or"):
        for arg in expr["args"]:
            yield from iter_aggregations(arg)
    elif op in ("not", "is_null", "is_not_null"):
        yield from iter_aggregations(expr["arg"])
    elif "left" in expr:
        yield from iter_aggregations(expr["left"])
        if "right" in expr:
            yield from iter_aggregations(expr["right"])


def _num(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _literal(expr: dict[str, Any]) -> str:
    kind, value = expr["type"], expr["value"]
    if kind == "null":
        return "NULL"
    if kind == "bool":
        return "true" if value else "false"
    if kind in ("string", "date", "datetime"):
        return "'" + str(value).replace("'", "''") + "'"
    return _num(value)


_PRECEDENCE = {"or": 1, "and": 2, "not": 3}


def render(expr: dict[str, Any], parent: int = 0) -> str:
    """Render a JSON expression back as canonical PQL text (parenthesized only where needed)."""
    op = expr["op"]
    if op == "literal":
        return _literal(expr)
    if op == "column":
        return f"{expr['table']}.{expr['column']}"
    if op == "agg":
        w = expr["window"]
        start = "-INF" if w["start"] is None else _num(w["start"])
        flt = "" if expr["filter"] is None else f" WHERE {render(expr['filter'])}"
        return f"{expr['agg']}({expr['table']}.{expr['column']}{flt}, {start}, {_num(w['end'])}, {w['unit']})"
    if op in ("and", "or"):
        prec = _PRECEDENCE[op]
        # An AND inside an OR is parenthesized too: not needed by precedence, but easier to read.
        mixed = _PRECEDENCE["not"] + 1
        text = f" {op.upper()} ".join(render(arg, mixed if arg["op"] in ("and", "or") and arg["op"] != op else prec)
                                      for arg in expr["args"])
        return f"({text})" if parent > prec else text
    if op == "not":
        return f"NOT {render(expr['arg'], _PRECEDENCE['not'])}"
    if op in ("is_null", "is_not_null"):
        return f"{render(expr['arg'])} IS {'NOT ' if op == 'is_not_null' else ''}NULL"
    if op in ("in", "not_in"):
        values = ", ".join(_literal(v) for v in expr["values"])
        return f"{render(expr['left'])} {'NOT IN' if op == 'not_in' else 'IN'} ({values})"
    if op in ("=", "!=", "<", "<=", ">", ">="):
        return f"{render(expr['left'])} {op} {render(expr['right'])}"
    words = op.upper().replace("_", " ")
    return f"{render(expr['left'])} {words} {render(expr['right'])}"


def _offset(value: int | float, unit: str) -> str:
    if value == 0:
        return "T"
    sign = "+" if value > 0 else "-"
    return f"T{sign}{_num(abs(value))} {unit}"


def render_window(agg: dict[str, Any]) -> str:
    """The window of a JSON aggregation as an interval around the anchor time: ``(T, T+30 days]``."""
    w = agg["window"]
    start = "-INF" if w["start"] is None else _offset(w["start"], w["unit"])
    return f"({start}, {_offset(w['end'], w['unit'])}]"
