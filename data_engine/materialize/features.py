"""Feature materialization: one table's non-ID columns encoded by semantic type into a feature artifact.

The rows are the table's nodes in node-index order (row ``i`` of every block is node ``i``), so the
feature store gathers a mini-batch with one lookup per block. Spark computes the statistics (one
aggregation over the node rows) and the vocabularies (one top-N count per categorical or
multicategorical column), encodes every column, sorts by node index and writes Parquet; the driver then
streams that output part by part into the blocks of :mod:`data_engine.artifact_formats.features`
(``numerical.npy``, ``categorical.npy``, ``multicategorical_offsets.npy`` / ``_values.npy``,
``timestamp.npy``, ``text.arrow``, ``time.npy``, ``vocabularies.json``), never holding a whole table.

Which columns: every column of the schema's table except the primary key, the foreign keys and ``ID``
columns, grouped by their semantic type in schema order (the time column is a timestamp feature too).

The metadata is the feature format's (``format``, ``format_version``, ``table``, ``num_rows``, ``columns``,
``time_column``, ``stats``) plus ``node_index`` (the index URI) and ``max_categories``.
"""

from __future__ import annotations

import copy
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from data_engine.artifact_formats.features import (
    FORMAT,
    FORMAT_VERSION,
    GROUPS,
    TIMESTAMP_NULL,
    VOCABULARIES_FILE,
    FeatureArtifact,
)
from data_engine.ingest.tables import IngestedTable
from data_engine.materialize.context import JobContext, job_context
from data_engine.materialize.encoders import (
    ENCODERS,
    OTHER,
    ColumnEncoder,
    MulticategoricalEncoder,
    Vocabulary,
    build_vocabularies,
)
from data_engine.materialize.errors import MaterializeError
from data_engine.materialize.node_index import NodeIndex, node_rows
from data_engine.materialize.rows import NODE, as_schema, feature_columns, open_tables, time_seconds
from data_engine.materialize.spark_io import SortedOutput
from data_engine.materialize.streaming import (
    checked_nodes,
    dense_block,
    int64_values,
    NpySlices,
    RaggedOffsets,
    ragged_values,
)
from platform_core.artifacts import ArtifactWriter
from pql.schema import GraphSchema

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from platform_core.object_store import ObjectStore
    from platform_core.settings import Settings

PRODUCER = "data_engine.materialize.features"
VERSION = 1
TEXT_FILE = "text.arrow"
_TIME = "_pq_time"
_DTYPES = {"numerical": np.float32, "categorical": np.int32, "timestamp": np.int64}


@dataclass(frozen=True)
class FeatureOptions:
    """How columns are encoded.

    Attributes:
        max_categories: vocabulary size limit per column; rarer values share one OTHER code.
        separator: the list separator of multicategorical string columns when ingestion found none.
    """

    max_categories: int = 1000
    separator: str = "|"

    def __post_init__(self) -> None:
        if self.max_categories < 1:
            raise MaterializeError(f"max_categories must be at least 1, got {self.max_categories}")
        if not self.separator:
            raise MaterializeError("the multicategorical separator must not be empty")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _FeatureJob:
    """Encodes one table into an open artifact writer."""

    #: nodes before this one come from :attr:`earlier` (appends); the job encodes the rest
    start = 0
    earlier: FeatureArtifact | None = None

    def __init__(self, ctx: JobContext, schema: GraphSchema, table: IngestedTable, index: NodeIndex,
                 options: FeatureOptions, writer: ArtifactWriter) -> None:
        self.ctx, self.schema, self.table, self.index, self.options, self.writer = (
            ctx, schema, table, index, options, writer)
        self.spec = schema.tables[table.name]
        separators = table.metadata.get("separators") or {}
        self.encoders: list[ColumnEncoder] = []
        for i, (name, stype) in enumerate(feature_columns(schema, table.name).items()):
            encoder = ENCODERS[stype.value](name=name, dtype=table.dtypes[name], alias=f"c{i}")
            if isinstance(encoder, MulticategoricalEncoder):
                encoder.separator = separators.get(name) or options.separator
            self.encoders.append(encoder)

    def _group(self, group: str) -> list[ColumnEncoder]:
        return [e for e in self.encoders if e.group == group]

    def run(self) -> dict[str, Any]:
        from pyspark.sql import functions as F

        from pyspark import StorageLevel

        from data_engine.spark_session import col

        n = self.index.num_nodes
        nodes = node_rows(self.ctx.spark, self.ctx.staging, self.table, self.index)
        needed = [e.name for e in self.encoders] + ([self.spec.time_column] if self.spec.time_column else [])
        # The statistics, every vocabulary and the encoding read the same node rows: cache them.
        nodes = nodes.select(NODE, *[col(c) for c in dict.fromkeys(needed)]).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            return self._encode(nodes, n)
        finally:
            nodes.unpersist()

    def _encode(self, nodes, n: int) -> dict[str, Any]:
        from pyspark.sql import functions as F

        aggregates = [a for e in self.encoders for a in e.aggregates()]
        row = nodes.agg(*aggregates).first().asDict() if aggregates else {}
        vocabulary_encoders = self._group("categorical") + self._group("multicategorical")
        build_vocabularies(nodes, vocabulary_encoders, [e.total(row) for e in vocabulary_encoders],
                           self.options.max_categories)
        vocabularies = {e.name: e.vocabulary.values for e in vocabulary_encoders}
        stats = {e.name: e.statistics(row, n) for e in self.encoders}
        time = time_seconds(self.spec, self.table)
        encoded = nodes.select(F.col(NODE).alias("node"), *[e.encoded().alias(e.alias) for e in self.encoders],
                               *([time.alias(_TIME)] if time is not None else []))
        with SortedOutput(self.ctx.staging, self.writer, "features", encoded, ["node"], n) as out:
            self._write_blocks(out, n, time is not None)
        if vocabularies:
            self.writer.write_json(VOCABULARIES_FILE, vocabularies)
        metadata = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "table": self.table.name,
            "num_rows": n,
            "columns": {g: [e.name for e in self._group(g)] for g in GROUPS},
            "time_column": self.spec.time_column,
            "stats": stats,
            "node_index": self.index.uri,
            "max_categories": self.options.max_categories,
        }
        self.writer.metadata.update(metadata)
        return metadata

    def _write_blocks(self, out: SortedOutput, n: int, has_time: bool) -> None:
        with ExitStack() as stack:
            self._write_blocks_after(out, n, has_time, stack)

    def _earlier(self, name: str, stack: ExitStack) -> Iterator[np.ndarray]:
        """The chunks of the earlier artifact's file ``name`` (nothing when there is none)."""
        if self.earlier is None:
            return iter(())
        return stack.enter_context(NpySlices(self.earlier.artifact, name)).chunks()

    def _write_blocks_after(self, out: SortedOutput, n: int, has_time: bool, stack: ExitStack) -> None:
        name = f"features of {self.table.name}"

        def batches(columns: list[str]):
            return checked_nodes(out.batches(["node", *columns]), "node", n, name, self.start)

        for group, dtype in _DTYPES.items():
            encoders = self._group(group)
            if encoders:
                aliases = [e.alias for e in encoders]
                chunks = dense_block(batches(aliases), aliases, encoders[0].convert, dtype)
                self.writer.write_numpy_chunks(f"{group}.npy", dtype, (n, len(encoders)),
                                               chain(self._earlier(f"{group}.npy", stack), chunks))
        lists = [e.alias for e in self._group("multicategorical")]
        if lists:
            total = 0
            earlier_offsets = self._earlier("multicategorical_offsets.npy", stack)
            if self.earlier is not None:
                with NpySlices(self.earlier.artifact, "multicategorical_offsets.npy") as old:
                    total = int(old.read(len(old) - 1, len(old))[0])
            offsets = RaggedOffsets(batches(lists), lists, total=total, leading=self.earlier is None)
            self.writer.write_numpy_chunks("multicategorical_offsets.npy", np.int64, (n * len(lists) + 1,),
                                           chain(earlier_offsets, offsets))
            self.writer.write_numpy_chunks("multicategorical_values.npy", np.int32, (offsets.total,),
                                           chain(self._earlier("multicategorical_values.npy", stack),
                                                 ragged_values(batches(lists), lists)))
        texts = self._group("text")
        if texts:
            self._write_text(batches([e.alias for e in texts]), texts)
        if has_time:
            self.writer.write_numpy_chunks("time.npy", np.int64, (n,),
                                           chain(self._earlier("time.npy", stack),
                                                 (int64_values(b.column(_TIME), TIMESTAMP_NULL)
                                                  for b in batches([_TIME]))))

    def _write_text(self, batches, encoders: list[ColumnEncoder]) -> None:
        # The artifact writer takes whole Arrow tables; text is streamed into the file and recorded after.
        schema = pa.schema([(e.name, pa.string()) for e in encoders])
        uri = self.writer.file_uri(TEXT_FILE)
        with self.ctx.staging.store_for(uri).open_output(uri) as stream, ipc.new_file(stream, schema) as sink:
            if self.earlier is not None:
                old_uri = self.earlier.artifact.file_uri(TEXT_FILE)
                with self.earlier.artifact.store.open_input(old_uri) as old_stream:
                    old = ipc.open_file(old_stream)
                    for i in range(old.num_record_batches):
                        sink.write_batch(old.get_batch(i))
            for batch in batches:
                sink.write_batch(pa.record_batch([e.convert(batch.column(e.alias)) for e in encoders], schema=schema))
        self.writer.add_existing(TEXT_FILE, kind="arrow")


class _AppendFeatureJob(_FeatureJob):
    """Extends an earlier feature artifact of the table with the rows of the nodes numbered after it.

    The earlier blocks are copied; only the new nodes' rows (read from the appended data parts) are
    encoded, with the earlier vocabularies, so every earlier code keeps its meaning. A value that a
    vocabulary lacks is encoded as its :data:`OTHER` entry, which is appended to the vocabulary when it had
    none. Statistics and vocabularies stay those of the earlier build (``statistics_rows`` says of how many
    rows); a full build recomputes them from every row.
    """

    def __init__(self, *args, earlier: FeatureArtifact, parts: list[str]) -> None:
        super().__init__(*args)
        self.earlier, self.parts, self.start = earlier, parts, earlier.num_rows
        expected = {g: [e.name for e in self._group(g)] for g in GROUPS}
        if expected != earlier.columns:
            raise MaterializeError(f"{earlier.artifact.uri}: its columns {earlier.columns} are not the table's "
                                   f"feature columns {expected}")

    def run(self) -> dict[str, Any]:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        from data_engine.spark_session import col

        n = self.index.num_nodes
        nodes = node_rows(self.ctx.spark, self.ctx.staging, self.table, self.index, self.parts)
        needed = [e.name for e in self.encoders] + ([self.spec.time_column] if self.spec.time_column else [])
        nodes = (nodes.where(F.col(NODE) >= self.start).select(NODE, *[col(c) for c in dict.fromkeys(needed)])
                 .persist(StorageLevel.MEMORY_AND_DISK))
        try:
            return self._append(nodes, n)
        finally:
            nodes.unpersist()

    def _append(self, nodes, n: int) -> dict[str, Any]:
        from pyspark.sql import functions as F

        stats = copy.deepcopy(self.earlier.stats)
        vocabularies = {k: list(v) for k, v in self.earlier.vocabularies.items()}
        tentative = []  # encoders whose vocabulary has no OTHER entry yet: unseen values get the next code
        for e in self._group("categorical") + self._group("multicategorical"):
            values, other = vocabularies[e.name], stats[e.name].get("other_code")
            counts = list(stats[e.name].get("counts") or [])
            if other is None:
                e.vocabulary = Vocabulary(values + [OTHER], counts + [0], other_code=len(values))
                tentative.append(e)
            else:
                e.vocabulary = Vocabulary(values, counts, other_code=other)
        if tentative:
            def unseen(e) -> "F.Column":
                code = F.lit(e.vocabulary.other_code)
                if e.group == "categorical":
                    return F.sum((e.encoded() == code).cast("long"))
                return F.sum(F.coalesce(F.size(F.filter(e.encoded(), lambda x: x == code)), F.lit(0)))

            row = nodes.agg(*[unseen(e).alias(e.alias) for e in tentative]).first().asDict()
            for e in tentative:
                if row[e.alias]:
                    vocabularies[e.name] = e.vocabulary.values
                    stats[e.name].update({"cardinality": len(e.vocabulary.values), "other_code": e.vocabulary.other_code,
                                          "counts": e.vocabulary.counts,
                                          "distinct": stats[e.name].get("distinct", stats[e.name]["cardinality"])})
        time = time_seconds(self.spec, self.table)
        encoded = nodes.select(F.col(NODE).alias("node"), *[e.encoded().alias(e.alias) for e in self.encoders],
                               *([time.alias(_TIME)] if time is not None else []))
        with SortedOutput(self.ctx.staging, self.writer, "features", encoded, ["node"], n - self.start) as out:
            self._write_blocks(out, n, time is not None)
        if vocabularies:
            self.writer.write_json(VOCABULARIES_FILE, vocabularies)
        before = self.earlier.artifact.manifest.metadata
        metadata = {
            **{k: before[k] for k in ("format", "format_version", "table", "columns", "time_column")},
            "num_rows": n, "stats": stats, "node_index": self.index.uri,
            "max_categories": self.options.max_categories,
            "statistics_rows": int(before.get("statistics_rows", before["num_rows"])),
            "appended": {"previous": self.earlier.artifact.uri, "rows": self.start, "new_rows": n - self.start},
        }
        self.writer.metadata.update(metadata)
        return metadata


def feature_inputs(schema: GraphSchema, table: IngestedTable, index: NodeIndex, options: FeatureOptions
                   ) -> dict[str, Any]:
    """What a feature artifact is made from (for idempotency)."""
    spec = schema.to_dict()["tables"][table.name]
    return {"table": {"uri": table.uri, "hash": table.artifact.manifest.content_hash}, "schema": spec,
            "features": {k: v.value for k, v in feature_columns(schema, table.name).items()},
            "node_index": {"uri": index.uri, "hash": index.artifact.manifest.content_hash},
            "options": options.to_dict(), "version": VERSION}


def features_in_context(ctx: JobContext, schema: GraphSchema, table: IngestedTable, index: NodeIndex, output: str,
                        options: FeatureOptions | None = None, *, earlier: FeatureArtifact | None = None,
                        appended_parts: list[str] | None = None) -> FeatureArtifact:
    """:func:`materialize_features` inside an open job context, with the table and index already open.

    Args:
        earlier: the feature artifact of the table's previous version, whose rows are the first
            ``earlier.num_rows`` nodes of ``index``; with ``appended_parts`` (the data parts holding every
            row after the previous version's), only the new nodes are encoded (see :class:`_AppendFeatureJob`).
    """
    options = options or FeatureOptions()
    inputs = feature_inputs(schema, table, index, options)
    if earlier is not None and appended_parts is not None:
        inputs["appended_to"] = {"uri": earlier.artifact.uri, "hash": earlier.manifest.content_hash}
    found = ctx.artifacts.find(output, inputs)
    if found is not None:
        return FeatureArtifact(found)
    index.check_table(table)
    with ctx.artifacts.writer(output, producer=PRODUCER, inputs=inputs) as writer:
        if "appended_to" in inputs:
            _AppendFeatureJob(ctx, schema, table, index, options, writer, earlier=earlier, parts=appended_parts).run()
        else:
            _FeatureJob(ctx, schema, table, index, options, writer).run()
    return FeatureArtifact.open(ctx.artifacts, output)


def materialize_features(schema: GraphSchema | Mapping | str, table: str, table_uri: str, index_uri: str,
                         output: str, *, options: FeatureOptions | None = None, settings: "Settings | None" = None,
                         store: "ObjectStore | None" = None, spark: "SparkSession | None" = None) -> FeatureArtifact:
    """Write the feature artifact of one table (idempotent: one made from the same inputs is kept).

    Args:
        schema: the graph schema (object, dict or JSON text); it decides columns and semantic types.
        table: the schema table to encode.
        table_uri: its ingested table artifact.
        index_uri: its node index artifact.
        output: the feature artifact's URI.
        options: encoding options (default :class:`FeatureOptions`).
        settings, store, spark: defaults from the environment's settings.

    Returns:
        The committed feature artifact.

    Raises:
        MaterializeError: the table is not in the schema, lacks a column, or the index is for another table.
    """
    schema = as_schema(schema)
    if table not in schema.tables:
        raise MaterializeError(f"table {table!r} is not in the schema (it has {', '.join(schema.tables)})")
    with job_context(settings, store, spark) as ctx:
        single = GraphSchema(tables={table: schema.tables[table]})
        opened = open_tables(ctx.store, single, {table: ctx.uri(table_uri)})[table]
        index = NodeIndex.open(ctx.artifacts, ctx.uri(index_uri))
        return features_in_context(ctx, schema, opened, index, ctx.uri(output), options)
