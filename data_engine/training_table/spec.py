"""What the table jobs read from a compiled plan: the entity, the label, WHERE, ASSUMING, the anchor policy,
and each table's primary key and time column (from the plan's ``ingest`` steps)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import pql
from pql.expr import iter_aggregations

from data_engine.training_table.errors import TrainingTableError

__all__ = ["TableKeys", "TableSpec", "load_plan", "table_spec", "node_key", "column_nodes", "agg_nodes",
           "RESERVED_COLUMNS"]

#: Output columns besides the entity key; an entity key of one of these names would be ambiguous.
RESERVED_COLUMNS = ("anchor_time", "label", "split")


@dataclass(frozen=True)
class TableKeys:
    """A table's primary key and time column as the graph schema declares them."""

    name: str
    primary_key: str | None
    time_column: str | None


@dataclass(frozen=True)
class TableSpec:
    """The parts of a plan the training and prediction table jobs need.

    Attributes:
        query: the query text.
        task_type: the task (``pql.TaskType`` value).
        entity: ``{table, primary_key, time_column}``.
        label: the ``training_table`` step's ``label`` parameters.
        where: ``{static, temporal, temporal_at}``.
        assuming: the ASSUMING tree or None.
        anchors: the anchor / split policy.
        ids: the literal keys of ``FOR pk = ...`` / ``FOR pk IN (...)``, or None for FOR EACH.
        tables: every table of the schema with its key and time column.
        training_params: the ``training_table`` step's parameters as given (for artifact inputs).
    """

    query: str
    task_type: str
    entity: dict[str, Any]
    label: dict[str, Any]
    where: dict[str, Any]
    assuming: dict[str, Any] | None
    anchors: dict[str, Any]
    ids: list[Any] | None
    tables: dict[str, TableKeys]
    training_params: dict[str, Any]

    @property
    def temporal(self) -> bool:
        """The target aggregates over future windows (anchor times), else it reads static columns."""
        return self.label["kind"] == "temporal"

    def label_expressions(self) -> list[dict[str, Any]]:
        """The label's expression, or for FORECAST one aggregation per timeframe window."""
        forecast = self.label.get("forecast")
        if not forecast:
            return [self.label["expression"]]
        expr = self.label["expression"]
        if expr.get("op") != "agg":
            raise TrainingTableError("FORECAST needs a single aggregation as its target")
        out = []
        for window in forecast["windows"]:
            node = copy.deepcopy(expr)
            node["start"], node["end"] = window["start"], window["end"]
            out.append(node)
        return out

    def used_tables(self, *, training: bool) -> set[str]:
        """Every table the job reads: the entity table, aggregated tables and those on join paths."""
        exprs = [self.where.get("static"), self.where.get("temporal")]
        if training:
            exprs += [self.label["expression"], self.assuming]
        out = {self.entity["table"]}
        for expr in exprs:
            for node in [*column_nodes(expr), *agg_nodes(expr)]:
                out.add(node["table"])
                for hop in node.get("path") or ():
                    out.update((hop["table"], hop["to"]))
        return out

    def keys(self, table: str) -> TableKeys:
        """The key and time column of ``table``.

        Raises:
            TrainingTableError: the plan's schema has no such table.
        """
        try:
            return self.tables[table]
        except KeyError:
            raise TrainingTableError(f"the plan's graph schema has no table {table!r}") from None


def load_plan(plan: pql.Plan | dict[str, Any] | str) -> pql.Plan:
    """A :class:`pql.Plan` from a plan, its dict (``Plan.to_dict()``) or its JSON text.

    Raises:
        TrainingTableError: not a plan.
    """
    if isinstance(plan, pql.Plan):
        return plan
    try:
        if isinstance(plan, str):
            return pql.Plan.from_json(plan)
        if isinstance(plan, dict):
            return pql.Plan.from_dict(plan)
    except (ValueError, TypeError, KeyError) as exc:
        raise TrainingTableError(f"not a compiled plan: {exc}") from None
    raise TrainingTableError(f"expected a pql.Plan, its dict or its JSON, not {type(plan).__name__}")


def table_spec(plan: pql.Plan | dict[str, Any] | str) -> TableSpec:
    """Read the table jobs' parameters out of a plan.

    Raises:
        TrainingTableError: the plan lacks the ``training_table`` or ``prediction_table`` step or their
            parameters, or the entity key is named like an output column.
    """
    plan = load_plan(plan)
    try:
        params = plan.step("training_table").params
        prediction = plan.step("prediction_table").params
    except KeyError as exc:
        raise TrainingTableError(f"the plan has no {exc.args[0]} step") from None
    tables = {}
    for step in plan.steps:
        if step.kind == "ingest":
            p = step.params
            tables[p["table"]] = TableKeys(p["table"], p.get("primary_key"), p.get("time_column"))
    try:
        spec = TableSpec(query=plan.query, task_type=plan.task_type.value, entity=dict(params["entity"]),
                         label=params["label"], where=params["where"], assuming=params.get("assuming"),
                         anchors=params["anchors"], ids=prediction.get("ids"), tables=tables,
                         training_params=json.loads(json.dumps(params)))
    except KeyError as exc:
        raise TrainingTableError(f"the plan's training_table step lacks {exc.args[0]!r}") from None
    if spec.entity["primary_key"] is None:
        raise TrainingTableError(f"the entity table {spec.entity['table']} has no primary key")
    if spec.entity["primary_key"] in RESERVED_COLUMNS:
        raise TrainingTableError(f"the entity key {spec.entity['primary_key']!r} clashes with an output column "
                                 f"({', '.join(RESERVED_COLUMNS)}); rename the column")
    return spec


def node_key(node: dict[str, Any]) -> str:
    """A canonical text of an expression node: equal nodes (written twice in a query) share one column."""
    return json.dumps(node, sort_keys=True)


def agg_nodes(expr: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The aggregation nodes of an expression (not those inside aggregation filters)."""
    return list(iter_aggregations(expr))


def column_nodes(expr: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The static column nodes of an expression (outside aggregations, whose filters read their own rows)."""
    out: list[dict[str, Any]] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            op = node.get("op")
            if op == "column":
                out.append(node)
            elif op != "agg":
                stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(node)
    return out
