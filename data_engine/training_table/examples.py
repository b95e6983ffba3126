"""Entities x anchor times in Spark, with the value of every static column and aggregation a query reads.

The frame has one row per (entity, anchor time): ``__key`` (the entity's primary key), ``__anchor`` (the anchor
as epoch microseconds), ``__split`` and one column per distinct static column (``__c<n>``, joined along its
foreign-key path from the entity) and per distinct aggregation (``__a<n>``).

An aggregation over the window ``(T + start, T + end]`` is computed as: the aggregated table's rows
(after its filter), carried along the join path to the entity key (each hop a many-to-one foreign key,
joined through the intermediate tables), joined with the broadcast anchor list on the window condition,
and grouped by (entity, anchor). The per-row times are compared as epoch microseconds, so the window is
exact: start exclusive, end inclusive. Rows without a time never fall in any window. Aggregations ignore
NULL values (``COUNT(t.*)`` counts rows); a window with no (non-NULL) value is *empty*: its value is 0 for
the ``"zero"`` rule and NULL otherwise (the ``"drop"`` rule then drops the example).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from data_engine.spark_session import col
from data_engine.training_table.errors import ExpressionError, TrainingTableError
from data_engine.training_table.expr_to_spark import to_column
from data_engine.training_table.sources import InputTables, time_micros
from data_engine.training_table.spec import TableSpec, agg_nodes, column_nodes, node_key

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["ExampleFrame", "anchor_frame", "KEY", "ANCHOR", "SPLIT", "ENTITY_TIME"]

KEY, ANCHOR, SPLIT, ENTITY_TIME = "__key", "__anchor", "__split", "__etime"
_SECOND_US = 1_000_000
_AGGREGATIONS = ("COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX", "FIRST", "LAST", "LIST_DISTINCT")


def anchor_frame(spark: "SparkSession", rows: list[tuple[int | None, str]]) -> "DataFrame":
    """The small anchor list as a DataFrame (``__anchor`` epoch microseconds, ``__split``), built inside Spark
    from literals: no Python data crosses into the JVM, so it works the same over Spark Connect."""
    from pyspark.sql import functions as F

    structs = [F.struct(F.lit(us).cast("long").alias(ANCHOR), F.lit(split).alias(SPLIT)) for us, split in rows]
    return spark.range(1).select(F.inline(F.array(*structs)))


class ExampleFrame:
    """Builds the (entity, anchor) frame of one job and resolves expression nodes to its columns.

    Args:
        inputs: the opened input tables.
        spec: the plan's table parameters.
        expressions: every expression the job evaluates (label windows, WHERE parts, ASSUMING); their
            static columns and aggregations become columns of the frame.
    """

    def __init__(self, inputs: InputTables, spec: TableSpec, expressions: list[dict[str, Any] | None]) -> None:
        self.inputs, self.spec = inputs, spec
        self._columns: dict[str, str] = {}
        self._aggs: dict[str, str] = {}
        self._column_nodes: dict[str, dict[str, Any]] = {}
        self._agg_nodes: dict[str, dict[str, Any]] = {}
        for expr in expressions:
            for node in column_nodes(expr):
                key = node_key(node)
                if key not in self._columns:
                    self._columns[key] = f"__c{len(self._columns)}"
                    self._column_nodes[key] = node
            for node in agg_nodes(expr):
                self._add_agg(node)

    def _add_agg(self, node: dict[str, Any]) -> None:
        if node.get("agg") not in _AGGREGATIONS:
            raise ExpressionError(f"unknown aggregation {node.get('agg')!r} (known: {', '.join(_AGGREGATIONS)})")
        key = node_key(node)
        if key not in self._aggs:
            self._aggs[key] = f"__a{len(self._aggs)}"
            self._agg_nodes[key] = node

    # ---- resolving nodes ------------------------------------------------------------------------
    def resolve(self, node: dict[str, Any]) -> "Column":
        """The column holding a ``column`` node's value, or an ``agg`` node's value after its empty rule."""
        from pyspark.sql import functions as F

        key = node_key(node)
        if node["op"] == "column":
            if key not in self._columns:
                raise ExpressionError(f"column {node['table']}.{node['column']} was not prepared for this job")
            return F.col(self._columns[key])
        if key not in self._aggs:
            raise ExpressionError(f"aggregation over {node['table']} was not prepared for this job")
        value = F.col(self._aggs[key])
        if node["agg"] == "LIST_DISTINCT":
            value = F.when(F.size(value) > 0, value)
        if node.get("empty_window") == "zero":
            return F.coalesce(value, F.lit(0))
        return value

    def defined(self, node: dict[str, Any]) -> "Column":
        """True where an aggregation's window held a (non-NULL) value."""
        return self.resolve(node).isNotNull()

    # ---- the entity rows ----------------------------------------------------------------------
    def entities(self) -> "DataFrame":
        """One row per entity: ``__key``, ``__etime`` (creation time in microseconds, NULL when the entity
        table has no time column) and every static column (joined along its foreign-key path)."""
        from pyspark.sql import functions as F

        ent = self.spec.entity
        table = ent["table"]
        pk, time_column = ent["primary_key"], ent.get("time_column")
        self.inputs.require_column(table, pk)
        selects = [col(pk).alias(KEY)]
        selects.append(time_micros(col(time_column)).alias(ENTITY_TIME) if time_column
                       else F.lit(None).cast("long").alias(ENTITY_TIME))
        by_path: dict[str, list[str]] = {}
        for key, node in self._column_nodes.items():
            path = node.get("path") or []
            if not path:
                if node["table"] != table:
                    raise ExpressionError(f"column {node['table']}.{node['column']} has no join path to {table}")
                self.inputs.require_column(table, node["column"])
                selects.append(col(node["column"]).alias(self._columns[key]))
            else:
                by_path.setdefault(json.dumps(path, sort_keys=True), []).append(key)
        joins = []
        for i, (path_text, keys) in enumerate(sorted(by_path.items())):
            path = json.loads(path_text)
            first = path[0]
            if first["table"] != table:
                raise ExpressionError(f"the join path of {self._column_nodes[keys[0]]['table']} starts at "
                                      f"{first['table']}, not at the entity table {table}")
            self.inputs.require_column(table, first["column"])
            selects.append(col(first["column"]).alias(f"__fk{i}"))
            joins.append((i, path, keys))
        frame = self.inputs.frame(table).select(*selects).where(F.col(KEY).isNotNull())
        for i, path, keys in joins:
            frame = self._join_path(frame, i, path, keys)
        return frame

    def _join_path(self, frame: "DataFrame", i: int, path: list[dict[str, str]], keys: list[str]) -> "DataFrame":
        """Left-join the tables of a static column's path (each hop a foreign key to a primary key)."""
        from pyspark.sql import functions as F

        link = f"__fk{i}"
        for j, hop in enumerate(path):
            target = hop["to"]
            pk = self._primary_key(target)
            right_cols = [col(pk).alias(f"__pk{i}_{j}")]
            if j + 1 < len(path):
                nxt = path[j + 1]
                if nxt["table"] != target:
                    raise ExpressionError(f"broken join path: hop {j + 1} starts at {nxt['table']}, not {target}")
                self.inputs.require_column(target, nxt["column"])
                right_cols.append(col(nxt["column"]).alias(f"__fk{i}_{j}"))
            else:
                for key in keys:
                    node = self._column_nodes[key]
                    if node["table"] != target:
                        raise ExpressionError(f"the join path of {node['table']}.{node['column']} ends at {target}")
                    self.inputs.require_column(target, node["column"])
                    right_cols.append(col(node["column"]).alias(self._columns[key]))
            right = self.inputs.frame(target).select(*right_cols)
            frame = frame.join(right, F.col(link) == F.col(f"__pk{i}_{j}"), "left").drop(link, f"__pk{i}_{j}")
            link = f"__fk{i}_{j}"
        return frame

    def _primary_key(self, table: str) -> str:
        if table not in self.inputs.tables:
            raise TrainingTableError(f"no table URI for {table} (a join path goes through it)")
        pk = self.inputs.keys(table).primary_key
        if pk is None:
            raise TrainingTableError(f"table {table} has no primary key, but a foreign key points to it")
        self.inputs.require_column(table, pk)
        return pk

    # ---- entities x anchors -----------------------------------------------------------------------
    def at_anchors(self, entities: "DataFrame", anchors: "DataFrame") -> "DataFrame":
        """Cross the entities with the (broadcast) anchors; an entity exists at T once its time is <= T
        (entities without a time, or of a table without a time column, always exist)."""
        from pyspark.sql import functions as F

        crossed = entities.crossJoin(F.broadcast(anchors))
        return crossed.where(F.col(ENTITY_TIME).isNull() | (F.col(ENTITY_TIME) <= F.col(ANCHOR)))

    def with_aggregations(self, frame: "DataFrame", anchors: "DataFrame") -> "DataFrame":
        """Left-join every aggregation's per-(entity, anchor) value onto ``frame``.

        Aggregations over the same table, path, filter and window share one join and one grouping.
        """
        from pyspark.sql import functions as F

        groups: dict[str, list[str]] = {}
        for key, node in self._agg_nodes.items():
            group = json.dumps({k: node.get(k) for k in ("table", "path", "filter", "start", "end", "time_column")},
                               sort_keys=True)
            groups.setdefault(group, []).append(key)
        times = F.broadcast(anchors.select(ANCHOR))
        for gi, keys in enumerate(groups.values()):
            first = self._agg_nodes[keys[0]]
            facts, values, order = self._facts(first, [self._agg_nodes[k] for k in keys], gi)
            start, end = first["start"], first["end"]
            condition = F.col("__ftime") <= F.col(ANCHOR) + F.lit(int(end) * _SECOND_US)
            if start is not None:
                condition = condition & (F.col("__ftime") > F.col(ANCHOR) + F.lit(int(start) * _SECOND_US))
            windowed = facts.join(times, condition)
            exprs = [self._agg_expr(self._agg_nodes[k], values, order).alias(self._aggs[k]) for k in keys]
            grouped = windowed.groupBy(F.col("__k").alias(KEY), F.col(ANCHOR)).agg(*exprs)
            frame = frame.join(grouped, [KEY, ANCHOR], "left")
        return frame

    def _facts(self, node: dict[str, Any], nodes: list[dict[str, Any]], gi: int
               ) -> tuple["DataFrame", dict[str, str], str | None]:
        """The aggregated table's rows after the filter, with ``__t`` (time), ``__k`` (entity key via the
        path), one ``__v<n>`` per aggregated column and ``__o`` (the primary key, FIRST/LAST's tie-break)."""
        from pyspark.sql import functions as F

        table = node["table"]
        if table not in self.inputs.tables:
            raise TrainingTableError(f"no table URI for {table} (the query aggregates it)")
        keys = self.inputs.keys(table)
        time_column = node.get("time_column") or keys.time_column
        if time_column is None:
            raise TrainingTableError(f"table {table} has no time column, so it cannot be aggregated over a window")
        self.inputs.require_column(table, time_column)
        path = node.get("path") or []
        if not path or path[0]["table"] != table or path[-1]["to"] != self.spec.entity["table"]:
            raise ExpressionError(f"the aggregation over {table} has no join path to the entity table "
                                  f"{self.spec.entity['table']}: {path!r}")
        frame = self.inputs.frame(table)
        if node.get("filter") is not None:
            frame = frame.where(to_column(node["filter"], lambda n: self._filter_column(table, n)))
        values: dict[str, str] = {}
        for n in nodes:
            if n["column"] != "*" and n["column"] not in values:
                self.inputs.require_column(table, n["column"])
                values[n["column"]] = f"__v{len(values)}"
        self.inputs.require_column(table, path[0]["column"])
        selects = [time_micros(col(time_column)).alias("__ftime"), col(path[0]["column"]).alias("__k"),
                   *[col(c).alias(alias) for c, alias in values.items()]]
        order = None
        if keys.primary_key is not None and keys.primary_key in self.inputs.tables[table].columns:
            selects.append(col(keys.primary_key).alias("__o"))
            order = "__o"
        frame = frame.select(*selects).where(F.col("__ftime").isNotNull() & F.col("__k").isNotNull())
        for j, hop in enumerate(path[1:], start=1):
            if hop["table"] != path[j - 1]["to"]:
                raise ExpressionError(f"broken join path from {table}: hop {j} starts at {hop['table']}, "
                                      f"not {path[j - 1]['to']}")
            pk = self._primary_key(hop["table"])
            self.inputs.require_column(hop["table"], hop["column"])
            parent = self.inputs.frame(hop["table"]).select(col(pk).alias(f"__h{gi}_{j}"),
                                                            col(hop["column"]).alias(f"__n{gi}_{j}"))
            frame = (frame.join(parent, F.col("__k") == F.col(f"__h{gi}_{j}"))
                     .drop("__k", f"__h{gi}_{j}").withColumnRenamed(f"__n{gi}_{j}", "__k")
                     .where(F.col("__k").isNotNull()))
        return frame, values, order

    def _filter_column(self, table: str, node: dict[str, Any]) -> "Column":
        if node["op"] != "column" or node["table"] != table:
            what = f"{node['table']}.{node.get('column')}" if node["op"] == "column" else "an aggregation"
            raise ExpressionError(f"the filter of an aggregation over {table} reads {what}; only {table}'s own "
                                  "columns are allowed there")
        self.inputs.require_column(table, node["column"])
        return col(node["column"])

    @staticmethod
    def _agg_expr(node: dict[str, Any], values: dict[str, str], order: str | None) -> "Column":
        from pyspark.sql import functions as F

        agg, column = node["agg"], node["column"]
        if column == "*":
            if agg != "COUNT":
                raise ExpressionError(f"{agg}(table.*) is not an aggregation; only COUNT takes *")
            return F.count(F.lit(1))
        v = F.col(values[column])
        if agg == "COUNT":
            return F.count(v)
        if agg == "COUNT_DISTINCT":
            return F.count_distinct(v)
        if agg == "SUM":
            return F.sum(v)
        if agg == "AVG":
            return F.avg(v)
        if agg == "MIN":
            return F.min(v)
        if agg == "MAX":
            return F.max(v)
        if agg == "LIST_DISTINCT":
            return F.array_sort(F.collect_set(v))
        # FIRST / LAST: the value of the earliest / latest row with a value; equal times are ordered by the
        # row's primary key (or the value itself), so the result never depends on partitioning.
        rank = F.when(v.isNotNull(), F.struct(F.col("__ftime"), F.col(order) if order else v))
        return F.min_by(v, rank) if agg == "FIRST" else F.max_by(v, rank)
