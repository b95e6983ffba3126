"""Edge materialization: every link of the schema, both directions, as CSR in one graph artifact.

For a link ``F.c -> T`` (fact table ``F``, foreign key column ``c``, target ``T`` with primary key ``k``),
Spark joins the node rows of ``F`` (node index, ``c``, row time) with the node rows of ``T`` (node
index, ``k``, row time) on ``c = k``. Rows whose key is null (``null_keys``) or names no row of ``T``
(``dangling_keys``) give no edge; both are counted in the metadata. The edge time is the later of the two
rows' times (the graph format's rule; a null time counts as the earliest instant, as in the format's
in-memory writer). Each direction is sorted globally by (source, time, destination) and streamed part
by part into ``indptr.npy``, ``indices.npy`` and ``time.npy`` of the layout in
:mod:`data_engine.artifact_formats.graph`; the node times of timed tables are streamed the same way.

The artifact's metadata is the graph format's (``format``, ``format_version``, ``node_types``,
``edge_types``, ``edges``, identical to :func:`~data_engine.artifact_formats.graph.write_graph`'s) plus
``links`` (per forward edge type: ``fact_rows``, ``null_keys``, ``dangling_keys``, ``num_edges``) and
``node_index`` (table -> node index URI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_engine.artifact_formats.graph import (
    FORMAT,
    FORMAT_VERSION,
    REVERSE_PREFIX,
    GraphArtifact,
    edge_folder,
    edge_key,
    node_time_file,
    reverse_edge_type,
)
from data_engine.artifact_formats.errors import ArtifactFormatError
from data_engine.ingest.tables import IngestedTable
from data_engine.materialize.context import JobContext, job_context
from data_engine.materialize.errors import MaterializeError
from data_engine.materialize.node_index import NodeIndex, node_rows
from data_engine.materialize.rows import INT64_MIN, NODE, as_schema, check_graph_name, open_tables, time_seconds
from data_engine.materialize.spark_io import SortedOutput
from data_engine.materialize.streaming import checked_nodes, int64_values, row_pointer
from platform_core.artifacts import ArtifactWriter
from pql.schema import GraphSchema, Link

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from platform_core.object_store import ObjectStore
    from platform_core.settings import Settings

PRODUCER = "data_engine.materialize.edges"
VERSION = 1
SRC, DST, TIME = "src", "dst", "time"


_INTEGERS = {"int8", "int16", "int32", "int64"}
_FLOATS = {"float32", "float64"}


def join_keys(fk: "Column", fk_dtype: str, pk: "Column", pk_dtype: str) -> tuple["Column", "Column"]:
    """Foreign and primary key columns made comparable when their dtypes differ.

    Integers of any width compare as int64; a float foreign key (integer ids with nulls, as pandas writes
    them) compares with integer keys by its integral value; any other mix compares as text.
    """
    if fk_dtype == pk_dtype:
        return fk, pk
    numeric = _INTEGERS | _FLOATS
    if fk_dtype in numeric and pk_dtype in numeric and (fk_dtype in _INTEGERS or pk_dtype in _INTEGERS):
        def as_long(column: "Column", dtype: str) -> "Column":
            if dtype in _INTEGERS:
                return column.cast("long")
            from pyspark.sql import functions as F

            # Only integral floats name an integer key; 1.5 names none.
            return F.when(F.floor(column) == column, column.try_cast("long"))

        return as_long(fk, fk_dtype), as_long(pk, pk_dtype)
    if fk_dtype in _FLOATS and pk_dtype in _FLOATS:
        return fk.cast("double"), pk.cast("double")
    return fk.cast("string"), pk.cast("string")


@dataclass(frozen=True)
class LinkCounts:
    """What happened to the foreign keys of one link."""

    fact_rows: int
    null_keys: int
    dangling_keys: int
    num_edges: int

    def to_dict(self) -> dict[str, int]:
        return {"fact_rows": self.fact_rows, "null_keys": self.null_keys, "dangling_keys": self.dangling_keys,
                "num_edges": self.num_edges}


class _GraphJob:
    """Writes the graph artifact of one schema into an open writer."""

    def __init__(self, ctx: JobContext, schema: GraphSchema, tables: Mapping[str, IngestedTable],
                 indexes: Mapping[str, NodeIndex], writer: ArtifactWriter) -> None:
        self.ctx, self.schema, self.tables, self.indexes, self.writer = ctx, schema, tables, indexes, writer
        self._nodes: dict[str, "DataFrame"] = {}

    def nodes(self, table: str) -> "DataFrame":
        """Node index, row time, primary key and foreign keys of every node row of ``table`` (cached:
        several links and the node times read it)."""
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        from data_engine.spark_session import col

        if table not in self._nodes:
            spec = self.schema.tables[table]
            frame = node_rows(self.ctx.spark, self.ctx.staging, self.tables[table], self.indexes[table])
            keys = [c for c in [spec.primary_key, *(link.column for link in self.schema.links_from(table))] if c]
            time = time_seconds(spec, self.tables[table])
            frame = frame.select(F.col(NODE), *[col(k) for k in dict.fromkeys(keys)],
                                 *([time.alias(TIME)] if time is not None else []))
            self._nodes[table] = frame.persist(StorageLevel.MEMORY_AND_DISK)
        return self._nodes[table]

    def release(self) -> None:
        """Drop the cached node frames."""
        for frame in self._nodes.values():
            frame.unpersist()
        self._nodes.clear()

    def run(self) -> dict[str, Any]:
        sizes = {t: self.indexes[t].num_nodes for t in self.schema.tables}
        timed = {t: self.schema.tables[t].time_column is not None for t in self.schema.tables}
        edge_types: list[list[str]] = []
        edges: dict[str, dict[str, Any]] = {}
        links: dict[str, dict[str, int]] = {}
        for link in self.schema.links:
            forward = (link.table, link.column, link.to)
            check_graph_name("column", link.column)
            if link.column.startswith(REVERSE_PREFIX):
                raise ArtifactFormatError(f"link {forward}: a column name may not start with {REVERSE_PREFIX!r} "
                                          "(reserved for reverse edges)")
            has_time = timed[link.table] or timed[link.to]
            counts = self._link(link, forward, sizes, has_time)
            links[edge_key(forward)] = counts.to_dict()
            for edge_type in (forward, reverse_edge_type(forward)):
                edge_types.append(list(edge_type))
                edges[edge_key(edge_type)] = {"num_edges": counts.num_edges, "time": has_time}
        for table, has_time in timed.items():
            if has_time:
                self._node_times(table, sizes[table])
        metadata = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "node_types": {t: {"num_nodes": sizes[t], "time": timed[t]} for t in sizes},
            "edge_types": edge_types,
            "edges": edges,
            "links": links,
            "node_index": {t: self.indexes[t].uri for t in sizes},
        }
        self.writer.metadata.update(metadata)
        return metadata

    def _link(self, link: Link, forward: tuple[str, str, str], sizes: dict[str, int], has_time: bool) -> LinkCounts:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        from data_engine.spark_session import col

        fact_spec, target_spec = self.schema.tables[link.table], self.schema.tables[link.to]
        fk_dtype = self.tables[link.table].dtypes[link.column]
        pk_dtype = self.tables[link.to].dtypes[target_spec.primary_key]
        fk, pk = join_keys(col(link.column), fk_dtype, col(target_spec.primary_key), pk_dtype)
        # A key is present when the raw value is (a non-integral float key is present but dangling).
        keyed = col(link.column).isNotNull()
        if fk_dtype in _FLOATS:
            keyed = keyed & ~F.isnan(col(link.column))
        fact = self.nodes(link.table).select(F.col(NODE).alias(SRC), fk.alias("_fk"), keyed.alias("_keyed"),
                                             *([F.col(TIME).alias("_ft")] if fact_spec.time_column else []))
        target = self.nodes(link.to).select(F.col(NODE).alias(DST), pk.alias("_pk"),
                                            *([F.col(TIME).alias("_tt")] if target_spec.time_column else []))
        joined = fact.join(target, F.col("_fk") == F.col("_pk"), "left")
        times = [F.col(c) for c in ("_ft", "_tt") if c in joined.columns]
        time = (times[0] if len(times) == 1 else F.greatest(*times)) if times else None
        joined = joined.select(SRC, DST, "_keyed",
                               *([F.coalesce(time, F.lit(INT64_MIN)).alias(TIME)] if has_time else []))
        # The join feeds both sorts: compute it once.
        joined = joined.persist(StorageLevel.MEMORY_AND_DISK)
        name = edge_key(forward)
        order = [SRC, TIME, DST] if has_time else [SRC, DST]
        try:
            # Forward: every fact node row, so that one driver pass counts null and dangling keys too.
            with SortedOutput(self.ctx.staging, self.writer, f"{name}-fwd", joined, order,
                              sizes[link.table]) as out:
                keyed = matched = 0
                for batch in out.batches([DST, "_keyed"]):
                    keyed += int(pc.sum(batch.column(1).cast(pa.int64())).as_py() or 0)
                    matched += batch.num_rows - batch.column(0).null_count
                counts = LinkCounts(out.rows, out.rows - keyed, keyed - matched, matched)
                self._csr(out, forward, sizes[link.table], matched, has_time)
            edges = joined.where(F.col(DST).isNotNull()).select(
                F.col(DST).alias(SRC), F.col(SRC).alias(DST), *([TIME] if has_time else []))
            reverse = reverse_edge_type(forward)
            with SortedOutput(self.ctx.staging, self.writer, f"{name}-rev", edges, order, sizes[link.table]) as out:
                if out.rows != matched:
                    raise MaterializeError(f"{edge_key(reverse)}: Spark wrote {out.rows} edges, expected {matched}")
                self._csr(out, reverse, sizes[link.to], matched, has_time)
        finally:
            joined.unpersist()
        return counts

    def _csr(self, out: SortedOutput, edge_type, num_src: int, num_edges: int, has_time: bool) -> None:
        """Stream sorted edges (rows without a destination skipped) into the CSR files of ``edge_type``."""
        folder = edge_folder(edge_type)
        name = edge_key(edge_type)

        def column(field: str, null: int):
            for batch in out.batches([DST] if field == DST else [DST, field]):
                batch = batch.filter(pc.is_valid(batch.column(0)))
                yield int64_values(batch.column(batch.num_columns - 1), null)

        self.writer.write_numpy_chunks(f"{folder}/indptr.npy", np.int64, (num_src + 1,),
                                       row_pointer(column(SRC, -1), num_src, name))
        self.writer.write_numpy_chunks(f"{folder}/indices.npy", np.int64, (num_edges,), column(DST, -1))
        if has_time:
            self.writer.write_numpy_chunks(f"{folder}/time.npy", np.int64, (num_edges,), column(TIME, INT64_MIN))

    def _node_times(self, table: str, num_nodes: int) -> None:
        from pyspark.sql import functions as F

        frame = self.nodes(table).select(F.col(NODE).alias("node"), TIME)
        with SortedOutput(self.ctx.staging, self.writer, f"time-{table}", frame, ["node"], num_nodes) as out:
            batches = checked_nodes(out.batches(["node", TIME]), "node", num_nodes, f"nodes of {table}")
            self.writer.write_numpy_chunks(node_time_file(table), np.int64, (num_nodes,),
                                           (int64_values(b.column(1), INT64_MIN) for b in batches))


def graph_inputs(schema: GraphSchema, tables: Mapping[str, IngestedTable],
                 indexes: Mapping[str, NodeIndex]) -> dict[str, Any]:
    """What a graph artifact is made from (for idempotency)."""
    return {"schema": schema.to_dict(), "version": VERSION,
            "tables": {t: {"uri": tables[t].uri, "hash": tables[t].artifact.manifest.content_hash}
                       for t in schema.tables},
            "node_index": {t: {"uri": indexes[t].uri, "hash": indexes[t].artifact.manifest.content_hash}
                           for t in schema.tables}}


def edges_in_context(ctx: JobContext, schema: GraphSchema, tables: Mapping[str, IngestedTable],
                     indexes: Mapping[str, NodeIndex], output: str) -> GraphArtifact:
    """:func:`materialize_edges` inside an open job context, with tables and indexes already open."""
    inputs = graph_inputs(schema, tables, indexes)
    found = ctx.artifacts.find(output, inputs)
    if found is not None:
        return GraphArtifact(found)
    for name, spec in schema.tables.items():
        indexes[name].check_table(tables[name])
        if indexes[name].key_column != spec.primary_key:
            raise MaterializeError(f"node index {indexes[name].uri} is keyed by {indexes[name].key_column!r}, "
                                   f"the schema's table {name} by {spec.primary_key!r}")
    with ctx.artifacts.writer(output, producer=PRODUCER, inputs=inputs) as writer:
        job = _GraphJob(ctx, schema, tables, indexes, writer)
        try:
            job.run()
        finally:
            job.release()
    return GraphArtifact.open(ctx.artifacts, output)


def materialize_edges(schema: GraphSchema | Mapping | str, table_uris: Mapping[str, str],
                      index_uris: Mapping[str, str], output: str, *, settings: "Settings | None" = None,
                      store: "ObjectStore | None" = None, spark: "SparkSession | None" = None) -> GraphArtifact:
    """Write the graph artifact (node times and both directions of every link) of a schema.

    Idempotent: a graph made from the same schema, tables and node indexes is kept.

    Args:
        schema: the graph schema (object, dict or JSON text).
        table_uris: table name -> ingested table artifact, for every schema table.
        index_uris: table name -> node index artifact (:func:`~data_engine.materialize.build_node_index`).
        output: the graph artifact's URI.
        settings, store, spark: defaults from the environment's settings.

    Returns:
        The committed graph artifact.

    Raises:
        MaterializeError: a table or index is missing or does not fit the schema.
        ArtifactFormatError: a table or column name the graph format cannot hold.
    """
    schema = as_schema(schema)
    with job_context(settings, store, spark) as ctx:
        tables = open_tables(ctx.store, schema, {t: ctx.uri(u) for t, u in table_uris.items()})
        missing = [t for t in schema.tables if t not in index_uris]
        if missing:
            raise MaterializeError(f"no node index URI for {', '.join(missing)}")
        indexes = {t: NodeIndex.open(ctx.artifacts, ctx.uri(index_uris[t])) for t in schema.tables}
        return edges_in_context(ctx, schema, tables, indexes, ctx.uri(output))
