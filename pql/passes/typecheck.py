"""Type rules: what each aggregation accepts, and which values may be compared with what."""

from __future__ import annotations

from enum import StrEnum

from pql import ast
from pql.passes.common import clauses, describe, error_at, is_condition, top_level_nodes
from pql.schema import GraphSchema, SemanticType


class VType(StrEnum):
    """The type of a value in a query (a column's, or an aggregation's result)."""

    NUMBER = "number"
    CATEGORY = "category"
    TEXT = "text"
    TIMESTAMP = "timestamp"
    ID = "id"
    LIST = "list"  # a multicategorical value: a set of categories
    IDLIST = "idlist"  # LIST_DISTINCT of a foreign key: a set of rows of the referenced table
    BOOLEAN = "boolean"  # a condition


_FROM_STYPE = {
    SemanticType.ID: VType.ID,
    SemanticType.NUMERICAL: VType.NUMBER,
    SemanticType.CATEGORICAL: VType.CATEGORY,
    SemanticType.MULTICATEGORICAL: VType.LIST,
    SemanticType.TEXT: VType.TEXT,
    SemanticType.TIMESTAMP: VType.TIMESTAMP,
}

_WORDS = {
    VType.NUMBER: "a number", VType.CATEGORY: "categorical", VType.TEXT: "text",
    VType.TIMESTAMP: "a timestamp", VType.ID: "a key", VType.LIST: "multicategorical",
    VType.IDLIST: "a list of keys", VType.BOOLEAN: "a condition",
}
_LITERAL_WORDS = {"int": "the number", "float": "the number", "string": "the string", "date": "the date",
                  "datetime": "the datetime", "bool": "the boolean", "null": ""}

_STRINGY = frozenset({"string", "date", "datetime"})
_EQ_OK = {
    VType.NUMBER: frozenset({"int", "float", "bool"}),
    VType.CATEGORY: frozenset({"int", "float", "bool"}) | _STRINGY,
    VType.TEXT: _STRINGY,
    VType.TIMESTAMP: frozenset({"date", "datetime"}),
    VType.ID: frozenset({"int", "string"}),
    VType.LIST: frozenset(),
    VType.IDLIST: frozenset(),
}
_ORDER_OK = {VType.NUMBER: frozenset({"int", "float"}), VType.TIMESTAMP: frozenset({"date", "datetime"})}
_MATCH_OK = {VType.TEXT: _STRINGY, VType.CATEGORY: _STRINGY}
_CONTAINS_OK = _MATCH_OK | {VType.LIST: _STRINGY | {"int"}, VType.IDLIST: frozenset({"int", "string"})}


def column_type(ref: ast.ColumnRef, schema: GraphSchema) -> VType:
    """The value type of a resolved, non-star column reference."""
    return _FROM_STYPE[schema.tables[ref.table].columns[ref.column].stype]


def operand_type(node: ast.Operand, schema: GraphSchema) -> VType | None:
    """The value type of a column or aggregation (``None`` for a literal); names must be resolved."""
    if isinstance(node, ast.ColumnRef):
        return column_type(node, schema)
    if isinstance(node, ast.Aggregation):
        if node.func in ("COUNT", "COUNT_DISTINCT", "SUM", "AVG"):
            return VType.NUMBER
        if node.func == "LIST_DISTINCT":
            return VType.IDLIST
        return column_type(node.target, schema)
    return None


def check_types(query: ast.Query, schema: GraphSchema) -> VType:
    """Check every aggregation and comparison of ``query`` (names already resolved).

    Rules: the aggregated table has a time column; SUM and AVG take numerical columns, MIN and MAX
    numerical or timestamp ones, LIST_DISTINCT a foreign key; comparisons only between compatible types
    (no text with a number, no number with a string, dates only as ISO strings, ``= NULL`` is
    ``IS NULL``); WHERE, ASSUMING and aggregation filters are conditions, never bare values.

    Args:
        query: the query, after :func:`~pql.passes.resolve.resolve_names`.
        schema: the graph schema.

    Returns:
        The type of the target (:attr:`VType.BOOLEAN` for a condition).

    Raises:
        PQLError: at the first type error.
    """
    entity_values = ()
    if isinstance(query.entity, ast.ForEquals):
        entity_values = (query.entity.value,)
    elif isinstance(query.entity, ast.ForIn):
        entity_values = query.entity.values.items
    for value in entity_values:
        if value.kind not in ("int", "string", "date", "datetime"):
            raise error_at(value, f"an entity key is a whole number or a string, not {value}")
    for clause, expr in clauses(query):
        if clause != "target" and not is_condition(expr):
            raise error_at(expr, f"{clause.upper()} needs a condition, not {describe(expr)}",
                           _condition_hint(expr, schema))
        for node in top_level_nodes(expr):
            if isinstance(node, ast.Aggregation):
                _check_aggregation(node, schema)
            else:
                _check_node(node, schema)
    target = query.target
    if isinstance(target, ast.Literal):
        raise error_at(target, "the target must be a column, an aggregation or a condition on them, "
                               "not a constant")
    if is_condition(target):
        return VType.BOOLEAN
    vtype = operand_type(target, schema)
    assert vtype is not None
    return vtype


def _condition_hint(node: object, schema: GraphSchema) -> str | None:
    if isinstance(node, (ast.ColumnRef, ast.Aggregation)):
        vtype = operand_type(node, schema)
        if vtype is VType.NUMBER:
            return f"compare it, e.g. {describe(node)} > 0"
        if vtype is VType.CATEGORY:
            return f"compare it, e.g. {describe(node)} = true"
        return "compare it with a value"
    return None


def _check_aggregation(agg: ast.Aggregation, schema: GraphSchema) -> None:
    table = schema.tables[agg.target.table]
    if table.time_column is None:
        raise error_at(agg, f"table {table.name} has no time column, so {agg.func} cannot aggregate it over "
                            f"a time window", "aggregate a table whose rows have a time column")
    if agg.func in ("SUM", "AVG", "MIN", "MAX"):
        vtype = column_type(agg.target, schema)
        allowed = {VType.NUMBER} if agg.func in ("SUM", "AVG") else {VType.NUMBER, VType.TIMESTAMP}
        if vtype not in allowed:
            need = "a numerical column" if len(allowed) == 1 else "a numerical or timestamp column"
            hint = None
            if vtype is VType.CATEGORY:
                hint = (f"count matching rows instead: COUNT({agg.target.table}.* WHERE {agg.target} = '...', "
                        "start, end)")
            elif vtype is VType.ID:
                hint = f"count distinct values instead: COUNT_DISTINCT({agg.target}, start, end)"
            raise error_at(agg.target, f"{agg.func} needs {need}; {agg.target} is {_WORDS[vtype]}", hint)
    elif agg.func == "LIST_DISTINCT":
        if schema.foreign_key(agg.target.table, agg.target.column) is None:
            fks = [link.column for link in schema.links_from(agg.target.table)]
            hint = (f"foreign keys of {agg.target.table}: {', '.join(fks)}" if fks
                    else f"{agg.target.table} has no foreign keys")
            raise error_at(agg.target, f"LIST_DISTINCT needs a foreign-key column; {agg.target} is not one", hint)
    if agg.filter is not None:
        if not is_condition(agg.filter):
            raise error_at(agg.filter, f"the filter of {agg.func} needs a condition, not {describe(agg.filter)}",
                           _condition_hint(agg.filter, schema))
        for node in ast.walk(agg.filter):
            _check_node(node, schema)


def _check_node(node: object, schema: GraphSchema) -> None:
    if isinstance(node, (ast.And, ast.Or)):
        for item in node.items:
            if not is_condition(item):
                raise error_at(item, f"expected a condition, not {describe(item)}", _condition_hint(item, schema))
    elif isinstance(node, ast.Not):
        if not is_condition(node.operand):
            raise error_at(node.operand, f"NOT needs a condition, not {describe(node.operand)}",
                           _condition_hint(node.operand, schema))
    elif isinstance(node, ast.Comparison):
        _check_comparison(node, schema)
    elif isinstance(node, ast.InList):
        vtype = _non_literal(node.operand, schema, "IN")
        for value in node.values.items:
            _check_literal(node.operand, vtype, value, _EQ_OK, "IN")
    elif isinstance(node, ast.IsNull):
        _non_literal(node.operand, schema, "IS NULL")
    elif isinstance(node, ast.StringMatch):
        vtype = _non_literal(node.operand, schema, node.op)
        table = _CONTAINS_OK if node.op == "CONTAINS" else _MATCH_OK
        if vtype not in table:
            kinds = "text, categorical or multicategorical" if node.op == "CONTAINS" else "text or categorical"
            raise error_at(node, f"{node.op} needs a {kinds} value; {describe(node.operand)} is {_WORDS[vtype]}",
                           "compare numbers and timestamps with = < <= > >=")
        _check_literal(node.operand, vtype, node.pattern, table, node.op)


def _non_literal(node: ast.Operand, schema: GraphSchema, op: str) -> VType:
    vtype = operand_type(node, schema)
    if vtype is None:
        raise error_at(node, f"{op} needs a column or an aggregation on its left, not a constant")
    return vtype


def _check_comparison(cmp: ast.Comparison, schema: GraphSchema) -> None:
    left, right = cmp.left, cmp.right
    if isinstance(left, ast.Literal) and isinstance(right, ast.Literal):
        raise error_at(cmp, "a comparison needs a column or an aggregation on one side, not two constants")
    if isinstance(left, ast.Literal):
        left, right = right, left
    vtype = operand_type(left, schema)
    assert vtype is not None
    ordering = cmp.op in ("<", "<=", ">", ">=")
    if ordering and vtype not in _ORDER_OK:
        raise error_at(cmp, f"'{cmp.op}' needs a number or a timestamp, but {describe(left)} is {_WORDS[vtype]}",
                       "compare categories with =, != or IN (...)" if vtype is VType.CATEGORY else None)
    if isinstance(right, ast.Literal):
        _check_literal(left, vtype, right, _ORDER_OK if ordering else _EQ_OK, cmp.op)
        return
    other = operand_type(right, schema)
    assert other is not None
    same = other is vtype or {vtype, other} <= {VType.CATEGORY, VType.TEXT}
    if not same or vtype in (VType.LIST, VType.IDLIST):
        raise error_at(cmp, f"cannot compare {describe(left)} ({_WORDS[vtype]}) with {describe(right)} "
                            f"({_WORDS[other]})")


def _check_literal(operand: ast.Operand, vtype: VType, lit: ast.Literal, table: dict, op: str) -> None:
    if lit.kind == "null":
        raise error_at(lit, f"cannot use NULL with {op}", "test for missing values with IS NULL or IS NOT NULL")
    if lit.kind in table.get(vtype, ()):
        return
    hint = None
    if vtype is VType.TIMESTAMP and lit.kind == "string":
        hint = "write a date as 'YYYY-MM-DD' or a datetime as 'YYYY-MM-DDTHH:MM:SS'"
    elif vtype is VType.NUMBER and lit.kind in _STRINGY:
        hint = "compare a number with a number, e.g. > 10"
    elif vtype in (VType.TEXT, VType.CATEGORY) and lit.kind in ("int", "float"):
        hint = "compare text with a quoted string: '...'"
    elif vtype in (VType.LIST, VType.IDLIST):
        hint = "test membership with CONTAINS"
    raise error_at(lit, f"cannot compare {describe(operand)} ({_WORDS[vtype]}) with "
                        f"{_LITERAL_WORDS[lit.kind]} {lit}", hint)
