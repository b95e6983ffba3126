"""The compiler pipeline: parse, run the semantic passes in order, infer the task, build the plan."""

from __future__ import annotations

from dataclasses import dataclass

from pql import ast
from pql.errors import PQLError
from pql.parser import parse
from pql.passes import analyze_target, check_types, check_windows, resolve_joins, resolve_names
from pql.passes.target import TargetInfo
from pql.plan import Plan, build_plan
from pql.schema import GraphSchema
from pql.task import TaskType, default_metrics, infer_task

__all__ = ["CompiledQuery", "compile_query"]


@dataclass(frozen=True)
class CompiledQuery:
    """A query that passed every check.

    Attributes:
        ast: the syntax tree.
        task_type: the inferred task.
        metrics: the metrics to report, the model-selection metric first.
        entity: ``"table.primary_key"`` of the entities.
        plan: the execution plan.
        target: facts about the target (temporal or static, modifiers, label columns).
    """

    ast: ast.Query
    task_type: TaskType
    metrics: tuple[str, ...]
    entity: str
    plan: Plan
    target: TargetInfo


def compile_query(text: str, schema: GraphSchema, *, anchor_step_seconds: int | None = None,
                  seed: int = 0) -> CompiledQuery:
    """Compile ``text`` against ``schema``; see :func:`pql.compile`."""
    if not isinstance(schema, GraphSchema):
        raise TypeError(f"schema must be a pql.schema.GraphSchema, not {type(schema).__name__}")
    if anchor_step_seconds is not None and (not isinstance(anchor_step_seconds, int) or anchor_step_seconds <= 0):
        raise ValueError("anchor_step_seconds must be a positive whole number of seconds")
    try:
        query = parse(text)
        resolve_names(query, schema)
        target_type = check_types(query, schema)
        target = analyze_target(query, schema, target_type)
        check_windows(query)
        joins = resolve_joins(query, schema)
        task = infer_task(target)
        metrics = default_metrics(task, target.rank_k)
        plan = build_plan(query, text, schema, target, joins, task, metrics,
                          anchor_step_seconds=anchor_step_seconds, seed=seed)
    except PQLError as exc:
        raise exc.attach_source(text) from None
    except RecursionError:
        raise PQLError("the query is nested too deeply", line=1, column=1, source=text) from None
    except Exception as exc:  # the contract: a bad query never surfaces a raw Python exception
        raise PQLError(f"internal compiler error ({type(exc).__name__}: {exc})", line=1, column=1,
                       hint="this is a bug in the PQL compiler; please report the query", source=text) from exc
    return CompiledQuery(ast=query, task_type=task, metrics=metrics, entity=plan.entity, plan=plan, target=target)
