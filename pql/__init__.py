"""PQL, the predictive query language: text and a graph schema in, a typed tree, a task and a plan out.

Pure: no I/O, no settings, no other package of the platform.

Example::

    import pql
    schema = pql.GraphSchema.from_json(text)
    compiled = pql.compile("PREDICT SUM(orders.price, 0, 30) FOR EACH customers.customer_id", schema)
    compiled.task_type   # TaskType.REGRESSION
    compiled.plan.explain()
"""

from __future__ import annotations

from pql.compiler import CompiledQuery, compile_query
from pql.errors import PQLError, SchemaError
from pql.parser import parse
from pql.plan import Plan, Step
from pql.schema import ColumnSchema, GraphSchema, Link, SemanticType, TableSchema
from pql.task import TaskType

__all__ = [
    "compile", "parse", "CompiledQuery", "PQLError", "SchemaError", "Plan", "Step", "GraphSchema",
    "TableSchema", "ColumnSchema", "Link", "SemanticType", "TaskType",
]


def compile(text: str, schema: GraphSchema, *, anchor_step_seconds: int | None = None, seed: int = 0) -> CompiledQuery:
    """Compile a predictive query against a graph schema.

    Args:
        text: the PQL query.
        schema: the graph schema the query is checked against.
        anchor_step_seconds: for a temporal query, the step between anchor times (default: the length of
            the target window).
        seed: the seed of a static query's random split, recorded in the plan.

    Returns:
        The :class:`CompiledQuery` (syntax tree, task type, metrics, entity, plan).

    Raises:
        PQLError: the query is invalid (syntax, names, types, windows, joins); the only exception a bad
            query text can cause.
        TypeError: ``schema`` is not a :class:`GraphSchema`.
        ValueError: ``anchor_step_seconds`` is not a positive integer.
    """
    return compile_query(text, schema, anchor_step_seconds=anchor_step_seconds, seed=seed)
