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
import shutil
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
from data_engine.staging import Staging, StagedSource, is_data_file
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
        appended_to: the earlier table artifact whose rows come first, unchanged, when this call read only the
            source's new files (see ``previous`` of :func:`ingest_table`); None for a full ingestion and for
            an artifact found already made (``reused``).
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
    appended_to: str | None = None

    @classmethod
    def from_table(cls, table: IngestedTable, reused: bool) -> "IngestResult":
        meta = table.metadata
        appended = None if reused else meta.get("appended_to")
        return cls(table=meta["table"], uri=table.uri, format=meta["format"], rows=int(meta["rows"]),
                   rejected_rows=int(meta["rejected_rows"]), dtypes=table.dtypes,
                   primary_key=meta.get("primary_key"), time_column=meta.get("time_column"), reused=reused,
                   report=table.report(), appended_to=appended["uri"] if appended else None)


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
                 spark: "SparkSession | None" = None, profile: bool = True,
                 previous: str | None = None) -> IngestResult:
    """Ingest one table from CSV or Parquet files into a typed, profiled table artifact.

    **Appends.** With ``previous`` (the artifact of an earlier ingestion of the same source with the same
    options), when every file that ingestion read is still there with the same content and new files
    were added, only the new files are read: with the earlier dialect and column types, their rows are
    written after the earlier rows, whose Parquet parts are copied unchanged (so every earlier row keeps
    its row id, which is what incremental materialization relies on). Anything else (a changed, grown
    or removed file, other options, a new file whose header or column types differ, a value that does
    not parse with the earlier type) ingests the whole source as usual. The profile, when asked for, is
    always of the whole table.

    Args:
        source: a file, a folder or a key prefix (``file://``, ``s3://`` or a local path).
        table: the table's name (letters, digits and ``_``).
        output: the artifact URI (default ``<store>/tables/<table>/v<hash of content and options>``).
        options: format options and column overrides (default: detect everything).
        settings: platform settings (default: from the environment).
        store: the object store (default: from the settings).
        spark: the Spark session (default: the process's shared session).
        profile: compute statistics, semantic types and key/time proposals (``stats.json``).
        previous: an earlier table artifact of this source, to append to when only files were added.

    Returns:
        What was written, or found already written from the same content and options;
        ``appended_to`` names ``previous`` when only the new files were read.

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
        if previous is not None:
            same = _same_ingestion(store, previous, inputs)
            if same is not None:  # nothing changed since: the earlier artifact (maybe an append) is the table
                return IngestResult.from_table(same, reused=True)
        base = None if previous is None else _appendable(store, previous, staged, inputs)
        if base is not None:
            appended = _append(store, staging, staged, base, inputs, output, options, spark, settings, profile,
                               ignored)
            if appended is not None:
                return appended
        output = output or store.uri("tables", table, f"v{_inputs_key(inputs)}")
        if artifacts.find(output, inputs) is not None:
            return IngestResult.from_table(open_table(store, output), reused=True)
        spark = spark or get_spark(settings)
        job = _IngestJob(spark, store, staging, staged, table, fmt, options)
        with artifacts.writer(output, producer=TABLE_PRODUCER, inputs=inputs) as writer:
            job.run(writer, profile=profile, ignored=ignored)
    return IngestResult.from_table(open_table(store, output), reused=False)


class _NotAnAppend(Exception):
    """The new files cannot be appended to the earlier table as they are (the caller ingests everything)."""


def _same_ingestion(store: ObjectStore, previous: str, inputs: dict[str, Any]) -> IngestedTable | None:
    """The earlier table when it was made from exactly these inputs (same files, content and options)."""
    from data_engine.ingest.tables import TableNotFoundError

    try:
        base = open_table(store, previous if "://" in previous else store.uri(previous))
    except TableNotFoundError:
        return None
    made = base.artifact.manifest.inputs
    return base if all(made.get(k) == v for k, v in inputs.items()) else None


def _appendable(store: ObjectStore, previous: str, staged: StagedSource, inputs: dict[str, Any]
                ) -> IngestedTable | None:
    """The earlier table when the source only gained files since it was ingested with the same options."""
    from data_engine.ingest.tables import TableNotFoundError

    try:
        base = open_table(store, previous if "://" in previous else store.uri(previous))
    except TableNotFoundError:
        return None
    made = base.artifact.manifest.inputs
    same = ("source", "table", "format", "options", "version")
    if any(made.get(k) != inputs[k] for k in same) or made.get("fingerprint") == inputs["fingerprint"]:
        return None
    now = {f.uri: f.sha256 for f in staged.files}
    before = base.report()["files"]
    if any(now.get(f["uri"]) != f["sha256"] for f in before) or len(now) <= len(before):
        return None
    return base


def _append(store: ObjectStore, staging: Staging, staged: StagedSource, base: IngestedTable,
            inputs: dict[str, Any], output: str | None, options: IngestOptions, spark, settings,
            profile: bool, ignored: list[str]) -> IngestResult | None:
    """Ingest only the files added since ``base``; None when they do not fit it (nothing is left behind)."""
    artifacts = ArtifactStore(store)
    inputs = {**inputs, "appended_to": {"uri": base.uri, "hash": base.artifact.manifest.content_hash}}
    output = output or store.uri("tables", inputs["table"], f"v{_inputs_key(inputs)}")
    if (output if "://" in output else store.uri(output)).rstrip("/") == base.uri:  # no copy onto itself
        return None
    if artifacts.find(output, inputs) is not None:
        return IngestResult.from_table(open_table(store, output), reused=True)
    old = {f["uri"] for f in base.report()["files"]}
    new = StagedSource(uri=staged.uri, files=[f for f in staged.files if f.uri not in old],
                       spark_base=staged.spark_base)
    job = _AppendJob(spark or get_spark(settings), store, staging, new, inputs["table"], inputs["format"], options,
                     base=base, all_files=staged.files)
    try:
        with artifacts.writer(output, producer=TABLE_PRODUCER, inputs=inputs) as writer:
            job.run(writer, profile=profile, ignored=ignored)
    except _NotAnAppend:
        return None
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
        self.all_files = staged.files  # every file of the source (the report lists them)
        self.earlier_rows = self.earlier_rejected = 0  # rows kept from an earlier version (appends)

    # ---- what an append changes -----------------------------------------------------------------
    def _string_types(self, raw: "DataFrame", strings: list[str], has_corrupt: bool
                      ) -> tuple[dict[str, ColumnType], dict[str, int]]:
        """Types of the string columns and the counts of rows and corrupt records read."""
        return infer_string_types(raw, strings, self.options, corrupt_column=CORRUPT if has_corrupt else None)

    def _check_types(self, raw: "DataFrame", columns: list[str], types: dict[str, ColumnType],
                     failures: list, has_corrupt: bool) -> None:
        """Raise :class:`_NotAnAppend` when the rows cannot join an earlier version (nothing to check here)."""

    def _write_rows(self, writer: ArtifactWriter, frame: "DataFrame", folder: str) -> list:
        """Write rows into ``folder`` of the artifact; the manifest entries of its parts ([] for none rejected)."""
        frame.write.mode("overwrite").parquet(self.staging.output_path(writer, folder))
        if folder == REJECTED_FOLDER and not self.staging.written_rows(writer, folder):
            self.staging.discard(writer, folder)  # the strict casts all succeeded: no rejected folder at all
            return []
        return self.staging.publish(writer, folder)

    def _describe(self, writer: ArtifactWriter, report: dict[str, Any]) -> None:
        """Add what is particular to this kind of run to the metadata and report (nothing here)."""

    # ---- reading ------------------------------------------------------------------------------
    def _raw(self) -> tuple["DataFrame", list[str], set[str]]:
        """The source as read: (rows, string columns to type, nanosecond columns)."""
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        if self.format == "csv":
            self.dialect = self._dialect()
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

    def _sniff(self, file) -> CsvDialect:
        sample = decompress_sample(self.staging.read_sample(file.uri, SAMPLE_BYTES), file.uri)
        complete = file.size <= SAMPLE_BYTES and _strip_compression(file.uri) == file.uri.lower()
        return sniff_csv(sample, self.options, complete=complete, name=file.uri)

    def _dialect(self) -> CsvDialect:
        """The CSV dialect, sniffed from the first file."""
        return self._sniff(self.staged.files[0])

    # ---- the run ------------------------------------------------------------------------------
    def run(self, writer: ArtifactWriter, *, profile: bool, ignored: list[str]) -> None:
        from pyspark.sql import functions as F

        clock = _Clock()
        raw, strings, nanos = self._raw()
        columns = [c for c in raw.columns if c != CORRUPT]
        check_column_names(self.table, columns, self.options)
        has_corrupt = CORRUPT in raw.columns
        types, measured = self._string_types(raw, strings, has_corrupt)
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
        self._check_types(raw, columns, types, failures, has_corrupt)
        may_reject = self.earlier_rejected > 0 or bool(measured.get("corrupt")) or any(
            t.strict and (t.failures is None or t.failures > 0) for t in types.values())
        bad = F.lit(False)
        if has_corrupt:
            bad = bad | col(CORRUPT).isNotNull()
        for condition, _ in failures:
            bad = bad | condition
        file_path = F.col("_metadata.file_path")

        valid = raw.where(~bad).select(*[e.alias(n) for n, e in exprs.items()])
        data_files = self._write_rows(writer, valid, DATA_FOLDER)
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
            rejected_files = self._write_rows(writer, rejected, REJECTED_FOLDER)
            if rejected_files:
                rejected_rows = sum(f.rows or 0 for f in rejected_files)
                sample = self._sample(writer, [f.name for f in rejected_files if f.rows], columns)
            clock.lap("rejected")
        new_rows, new_rejected = rows - self.earlier_rows, rejected_rows - self.earlier_rejected
        if measured["rows"] != new_rows + new_rejected:  # never lose a row without saying so
            raise IngestError(f"table {self.table}: read {measured['rows']} rows but wrote {new_rows} and "
                              f"rejected {new_rejected}")
        data_schema = data_files[0].schema if data_files else []
        dtypes = {name: types[name].dtype for name in columns}
        report = {
            "table": self.table, "source": self.staged.uri, "format": self.format,
            "files": [{"uri": f.uri, "size": f.size, "sha256": f.sha256} for f in self.all_files],
            "ignored_files": ignored,
            "dialect": self.dialect.to_dict() if self.dialect else None,
            "options": self.options.to_dict(),
            "columns": {name: types[name].to_dict() for name in columns},
            "rows": {"read": measured["rows"] + self.earlier_rows + self.earlier_rejected, "written": rows,
                     "rejected": rejected_rows},
            "malformed": {"count": rejected_rows, "sample": sample},
            "timings_s": clock.laps,
        }
        writer.metadata.update({
            "table": self.table, "format": self.format, "rows": rows, "rejected_rows": rejected_rows,
            "columns": columns, "dtypes": dtypes, "schema": data_schema, "source": self.staged.uri,
            "dialect": report["dialect"], "options": report["options"],
        })
        self._describe(writer, report)
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
        files = {_local_key(f.spark_path): f.uri for f in self.all_files}
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


_STRING_PARSERS = ("string", "int", "float", "decimal_comma", "bool", "iso", "pattern", "unix")
_PART_NUMBER = re.compile(r"^part-(\d+)(.*)$")


def _part_number(name: str) -> int:
    match = _PART_NUMBER.match(name.rsplit("/", 1)[-1])
    if match is None:
        raise _NotAnAppend(name)
    return int(match.group(1))


class _AppendJob(_IngestJob):
    """Ingests the files added to a source since ``base`` was ingested, after ``base``'s rows.

    The earlier parts are copied under their names; the new parts are renamed to number after them, so
    that the table's parts in name order (which numbers the rows) hold the earlier rows first, unchanged.
    Raises :class:`_NotAnAppend` when the new files do not fit: another header, a column whose type
    differs, or a value that the earlier (inferred) type does not parse.
    """

    def __init__(self, *args, base: IngestedTable, all_files, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.base = base
        self.all_files = list(all_files)
        self.earlier_rows, self.earlier_rejected = base.rows, int(base.metadata.get("rejected_rows") or 0)
        self._new_paths: list[str] = []  # Spark paths of the new data parts (a profile reads them)

    def _dialect(self) -> CsvDialect:
        from data_engine.ingest.sniff import CsvSniffError

        earlier = self.base.report().get("dialect")
        if not earlier:
            raise _NotAnAppend("no dialect")
        dialect = CsvDialect(**{**earlier, "columns": tuple(earlier["columns"]),
                                "detected": tuple(earlier["detected"])})
        for file in self.staged.files:
            try:
                columns = self._sniff(file).columns
            except CsvSniffError:
                raise _NotAnAppend(file.uri) from None
            if columns != dialect.columns:
                raise _NotAnAppend(f"{file.uri}: other columns")
        return dialect

    def _string_types(self, raw, strings, has_corrupt):
        earlier = self.base.report()["columns"]
        types = {}
        for name in strings:
            made = earlier.get(name)
            if made is None or made["parser"] not in _STRING_PARSERS:
                raise _NotAnAppend(f"column {name}")
            # Strict: a value that the earlier type cannot parse shows, and the whole source is ingested again.
            types[name] = ColumnType(name, made["dtype"], made["parser"], made.get("date_format"),
                                     made.get("unix_unit"), origin=made.get("origin", "inferred"), strict=True,
                                     notes=list(made.get("notes") or []))
        from pyspark.sql import functions as F

        bad = col(CORRUPT).isNotNull() if has_corrupt else F.lit(False)
        # Spark refuses a query of a CSV source that references only its corrupt-record column.
        data = [c for c in raw.columns if c != CORRUPT][:1]
        row = raw.agg(F.count(F.lit(1)).alias("rows"), F.sum(F.when(bad, 1).otherwise(0)).alias("corrupt"),
                      *[F.count(col(c)).alias("_any") for c in data]).first()
        return types, {"rows": int(row["rows"]), "corrupt": int(row["corrupt"] or 0)}

    def _check_types(self, raw, columns, types, failures, has_corrupt) -> None:
        from functools import reduce

        from pyspark.sql import functions as F

        if columns != self.base.columns or any(types[c].dtype != self.base.dtypes[c] for c in columns):
            raise _NotAnAppend("other columns or types")
        # A user's override rejects what it cannot parse in a full ingestion too; an inferred type would
        # have been inferred otherwise.
        inferred = [c for c in columns if types[c].parser in _STRING_PARSERS and types[c].origin == "inferred"
                    and types[c].dtype != "string"]
        fails = [f for c in inferred for f in [self._string_column(c, types[c])[1]] if f is not None]
        if not fails:
            return
        ok = ~col(CORRUPT).isNotNull() if has_corrupt else F.lit(True)
        if raw.where(ok & reduce(lambda a, b: a | b, [f for f, _ in fails])).limit(1).count():
            raise _NotAnAppend("a value the earlier type does not parse")

    def _copy(self, writer: ArtifactWriter, name: str):
        with self.base.artifact.store.open_input(self.base.artifact.file_uri(name)) as src, \
                writer.store.open_output(writer.file_uri(name)) as dst:
            shutil.copyfileobj(src, dst, 8 << 20)
        return writer.add_existing(name, kind="parquet")

    def _write_rows(self, writer: ArtifactWriter, frame, folder: str) -> list:
        earlier = sorted(self.base.data_files if folder == DATA_FOLDER else self.base.rejected_files)
        start = max((_part_number(n) for n in earlier), default=-1) + 1
        entries = [self._copy(writer, name) for name in earlier]
        scratch = f"_append_{folder}"
        frame.write.mode("overwrite").parquet(self.staging.output_path(writer, scratch))
        local = self.staging.output_path_local(writer, scratch)
        if local is not None:
            parts = [str(p) for p in local.rglob("*") if p.is_file() and is_data_file(p.name)]
            opener, spark_paths = (lambda p: open(p, "rb")), ["file://" + p for p in parts]
        else:
            uri = writer.file_uri(scratch)
            store = self.staging.store_for(uri)
            parts = [f for f in store.list(uri, recursive=True) if is_data_file(f[len(uri) + 1:])]
            opener, spark_paths = store.open_input, parts
        order = sorted(range(len(parts)), key=lambda i: (_part_number(parts[i]), parts[i]))
        number = start
        for i in order:
            with opener(parts[i]) as stream:
                if pq.ParquetFile(stream).metadata.num_rows == 0:
                    continue
            rest = _PART_NUMBER.match(parts[i].rsplit("/", 1)[-1]).group(2)
            name = f"{folder}/part-{number:05d}{rest}"
            number += 1
            with opener(parts[i]) as src, writer.store.open_output(writer.file_uri(name)) as dst:
                shutil.copyfileobj(src, dst, 8 << 20)
            entries.append(writer.add_existing(name, kind="parquet"))
            if folder == DATA_FOLDER and local is not None:
                self._new_paths.append(spark_paths[i])
        if local is None:
            self.staging.discard(writer, scratch)
        names = [e.name for e in entries]
        if names != sorted(names):  # part numbers past 99999 would sort out of order
            raise _NotAnAppend("part names")
        return entries

    def _written_paths(self, writer: ArtifactWriter, files) -> list[str]:
        if self.staging.output_path_local(writer, DATA_FOLDER) is None:
            return [self.staging.spark_path(writer.file_uri(f.name)) for f in files]
        return self.staging.artifact_paths(self.base.artifact, self.base.data_files) + self._new_paths

    def _describe(self, writer: ArtifactWriter, report: dict[str, Any]) -> None:
        appended = {"uri": self.base.uri, "hash": self.base.artifact.manifest.content_hash,
                    "rows": self.earlier_rows, "rejected_rows": self.earlier_rejected,
                    "data_files": len(self.base.data_files)}
        writer.metadata["appended_to"] = appended
        report["appended_to"] = appended
