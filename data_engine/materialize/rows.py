"""Rows of ingested tables with their stable row id, and the checks that a schema fits the tables.

The row id of a row is its position in the table artifact: the data parts in name order, each row at
``offset of its part + its index inside the part`` (``_metadata.row_index``). It depends only on the
artifact's bytes, so it is the same in every job and every run, and it follows ingestion order.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Mapping

from data_engine.artifact_formats.errors import ArtifactFormatError
from data_engine.ingest.tables import IngestedTable, TableNotFoundError, open_table
from data_engine.materialize.errors import MaterializeError
from data_engine.staging import Staging
from pql.schema import GraphSchema, SemanticType, TableSchema

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from platform_core.object_store import ObjectStore

ROW = "_pq_row"
NODE = "_pq_node"
INT64_MIN = -(2 ** 63)
_NUMERIC = {"int8", "int16", "int32", "int64", "float32", "float64"}


def as_schema(schema: GraphSchema | Mapping | str) -> GraphSchema:
    """A :class:`GraphSchema` from itself, its dict or its JSON text."""
    if isinstance(schema, GraphSchema):
        return schema
    if isinstance(schema, (str, bytes)):
        return GraphSchema.from_json(schema)
    return GraphSchema.from_dict(schema)


def check_graph_name(kind: str, name: str) -> str:
    """Reject names the graph artifact cannot hold (empty, with ``/`` or ``__``, or starting with ``.``).

    Raises:
        ArtifactFormatError: the name is not usable.
    """
    if not name or "/" in name or "__" in name or name.startswith("."):
        raise ArtifactFormatError(f"{kind} name {name!r} cannot be used in a graph artifact (it must be non-empty "
                                  "and contain neither '/' nor '__', nor start with '.')")
    return name


def open_tables(store: "ObjectStore", schema: GraphSchema, table_uris: Mapping[str, str]) -> dict[str, IngestedTable]:
    """Open the ingested table of every schema table and check that it has the schema's columns.

    Raises:
        MaterializeError: a schema table has no URI, or its artifact lacks a column the schema names.
        TableNotFoundError: a URI holds no ingested table.
    """
    missing = [name for name in schema.tables if name not in table_uris]
    if missing:
        raise MaterializeError(f"no table URI for {', '.join(missing)} (the schema has {', '.join(schema.tables)})")
    tables: dict[str, IngestedTable] = {}
    for name, spec in schema.tables.items():
        check_graph_name("table", name)
        try:
            table = open_table(store, table_uris[name])
        except TableNotFoundError as exc:
            raise MaterializeError(f"table {name}: {exc}") from None
        absent = [c for c in spec.columns if c not in table.dtypes]
        if absent:
            raise MaterializeError(f"table {name} ({table.uri}) has no column {', '.join(map(repr, absent))} "
                                   f"(it has {', '.join(table.columns)})")
        tables[name] = table
    return tables


def feature_columns(schema: GraphSchema, table: str) -> dict[str, SemanticType]:
    """The columns of ``table`` that become features, in schema order: everything but IDs and keys."""
    spec = schema.tables[table]
    keys = {spec.primary_key} | {link.column for link in schema.links_from(table)}
    return {name: c.stype for name, c in spec.columns.items() if c.stype is not SemanticType.ID and name not in keys}


def part_offsets(table: IngestedTable) -> dict[str, int]:
    """The row id of the first row of each data part, by the part's file name."""
    offsets: dict[str, int] = {}
    total = 0
    for name in sorted(table.data_files):
        base = posixpath.basename(name)
        if base in offsets:
            raise MaterializeError(f"{table.uri}: two data parts named {base}")
        offsets[base] = total
        total += int(table.artifact.manifest.file(name).rows or 0)
    return offsets


def rows_frame(spark: "SparkSession", staging: Staging, table: IngestedTable,
               parts: list[str] | None = None) -> "DataFrame":
    """The table's rows with their row id in column :data:`ROW` (int64).

    Args:
        spark, staging: the job's handles.
        table: the table.
        parts: only the rows of these data parts (names from ``table.data_files``; Spark reads no other part).
    """
    from pyspark.sql import functions as F

    offsets = part_offsets(table)
    if parts is not None:
        frame = spark.read.parquet(*staging.artifact_paths(table.artifact, parts)) if parts else None
        if frame is None:  # no part: an empty frame with the table's columns
            frame = table.dataframe(spark, staging).limit(0)
    else:
        frame = table.dataframe(spark, staging)
    if not offsets:
        return frame.withColumn(ROW, F.lit(None).cast("long"))
    pairs = [x for name, offset in offsets.items() for x in (F.lit(name), F.lit(offset))]
    row = F.element_at(F.create_map(*pairs), F.col("_metadata.file_name")) + F.col("_metadata.row_index")
    return frame.withColumn(ROW, row.cast("long"))


def seconds(column: "Column", dtype: str) -> "Column":
    """A timestamp-like column as int64 unix seconds (null stays null)."""
    from pyspark.sql import functions as F

    if dtype in _NUMERIC:  # already epoch seconds
        return column.cast("long")
    if dtype == "string":
        column = column.try_cast("timestamp")
    return F.unix_seconds(column.cast("timestamp"))


def time_seconds(spec: TableSchema, table: IngestedTable) -> "Column | None":
    """The table's row time in unix seconds, or None when the table has no time column."""
    from data_engine.spark_session import col

    if spec.time_column is None:
        return None
    return seconds(col(spec.time_column), table.dtypes[spec.time_column])
