"""Activities of the ``data`` task queue: ingestion, graph and feature materialization, training and
prediction tables, all in the worker's one SparkSession.

Each call runs its Spark jobs under a job group named after the activity (``setJobGroup`` with
``interruptOnCancel``), so cancelling the activity cancels exactly its Spark jobs (``cancelJobGroup``).
The engines are idempotent: an artifact whose manifest records the same inputs is returned as reused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from temporalio import activity

from control_plane.activities.common import engine_errors, run_blocking
from control_plane.workflows.messages import (
    IngestOutcome,
    IngestRequest,
    MaterializeOutcome,
    MaterializeRequest,
    PredictionTableOutcome,
    PredictionTableRequest,
    TrainingTableOutcome,
    TrainingTableRequest,
)
from control_plane.workflows.policies import (
    BUILD_PREDICTION_TABLE,
    BUILD_TRAINING_TABLE,
    INGEST_TABLE,
    MATERIALIZE_GRAPH,
    content_key,
    ingest_key,
)
from platform_core.object_store import ObjectNotFoundError, ObjectStore
from platform_core.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

T = TypeVar("T")
#: Where the pointers to the latest table artifact per source and graph per schema live in the store.
LATEST_PREFIX = "latest"


def job_group() -> str:
    """The Spark job group of the running activity: unique per workflow, activity and attempt."""
    info = activity.info()
    return f"pq-{info.workflow_id}-{info.activity_id}-{info.attempt}"


@contextmanager
def spark_job_group(spark: "SparkSession", group: str, description: str) -> Iterator[None]:
    """Tag every Spark job this thread starts with ``group`` (interruptible), untagging afterwards."""
    try:
        context = spark.sparkContext
    except Exception:  # Spark Connect has no SparkContext: it cancels by operation tag instead
        context = None
    if context is None:
        spark.addTag(group)
        try:
            yield
        finally:
            spark.removeTag(group)
        return
    context.setJobGroup(group, description, interruptOnCancel=True)
    try:
        yield
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
        context.setLocalProperty("spark.job.description", None)


def cancel_job_group(spark: "SparkSession", group: str) -> None:
    """Cancel the running and queued Spark jobs of ``group``."""
    try:
        context = spark.sparkContext
    except Exception:
        context = None
    if context is None:
        spark.interruptTag(group)
    else:
        context.cancelJobGroup(group)


class DataActivities:
    """The data engine's activities, bound to the worker's settings.

    Args:
        settings: the platform settings (object store, Spark master, scratch folder under the home).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: ObjectStore | None = None

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = ObjectStore.from_settings(self.settings)
        return self._store

    def _uri(self, uri: str) -> str:
        return uri if "://" in uri else self.store.uri(uri)

    # The latest artifact built for the same table source, or for the same schema, is what the next build
    # updates from when the data only grew (the engines check that, and build in full otherwise).
    def _latest(self, kind: str, key: str) -> str | None:
        pointer = f"{LATEST_PREFIX}/{kind}/{key}.json"
        try:
            uri = json.loads(self.store.read_bytes(pointer)).get("uri")
        except (ObjectNotFoundError, ValueError):
            return None
        return uri if isinstance(uri, str) and uri else None

    def _remember(self, kind: str, key: str, uri: str) -> None:
        self.store.write_bytes(f"{LATEST_PREFIX}/{kind}/{key}.json", json.dumps({"uri": uri}).encode())

    async def _in_spark(self, description: str, work: Callable[["SparkSession"], T]) -> T:
        """Run ``work(spark)`` under this activity's job group, heartbeating; cancel its jobs on cancellation."""
        from data_engine.spark_session import get_spark

        group = job_group()
        session: list["SparkSession"] = []

        def call() -> T:
            with engine_errors():
                spark = get_spark(self.settings)
                session.append(spark)
                with spark_job_group(spark, group, description):
                    return work(spark)

        def stop() -> None:
            if session:
                activity.logger.info("cancelling Spark job group %s", group)
                cancel_job_group(session[0], group)

        return await run_blocking(call, on_cancel=stop, details=lambda: {"spark_job_group": group})

    @activity.defn(name=INGEST_TABLE)
    async def ingest_table(self, request: IngestRequest) -> IngestOutcome:
        """Ingest one table into a content-addressed table artifact (or find the identical one).

        Raises:
            ApplicationError: non-retryable when the source is missing or the options do not fit it.
        """
        from data_engine.ingest import IngestOptions, ingest_table, open_table

        source = request.table
        with engine_errors():
            options = IngestOptions.from_dict(source.options) if source.options else None

        key = ingest_key(source)
        previous = self._latest("ingest", key)

        def work(spark: "SparkSession") -> IngestOutcome:
            result = ingest_table(source.source_uri, source.name, options=options, settings=self.settings,
                                  store=self.store, spark=spark, previous=previous)
            table = open_table(self.store, result.uri)
            appended = result.rows - open_table(self.store, result.appended_to).rows if result.appended_to else None
            self._remember("ingest", key, result.uri)
            return IngestOutcome(table=source.name, uri=result.uri, content_hash=table.artifact.manifest.content_hash,
                                 rows=result.rows, rejected_rows=result.rejected_rows, reused=result.reused,
                                 appended_rows=appended)

        return await self._in_spark(f"ingest {source.name}", work)

    @activity.defn(name=MATERIALIZE_GRAPH)
    async def materialize_graph(self, request: MaterializeRequest) -> MaterializeOutcome:
        """Materialize node indexes, the graph and the features (or find them made from the same inputs)."""
        from data_engine.materialize import materialize_graph

        key = content_key("graph", request.schema)
        output = self._uri(request.output_uri)
        previous = self._latest("graphs", key)

        def work(spark: "SparkSession") -> MaterializeOutcome:
            result = materialize_graph(request.schema, request.table_uris, output, settings=self.settings,
                                       store=self.store, spark=spark,
                                       progress=lambda message: activity.logger.info("materialize: %s", message),
                                       previous=previous if previous not in (None, output) else None)
            if result.fallback:
                activity.logger.info("materialize: built in full (%s)", result.fallback)
            self._remember("graphs", key, result.output_uri)
            return MaterializeOutcome(output_uri=result.output_uri, graph_uri=result.graph_uri,
                                      feature_uris=dict(result.feature_uris), num_nodes=dict(result.num_nodes),
                                      num_edges=dict(result.num_edges), reused=result.reused, mode=result.mode,
                                      work=dict(result.work), index_uris=dict(result.index_uris))

        return await self._in_spark("materialize graph", work)

    @activity.defn(name=BUILD_TRAINING_TABLE)
    async def build_training_table(self, request: TrainingTableRequest) -> TrainingTableOutcome:
        """Build the training table of a plan (labels over anchor times, split train / val / holdout)."""
        from data_engine.training_table import build_training_table

        def work(spark: "SparkSession") -> TrainingTableOutcome:
            result = build_training_table(request.plan, request.table_uris, self._uri(request.output_uri),
                                          boundaries=request.boundaries, store=self.store, settings=self.settings,
                                          spark=spark)
            return TrainingTableOutcome(uri=result.uri, rows=result.rows, rows_per_split=dict(result.rows_per_split),
                                        reused=result.reused)

        return await self._in_spark("training table", work)

    @activity.defn(name=BUILD_PREDICTION_TABLE)
    async def build_prediction_table(self, request: PredictionTableRequest) -> PredictionTableOutcome:
        """Build the prediction table of a plan: the entities to score at the anchor time."""
        from data_engine.training_table import build_prediction_table

        def work(spark: "SparkSession") -> PredictionTableOutcome:
            result = build_prediction_table(request.plan, request.table_uris, self._uri(request.output_uri),
                                            request.anchor_time, store=self.store, settings=self.settings,
                                            spark=spark)
            anchor = result.anchor_time.isoformat() if result.anchor_time is not None else None
            return PredictionTableOutcome(uri=result.uri, rows=result.rows, anchor_time=anchor, reused=result.reused)

        return await self._in_spark("prediction table", work)

    def activities(self) -> list[Callable]:
        """The activities to register on the ``data`` queue."""
        return [self.ingest_table, self.materialize_graph, self.build_training_table, self.build_prediction_table]
