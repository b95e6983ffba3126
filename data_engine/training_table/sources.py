"""The input tables of a table job: ingested table artifacts opened as Spark DataFrames, and their time range."""

from __future__ import annotations

import datetime as dt
from functools import reduce
from typing import TYPE_CHECKING

from data_engine.ingest import TableNotFoundError, open_table
from data_engine.ingest.tables import IngestedTable
from data_engine.spark_session import col
from data_engine.training_table.errors import TrainingTableError
from data_engine.training_table.spec import TableKeys, TableSpec

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from data_engine.staging import Staging
    from platform_core.object_store import ObjectStore

__all__ = ["InputTables", "open_inputs", "EPOCH", "micros_to_datetime", "datetime_to_micros", "time_micros"]

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def micros_to_datetime(micros: int) -> dt.datetime:
    """UTC-aware datetime of epoch microseconds (exact, no float rounding)."""
    return EPOCH + dt.timedelta(microseconds=int(micros))


def datetime_to_micros(value: dt.datetime) -> int:
    """Epoch microseconds of an aware datetime."""
    return (value - EPOCH) // dt.timedelta(microseconds=1)


def time_micros(column: "Column") -> "Column":
    """A time column (timestamp or date) as epoch microseconds (UTC), the unit all window arithmetic uses."""
    from pyspark.sql import functions as F

    return F.unix_micros(column.cast("timestamp"))


def open_inputs(store: "ObjectStore", table_uris: dict[str, str], required: set[str]) -> dict[str, IngestedTable]:
    """Open the ingested table artifacts a job was given.

    Args:
        store: the object store holding them.
        table_uris: table name -> ingested table artifact URI.
        required: the tables the job reads (each must be given).

    Returns:
        Table name -> opened table, for every given table.

    Raises:
        TrainingTableError: a required table is not given, or a URI holds no ingested table.
    """
    missing = sorted(required - set(table_uris))
    if missing:
        raise TrainingTableError(f"no table URI for {', '.join(missing)} (the query reads them; given: "
                                 f"{', '.join(sorted(table_uris)) or 'none'})")
    tables = {}
    for name, uri in sorted(table_uris.items()):
        try:
            tables[name] = open_table(store, uri)
        except TableNotFoundError as exc:
            raise TrainingTableError(f"table {name}: {exc}") from None
    return tables


class InputTables:
    """The ingested tables a job reads, each a DataFrame on demand.

    Args:
        spark: the session.
        staging: stages artifacts locally when Spark cannot reach the store.
        spec: the plan's table parameters (keys and time columns of every table).
        tables: the opened tables (:func:`open_inputs`).
        required: the tables the job reads.

    Raises:
        TrainingTableError: a required table lacks its primary key or time column.
    """

    def __init__(self, spark: "SparkSession", staging: "Staging", spec: TableSpec,
                 tables: dict[str, IngestedTable], required: set[str]) -> None:
        self.spark, self.staging, self.spec, self.tables = spark, staging, spec, tables
        self._frames: dict[str, DataFrame] = {}
        for name in sorted(required):
            keys = self.keys(name)
            for column in (keys.primary_key, keys.time_column):
                if column is not None:
                    self.require_column(name, column)

    def keys(self, name: str) -> TableKeys:
        """The table's primary key and time column (from the plan; the ingested proposal if not declared)."""
        keys = self.spec.tables.get(name)
        if keys is not None:
            return keys
        table = self.tables[name]
        return TableKeys(name, table.primary_key, table.time_column)

    def require_column(self, table: str, column: str) -> None:
        """Raise :class:`TrainingTableError` unless the ingested ``table`` has ``column``."""
        columns = self.tables[table].columns
        if column not in columns:
            raise TrainingTableError(f"table {table} has no column {column!r} (it has: {', '.join(columns)})")

    def frame(self, name: str) -> "DataFrame":
        """The rows of table ``name``."""
        if name not in self._frames:
            self._frames[name] = self.tables[name].dataframe(self.spark, self.staging)
        return self._frames[name]

    def time_range(self, names: set[str] | None = None) -> tuple[dt.datetime, dt.datetime] | None:
        """The oldest and newest time over the time columns of the given tables, in one Spark job.

        Args:
            names: the tables to look at (default: every given table).

        Returns:
            (min, max) as UTC datetimes, or None when no table has a time column or no row a time.
        """
        from pyspark.sql import functions as F

        parts = []
        for name in sorted(self.tables if names is None else names & set(self.tables)):
            time_column = self.keys(name).time_column
            if time_column is None or time_column not in self.tables[name].columns:
                continue
            t = time_micros(col(time_column))
            parts.append(self.frame(name).agg(F.min(t).alias("lo"), F.max(t).alias("hi")))
        if not parts:
            return None
        row = reduce(lambda a, b: a.unionByName(b), parts).agg(F.min("lo").alias("lo"), F.max("hi").alias("hi")).first()
        if row is None or row["lo"] is None:
            return None
        return micros_to_datetime(row["lo"]), micros_to_datetime(row["hi"])


def find_table_uris(store: "ObjectStore", folder: str, names: list[str]) -> dict[str, str]:
    """Find ingested table artifacts in a folder laid out one sub-folder per table.

    ``<folder>/<name>`` is used when it is a committed artifact; otherwise the newest committed artifact
    directly under it (ingestion's default layout, ``tables/<name>/v<hash>``).

    Args:
        store: the object store.
        folder: the folder (URI or key under the store's root).
        names: the table names to look for.

    Returns:
        Name -> artifact URI for each name found (missing names are left out).
    """
    from platform_core.artifacts import MANIFEST_NAME, ArtifactError, ArtifactStore

    artifacts = ArtifactStore(store)
    base = (folder if "://" in folder else store.uri(folder)).rstrip("/")
    found: dict[str, str] = {}
    for name in names:
        uri = f"{base}/{name}"
        if artifacts.find(uri) is not None:
            found[name] = uri
            continue
        newest: tuple[str, str] | None = None
        for file_uri in store.list(uri, recursive=True):
            relative = file_uri[len(uri) + 1:]
            if relative.count("/") != 1 or not relative.endswith("/" + MANIFEST_NAME):
                continue
            candidate = file_uri[: -len(MANIFEST_NAME) - 1]
            try:
                created = artifacts.open(candidate).manifest.created_at
            except ArtifactError:
                continue
            if newest is None or created > newest[0]:
                newest = (created, candidate)
        if newest is not None:
            found[name] = newest[1]
    return found
