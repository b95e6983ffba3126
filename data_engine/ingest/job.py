"""The ingestion job: CSV or Parquet source files in, one typed, profiled table artifact out.

Steps, all in Spark except the sniffing of a sample:

1. list the source (a file, a folder or a key prefix; ``file://`` or ``s3://``), fingerprint its content,
   and return the existing artifact when the same content was already ingested with the same options;
2. CSV: sniff the dialect from the first MiB and read every file as strings in PERMISSIVE mode with a
   corrupt-record column; Parquet: read as is;
3. choose column types in one aggregation (:mod:`data_engine.ingest.types`);
4. write the valid rows, typed, as Parquet parts into ``data/``; write malformed rows (wrong number of
   fields, unbalanced quotes, values that do not parse in a strictly typed column) as strings with their
   reason into ``rejected/``; nothing is dropped silently and no bad row fails the table;
5. profile the written rows (statistics, semantic types, primary key and time column), then commit the
   artifact with ``report.json``, ``stats.json`` and the manifest last.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from data_engine.ingest.options import IngestOptions, IngestOptionsError
from data_engine.ingest.profile import check_column_names, profile_dataframe, profile_metadata
from data_engine.ingest.sniff import SAMPLE_BYTES, CsvDialect, decompress_sample, field_count, sniff_csv
from data_engine.ingest.tables import (
    DATA_FOLDER,
    REJECTED_FOLDER,
    REPORT_FILE,
    STATS_FILE,
    TABLE_PRODUCER,
    IngestedTable,
    open_table,
)
from data_engine.ingest.types import (
    ColumnType,
    infer_string_types,
    normalize_typed,
    nulled,
    parse,
    spark_type,
    typed_input,
)
from data_engine.spark_session import col, get_spark
from data_engine.staging import Staging, StagedSource
from platform_core.artifacts import ArtifactStore, ArtifactWriter
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectNotFoundError, ObjectStore

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from platform_core.settings import Settings

INGEST_VERSION = 2
CORRUPT = "_corrupt_record"
REJECT_COLUMNS = ("_reason", "_record", "_file")
MALFORMED_SAMPLE = 5
CSV_EXTENSIONS = (".csv", ".tsv", ".tab", ".txt", ".dat", ".psv")
PARQUET_EXTENSIONS = (".parquet", ".pq", ".parq")
COMPRESSION_EXTENSIONS = (".gz", ".gzip", ".bz2", ".deflate", ".zst", ".lz4", ".snappy")
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Spark's CSV reader turns unquoted empty fields into nulls whatever nullValue says; this sentinel keeps
# every other null decision (the null tokens) with the platform.
_NO_NULL_VALUE = "\u0000\u0001pq-no-null\u0001\u0000"


class IngestError(UserFacingError, RuntimeError):
    """A source cannot be ingested at all (no files, unreadable format); the message names it."""


@dataclass(frozen=True)
class IngestResult:
    """What one ingestion produced.

    Attributes:
        table: the table's name.
        uri: the table artifact's URI.
        format: ``csv`` or ``parquet``.
        rows: rows written (valid).
        rejected_rows: malformed rows (kept in ``rejected/``).
        dtypes: each column's dtype, in order.
        primary_key, time_column: as proposed or declared (None when none).
        reused: whether an artifact made from the same content and options was found and kept.
        report: the ingestion report (``report.json``).
    """

    table: str
    uri: str
    format: str
    rows: int
    rejected_rows: int
    dtypes: dict[str, str]
    primary_key: str | None
    time_column: str | None
    reused: bool
    report: dict[str, Any]

    @classmethod
    def from_table(cls, table: IngestedTable, reused: bool) -> "IngestResult":
        meta = table.metadata
        return cls(table=meta["table"], uri=table.uri, format=meta["format"], rows=int(meta["rows"]),
                   rejected_rows=int(meta["rejected_rows"]), dtypes=table.dtypes,
                   primary_key=meta.get("primary_key"), time_column=meta.get("time_column"), reused=reused,
                   report=table.report())


def _strip_compression(name: str) -> str:
    lower = name.lower()
    for ext in COMPRESSION_EXTENSIONS:
        if lower.endswith(ext):
            return lower[: -len(ext)]
    return lower


def _format_of(uri: str) -> str | None:
    name = _strip_compression(uri.rsplit("/", 1)[-1])
    if name.endswith(PARQUET_EXTENSIONS):
        return "parquet"
    if name.endswith(CSV_EXTENSIONS):
        return "csv"
    return None


def choose_format(files: list[str], options: IngestOptions, staging: Staging) -> tuple[str, list[str], list[str]]:
    """The source's format and the files of that format (the rest are reported as ignored).

    Files without a known extension are judged by their first bytes (Parquet starts with ``PAR1``).
    """
    kinds = {f: _format_of(f) for f in files}
    if options.format:
        chosen = options.format
    else:
        known = [k for k in kinds.values() if k]
        if known:
            chosen = max(("csv", "parquet"), key=lambda k: (known.count(k), k == "csv"))
        else:
            chosen = "parquet" if staging.read_sample(files[0], 4) == b"PAR1" else "csv"
    used = [f for f in files if kinds[f] in (chosen, None)]
    ignored = [f for f in files if f not in used]
    return chosen, used, ignored


def _read_csv(spark: "SparkSession", staged: StagedSource, dialect: CsvDialect) -> "DataFrame":
    from pyspark.sql import types as T

    schema = T.StructType([T.StructField(c, T.StringType()) for c in dialect.columns]
                          + [T.StructField(CORRUPT, T.StringType())])
    reader = (spark.read.schema(schema)
              .option("header", dialect.header).option("sep", dialect.delimiter)
              .option("quote", dialect.quote).option("escape", dialect.escape)
              .option("encoding", dialect.encoding).option("multiLine", dialect.multiline)
              .option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT)
              .option("nullValue", _NO_NULL_VALUE).option("emptyValue", "")
              .option("ignoreLeadingWhiteSpace", False).option("ignoreTrailingWhiteSpace", False)
              .option("enforceSchema", True))
    if dialect.line_terminator == "\r":
        reader = reader.option("lineSep", "\r")
    if staged.spark_base:
        reader = reader.option("basePath", staged.spark_base)
    return reader.csv([f.spark_path for f in staged.files])


def _read_parquet(spark: "SparkSession", staged: StagedSource) -> "DataFrame":
    reader = spark.read.option("mergeSchema", True)
    if staged.spark_base:
        reader = reader.option("basePath", staged.spark_base)
    return reader.parquet(*[f.spark_path for f in staged.files])


def _nanosecond_columns(store: ObjectStore, staged: StagedSource) -> set[str]:
    """Columns stored as nanosecond timestamps (Spark reads them as int64), from the first footer."""
    import pyarrow as pa

    first = staged.files[0]
    try:
        with store.for_uri(first.uri).open_input(first.uri) if "://" in first.uri else open(first.uri, "rb") as f:
            schema = pq.read_schema(f)
    except Exception as exc:  # a corrupt footer: Spark will say more when it reads the file
        raise IngestError(f"{first.uri}: not a readable Parquet file ({exc})") from None
    return {field.name for field in schema if pa.types.is_timestamp(field.type) and field.type.unit == "ns"}


def _inputs_key(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:12]


def ingest_table(source: str, table: str, *, output: str | None = None, options: IngestOptions | None = None,
                 settings: "Settings | None" = None, store: ObjectStore | None = None,
                 spark: "SparkSession | None" = None, profile: bool = True) -> IngestResult:
    """Ingest one table from CSV or Parquet files into a typed, profiled table artifact.

    Args:
        source: a file, a folder or a key prefix (``file://``, ``s3://`` or a local path).
        table: the table's name (letters, digits and ``_``).
        output: the artifact URI (default ``<store>/tables/<table>/v<hash of content and options>``).
        options: format options and column overrides (default: detect everything).
        settings: platform settings (default: from the environment).
        store: the object store (default: from the settings).
        spark: the Spark session (default: the process's shared session).
        profile: compute statistics, semantic types and key/time proposals (``stats.json``).

    Returns:
        What was written, or found already written from the same content and options.

    Raises:
        IngestError: the source has no data files or no usable format.
        IngestOptionsError: an invalid option, or an override naming an unknown column.
        ObjectStoreError: the source or the store cannot be reached.
    """
    from platform_core.settings import load_settings

    if not _TABLE_NAME.match(table):
        raise IngestOptionsError(f"table name {table!r}: use letters, digits and '_' (not starting with a digit)")
    options = (options or IngestOptions()).validated()
    settings = settings or load_settings()
    store = store or ObjectStore.from_settings(settings)
    if "://" not in source:
        from pathlib import Path

        source = Path(source).expanduser().resolve().as_uri()
    artifacts = ArtifactStore(store)
    with Staging(store, settings.home / "scratch") as staging:
        try:
            listed, _ = staging.list_source(source)
        except ObjectNotFoundError as exc:
            raise IngestError(f"table {table}: {exc}") from None
        fmt, files, ignored = choose_format(listed, options, staging)
        if not files:
            raise IngestError(f"table {table}: no {fmt} files at {source}")
        staged = staging.stage_source(source, files)
        inputs = {"source": source, "fingerprint": staged.fingerprint, "table": table, "format": fmt,
                  "options": options.to_dict(), "profile": profile, "version": INGEST_VERSION}
        output = output or store.uri("tables", table, f"v{_inputs_key(inputs)}")
        if artifacts.find(output, inputs) is not None:
            return IngestResult.from_table(open_table(store, output), reused=True)
        spark = spark or get_spark(settings)
        job = _IngestJob(spark, store, staging, staged, table, fmt, options)
        with artifacts.writer(output, producer=TABLE_PRODUCER, inputs=inputs) as writer:
            job.run(writer, profile=profile, ignored=ignored)
    return IngestResult.from_table(open_table(store, output), reused=False)


def _reason(fail: "Column", name: str, value: "Column", what: str) -> "Column":
    """``<column>: '<value>' is not a valid <type>`` where ``fail`` holds, else null."""
    from pyspark.sql import functions as F

    return F.when(fail, F.concat(F.lit(f"{name}: '"), value, F.lit(f"' is not a valid {what}")))


def _local_key(path: str) -> str:
    """A file URI or Spark file path (``file:/x``, ``file:///x``) reduced to a comparable local path."""
    from urllib.parse import unquote

    if path.startswith("file:"):
        return "/" + unquote(path[len("file:"):]).lstrip("/")
    return path


class _Clock:
    """Seconds spent per step, recorded in the report (for benchmarks and for users wondering why)."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.laps[step] = round(now - self._last, 3)
        self._last = now


class _IngestJob:
    """One ingestion run; :meth:`run` fills an artifact writer."""

    def __init__(self, spark: "SparkSession", store: ObjectStore, staging: Staging, staged: StagedSource,
                 table: str, fmt: str, options: IngestOptions) -> None:
        self.spark, self.store, self.staging, self.staged = spark, store, staging, staged
        self.table, self.format, self.options = table, fmt, options
        self.dialect: CsvDialect | None = None

    # ---- reading ------------------------------------------------------------------------------
    def _raw(self) -> tuple["DataFrame", list[str], set[str]]:
        """The source as read: (rows, string columns to type, nanosecond columns)."""
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        if self.format == "csv":
            first = self.staged.files[0]
            sample = decompress_sample(self.staging.read_sample(first.uri, SAMPLE_BYTES), first.uri)
            complete = first.size <= SAMPLE_BYTES and _strip_compression(first.uri) == first.uri.lower()
            self.dialect = sniff_csv(sample, self.options, complete=complete, name=first.uri)
            df = _read_csv(self.spark, self.staged, self.dialect)
            if self.dialect.bom and not self.dialect.header:
                first_col = self.dialect.columns[0]
                df = df.withColumn(first_col, F.regexp_replace(col(first_col), "^\ufeff", ""))
            nanos: set[str] = set()
        else:
            df = _read_parquet(self.spark, self.staged)
            nanos = _nanosecond_columns(self.store, self.staged)
        strings = [f.name for f in df.schema.fields if f.name != CORRUPT and isinstance(f.dataType, T.StringType)]
        return df, strings, nanos

    # ---- the run ------------------------------------------------------------------------------
    def run(self, writer: ArtifactWriter, *, profile: bool, ignored: list[str]) -> None:
        from pyspark.sql import functions as F

        clock = _Clock()
        raw, strings, nanos = self._raw()
        columns = [c for c in raw.columns if c != CORRUPT]
        check_column_names(self.table, columns, self.options)
        has_corrupt = CORRUPT in raw.columns
        types, measured = infer_string_types(raw, strings, self.options,
                                             corrupt_column=CORRUPT if has_corrupt else None)
        clock.lap("infer")
        exprs: dict[str, Column] = {}
        failures: list[tuple[Column, Column]] = []
        for name in columns:
            if name in types:
                expr, fail = self._string_column(name, types[name])
            else:
                expr, fail, types[name] = self._typed_column(raw, name, name in nanos)
            exprs[name] = expr
            if fail is not None:
                failures.append(fail)
        may_reject = bool(measured.get("corrupt")) or any(
            t.strict and (t.failures is None or t.failures > 0) for t in types.values())
        bad = F.lit(False)
        if has_corrupt:
            bad = bad | col(CORRUPT).isNotNull()
        for condition, _ in failures:
            bad = bad | condition
        file_path = F.col("_metadata.file_path")

        valid = raw.where(~bad).select(*[e.alias(n) for n, e in exprs.items()])
        valid.write.mode("overwrite").parquet(self.staging.output_path(writer, DATA_FOLDER))
        data_files = self.staging.publish(writer, DATA_FOLDER)
        rows = sum(f.rows or 0 for f in data_files)
        clock.lap("write")

        rejected_rows, sample = 0, []
        if may_reject:
            reasons = [F.when(col(CORRUPT).isNotNull(), F.lit("malformed record"))] if has_corrupt else []
            reasons += [reason for _, reason in failures]
            rejected = raw.where(bad).select(
                *[col(c).cast("string").alias(c) for c in columns],
                F.concat_ws("; ", *reasons).alias("_reason"),
                (col(CORRUPT) if has_corrupt else F.lit(None).cast("string")).alias("_record"),
                file_path.alias("_file"))
            rejected.write.mode("overwrite").parquet(self.staging.output_path(writer, REJECTED_FOLDER))
            if self.staging.written_rows(writer, REJECTED_FOLDER):
                rejected_files = self.staging.publish(writer, REJECTED_FOLDER)
                rejected_rows = sum(f.rows or 0 for f in rejected_files)
                sample = self._sample(writer, [f.name for f in rejected_files if f.rows], columns)
            else:  # the strict casts all succeeded: no rejected folder at all
                self.staging.discard(writer, REJECTED_FOLDER)
            clock.lap("rejected")
        if measured["rows"] != rows + rejected_rows:  # never lose a row without saying so
            raise IngestError(f"table {self.table}: read {measured['rows']} rows but wrote {rows} and rejected "
                              f"{rejected_rows}")
        data_schema = data_files[0].schema if data_files else []
        dtypes = {name: types[name].dtype for name in columns}
        report = {
            "table": self.table, "source": self.staged.uri, "format": self.format,
            "files": [{"uri": f.uri, "size": f.size, "sha256": f.sha256} for f in self.staged.files],
            "ignored_files": ignored,
            "dialect": self.dialect.to_dict() if self.dialect else None,
            "options": self.options.to_dict(),
            "columns": {name: types[name].to_dict() for name in columns},
            "rows": {"read": measured["rows"], "written": rows, "rejected": rejected_rows},
            "malformed": {"count": rejected_rows, "sample": sample},
            "timings_s": clock.laps,
        }
        writer.metadata.update({
            "table": self.table, "format": self.format, "rows": rows, "rejected_rows": rejected_rows,
            "columns": columns, "dtypes": dtypes, "schema": data_schema, "source": self.staged.uri,
            "dialect": report["dialect"], "options": report["options"],
        })
        if profile:
            df = self.spark.read.parquet(*self._written_paths(writer, data_files))
            document = profile_dataframe(df, self.table, dtypes, self.options)
            writer.write_json(STATS_FILE, document)
            writer.metadata.update(profile_metadata(document))
            clock.lap("profile")
        else:  # nothing proposed: the declared key and time column still hold
            writer.metadata.update({"primary_key": self.options.primary_key or None,
                                    "time_column": self.options.time_column or None})
        writer.write_json(REPORT_FILE, report)

    def _written_paths(self, writer: ArtifactWriter, files) -> list[str]:
        local = self.staging.output_path_local(writer, DATA_FOLDER)
        if local is None:
            return [self.staging.spark_path(writer.file_uri(f.name)) for f in files]
        return ["file://" + str(local / f.name[len(DATA_FOLDER) + 1:]) for f in files]

    def _string_column(self, name: str, t: ColumnType) -> tuple["Column", tuple["Column", "Column"] | None]:
        from pyspark.sql import functions as F

        if t.dtype == "string":
            return nulled(col(name), self.options.hard_nulls), None
        v = typed_input(col(name), self.options)
        value = parse(v, t.parser, t.date_format, t.unix_unit, t.dtype)
        if not t.strict:
            return value, None
        fail = v.isNotNull() & value.isNull()
        what = t.date_format or (f"unix time in {t.unix_unit}" if t.unix_unit else t.dtype)
        return value, (fail, _reason(fail, name, v, what))

    def _typed_column(self, raw: "DataFrame", name: str, nanos: bool):
        from pyspark.sql import functions as F

        value, t = normalize_typed(name, raw.schema[name].dataType, nanos)
        override = self.options.column(name)
        if not override.dtype or override.dtype == t.dtype:
            return value, None, t
        if override.unix_unit or override.date_format:
            v = F.trim(value.cast("string"))
            cast = parse(v, "unix" if override.unix_unit else "pattern", override.date_format, override.unix_unit,
                         override.dtype)
        else:
            cast = value.try_cast(spark_type(override.dtype))
        fail = value.isNotNull() & cast.isNull()
        reason = _reason(fail, name, value.cast("string"), override.date_format or override.dtype)
        return cast, (fail, reason), ColumnType(name, override.dtype, "cast", override.date_format,
                                                override.unix_unit, origin="override", strict=True)

    def _sample(self, writer: ArtifactWriter, names: list[str], columns: list[str]) -> list[dict[str, Any]]:
        """Up to :data:`MALFORMED_SAMPLE` rejected rows with precise reasons, read back from the artifact."""
        files = {_local_key(f.spark_path): f.uri for f in self.staged.files}
        out: list[dict[str, Any]] = []
        for name in names:
            with self.store.open_input(writer.file_uri(name)) as stream:
                batches = pq.ParquetFile(stream).iter_batches(batch_size=MALFORMED_SAMPLE - len(out))
                first = next(batches, None)
            for row in (first.to_pylist() if first is not None else []):
                reason, record = row["_reason"], row["_record"]
                if record is not None and self.dialect is not None:
                    found = field_count(record, self.dialect)
                    expected = len(self.dialect.columns)
                    detail = (f"{found} fields, expected {expected}" if found != expected
                              else "unbalanced quotes")
                    reason = reason.replace("malformed record", f"malformed record ({detail})", 1)
                spark_file = row["_file"] or ""
                out.append({
                    "reason": reason, "record": record,
                    "file": files.get(_local_key(spark_file), spark_file),
                    "values": {c: row[c] for c in columns},
                })
            if len(out) >= MALFORMED_SAMPLE:
                break
        return out
