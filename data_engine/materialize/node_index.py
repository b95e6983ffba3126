"""Node indexing: a dense ``0..n-1`` index per table, stable across appends.

Rules (deterministic: they depend only on the table artifact's bytes):

- **Tables with a primary key**: one node per distinct non-null key. Nodes are numbered in ingestion
  order of each key's first row (the row id of :mod:`data_engine.materialize.rows`), so the numbering
  follows the source. A key's node stands for its first row; later rows with the same key
  (``duplicate_rows``) and rows without a key (``null_keys``) are counted in the metadata and are not
  nodes: nothing can reference them.
- **Tables without a primary key** (pure fact or link tables): every row is a node and the node index
  is the row id (ingestion order).

An update (:func:`update_node_index`) keeps every previous node's index and numbers only what is new
after them: new keys in order of their first row (primary-key tables), or the rows past the previous
row count (tables without a key, whose new version must keep the old rows first, as an appended
ingestion does). A key missing from the new version keeps its node, with a null ``row``.

Layout of a node index artifact::

    index.parquet    node int64 (0..n-1, sorted), key <primary key type> (only with a key), row int64
                     (the node's row id in the table artifact named in the metadata, null if absent)
    _manifest.json   metadata: format "pq.node_index", format_version, table, key_column, key_dtype,
                     num_nodes, table_uri, table_rows, null_keys, duplicate_rows, new_nodes, previous,
                     nodes_are_rows (every row is a node and its node index is its row id)
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_engine.ingest.tables import IngestedTable, open_table
from data_engine.materialize.context import JobContext, job_context
from data_engine.materialize.errors import MaterializeError
from data_engine.materialize.rows import NODE, ROW, rows_frame
from data_engine.materialize import spark_io
from data_engine.materialize.spark_io import SortedOutput
from data_engine.staging import Staging
from platform_core.arrow_filters import KeyTypeMismatch, rows_matching
from platform_core.artifacts import Artifact, ArtifactError, ArtifactStore, ArtifactWriter

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from platform_core.object_store import ObjectStore
    from platform_core.settings import Settings

FORMAT = "pq.node_index"
FORMAT_VERSION = 1
INDEX_FILE = "index.parquet"
PRODUCER = "data_engine.materialize.node_index"
KEY = "key"


def _as_array(keys: Iterable[Any] | pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(keys, pa.ChunkedArray):
        return keys.combine_chunks()
    if isinstance(keys, pa.Array):
        return keys
    return pa.array(list(keys))


class _FromTable:
    def __repr__(self) -> str:
        return "FROM_TABLE"


#: default of ``primary_key``: the key that ingestion proposed (or was told) for the table
FROM_TABLE: Any = _FromTable()


class NodeIndex:
    """A committed node index artifact.

    Args:
        artifact: an opened artifact written by :func:`build_node_index` or :func:`update_node_index`.

    Raises:
        MaterializeError: the artifact is not a node index.
    """

    def __init__(self, artifact: Artifact) -> None:
        meta = artifact.manifest.metadata
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise MaterializeError(f"{artifact.uri}: not a node index (format {meta.get('format')!r} "
                                   f"version {meta.get('format_version')!r})")
        self.artifact = artifact
        self.metadata: dict[str, Any] = meta

    @classmethod
    def open(cls, artifacts: ArtifactStore, uri: str) -> "NodeIndex":
        """Open the node index at ``uri``.

        Raises:
            MaterializeError: nothing committed there, or not a node index.
        """
        try:
            return cls(artifacts.open(uri))
        except ArtifactError as exc:
            raise MaterializeError(f"no node index at {uri}: {exc}") from None

    @property
    def uri(self) -> str:
        return self.artifact.uri

    @property
    def table(self) -> str:
        return self.metadata["table"]

    @property
    def key_column(self) -> str | None:
        """The primary key column, or None when nodes are rows."""
        return self.metadata["key_column"]

    @property
    def num_nodes(self) -> int:
        return int(self.metadata["num_nodes"])

    @property
    def table_uri(self) -> str:
        """The table artifact whose row ids the ``row`` column holds."""
        return self.metadata["table_uri"]

    def iter_batches(self, batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The index rows (node, key, row) in node order, batch by batch."""
        return self.artifact.iter_batches(INDEX_FILE, batch_size=batch_size)

    def lookup(self, keys: Iterable[Any] | pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Node index of each key (-1 for unknown keys); for tables without a key the keys are row ids.

        The index is streamed batch by batch and only the rows of the asked keys are kept, so memory
        follows the keys, not the table.

        Raises:
            MaterializeError: the keys cannot be compared with the table's key type.
        """
        if self.key_column is None:
            ids = np.asarray(keys.to_pylist() if isinstance(keys, (pa.Array, pa.ChunkedArray)) else list(keys),
                             dtype=np.int64)
            return np.where((ids >= 0) & (ids < self.num_nodes), ids, -1)
        keys = _as_array(keys)
        out = np.full(len(keys), -1, np.int64)
        if len(keys) == 0:
            return out
        found = self._matching(KEY, pc.unique(keys))
        if found.num_rows == 0:
            return out
        position = pc.index_in(keys, value_set=found.column(KEY).combine_chunks())
        valid = pc.is_valid(position).to_numpy(zero_copy_only=False)
        out[valid] = found.column("node").to_numpy()[position.fill_null(0).to_numpy()[valid]]
        return out

    def keys(self, nodes: np.ndarray) -> pa.Array:
        """The key of each node index (the row id for tables without a key).

        Raises:
            MaterializeError: a node index the table does not have.
        """
        nodes = np.asarray(nodes, np.int64).reshape(-1)
        if nodes.size and (nodes.min() < 0 or nodes.max() >= self.num_nodes):
            bad = nodes[(nodes < 0) | (nodes >= self.num_nodes)]
            raise MaterializeError(f"table {self.table}: node(s) {bad[:5].tolist()} are not in its node index "
                                   f"(0..{self.num_nodes - 1})")
        if self.key_column is None:
            return pa.array(nodes, pa.int64())
        found = self._matching("node", pa.array(np.unique(nodes), pa.int64()))
        position = pc.index_in(pa.array(nodes, pa.int64()), value_set=found.column("node").combine_chunks())
        return found.column(KEY).combine_chunks().take(position)

    def _matching(self, column: str, wanted: pa.Array) -> pa.Table:
        """The index rows (node, key) whose ``column`` is one of ``wanted``."""
        try:
            found = rows_matching(self.artifact.iter_batches(INDEX_FILE, columns=["node", KEY]), column, wanted)
        except KeyTypeMismatch as exc:
            raise MaterializeError(f"table {self.table}: its {column}s have type {exc.column_type}, the asked "
                                   f"ones {exc.values_type}") from None
        if found is None:  # an index without rows
            return pa.table({"node": pa.array([], pa.int64()), KEY: pa.array([], wanted.type)})
        return found.combine_chunks()

    def frame(self, spark: "SparkSession", staging: Staging) -> "DataFrame":
        """The index as a Spark DataFrame (columns node, key when keyed, row)."""
        return spark.read.parquet(*staging.artifact_paths(self.artifact, [INDEX_FILE]))

    def check_table(self, table: IngestedTable) -> None:
        """Raise :class:`MaterializeError` unless the index was made for this table version."""
        if self.table_uri != table.uri or self.metadata["table_hash"] != table.artifact.manifest.content_hash:
            raise MaterializeError(f"node index {self.uri} was made for {self.table_uri}, not for {table.uri}")


def node_rows(spark: "SparkSession", staging: Staging, table: IngestedTable, index: NodeIndex,
              parts: list[str] | None = None) -> "DataFrame":
    """The rows of ``table`` that are nodes, with their row id (:data:`ROW`) and node index (:data:`NODE`).

    Args:
        parts: only rows of these data parts (see :func:`~data_engine.materialize.rows.rows_frame`).

    Raises:
        MaterializeError: the index was made for another version of the table.
    """
    from pyspark.sql import functions as F

    index.check_table(table)
    rows = rows_frame(spark, staging, table, parts)
    if index.metadata["nodes_are_rows"]:  # no key, or unique keys in every row: no join needed
        return rows.withColumn(NODE, F.col(ROW))
    nodes = index.frame(spark, staging).where(F.col("row").isNotNull()).select(
        F.col("node").alias(NODE), F.col("row").alias(ROW))
    return rows.join(nodes, ROW)


def _inputs(table: IngestedTable, key: str | None, previous: NodeIndex | None) -> dict[str, Any]:
    return {"table": table.uri, "table_hash": table.artifact.manifest.content_hash, "key_column": key,
            "previous": None if previous is None else {"uri": previous.uri,
                                                        "hash": previous.artifact.manifest.content_hash},
            "version": FORMAT_VERSION}


def _resolve_key(table: IngestedTable, primary_key: Any) -> str | None:
    key = table.primary_key if primary_key is FROM_TABLE else primary_key
    if key is not None and key not in table.dtypes:
        raise MaterializeError(f"table {table.name}: primary key {key!r} is not a column "
                               f"(it has {', '.join(table.columns)})")
    return key


class _Numbering:
    """Turns sorted (key, row, n) batches into index batches numbered from ``start``; counts as it goes.

    The row without a key (``n`` null-keyed rows, if any) is skipped and counted as :attr:`null_keys`;
    :attr:`keyed` counts the rows behind the numbered keys (duplicates included).
    """

    def __init__(self, start: int, schema: pa.Schema) -> None:
        self.next, self.schema = start, schema
        self.null_keys = self.keyed = 0
        self.identity = True  # every numbered node's row id equals its node index so far

    def __call__(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            valid = pc.is_valid(batch.column(KEY))
            self.null_keys += int(pc.sum(pc.filter(batch.column("n"), pc.invert(valid))).as_py() or 0)
            batch = batch.filter(valid)
            self.keyed += int(pc.sum(batch.column("n")).as_py() or 0)
            n = batch.num_rows
            nodes = np.arange(self.next, self.next + n, dtype=np.int64)
            rows = batch.column(ROW).cast(pa.int64())
            self.identity = self.identity and bool(np.array_equal(rows.to_numpy(zero_copy_only=False), nodes))
            yield pa.record_batch([pa.array(nodes), batch.column(KEY).cast(self.schema.field(KEY).type), rows],
                                  schema=self.schema)
            self.next += n


def _row_batches(first: int, stop: int, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    step = spark_io.BATCH_ROWS
    for lo in range(first, stop, step):
        ids = pa.array(np.arange(lo, min(stop, lo + step), dtype=np.int64))
        yield pa.record_batch([ids, ids], schema=schema)


class _IndexJob:
    """One node-index build or update into an open artifact writer."""

    def __init__(self, ctx: JobContext, table: IngestedTable, key: str | None) -> None:
        self.ctx, self.table, self.key = ctx, table, key

    def _firsts(self) -> "DataFrame":
        """Per key (null included): its first row (:data:`ROW`) and its number of rows (``n``)."""
        from pyspark.sql import functions as F

        from data_engine.spark_session import col

        keyed = rows_frame(self.ctx.spark, self.ctx.staging, self.table).select(col(self.key).alias(KEY), ROW)
        return keyed.groupBy(KEY).agg(F.min(ROW).alias(ROW), F.count(F.lit(1)).alias("n"))

    def run(self, writer: ArtifactWriter, previous: NodeIndex | None) -> None:
        if self.key is None:
            self._rows_index(writer, previous)
        else:
            self._keyed_index(writer, previous)
        writer.metadata.update({"format": FORMAT, "format_version": FORMAT_VERSION, "table": self.table.name,
                                "key_column": self.key, "table_uri": self.table.uri,
                                "table_hash": self.table.artifact.manifest.content_hash,
                                "table_rows": self.table.rows,
                                "previous": None if previous is None else previous.uri})

    def _rows_index(self, writer: ArtifactWriter, previous: NodeIndex | None) -> None:
        n = self.table.rows
        n0 = previous.num_nodes if previous is not None else 0
        if n < n0:
            raise MaterializeError(f"table {self.table.name} ({self.table.uri}) has {n} rows, fewer than the "
                                   f"{n0} nodes of {previous.uri}: rows of a table without a primary key can "
                                   "only be appended")
        schema = pa.schema([("node", pa.int64()), ("row", pa.int64())])
        writer.write_batches(INDEX_FILE, schema, _row_batches(0, n, schema))
        writer.metadata.update({"num_nodes": n, "key_dtype": None, "null_keys": 0, "duplicate_rows": 0,
                                "new_nodes": n - n0, "nodes_are_rows": True})

    def _keyed_index(self, writer: ArtifactWriter, previous: NodeIndex | None) -> None:
        from pyspark.sql import functions as F

        firsts = self._firsts()
        present = kept_rows = 0  # previous keys that the table still has, and their rows
        old_identity = True  # every previous node's first row in this version has the node's index as row id

        def old_batches(schema: pa.Schema) -> Iterator[pa.RecordBatch]:
            nonlocal present, kept_rows, old_identity
            if previous is None:
                return
            known = firsts.where(F.col(KEY).isNotNull())
            with SortedOutput(self.ctx.staging, writer, "old", self._old_keys(known, previous), ["node"],
                              previous.num_nodes) as old:
                for batch in old.batches(["node", KEY, "row", "n"]):
                    present += batch.num_rows - batch.column(2).null_count
                    kept_rows += int(pc.sum(batch.column(3)).as_py() or 0)
                    rows = pc.fill_null(batch.column(2), -1).to_numpy(zero_copy_only=False)
                    old_identity = old_identity and bool(np.array_equal(
                        rows, batch.column(0).to_numpy(zero_copy_only=False)))
                    yield pa.record_batch([batch.column(0), batch.column(1).cast(schema.field(KEY).type),
                                           batch.column(2)], schema=schema)

        with SortedOutput(self.ctx.staging, writer, "new", self._new_keys(firsts, previous), [ROW],
                          self.table.rows) as new:
            schema = pa.schema([("node", pa.int64()), (KEY, new.arrow_schema.field(KEY).type), ("row", pa.int64())])
            n0 = previous.num_nodes if previous is not None else 0
            numbering = _Numbering(n0, schema)
            writer.write_batches(INDEX_FILE, schema, chain(old_batches(schema), numbering(new.batches())))
        new_nodes = numbering.next - n0
        identity = old_identity and numbering.identity and numbering.next == self.table.rows
        writer.metadata.update({"num_nodes": numbering.next, "key_dtype": self.table.dtypes[self.key],
                                "nodes_are_rows": identity,
                                "null_keys": numbering.null_keys,
                                "duplicate_rows": kept_rows + numbering.keyed - present - new_nodes,
                                "new_nodes": new_nodes})

    def append(self, writer: ArtifactWriter, previous: NodeIndex, parts: list[str]) -> None:
        """Index a table whose data parts ``parts`` were appended after the rows ``previous`` indexed.

        Only the new parts are read (plus the previous index's keys, to tell new keys from repeated ones);
        the previous index rows are copied. The result equals :meth:`run`'s on the whole table.
        """
        from pyspark.sql import functions as F

        from data_engine.spark_session import col

        if self.key is None:
            self._rows_index(writer, previous)
        else:
            firsts = (rows_frame(self.ctx.spark, self.ctx.staging, self.table, parts)
                      .select(col(self.key).alias(KEY), ROW)
                      .groupBy(KEY).agg(F.min(ROW).alias(ROW), F.count(F.lit(1)).alias("n")))
            new_rows = sum(int(self.table.artifact.manifest.file(p).rows or 0) for p in parts)
            n0 = previous.num_nodes
            with SortedOutput(self.ctx.staging, writer, "new", self._new_keys(firsts, previous), [ROW],
                              new_rows) as new:
                schema = pa.schema([("node", pa.int64()), (KEY, new.arrow_schema.field(KEY).type),
                                    ("row", pa.int64())])
                old = (pa.record_batch([b.column(0), b.column(1).cast(schema.field(KEY).type), b.column(2)],
                                       schema=schema) for b in previous.iter_batches())
                numbering = _Numbering(n0, schema)
                writer.write_batches(INDEX_FILE, schema, chain(old, numbering(new.batches())))
            new_nodes = numbering.next - n0
            before = previous.metadata
            # Every new row with a key starts a new node or repeats a key (old or new).
            writer.metadata.update({
                "num_nodes": numbering.next, "key_dtype": self.table.dtypes[self.key],
                "nodes_are_rows": bool(before["nodes_are_rows"] and numbering.identity
                                       and numbering.next == self.table.rows),
                "null_keys": int(before["null_keys"]) + numbering.null_keys,
                "duplicate_rows": int(before["duplicate_rows"]) + new_rows - numbering.null_keys - new_nodes,
                "new_nodes": new_nodes})
        writer.metadata.update({"format": FORMAT, "format_version": FORMAT_VERSION, "table": self.table.name,
                                "key_column": self.key, "table_uri": self.table.uri,
                                "table_hash": self.table.artifact.manifest.content_hash,
                                "table_rows": self.table.rows, "previous": previous.uri})

    def _old_keys(self, firsts: "DataFrame", previous: NodeIndex) -> "DataFrame":
        """The previous nodes with their first row in this table version (null when the key is gone)."""
        from pyspark.sql import functions as F

        prev = previous.frame(self.ctx.spark, self.ctx.staging).select("node", KEY)
        return prev.join(firsts, KEY, "left").select("node", KEY, F.col(ROW).alias("row"), "n")

    def _new_keys(self, firsts: "DataFrame", previous: NodeIndex | None) -> "DataFrame":
        if previous is None:
            return firsts
        if previous.key_column != self.key:
            raise MaterializeError(f"node index {previous.uri} is keyed by {previous.key_column!r}, the table "
                                   f"{self.table.name} by {self.key!r}")
        if previous.metadata.get("key_dtype") != self.table.dtypes[self.key]:
            raise MaterializeError(f"table {self.table.name}: key {self.key!r} changed type from "
                                   f"{previous.metadata.get('key_dtype')} to {self.table.dtypes[self.key]}")
        prev = previous.frame(self.ctx.spark, self.ctx.staging).select(KEY)
        return firsts.join(prev, KEY, "left_anti")


def build_node_index(table_uri: str, output: str, *, primary_key: Any = FROM_TABLE,
                     settings: "Settings | None" = None, store: "ObjectStore | None" = None,
                     spark: "SparkSession | None" = None) -> NodeIndex:
    """Build the node index of one ingested table (idempotent: an index made from the same inputs is kept).

    Args:
        table_uri: the ingested table artifact.
        output: the index artifact's URI.
        primary_key: the key column, None for a table without one (nodes are rows); default: the key that
            ingestion found.
        settings, store, spark: defaults from the environment's settings.

    Returns:
        The committed index.

    Raises:
        MaterializeError: the key is not a column of the table.
        TableNotFoundError: no ingested table at ``table_uri``.
    """
    return _index(table_uri, output, primary_key, None, settings, store, spark)


def update_node_index(previous_uri: str, table_uri: str, output: str, *, primary_key: Any = FROM_TABLE,
                      settings: "Settings | None" = None, store: "ObjectStore | None" = None,
                      spark: "SparkSession | None" = None) -> NodeIndex:
    """Extend a node index to a new version of its table; every previous node keeps its index.

    Args:
        previous_uri: the index of the previous table version.
        table_uri: the new version of the table (all rows: the old ones and the appended ones).
        output: the new index artifact's URI (not ``previous_uri``).
        primary_key: as for :func:`build_node_index`; must match the previous index's.
        settings, store, spark: defaults from the environment's settings.

    Returns:
        The committed index; ``metadata["new_nodes"]`` counts the nodes numbered after the previous ones.

    Raises:
        MaterializeError: the key column or its type changed, or a table without a key lost rows.
    """
    return _index(table_uri, output, primary_key, previous_uri, settings, store, spark)


def _index(table_uri: str, output: str, primary_key: Any, previous_uri: str | None, settings, store,
           spark) -> NodeIndex:
    with job_context(settings, store, spark) as ctx:
        return index_in_context(ctx, open_table(ctx.store, ctx.uri(table_uri)), ctx.uri(output),
                                primary_key=primary_key,
                                previous=None if previous_uri is None else NodeIndex.open(ctx.artifacts,
                                                                                          ctx.uri(previous_uri)))


def index_in_context(ctx: JobContext, table: IngestedTable, output: str, *, primary_key: Any = FROM_TABLE,
                     previous: NodeIndex | None = None, appended_parts: list[str] | None = None) -> NodeIndex:
    """:func:`build_node_index` / :func:`update_node_index` inside an open job context.

    Args:
        appended_parts: with ``previous``, the data parts of ``table`` that hold every row after the ones
            ``previous`` indexed (the earlier parts unchanged before them): only those parts are read.
            The index is the same as without them.
    """
    key = _resolve_key(table, primary_key)
    if previous is not None and previous.uri == output:
        raise MaterializeError(f"an updated node index needs a new URI, not the previous one ({output})")
    inputs = _inputs(table, key, previous)
    found = ctx.artifacts.find(output, inputs)
    if found is not None:
        return NodeIndex(found)
    if previous is not None and previous.key_column != key:
        raise MaterializeError(f"node index {previous.uri} is keyed by {previous.key_column!r}, the table "
                               f"{table.name} by {key!r}")
    with ctx.artifacts.writer(output, producer=PRODUCER, inputs=inputs) as writer:
        if previous is not None and appended_parts is not None:
            _IndexJob(ctx, table, key).append(writer, previous, appended_parts)
        else:
            _IndexJob(ctx, table, key).run(writer, previous)
    return NodeIndex(ctx.artifacts.open(output))
