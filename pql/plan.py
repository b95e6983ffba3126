"""The execution plan: a small serializable DAG of the steps the orchestrator runs for one query.

Steps, in dependency order:

- ``ingest:<table>`` (engine ``data``), one per table of the graph schema;
- ``materialize_links`` (``graph``): nodes and both-direction edges of every link;
- ``training_table`` (``data``): the label over anchor times (or the static split), the entity filter
  (WHERE, split into a static and a temporal part) and the ASSUMING condition;
- ``prediction_table`` (``data``): the entities to score at the newest anchor time (FOR and WHERE);
- ``train`` (``compute``): task, metrics, the sampler's hop count, columns hidden from the model;
- ``predict`` (``compute``): scores, top-k lists for ranking, one value per horizon for forecasting.

A plan round-trips through JSON: ``Plan.from_dict(p.to_dict()) == p``. :meth:`Plan.explain` renders it
as text. Expressions inside step parameters use the JSON trees of :mod:`pql.expr`.

Parameters of ``training_table`` (``prediction_table`` repeats ``entity`` and ``where`` and adds ``ids``,
the literal keys of ``FOR pk = ...`` / ``FOR pk IN (...)``, or null for FOR EACH):

- ``entity``: ``{table, primary_key, time_column}``; an entity exists at T if its time is <= T.
- ``label``: ``kind`` (temporal | static), ``expression`` (the target tree), ``value_type``,
  ``horizon_seconds`` (latest label time after T), ``forecast`` (``{timeframes, windows: [{start, end}]}``
  in seconds after T, or null), ``rank`` (``{k}`` or null), ``classify``, ``ranked_table`` (the table whose
  rows LIST_DISTINCT ranks), ``drop_empty`` (some target aggregation drops empty-window examples).
- ``where``: ``{static, temporal, temporal_at}``: the conjuncts without / with aggregations; the temporal
  part is evaluated at each anchor time (``"anchor"``), or once at the newest data time (``"latest"``)
  for a static target.
- ``assuming``: a tree or null; training keeps only the examples where it holds.
- ``anchors``: for a temporal target ``{policy: "temporal", step_seconds, step_source (target_window |
  given), horizon_seconds (target and ASSUMING windows: the gap a split keeps before the next split's
  input), lookback_seconds (history WHERE needs; null = all), holdout_anchors, validation_anchors}``;
  for a static target ``{policy: "static_time", time_column, fractions}`` or ``{policy: "static_random",
  seed, fractions}``.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pql import ast
from pql.expr import iter_aggregations, render, render_window, to_json
from pql.passes.common import is_condition
from pql.passes.joins import JoinPaths
from pql.passes.target import TargetInfo
from pql.schema import GraphSchema
from pql.task import TaskType

__all__ = ["Plan", "Step", "build_plan", "ENGINES", "PLAN_VERSION"]

#: The task queues a step can run on.
ENGINES = ("data", "graph", "compute", "control")
PLAN_VERSION = 1
#: Share of entities for train / validation / holdout when a static query is split by time or at random.
STATIC_FRACTIONS = {"train": 0.8, "validation": 0.1, "holdout": 0.1}
#: The sampler never goes below this depth, even when every table used is closer to the entity.
MIN_SAMPLER_HOPS = 2


def _plain(value: Any) -> Any:
    """A deep copy made of dicts, lists and scalars only (what JSON gives back)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Step:
    """One node of the plan.

    Attributes:
        id: unique within the plan (``"ingest:orders"``, ``"train"``).
        kind: what it does: ingest, materialize_links, training_table, prediction_table, train, predict.
        engine: the task queue that runs it: one of :data:`ENGINES`.
        params: JSON-compatible parameters (dicts, lists, strings, numbers, booleans, null).
        depends_on: ids of the steps that must finish first.
    """

    id: str
    kind: str
    engine: str
    params: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"step {self.id}: unknown engine {self.engine!r}")
        object.__setattr__(self, "depends_on", tuple(self.depends_on))

    def to_dict(self) -> dict[str, Any]:
        """The step as a JSON-compatible dict."""
        return {"id": self.id, "kind": self.kind, "engine": self.engine, "params": _plain(self.params),
                "depends_on": list(self.depends_on)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        """Rebuild a step from :meth:`to_dict`'s output."""
        return cls(id=data["id"], kind=data["kind"], engine=data["engine"], params=_plain(data["params"]),
                   depends_on=tuple(data["depends_on"]))


@dataclass(frozen=True)
class Plan:
    """The compiled plan of one query.

    Attributes:
        query: the query text.
        task_type: the task.
        metrics: the metrics to report, the model-selection metric first.
        entity: ``"table.primary_key"``.
        steps: the steps, dependencies before dependants.
        version: the plan format version.
    """

    query: str
    task_type: TaskType
    metrics: tuple[str, ...]
    entity: str
    steps: tuple[Step, ...]
    version: int = PLAN_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "task_type", TaskType(self.task_type))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "steps", tuple(self.steps))
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("plan step ids must be unique")
        seen: set[str] = set()
        for s in self.steps:
            missing = [d for d in s.depends_on if d not in seen]
            if missing:
                raise ValueError(f"step {s.id} depends on {missing[0]!r}, which does not come before it")
            seen.add(s.id)

    def step(self, step_id: str) -> Step:
        """The step with id ``step_id``.

        Raises:
            KeyError: no such step.
        """
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def to_dict(self) -> dict[str, Any]:
        """The plan as a JSON-compatible dict."""
        return {"version": self.version, "query": self.query, "task_type": self.task_type.value,
                "metrics": list(self.metrics), "entity": self.entity,
                "steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """Rebuild a plan from :meth:`to_dict`'s output.

        Raises:
            ValueError: the dict is not a plan of a known version (or its DAG is malformed).
        """
        try:
            if data["version"] != PLAN_VERSION:
                raise ValueError(f"unsupported plan version {data['version']!r}")
            return cls(query=data["query"], task_type=TaskType(data["task_type"]), metrics=tuple(data["metrics"]),
                       entity=data["entity"], steps=tuple(Step.from_dict(s) for s in data["steps"]),
                       version=data["version"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a plan: {exc}") from None

    def to_json(self, indent: int | None = None) -> str:
        """The plan as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Rebuild a plan from :meth:`to_json`'s output."""
        return cls.from_dict(json.loads(text))

    def explain(self) -> str:
        """A readable multi-line description of the plan (what is predicted, for whom, how, in which steps)."""
        return _explain(self)


# -- building --------------------------------------------------------------------------------------


def build_plan(
    query: ast.Query,
    text: str,
    schema: GraphSchema,
    target: TargetInfo,
    joins: JoinPaths,
    task_type: TaskType,
    metrics: tuple[str, ...],
    *,
    anchor_step_seconds: int | None = None,
    seed: int = 0,
) -> Plan:
    """Assemble the plan of a checked query.

    Args:
        query: the query, after every pass.
        text: its source text.
        schema: the graph schema.
        target: the target analysis.
        joins: the join paths.
        task_type: the inferred task.
        metrics: its metrics.
        anchor_step_seconds: the anchor step of a temporal query; by default the target window's length.
        seed: the seed of a static query's random split (and of training).

    Returns:
        The :class:`Plan`.
    """
    ent_ref = query.entity.column
    ent_table = schema.tables[ent_ref.table]
    entity = {"table": ent_table.name, "primary_key": ent_table.primary_key, "time_column": ent_table.time_column}

    label_expr = to_json(query.target, schema, joins, "target")
    target_aggs = list(iter_aggregations(label_expr))
    label: dict[str, Any] = {
        "kind": "temporal" if target.temporal else "static",
        "expression": label_expr,
        "value_type": target.value_type.value,
        "horizon_seconds": None,
        "forecast": None,
        "rank": {"k": target.rank_k} if target.rank_k is not None else None,
        "classify": target.classify,
        "ranked_table": target.ranked_table,
        "drop_empty": any(a["empty_window"] == "drop" for a in target_aggs),
    }

    where = _split_where(query.where, schema, joins)
    where["temporal_at"] = "anchor" if target.temporal else "latest"
    assuming = to_json(query.assuming, schema, joins, "assuming") if query.assuming is not None else None

    if target.temporal:
        window = max(a["end"] - (a["start"] if a["start"] is not None else 0) for a in target_aggs)
        horizon = max(a["end"] for a in target_aggs)
        if target.forecast is not None:
            agg = target_aggs[0]
            length = agg["end"] - agg["start"]
            label["forecast"] = {
                "timeframes": target.forecast,
                "windows": [{"start": agg["start"] + i * length, "end": agg["end"] + i * length}
                            for i in range(target.forecast)],
            }
            horizon = agg["end"] + (target.forecast - 1) * length
        label["horizon_seconds"] = horizon
        # ASSUMING reads future data too: an anchor is usable only once its ASSUMING windows are complete.
        horizon = max([horizon, *(a["end"] for a in iter_aggregations(assuming))])
        past = [a for a in iter_aggregations(where["temporal"])]
        lookback = 0
        for a in past:
            lookback = None if lookback is None or a["start"] is None else max(lookback, -a["start"])
        anchors: dict[str, Any] = {
            "policy": "temporal",
            "step_seconds": anchor_step_seconds if anchor_step_seconds is not None else window,
            "step_source": "given" if anchor_step_seconds is not None else "target_window",
            "horizon_seconds": horizon,
            "lookback_seconds": lookback,
            "holdout_anchors": 1,
            "validation_anchors": 1,
        }
    elif ent_table.time_column is not None:
        anchors = {"policy": "static_time", "time_column": ent_table.time_column, "fractions": dict(STATIC_FRACTIONS)}
    else:
        anchors = {"policy": "static_random", "seed": seed, "fractions": dict(STATIC_FRACTIONS)}

    label_tables = _tables_of(label_expr) | _tables_of(assuming) | {ent_table.name}
    where_tables = _tables_of(where["static"]) | _tables_of(where["temporal"]) | {ent_table.name}
    used = label_tables | where_tables
    hops = _hop_distances(ent_table.name, schema)
    table_hops = {t: hops.get(t) for t in sorted(used)}
    needed = max((d for d in table_hops.values() if d is not None), default=0)

    ordered = list(schema.tables)
    ingest_ids = {t: f"ingest:{t}" for t in ordered}
    steps = [
        Step(ingest_ids[t], "ingest", "data",
             {"table": t, "primary_key": schema.tables[t].primary_key, "time_column": schema.tables[t].time_column})
        for t in ordered
    ]
    steps.append(Step("materialize_links", "materialize_links", "graph",
                      {"links": [link.to_dict() for link in schema.links]},
                      tuple(ingest_ids[t] for t in ordered)))
    steps.append(Step("training_table", "training_table", "data",
                      {"entity": entity, "label": label, "where": where, "assuming": assuming, "anchors": anchors},
                      tuple(ingest_ids[t] for t in ordered if t in used)))
    ids = None
    if isinstance(query.entity, ast.ForEquals):
        ids = [query.entity.value.value]
    elif isinstance(query.entity, ast.ForIn):
        ids = [v.value for v in query.entity.values.items]
    steps.append(Step("prediction_table", "prediction_table", "data",
                      {"entity": entity, "ids": ids, "where": where, "anchor": "latest"},
                      tuple(ingest_ids[t] for t in ordered if t in where_tables)))
    steps.append(Step("train", "train", "compute", {
        "task_type": task_type.value,
        "metrics": list(metrics),
        "entity_table": ent_table.name,
        "temporal": target.temporal,
        "value_type": target.value_type.value,
        "ranked_table": target.ranked_table,
        "label_columns": list(target.label_columns),
        "num_hops": max(MIN_SAMPLER_HOPS, needed),
        "min_hops": needed,
        "table_hops": table_hops,
        "seed": seed,
    }, ("materialize_links", "training_table")))
    steps.append(Step("predict", "predict", "compute", {
        "task_type": task_type.value,
        "entity_table": ent_table.name,
        "top_k": target.rank_k,
        "forecast_timeframes": target.forecast,
        "outputs": ["predictions", "embeddings"],
    }, ("train", "prediction_table")))
    return Plan(query=text, task_type=task_type, metrics=metrics,
                entity=f"{ent_table.name}.{ent_table.primary_key}", steps=tuple(steps))


def _split_where(where: ast.Expr | None, schema: GraphSchema, joins: JoinPaths) -> dict[str, Any]:
    """Split WHERE into the conjuncts without aggregations (static) and those with (temporal)."""
    if where is None:
        return {"static": None, "temporal": None}
    items = where.items if isinstance(where, ast.And) else (where,)
    static, temporal = [], []
    for item in items:
        has_agg = any(isinstance(n, ast.Aggregation) for n in ast.walk(item))
        (temporal if has_agg else static).append(to_json(item, schema, joins, "where"))

    def join(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"op": "and", "args": parts}

    assert is_condition(where)
    return {"static": join(static), "temporal": join(temporal)}


def _tables_of(expr: dict[str, Any] | None) -> set[str]:
    """Every table an expression reads, join-path tables included."""
    out: set[str] = set()
    if expr is None:
        return out
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("op") in ("agg", "column"):
                out.add(node["table"])
                for hop in node.get("path", ()):
                    out.update((hop["table"], hop["to"]))
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(node)
    return out


def _hop_distances(entity: str, schema: GraphSchema) -> dict[str, int]:
    """Shortest number of links (either direction) from the entity table to every reachable table."""
    neighbours: dict[str, set[str]] = {t: set() for t in schema.tables}
    for link in schema.links:
        neighbours[link.table].add(link.to)
        neighbours[link.to].add(link.table)
    dist = {entity: 0}
    queue = deque([entity])
    while queue:
        t = queue.popleft()
        for n in sorted(neighbours[t]):
            if n not in dist:
                dist[n] = dist[t] + 1
                queue.append(n)
    return dist


# -- explaining ------------------------------------------------------------------------------------

_SECONDS = (("weeks", 604800), ("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1))


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "all history"
    for unit, size in _SECONDS:
        if seconds % size == 0 and seconds >= size:
            n = seconds // size
            return f"{n} {unit if n != 1 else unit[:-1]}"
    return f"{seconds} seconds"


def _tplus(seconds: int) -> str:
    return "T" if seconds == 0 else f"T+{_duration(seconds)}"


def _path_text(path: list[dict[str, str]]) -> str:
    return " -> ".join(f"{h['table']}.{h['column']}" for h in path) + f" -> {path[-1]['to']}"


_EMPTY = {"zero": "0", "drop": "undefined, example dropped", "null": "NULL"}


def _agg_lines(expr: dict[str, Any] | None, indent: str) -> list[str]:
    lines = []
    for agg in iter_aggregations(expr):
        flt = f" where {render(agg['filter'])}" if agg["filter"] is not None else ""
        lines.append(f"{indent}{agg['agg']}({agg['table']}.{agg['column']}){flt} over rows with "
                     f"{agg['table']}.{agg['time_column']} in {render_window(agg)}")
        lines.append(f"{indent}  joined {_path_text(agg['path'])}; empty window: {_EMPTY[agg['empty_window']]}")
    return lines


def _explain(plan: Plan) -> str:
    lines = [f"query:    {' '.join(plan.query.split())}",
             f"task:     {plan.task_type.value}",
             f"metrics:  {', '.join(plan.metrics)} (model selection: {plan.metrics[0]})"]
    steps = {s.id: s for s in plan.steps}
    tt = steps["training_table"].params if "training_table" in steps else None
    pt = steps["prediction_table"].params if "prediction_table" in steps else None
    tr = steps["train"].params if "train" in steps else None
    who = "every entity that passes WHERE"
    if pt is not None and pt["ids"] is not None:
        who = f"only {', '.join(repr(i) for i in pt['ids'])} (training uses every entity that passes WHERE)"
    lines.append(f"entity:   {plan.entity}, {who}")
    if tt is not None:
        label = tt["label"]
        suffix = ""
        if label["rank"] is not None:
            suffix = f" RANK TOP {label['rank']['k']}"
        elif label["classify"]:
            suffix = " CLASSIFY"
        if label["forecast"] is not None:
            suffix += f" FORECAST {label['forecast']['timeframes']} TIMEFRAMES"
        lines.append(f"label:    {label['kind']}, {render(label['expression'])}{suffix}")
        lines.extend(_agg_lines(label["expression"], "  "))
        for col in tr["label_columns"] if tr else ():
            lines.append(f"  {col} is the label: hidden from the model's inputs")
        if label["forecast"] is not None:
            spans = ", ".join(f"({_tplus(w['start'])}, {_tplus(w['end'])}]" for w in label["forecast"]["windows"])
            lines.append(f"  horizons after T: {spans}")
        if label["ranked_table"] is not None:
            lines.append(f"  ranks rows of {label['ranked_table']}")
        where = tt["where"]
        if where["static"] is not None:
            lines.append(f"where:    static, {render(where['static'])}")
        if where["temporal"] is not None:
            at = "at each anchor time" if where["temporal_at"] == "anchor" else "at the newest data time"
            lines.append(f"where:    temporal ({at}), {render(where['temporal'])}")
            lines.extend(_agg_lines(where["temporal"], "  "))
        if tt["assuming"] is not None:
            lines.append(f"assuming: {render(tt['assuming'])} (training keeps only examples where it held)")
            lines.extend(_agg_lines(tt["assuming"], "  "))
        a = tt["anchors"]
        if a["policy"] == "temporal":
            source = "given" if a["step_source"] == "given" else "the target window"
            back = ""
            if tt["where"]["temporal"] is not None:
                back = f"; WHERE looks back {_duration(a['lookback_seconds'])}"
            lines.append(f"anchors:  every {_duration(a['step_seconds'])} ({source}) back from the newest data; "
                         f"label horizon {_duration(a['horizon_seconds'])}{back}")
            lines.append(f"  newest {a['holdout_anchors']} complete anchor(s) -> holdout, "
                         f"{a['validation_anchors']} before -> validation, the rest -> training")
        elif a["policy"] == "static_time":
            f = a["fractions"]
            lines.append(f"split:    static, by {plan.entity.split('.')[0]}.{a['time_column']}: oldest "
                         f"{f['train']:.0%} train, next {f['validation']:.0%} validation, "
                         f"newest {f['holdout']:.0%} holdout")
        else:
            f = a["fractions"]
            lines.append(f"split:    static, random with seed {a['seed']}: {f['train']:.0%} train, "
                         f"{f['validation']:.0%} validation, {f['holdout']:.0%} holdout")
    if tr is not None:
        reach = ", ".join(f"{t} {d if d is not None else '-'}" for t, d in tr["table_hops"].items())
        lines.append(f"sampler:  {tr['num_hops']} hops (tables used, hops from the entity: {reach})")
    lines.append("steps:")
    width = max(len(s.id) for s in plan.steps)
    for s in plan.steps:
        after = f"  after {', '.join(s.depends_on)}" if s.depends_on else ""
        lines.append(f"  {s.id.ljust(width)}  {('[' + s.engine + ']').ljust(9)}{after}".rstrip())
    return "\n".join(lines) + "\n"
