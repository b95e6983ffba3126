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
``links`` (per forward edge type: ``fact_rows``, ``null_keys``, ``dangling_keys``, ``num_edges``),
``node_index`` (table -> node index URI) and ``build`` (how it was made: ``edges_built`` joined in Spark,
``edges_copied`` from an earlier graph, ``lookup_rows``: target table rows scanned to resolve the keys of
new fact rows, ``appended_to`` that graph or None, ``links_rebuilt`` in full).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

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
from data_engine.materialize.streaming import NpySlices, checked_nodes, int64_values, row_pointer
from platform_core.artifacts import ArtifactWriter
from pql.schema import GraphSchema, Link

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from platform_core.object_store import ObjectStore
    from platform_core.settings import Settings

PRODUCER = "data_engine.materialize.edges"
VERSION = 2
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
        #: edges joined in Spark (per direction pair) and edges copied from an earlier graph
        self.work = {"edges_built": 0, "edges_copied": 0}

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

        joined = self._joined(link, self.nodes(link.table), has_time)
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
        self.work["edges_built"] += matched
        return counts

    def _joined(self, link: Link, fact_nodes: "DataFrame", has_time: bool) -> "DataFrame":
        """Fact node rows (``SRC``) left-joined with the target nodes their key names (``DST``, null when
        none), with ``_keyed`` (the key is present) and the edge ``TIME`` when the link is timed."""
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
        fact = fact_nodes.select(F.col(NODE).alias(SRC), fk.alias("_fk"), keyed.alias("_keyed"),
                                             *([F.col(TIME).alias("_ft")] if fact_spec.time_column else []))
        target = self.nodes(link.to).select(F.col(NODE).alias(DST), pk.alias("_pk"),
                                            *([F.col(TIME).alias("_tt")] if target_spec.time_column else []))
        joined = fact.join(target, F.col("_fk") == F.col("_pk"), "left")
        times = [F.col(c) for c in ("_ft", "_tt") if c in joined.columns]
        time = (times[0] if len(times) == 1 else F.greatest(*times)) if times else None
        return joined.select(SRC, DST, "_keyed",
                             *([F.coalesce(time, F.lit(INT64_MIN)).alias(TIME)] if has_time else []))

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


_BLOCK_NODES = 65_536  # source nodes per block of a CSR merge, at most
_BLOCK_EDGES = 1 << 20  # earlier edges per block of a CSR merge, at most (but one node's all)


def _skip_first(chunks: Iterable[np.ndarray], add: int) -> Iterator[np.ndarray]:
    """The chunks of a row pointer without its first entry, each entry plus ``add``."""
    first = True
    for chunk in chunks:
        if first and chunk.size:
            chunk, first = chunk[1:], False
        yield chunk + add


class _AppendGraphJob(_GraphJob):
    """Writes the graph of tables of which some gained rows at the end, from the earlier graph.

    Args:
        earlier: the graph of the previous table versions.
        before: table -> its number of nodes in ``earlier``.
        parts: appended table -> the data parts that hold its rows after the earlier version's.

    Per link ``F.c -> T``: untouched by the append, both directions are copied. With new fact nodes,
    only they are joined (with every node of ``T``): the forward CSR is the earlier one followed by the
    new nodes' rows; the reverse CSR merges each target node's earlier edges with its new ones, sorted
    by (time, destination). With only new target nodes and no dangling key in the earlier version (so no
    earlier fact row can name a new target), no edge is new: the reverse row pointer grows by empty rows.
    With new target nodes and earlier dangling keys, the link is joined again in full.
    """

    def __init__(self, *args, earlier: GraphArtifact, before: Mapping[str, int],
                 parts: Mapping[str, list[str]]) -> None:
        super().__init__(*args)
        self.earlier, self.before, self.parts = earlier, dict(before), dict(parts)
        self._new: dict[str, "DataFrame"] = {}
        self.rebuilt: list[str] = []

    def new_nodes(self, table: str) -> "DataFrame":
        """Like :meth:`nodes`, but only the nodes after the earlier ones (read from the appended parts)."""
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        from data_engine.spark_session import col

        if table not in self._new:
            spec = self.schema.tables[table]
            frame = node_rows(self.ctx.spark, self.ctx.staging, self.tables[table], self.indexes[table],
                              self.parts[table]).where(F.col(NODE) >= self.before[table])
            keys = [c for c in [spec.primary_key, *(link.column for link in self.schema.links_from(table))] if c]
            time = time_seconds(spec, self.tables[table])
            frame = frame.select(F.col(NODE), *[col(k) for k in dict.fromkeys(keys)],
                                 *([time.alias(TIME)] if time is not None else []))
            self._new[table] = frame.persist(StorageLevel.MEMORY_AND_DISK)
        return self._new[table]

    def release(self) -> None:
        super().release()
        for frame in self._new.values():
            frame.unpersist()
        self._new.clear()

    def _counts(self, forward) -> LinkCounts:
        earlier = self.earlier.manifest.metadata["links"][edge_key(forward)]
        return LinkCounts(**{k: int(earlier[k]) for k in ("fact_rows", "null_keys", "dangling_keys", "num_edges")})

    def _link(self, link: Link, forward: tuple[str, str, str], sizes: dict[str, int], has_time: bool) -> LinkCounts:
        new_fact, new_target = link.table in self.parts, link.to in self.parts
        earlier = self._counts(forward)
        if new_target and earlier.dangling_keys:
            self.rebuilt.append(edge_key(forward))
            return super()._link(link, forward, sizes, has_time)
        reverse = reverse_edge_type(forward)
        if not new_fact:
            self._copy_csr(forward, has_time)
            self._copy_csr(reverse, has_time, grow_to=sizes[link.to])
            return earlier
        return self._append_link(link, forward, sizes, has_time, earlier)

    def _copy(self, name: str, grow_to: int | None = None) -> int:
        """Copy a 1-D int64 file of the earlier graph (a row pointer padded with its last entry to
        ``grow_to + 1`` entries when given)."""
        with NpySlices(self.earlier.artifact, name) as old:
            size = len(old) if grow_to is None else grow_to + 1
            last = int(old.read(len(old) - 1, len(old))[0]) if len(old) else 0
            pad = (np.full(min(size, lo + (1 << 20)) - lo, last, np.int64) for lo in range(len(old), size, 1 << 20))
            self.writer.write_numpy_chunks(name, np.int64, (size,), chain(old.chunks(), pad))
            return size

    def _copy_csr(self, edge_type, has_time: bool, grow_to: int | None = None) -> None:
        folder = edge_folder(edge_type)
        self._copy(f"{folder}/indptr.npy", grow_to)
        self._copy(f"{folder}/indices.npy")
        if has_time:
            self._copy(f"{folder}/time.npy")
        self.work["edges_copied"] += self.earlier.num_edges(edge_type)

    def _append_link(self, link: Link, forward, sizes: dict[str, int], has_time: bool,
                     earlier: LinkCounts) -> LinkCounts:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        n0 = self.before[link.table]
        # The new keys are looked up among every target row (its key and time columns are scanned).
        self.work["lookup_rows"] = self.work.get("lookup_rows", 0) + self.tables[link.to].rows
        joined = self._joined(link, self.new_nodes(link.table), has_time).persist(StorageLevel.MEMORY_AND_DISK)
        name = edge_key(forward)
        order = [SRC, TIME, DST] if has_time else [SRC, DST]
        reverse = reverse_edge_type(forward)
        try:
            with SortedOutput(self.ctx.staging, self.writer, f"{name}-fwd", joined, order,
                              sizes[link.table] - n0) as out:
                keyed = matched = 0
                for batch in out.batches([DST, "_keyed"]):
                    keyed += int(pc.sum(batch.column(1).cast(pa.int64())).as_py() or 0)
                    matched += batch.num_rows - batch.column(0).null_count
                counts = LinkCounts(earlier.fact_rows + out.rows, earlier.null_keys + out.rows - keyed,
                                    earlier.dangling_keys + keyed - matched, earlier.num_edges + matched)
                self._appended_csr(out, forward, n0, sizes[link.table], earlier.num_edges, matched, has_time)
            edges = joined.where(F.col(DST).isNotNull()).select(
                F.col(DST).alias(SRC), F.col(SRC).alias(DST), *([TIME] if has_time else []))
            with SortedOutput(self.ctx.staging, self.writer, f"{name}-rev", edges, order, matched) as out:
                if out.rows != matched:
                    raise MaterializeError(f"{edge_key(reverse)}: Spark wrote {out.rows} edges, expected {matched}")
                self._merged_csr(out, reverse, sizes[link.to], counts.num_edges, has_time)
        finally:
            joined.unpersist()
        self.work["edges_built"] += matched
        self.work["edges_copied"] += earlier.num_edges
        return counts

    def _appended_csr(self, out: SortedOutput, edge_type, n0: int, num_src: int, old_edges: int, new_edges: int,
                      has_time: bool) -> None:
        """The earlier CSR followed by the rows of source nodes ``n0..num_src-1`` (sorted new edges)."""
        folder = edge_folder(edge_type)
        name = edge_key(edge_type)

        def column(field: str, null: int):
            for batch in out.batches([DST] if field == DST else [DST, field]):
                batch = batch.filter(pc.is_valid(batch.column(0)))
                values = int64_values(batch.column(batch.num_columns - 1), null)
                yield values - n0 if field == SRC else values

        with ExitStack() as stack:
            def old(file: str, stop: int | None = None):
                return stack.enter_context(NpySlices(self.earlier.artifact, f"{folder}/{file}")).chunks(0, stop)

            pointer = _skip_first(row_pointer(column(SRC, -1), num_src - n0, name), old_edges)
            self.writer.write_numpy_chunks(f"{folder}/indptr.npy", np.int64, (num_src + 1,),
                                           chain(old("indptr.npy"), pointer))
            total = old_edges + new_edges
            self.writer.write_numpy_chunks(f"{folder}/indices.npy", np.int64, (total,),
                                           chain(old("indices.npy"), column(DST, -1)))
            if has_time:
                self.writer.write_numpy_chunks(f"{folder}/time.npy", np.int64, (total,),
                                               chain(old("time.npy"), column(TIME, INT64_MIN)))

    def _merged_csr(self, out: SortedOutput, edge_type, num_src: int, total: int, has_time: bool) -> None:
        """Each source node's earlier edges merged with its new ones (``out``, sorted), in (time, destination)
        order, block of source nodes by block."""
        folder = edge_folder(edge_type)

        def blocks() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
            with ExitStack() as stack:
                ptr = stack.enter_context(NpySlices(self.earlier.artifact, f"{folder}/indptr.npy"))
                idx = stack.enter_context(NpySlices(self.earlier.artifact, f"{folder}/indices.npy"))
                tim = stack.enter_context(NpySlices(self.earlier.artifact, f"{folder}/time.npy")) if has_time else None
                n0 = len(ptr) - 1
                fields = [SRC, DST, TIME] if has_time else [SRC, DST]
                stream = (
                    [int64_values(b.column(i), INT64_MIN if f == TIME else -1) for i, f in enumerate(fields)]
                    for b in out.batches(fields))
                pending = [np.empty(0, np.int64) for _ in fields]
                exhausted = False
                a = 0
                while a < num_src:
                    b = min(num_src, a + _BLOCK_NODES)
                    if a < n0:  # fewer nodes when their earlier edges would exceed a block's worth (hubs)
                        bounds = ptr.read(a, min(b, n0) + 1)
                        fit = int(np.searchsorted(bounds, bounds[0] + _BLOCK_EDGES, side="right")) - 1
                        if fit < bounds.size - 1:
                            b = a + max(1, fit)
                    while not exhausted and (pending[0].size == 0 or pending[0][-1] < b):
                        batch = next(stream, None)
                        if batch is None:
                            exhausted = True
                        else:
                            pending = [np.concatenate([p, x]) for p, x in zip(pending, batch)]
                    cut = int(np.searchsorted(pending[0], b, side="left"))
                    new, pending = [p[:cut] for p in pending], [p[cut:] for p in pending]
                    hi = min(b, n0)
                    if a < hi:
                        bounds = bounds[: hi - a + 1]
                        start, stop = int(bounds[0]), int(bounds[-1])
                        old_src = np.repeat(np.arange(a, hi, dtype=np.int64), np.diff(bounds))
                        old = [old_src, idx.read(start, stop)] + ([tim.read(start, stop)] if has_time else [])
                    else:
                        old = [np.empty(0, np.int64) for _ in fields]
                    src, dst, *rest = [np.concatenate([o, x]) for o, x in zip(old, new)]
                    keys = (dst, rest[0], src) if has_time else (dst, src)
                    order = np.lexsort(keys)
                    counts = np.bincount(src - a, minlength=b - a)
                    yield counts, dst[order], (rest[0][order] if has_time else None)
                    a = b

        def pointer() -> Iterator[np.ndarray]:
            yield np.zeros(1, np.int64)
            seen = 0
            for counts, _, _ in blocks():
                ends = seen + np.cumsum(counts)
                seen = int(ends[-1]) if ends.size else seen
                yield ends

        self.writer.write_numpy_chunks(f"{folder}/indptr.npy", np.int64, (num_src + 1,), pointer())
        self.writer.write_numpy_chunks(f"{folder}/indices.npy", np.int64, (total,), (d for _, d, _ in blocks()))
        if has_time:
            self.writer.write_numpy_chunks(f"{folder}/time.npy", np.int64, (total,), (t for _, _, t in blocks()))

    def _node_times(self, table: str, num_nodes: int) -> None:
        from pyspark.sql import functions as F

        name = node_time_file(table)
        if table not in self.parts:
            self._copy(name)
            return
        n0 = self.before[table]
        frame = self.new_nodes(table).select(F.col(NODE).alias("node"), TIME)
        with SortedOutput(self.ctx.staging, self.writer, f"time-{table}", frame, ["node"], num_nodes - n0) as out, \
                NpySlices(self.earlier.artifact, name) as old:
            batches = checked_nodes(out.batches(["node", TIME]), "node", num_nodes, f"nodes of {table}", n0)
            self.writer.write_numpy_chunks(name, np.int64, (num_nodes,),
                                           chain(old.chunks(), (int64_values(b.column(1), INT64_MIN)
                                                                for b in batches)))


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
        writer.metadata["build"] = {**job.work, "appended_to": None, "links_rebuilt": sorted(writer.metadata["links"])}
    return GraphArtifact.open(ctx.artifacts, output)


def append_edges_in_context(ctx: JobContext, schema: GraphSchema, tables: Mapping[str, IngestedTable],
                            indexes: Mapping[str, NodeIndex], output: str, earlier: GraphArtifact,
                            parts: Mapping[str, list[str]]) -> GraphArtifact:
    """The graph of tables of which those in ``parts`` gained rows after the versions ``earlier`` was made
    from (see :class:`_AppendGraphJob`); the result equals :func:`edges_in_context`'s.

    Args:
        ctx: the open job context.
        schema: the schema ``earlier`` was made with.
        tables, indexes: the new table versions and their node indexes (earlier nodes keep their indices).
        output: the new graph artifact's URI.
        earlier: the graph of the previous table versions.
        parts: appended table -> its data parts after the previous version's.

    Returns:
        The committed graph; its metadata's ``build`` says what was joined, copied and rebuilt.
    """
    inputs = {**graph_inputs(schema, tables, indexes),
              "appended_to": {"uri": earlier.uri, "hash": earlier.manifest.content_hash}}
    found = ctx.artifacts.find(output, inputs)
    if found is not None:
        return GraphArtifact(found)
    for name in schema.tables:
        indexes[name].check_table(tables[name])
    before = {t: earlier.num_nodes(t) for t in schema.tables}
    with ctx.artifacts.writer(output, producer=PRODUCER, inputs=inputs) as writer:
        job = _AppendGraphJob(ctx, schema, tables, indexes, writer, earlier=earlier, before=before, parts=parts)
        try:
            job.run()
        finally:
            job.release()
        writer.metadata["build"] = {**job.work, "appended_to": earlier.uri, "links_rebuilt": sorted(job.rebuilt)}
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
