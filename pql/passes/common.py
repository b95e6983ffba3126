"""Helpers shared by the passes: error construction at a node, clause traversal, name suggestions."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from pql import ast
from pql.errors import PQLError

CLAUSES = ("target", "where", "assuming")


def error_at(node: object, message: str, hint: str | None = None) -> PQLError:
    """A :class:`PQLError` positioned at ``node``'s span."""
    span: ast.Span = node.span  # type: ignore[attr-defined]
    end_col = span.end_column if span.end_line == span.line else None
    return PQLError(message, line=span.line, column=span.column, hint=hint, end_line=span.end_line,
                    end_column=end_col)


def clauses(query: ast.Query) -> Iterator[tuple[str, ast.Expr]]:
    """The expression clauses of a query as (name, expression): target, where, assuming (if present)."""
    yield "target", query.target
    if query.where is not None:
        yield "where", query.where
    if query.assuming is not None:
        yield "assuming", query.assuming


def top_level_nodes(expr: ast.Expr) -> Iterator[object]:
    """Nodes of ``expr`` outside aggregation arguments and filters (aggregations themselves included)."""
    stack: list[object] = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.And, ast.Or)):
            stack.extend(reversed(node.items))
        elif isinstance(node, ast.Not):
            stack.append(node.operand)
        elif isinstance(node, ast.Comparison):
            stack.extend((node.right, node.left))
        elif isinstance(node, (ast.InList, ast.IsNull)):
            stack.append(node.operand)
        elif isinstance(node, ast.StringMatch):
            stack.extend((node.pattern, node.operand))


def aggregations(expr: ast.Expr | None) -> list[ast.Aggregation]:
    """The aggregations of ``expr`` (outside filters), left to right."""
    if expr is None:
        return []
    return [n for n in top_level_nodes(expr) if isinstance(n, ast.Aggregation)]


def static_columns(expr: ast.Expr | None) -> list[ast.ColumnRef]:
    """The column references of ``expr`` that are not inside an aggregation, left to right."""
    if expr is None:
        return []
    return [n for n in top_level_nodes(expr) if isinstance(n, ast.ColumnRef)]


def suggest(name: str, candidates: Iterable[str], prefix: str = "") -> str | None:
    """A "did you mean ...?" hint for a misspelt name, or ``None`` when nothing is close.

    A candidate that differs only in letter case wins, since identifiers are case-sensitive and that is
    the likeliest slip.
    """
    names = list(candidates)
    for cand in names:
        if cand.lower() == name.lower():
            return f"did you mean {prefix}{cand}? (names are case-sensitive)"
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f"did you mean {prefix}{close[0]}?" if close else None


def is_condition(node: object) -> bool:
    """Whether ``node`` is a boolean condition (as opposed to a bare operand)."""
    return isinstance(node, (ast.Comparison, ast.InList, ast.IsNull, ast.StringMatch, ast.And, ast.Or,
                             ast.Not))


def describe(node: object) -> str:
    """A short human rendering of an operand for messages (``SUM(orders.price, ...)``)."""
    if isinstance(node, ast.Aggregation):
        return f"{node.func}({node.target}, ...)"
    if isinstance(node, ast.ColumnRef):
        return str(node)
    if isinstance(node, ast.Literal):
        return str(node)
    return "the condition"
