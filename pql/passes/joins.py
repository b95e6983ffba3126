"""Join paths: how the rows of each table a query uses reach the entity.

- An aggregated table reaches the entity through foreign keys followed from child to parent (each hop
  many-to-one, so every aggregated row belongs to at most one entity): a direct link, or a chain through
  other tables. The shortest chain is taken; two or more shortest chains are an ambiguity, reported with
  the candidates, since PQL has no syntax to choose.
- A static column (in the target or WHERE) sits on the entity table or on a table that one foreign key
  of the entity table references (one value per entity).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pql import ast
from pql.passes.common import clauses, error_at, top_level_nodes
from pql.schema import GraphSchema, Link

#: The longest foreign-key chain considered between an aggregated table and the entity.
MAX_HOPS = 4


@dataclass(frozen=True, slots=True)
class JoinPaths:
    """The join path of every aggregation and static column of a query, keyed by the node's span.

    A path is a tuple of :class:`~pql.schema.Link`: for an aggregation from the aggregated table to the
    entity table, for a static column from the entity table to the column's table (empty when the
    column is on the entity table).
    """

    paths: Mapping[ast.Span, tuple[Link, ...]]

    def of(self, node: ast.Aggregation | ast.ColumnRef) -> tuple[Link, ...]:
        """The path of ``node`` (an aggregation or static column of the query this was built for)."""
        return self.paths[node.span]


def render_path(path: tuple[Link, ...]) -> str:
    """``orders.customer_id -> customers`` style rendering of a path."""
    return " -> ".join(f"{hop.table}.{hop.column}" for hop in path) + f" -> {path[-1].to}" if path else "(none)"


def find_paths(source: str, target: str, schema: GraphSchema, max_hops: int = MAX_HOPS) -> list[tuple[Link, ...]]:
    """All shortest foreign-key chains from ``source`` to ``target`` (at least one hop).

    Args:
        source: the table the chain starts at.
        target: the table the chain ends at (may equal ``source``: a self-referencing key).
        schema: the graph schema.
        max_hops: the longest chain considered.

    Returns:
        The shortest chains (all of the same length), in declaration order; empty if none exists.
    """
    frontier: list[tuple[tuple[Link, ...], str]] = [((), source)]
    for _ in range(max_hops):
        found: list[tuple[Link, ...]] = []
        nxt: list[tuple[tuple[Link, ...], str]] = []
        for path, table in frontier:
            seen = {source, *(hop.to for hop in path)}
            for link in schema.links_from(table):
                if link.to == target:
                    found.append((*path, link))
                elif link.to not in seen:
                    nxt.append(((*path, link), link.to))
        if found:
            return found
        frontier = nxt
    return []


def resolve_joins(query: ast.Query, schema: GraphSchema) -> JoinPaths:
    """Find the join path of every aggregation and static column of ``query``.

    Args:
        query: the query, after name resolution.
        schema: the graph schema.

    Returns:
        The :class:`JoinPaths`.

    Raises:
        PQLError: no path, or an ambiguous one (listing the candidates), or a static column that is
            neither on the entity table nor one foreign key away.
    """
    entity = query.entity.column.table
    paths: dict[ast.Span, tuple[Link, ...]] = {}
    for _, expr in clauses(query):
        for node in top_level_nodes(expr):
            if isinstance(node, ast.Aggregation):
                paths[node.span] = _aggregation_path(node, entity, schema)
            elif isinstance(node, ast.ColumnRef):
                paths[node.span] = _static_path(node, entity, schema)
    return JoinPaths(paths)


def _aggregation_path(agg: ast.Aggregation, entity: str, schema: GraphSchema) -> tuple[Link, ...]:
    source = agg.target.table
    found = find_paths(source, entity, schema)
    if not found:
        out = [f"{link.column} -> {link.to}" for link in schema.links_from(source)]
        hint = (f"links of {source}: {', '.join(out)}" if out else f"{source} has no foreign keys")
        raise error_at(agg.target, f"no foreign-key path from {source} to the entity table {entity}",
                       hint + f"; aggregate a table whose rows point to {entity}")
    if len(found) > 1:
        candidates = " or ".join(render_path(p) for p in found)
        raise error_at(agg.target, f"ambiguous join path from {source} to {entity}: {candidates}",
                       "PQL cannot choose between these foreign keys; keep only one of them in the graph schema")
    return found[0]


def _static_path(ref: ast.ColumnRef, entity: str, schema: GraphSchema) -> tuple[Link, ...]:
    if ref.table == entity:
        return ()
    direct = [link for link in schema.links_from(entity) if link.to == ref.table]
    if not direct:
        raise error_at(ref, f"{ref} is neither on the entity table {entity} nor one foreign key away from it",
                       f"a static column must belong to {entity} or to a table that {entity} references; "
                       f"for other tables use an aggregation")
    if len(direct) > 1:
        candidates = " or ".join(render_path((link,)) for link in direct)
        raise error_at(ref, f"ambiguous join path from {entity} to {ref.table}: {candidates}",
                       "PQL cannot choose between these foreign keys; keep only one of them in the graph schema")
    return (direct[0],)
