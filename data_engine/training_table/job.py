"""The training and prediction table jobs: a compiled plan and ingested tables in, one Parquet artifact out.

Training table (:func:`build_training_table`), one row per (entity, anchor time) with its label and split:

1. open the table artifacts; return the existing artifact when it was made from the same plan step, table
   contents and boundaries;
2. temporal query: the time range of the tables the label and ASSUMING aggregate (one small Spark
   aggregate) gives the anchor times and their split (:mod:`.anchors`); static query: one anchor, the
   newest time in any given table;
3. in Spark: entities passing the static WHERE x anchors at which they exist, every aggregation per
   (entity, anchor) over its window (:mod:`.examples`), the temporal WHERE at the anchor (only rows with
   time <= T), ASSUMING (training keeps only examples where it held), the label (:mod:`.labels`), the
   empty-window rules; static query: the split by the entity's time column or a seeded hash;
4. write ``data/part-*.parquet`` (entity key, ``anchor_time``, ``label``, ``split``; each part sorted by anchor, key)
   and the manifest, whose metadata holds the task, the label type, anchors and rows per split, label
   statistics and the boundaries.

Prediction table (:func:`build_prediction_table`): the entities that exist and pass WHERE (and FOR's ids) at
one anchor time, by default the newest data time; no label.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from data_engine.spark_session import get_spark
from data_engine.staging import Staging
from data_engine.training_table.anchors import AnchorSplit, SplitBoundaries, plan_anchors, to_utc
from data_engine.training_table.errors import AnchorError, TrainingTableError
from data_engine.training_table.examples import ANCHOR, ENTITY_TIME, KEY, SPLIT, ExampleFrame, anchor_frame
from data_engine.training_table.expr_to_spark import to_column
from data_engine.training_table.labels import label_column, static_split
from data_engine.training_table.sources import (
    InputTables,
    datetime_to_micros,
    micros_to_datetime,
    open_inputs,
)
from data_engine.training_table.spec import TableSpec, agg_nodes, column_nodes, table_spec
from data_engine.training_table.stats import split_stats
from platform_core.artifacts import Artifact, ArtifactStore, ArtifactWriter
from platform_core.object_store import ObjectStore

if TYPE_CHECKING:
    import pql
    from pyspark.sql import DataFrame, SparkSession

    from platform_core.settings import Settings

__all__ = ["build_training_table", "build_prediction_table", "TrainingTableResult", "PredictionTableResult",
           "TRAINING_PRODUCER", "PREDICTION_PRODUCER", "DATA_FOLDER"]

TRAINING_PRODUCER = "data_engine.training_table"
PREDICTION_PRODUCER = "data_engine.prediction_table"
DATA_FOLDER = "data"
JOB_VERSION = 2
_SECOND_US = 1_000_000


@dataclass(frozen=True)
class TrainingTableResult:
    """A written (or found) training table.

    Attributes:
        uri: the artifact's URI.
        rows: the examples written.
        rows_per_split: ``{"train": n, "val": n, "holdout": n}``.
        anchors: split -> anchor times (UTC; one newest-data time for a static query).
        task_type: the plan's task.
        entity_column: the name of the entity key column.
        label_type: the Spark type of the ``label`` column (``boolean``, ``double``, ``array<bigint>``...).
        reused: an artifact made from the same inputs was found and kept.
        metadata: the manifest metadata (label statistics, boundaries, time range...).
    """

    uri: str
    rows: int
    rows_per_split: dict[str, int]
    anchors: dict[str, list[dt.datetime]]
    task_type: str
    entity_column: str
    label_type: str
    reused: bool
    metadata: dict[str, Any] = field(repr=False)

    @classmethod
    def from_artifact(cls, artifact: Artifact, reused: bool) -> TrainingTableResult:
        meta = artifact.manifest.metadata
        return cls(uri=artifact.uri, rows=int(meta["rows"]), rows_per_split=dict(meta["rows_per_split"]),
                   anchors={k: [to_utc(t) for t in v] for k, v in meta["anchors"].items()},
                   task_type=meta["task_type"], entity_column=meta["entity_column"], label_type=meta["label_type"],
                   reused=reused, metadata=meta)


@dataclass(frozen=True)
class PredictionTableResult:
    """A written (or found) prediction table.

    Attributes:
        uri: the artifact's URI.
        rows: the entities to score.
        anchor_time: the time they are scored at (None when the data has no time at all).
        entity_column: the name of the entity key column.
        reused: an artifact made from the same inputs was found and kept.
        metadata: the manifest metadata.
    """

    uri: str
    rows: int
    anchor_time: dt.datetime | None
    entity_column: str
    reused: bool
    metadata: dict[str, Any] = field(repr=False)

    @classmethod
    def from_artifact(cls, artifact: Artifact, reused: bool) -> PredictionTableResult:
        meta = artifact.manifest.metadata
        anchor = meta.get("anchor_time")
        return cls(uri=artifact.uri, rows=int(meta["rows"]), anchor_time=to_utc(anchor) if anchor else None,
                   entity_column=meta["entity_column"], reused=reused, metadata=meta)


def _boundaries(value: SplitBoundaries | dict[str, Any] | None) -> SplitBoundaries:
    if value is None:
        return SplitBoundaries()
    if isinstance(value, SplitBoundaries):
        return value
    if isinstance(value, dict):
        return SplitBoundaries.from_dict(value)
    raise TrainingTableError(f"boundaries must be SplitBoundaries or a dict, not {type(value).__name__}")


def _context(settings: "Settings | None", store: ObjectStore | None, output_uri: str
             ) -> tuple["Settings", ObjectStore, str]:
    from platform_core.settings import load_settings

    settings = settings or load_settings()
    store = store or ObjectStore.from_settings(settings)
    uri = output_uri if "://" in output_uri else store.uri(output_uri)
    return settings, store, uri.rstrip("/")


def build_training_table(
    plan: "pql.Plan | dict[str, Any] | str",
    table_uris: dict[str, str],
    output_uri: str,
    *,
    boundaries: SplitBoundaries | dict[str, Any] | None = None,
    store: ObjectStore | None = None,
    settings: "Settings | None" = None,
    spark: "SparkSession | None" = None,
) -> TrainingTableResult:
    """Build the training table of a compiled query.

    Args:
        plan: the compiled plan (:class:`pql.Plan`, its dict or its JSON).
        table_uris: table name -> ingested table artifact URI; every table the query reads must be there.
            Anchor times span the time range of the tables the label (and ASSUMING) aggregates; a static
            query's single anchor is the newest time in any table given.
        output_uri: the artifact to write (absolute URI, or a key under the store's root).
        boundaries: split boundaries overriding the defaults (see :class:`SplitBoundaries`); for a static
            query only ``validation_start`` and ``holdout_start`` (both) apply, to a time split.
        store: the object store (default: from the settings).
        settings: the platform settings (default: from the environment).
        spark: the Spark session (default: the process's shared session).

    Returns:
        The :class:`TrainingTableResult`.

    Raises:
        TrainingTableError: a missing or malformed table, a plan this job cannot evaluate, or no training
            example at all.
        AnchorError: the data's time range and the boundaries leave a split without anchors.
    """
    spec = table_spec(plan)
    bounds = _boundaries(boundaries)
    settings, store, output_uri = _context(settings, store, output_uri)
    required = spec.used_tables(training=True)
    tables = open_inputs(store, table_uris, required)
    # A temporal table depends on the tables it reads; a static one also on the newest time of any table.
    hashed = tables if not spec.temporal else {n: t for n, t in tables.items() if n in required}
    inputs_key = {"job": "training_table", "version": JOB_VERSION, "task_type": spec.task_type,
                  "params": spec.training_params, "boundaries": bounds.to_dict(),
                  "tables": {name: t.artifact.manifest.content_hash for name, t in hashed.items()}}
    artifacts = ArtifactStore(store)
    found = artifacts.find(output_uri, inputs_key)
    if found is not None:
        return TrainingTableResult.from_artifact(found, reused=True)
    if not spec.temporal:
        _check_static_boundaries(spec, bounds)
    spark = spark or get_spark(settings)
    with Staging(store, settings.home / "scratch") as staging:
        inputs = InputTables(spark, staging, spec, tables, required)
        job = _TrainingJob(spark, inputs, spec, bounds)
        with artifacts.writer(output_uri, producer=TRAINING_PRODUCER, inputs=inputs_key) as writer:
            job.run(writer, staging)
    return TrainingTableResult.from_artifact(artifacts.open(output_uri), reused=False)


def _check_static_boundaries(spec: TableSpec, bounds: SplitBoundaries) -> None:
    temporal_only = [n for n in ("anchor_step", "eval_windows", "max_train_anchors") if getattr(bounds, n) is not None]
    if temporal_only:
        raise TrainingTableError(f"{', '.join(temporal_only)} apply to temporal queries only; this query predicts a "
                                 "static column and has no anchor times")
    given = [bounds.validation_start, bounds.holdout_start]
    if any(g is not None for g in given):
        if spec.anchors["policy"] != "static_time":
            raise TrainingTableError(f"the entity table {spec.entity['table']} has no time column, so its split is "
                                     "random; validation_start and holdout_start need a time split")
        if any(g is None for g in given):
            raise TrainingTableError("a static time split needs both validation_start and holdout_start")


class _Clock:
    """Seconds per step, recorded in the manifest (benchmarks, and users wondering where time goes)."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.laps[step] = round(now - self._last, 3)
        self._last = now


class _TrainingJob:
    """One training table run; :meth:`run` fills an artifact writer."""

    def __init__(self, spark: "SparkSession", inputs: InputTables, spec: TableSpec, bounds: SplitBoundaries) -> None:
        self.spark, self.inputs, self.spec, self.bounds = spark, inputs, spec, bounds
        self.clock = _Clock()

    def run(self, writer: ArtifactWriter, staging: Staging) -> None:
        spec = self.spec
        if spec.temporal:
            # Anchors span the time of the rows that make labels: earlier anchors could only get empty
            # windows, later ones incomplete windows.
            label_tables = {n["table"] for e in [*spec.label_expressions(), spec.assuming] for n in agg_nodes(e)}
            time_range = self.inputs.time_range(label_tables)
            anchors = self._anchors(time_range)
            anchor_rows = [(datetime_to_micros(t), s) for t, s in anchors.items()]
            self.clock.lap("time_range")
            examples = self._examples(anchor_rows)
            self._write(writer, staging, examples, {"policy": "temporal", **anchors.to_dict()}, time_range, anchor_rows)
            return
        time_range = self.inputs.time_range()
        latest = datetime_to_micros(time_range[1]) if time_range else None
        if spec.where.get("temporal") is not None and latest is None:
            raise TrainingTableError("the WHERE condition aggregates over time, but no given table has times")
        anchor_rows = [(latest, "train")]
        self.clock.lap("time_range")
        given = (None if self.bounds.validation_start is None else
                 (datetime_to_micros(self.bounds.validation_start), datetime_to_micros(self.bounds.holdout_start)))
        # Cached: the split's quantiles and the write both read the examples.
        examples = self._examples(anchor_rows).drop(SPLIT).persist()
        try:
            split, split_info = static_split(examples, spec.anchors, given)
            self._write(writer, staging, split, split_info, time_range, anchor_rows)
        finally:
            examples.unpersist()

    def _examples(self, anchor_rows: list[tuple[int | None, str]]) -> "DataFrame":
        """The examples: ``__key``, ``__anchor``, ``__split``, ``__etime`` and ``__label``."""
        from pyspark.sql import functions as F

        spec, where = self.spec, self.spec.where
        frame = ExampleFrame(self.inputs, spec, [*spec.label_expressions(), where.get("static"),
                                                 where.get("temporal"), spec.assuming])
        entities = frame.entities()
        if where.get("static") is not None:
            entities = entities.where(to_column(where["static"], frame.resolve))
        anchors = anchor_frame(self.spark, anchor_rows)
        if spec.temporal:
            examples = frame.at_anchors(entities, anchors)
        else:  # one anchor, the newest data time: every entity exists then
            examples = entities.crossJoin(F.broadcast(anchors))
        examples = frame.with_aggregations(examples, anchors)
        if where.get("temporal") is not None:
            examples = examples.where(to_column(where["temporal"], frame.resolve))
        if spec.assuming is not None:
            examples = examples.where(to_column(spec.assuming, frame.resolve))
        label, keep = label_column(spec, frame)
        if keep is not None:
            examples = examples.where(keep)
        return examples.select(KEY, ANCHOR, SPLIT, ENTITY_TIME, label.alias("__label"))

    def _anchors(self, time_range: tuple[dt.datetime, dt.datetime] | None) -> AnchorSplit:
        if time_range is None:
            raise AnchorError("the tables the label aggregates hold no time, so there are no anchor times")
        lo, hi = time_range
        # Anchors on whole seconds: the label window of the newest one still ends by the newest data.
        hi = hi.replace(microsecond=0)
        a = self.spec.anchors
        return plan_anchors(lo, hi, step_seconds=a["step_seconds"], horizon_seconds=a["horizon_seconds"],
                            boundaries=self.bounds, holdout_anchors=int(a.get("holdout_anchors") or 1),
                            validation_anchors=int(a.get("validation_anchors") or 1))

    def _write(self, writer: ArtifactWriter, staging: Staging, examples: "DataFrame", split_info: dict[str, Any],
               time_range: tuple[dt.datetime, dt.datetime] | None, anchor_rows: list[tuple[int | None, str]]) -> None:
        from pyspark.sql import functions as F

        pk = self.spec.entity["primary_key"]
        # Sorted within each part only: a global sort would cost Spark a sampling pass for no reader's benefit.
        out = (examples.sortWithinPartitions(ANCHOR, KEY)
               .select(F.col(KEY).alias(pk), F.timestamp_micros(F.col(ANCHOR)).alias("anchor_time"),
                       F.col("__label").alias("label"), F.col(SPLIT).alias("split")))
        out.write.mode("overwrite").parquet(staging.output_path(writer, DATA_FOLDER))
        self.clock.lap("labels")
        written = self.spark.read.schema(out.schema).parquet(_written_folder(staging, writer))
        stats = split_stats(written, self.spec.task_type, pk,
                            horizons=(self.spec.label.get("forecast") or {}).get("timeframes"))
        self.clock.lap("stats")
        rows_per_split = {s: int(stats.get(s, {}).get("rows", 0)) for s in ("train", "val", "holdout")}
        if sum(rows_per_split.values()) == 0:
            raise TrainingTableError("no training example: no entity passes WHERE (and ASSUMING) with a defined "
                                     "label at any anchor time")
        if rows_per_split["train"] == 0:
            raise TrainingTableError(f"the training split has no example (val {rows_per_split['val']}, holdout "
                                     f"{rows_per_split['holdout']}); give earlier boundaries or check WHERE")
        label_type = out.schema["label"].dataType.simpleString()
        files = staging.publish(writer, DATA_FOLDER)
        self.clock.lap("publish")
        if self.spec.temporal:
            anchors = {"train": split_info["train"], "val": split_info["val"], "holdout": split_info["holdout"]}
        else:
            latest = anchor_rows[0][0]
            iso = [micros_to_datetime(latest).isoformat()] if latest is not None else []
            anchors = {s: iso for s in ("train", "val", "holdout")}
        writer.metadata.update({
            "query": self.spec.query,
            "task_type": self.spec.task_type,
            "entity": {"table": self.spec.entity["table"], "primary_key": pk,
                       "time_column": self.spec.entity.get("time_column")},
            "entity_column": pk,
            "columns": [pk, "anchor_time", "label", "split"],
            "label_type": label_type,
            "label_kind": self.spec.label["kind"],
            # A static label is a column value: a model must not read it as a feature.
            "label_columns": [] if self.spec.temporal else sorted(
                {(n["table"], n["column"]) for n in column_nodes(self.spec.label["expression"])}),
            "rank_k": (self.spec.label.get("rank") or {}).get("k"),
            "ranked_table": self.spec.label.get("ranked_table"),
            "forecast_timeframes": (self.spec.label.get("forecast") or {}).get("timeframes"),
            "rows": sum(f.rows or 0 for f in files),
            "rows_per_split": rows_per_split,
            "anchors": anchors,
            "anchors_per_split": {s: len(v) for s, v in anchors.items()},
            "split": split_info,
            "boundaries": self.bounds.to_dict(),
            "time_range": None if time_range is None else [t.isoformat() for t in time_range],
            "stats": stats,
            "timings_s": self.clock.laps,
        })


def _written_folder(staging: Staging, writer: ArtifactWriter) -> str:
    """Where Spark just wrote the data folder (to read it back for statistics)."""
    local = staging.output_path_local(writer, DATA_FOLDER)
    return "file://" + str(local) if local is not None else staging.spark_path(writer.file_uri(DATA_FOLDER))


def build_prediction_table(
    plan: "pql.Plan | dict[str, Any] | str",
    table_uris: dict[str, str],
    output_uri: str,
    anchor_time: dt.datetime | str | None = None,
    *,
    store: ObjectStore | None = None,
    settings: "Settings | None" = None,
    spark: "SparkSession | None" = None,
) -> PredictionTableResult:
    """Build the prediction table: the entities to score at one anchor time.

    An entity is listed when it exists at the anchor time (its time column, if any, is <= it), passes the
    static WHERE and the temporal WHERE evaluated on data with time <= the anchor, and is one of FOR's ids
    (when the query names ids). ASSUMING is not evaluated (it is taken as given when predicting).

    Args:
        plan: the compiled plan (:class:`pql.Plan`, its dict or its JSON).
        table_uris: table name -> ingested table artifact URI (every table WHERE reads, and the entity table).
        output_uri: the artifact to write.
        anchor_time: when to score (default: the newest time in the given tables).
        store, settings, spark: as for :func:`build_training_table`.

    Returns:
        The :class:`PredictionTableResult`; its Parquet has the entity key and ``anchor_time``.

    Raises:
        TrainingTableError: a missing or malformed table, or a temporal WHERE without any time in the data.
    """
    spec = table_spec(plan)
    settings, store, output_uri = _context(settings, store, output_uri)
    required = spec.used_tables(training=False)
    tables = open_inputs(store, table_uris, required)
    given = to_utc(anchor_time) if anchor_time is not None else None
    inputs_key = {"job": "prediction_table", "version": JOB_VERSION, "entity": spec.entity, "ids": spec.ids,
                  "where": spec.where, "anchor_time": given.isoformat() if given else "latest",
                  "tables": {name: t.artifact.manifest.content_hash for name, t in tables.items()}}
    artifacts = ArtifactStore(store)
    found = artifacts.find(output_uri, inputs_key)
    if found is not None:
        return PredictionTableResult.from_artifact(found, reused=True)
    spark = spark or get_spark(settings)
    with Staging(store, settings.home / "scratch") as staging:
        inputs = InputTables(spark, staging, spec, tables, required)
        with artifacts.writer(output_uri, producer=PREDICTION_PRODUCER, inputs=inputs_key) as writer:
            _prediction(spark, inputs, spec, given, writer, staging)
    return PredictionTableResult.from_artifact(artifacts.open(output_uri), reused=False)


def _prediction(spark: "SparkSession", inputs: InputTables, spec: TableSpec, anchor: dt.datetime | None,
                writer: ArtifactWriter, staging: Staging) -> None:
    from pyspark.sql import functions as F

    where = spec.where
    if anchor is None:
        time_range = inputs.time_range()
        anchor = time_range[1] if time_range else None
    if anchor is None and where.get("temporal") is not None:
        raise TrainingTableError("the WHERE condition aggregates over time, but no given table has times")
    frame = ExampleFrame(inputs, spec, [where.get("static"), where.get("temporal")])
    entities = frame.entities()
    if where.get("static") is not None:
        entities = entities.where(to_column(where["static"], frame.resolve))
    if spec.ids is not None:
        entities = entities.where(F.col(KEY).isin(list(spec.ids)))
    anchor_us = datetime_to_micros(anchor) if anchor is not None else None
    anchors = anchor_frame(spark, [(anchor_us, "predict")])
    if anchor_us is not None:
        rows = frame.at_anchors(entities, anchors)
    else:
        rows = entities.crossJoin(F.broadcast(anchors))
    if where.get("temporal") is not None:
        rows = frame.with_aggregations(rows, anchors).where(to_column(where["temporal"], frame.resolve))
    pk = spec.entity["primary_key"]
    out = rows.sortWithinPartitions(KEY).select(F.col(KEY).alias(pk), F.timestamp_micros(F.col(ANCHOR)).alias("anchor_time"))
    out.write.mode("overwrite").parquet(staging.output_path(writer, DATA_FOLDER))
    files = staging.publish(writer, DATA_FOLDER)
    writer.metadata.update({
        "query": spec.query,
        "task_type": spec.task_type,
        "entity": {"table": spec.entity["table"], "primary_key": pk, "time_column": spec.entity.get("time_column")},
        "entity_column": pk,
        "columns": [pk, "anchor_time"],
        "anchor_time": anchor.isoformat() if anchor is not None else None,
        "ids": spec.ids,
        "rows": sum(f.rows or 0 for f in files),
    })
