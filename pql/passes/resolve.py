"""Name resolution and scoping: every ``table.column`` exists, and sits where PQL allows it."""

from __future__ import annotations

from pql import ast
from pql.passes.common import clauses, error_at, suggest, top_level_nodes
from pql.schema import GraphSchema, TableSchema


def _columns_hint(table: TableSchema) -> str:
    names = list(table.columns)
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"columns of {table.name}: {shown}"


def resolve_ref(ref: ast.ColumnRef, schema: GraphSchema, allow_star: bool = False) -> TableSchema:
    """Check that ``ref`` names an existing table and column.

    Args:
        ref: the reference.
        schema: the graph schema.
        allow_star: whether ``table.*`` is allowed here (only as the argument of COUNT).

    Returns:
        The referenced table.

    Raises:
        PQLError: unknown table or column (with a "did you mean" hint), or a misplaced ``*``.
    """
    table = schema.table(ref.table)
    if table is None:
        hint = suggest(ref.table, schema.tables) or "tables: " + ", ".join(schema.tables)
        raise error_at(ref, f"unknown table {ref.table}", hint)
    if ref.is_star:
        if not allow_star:
            raise error_at(ref, f"'{ref}' is only allowed as the argument of COUNT",
                           f"count rows with COUNT({ref}, start, end)")
        return table
    if ref.column not in table.columns:
        hint = suggest(ref.column, table.columns, prefix=f"{table.name}.") or _columns_hint(table)
        raise error_at(ref, f"unknown column {ref}", hint)
    return table


def resolve_names(query: ast.Query, schema: GraphSchema) -> None:
    """Resolve every name of ``query`` against ``schema`` and check where each may appear.

    Rules: the FOR column is the primary key of its table; ``table.*`` only as COUNT's argument; an
    aggregation's filter uses only columns of the aggregated table and no aggregation; aggregations are
    not nested; ASSUMING holds no static column (static conditions belong in WHERE).

    Args:
        query: the parsed query.
        schema: the graph schema.

    Raises:
        PQLError: at the first offending name.
    """
    ent = query.entity.column
    table = resolve_ref(ent, schema)
    if table.primary_key is None:
        raise error_at(ent, f"table {table.name} has no primary key, so its rows cannot be entities",
                       "FOR EACH needs a table with a primary key")
    if ent.column != table.primary_key:
        raise error_at(ent, f"{ent} is not the primary key of {table.name}",
                       f"write FOR EACH {table.name}.{table.primary_key}")

    for clause, expr in clauses(query):
        for node in top_level_nodes(expr):
            if isinstance(node, ast.ColumnRef):
                resolve_ref(node, schema)
                if clause == "assuming":
                    raise error_at(node, f"ASSUMING takes conditions on future aggregations, not the column "
                                         f"{node}", "put conditions on static columns in WHERE")
            elif isinstance(node, ast.Aggregation):
                _resolve_aggregation(node, schema)


def _resolve_aggregation(agg: ast.Aggregation, schema: GraphSchema) -> None:
    resolve_ref(agg.target, schema, allow_star=True)
    if agg.target.is_star and agg.func != "COUNT":
        raise error_at(agg.target, f"'{agg.target}' is allowed for COUNT only, not {agg.func}",
                       f"name a column: {agg.func}({agg.target.table}.<column>, ...)")
    if agg.filter is None:
        return
    for node in ast.walk(agg.filter):
        if isinstance(node, ast.Aggregation):
            raise error_at(node, "aggregations cannot be nested inside an aggregation's filter")
        if isinstance(node, ast.ColumnRef):
            resolve_ref(node, schema)
            if node.table != agg.target.table:
                raise error_at(node, f"the filter of {agg.func}({agg.target}, ...) may only use columns of "
                                     f"{agg.target.table}, not {node}",
                               "conditions on other tables belong in WHERE")
