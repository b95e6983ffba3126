"""Table sinks that append chunk after chunk to one Parquet or CSV object in the store."""

from __future__ import annotations

import abc

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from platform_core.object_store import ObjectStore

from data_engine.demo_data.schema import TAG_SEPARATOR, TableSpec

FORMATS: tuple[str, ...] = ("parquet", "csv")


class TableSink(abc.ABC):
    """Writes one table incrementally; the object is complete once :meth:`close` returns.

    Args:
        store: the store rooted at the output folder.
        spec: the table's schema; every chunk must match it.
    """

    extension: str = ""

    def __init__(self, store: ObjectStore, spec: TableSpec) -> None:
        self.spec = spec
        self.uri = store.uri(f"{spec.name}.{self.extension}")
        self.rows = 0
        self._stream = store.open_output(self.uri)
        self._closed = False
        self._open(self._stream)

    def write(self, table: pa.Table) -> None:
        """Append ``table``'s rows.

        Raises:
            ValueError: the table does not have the sink's schema, or the sink is closed.
        """
        if self._closed:
            raise ValueError(f"{self.uri}: the sink is closed")
        if not table.schema.equals(self.spec.schema):
            raise ValueError(f"{self.uri}: expected schema {self.spec.schema}, got {table.schema}")
        self._write(table)
        self.rows += table.num_rows

    def close(self) -> None:
        """Finish the object (footer, flush) and close the stream; closing twice does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self._close()
        finally:
            self._stream.close()

    @abc.abstractmethod
    def _open(self, stream: pa.NativeFile) -> None: ...

    @abc.abstractmethod
    def _write(self, table: pa.Table) -> None: ...

    @abc.abstractmethod
    def _close(self) -> None: ...


class ParquetSink(TableSink):
    """One row group per chunk, Snappy-compressed."""

    extension = "parquet"

    def _open(self, stream: pa.NativeFile) -> None:
        self._writer = pq.ParquetWriter(stream, self.spec.schema, compression="snappy")

    def _write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def _close(self) -> None:
        self._writer.close()


def csv_schema(schema: pa.Schema) -> pa.Schema:
    """The schema a table has once written as CSV: timestamps and lists become strings."""
    return pa.schema([(f.name, pa.string() if _needs_text(f.type) else f.type) for f in schema])


def _needs_text(type_: pa.DataType) -> bool:
    return pa.types.is_timestamp(type_) or pa.types.is_list(type_)


def to_csv_table(table: pa.Table) -> pa.Table:
    """ISO-8601 timestamps (``2024-03-01T13:05:00``) and ``|``-joined lists, other columns unchanged."""
    columns = []
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_timestamp(field.type):
            column = pc.strftime(column.cast(pa.timestamp("s", field.type.tz)), format="%Y-%m-%dT%H:%M:%S")
        elif pa.types.is_list(field.type):
            column = pc.binary_join(column, TAG_SEPARATOR)
        columns.append(column)
    return pa.table(columns, schema=csv_schema(table.schema))


class CsvSink(TableSink):
    """Comma-delimited with a header; empty cells are nulls."""

    extension = "csv"

    def _open(self, stream: pa.NativeFile) -> None:
        self._writer = pacsv.CSVWriter(stream, csv_schema(self.spec.schema),
                                       write_options=pacsv.WriteOptions(include_header=True, delimiter=","))

    def _write(self, table: pa.Table) -> None:
        self._writer.write_table(to_csv_table(table))

    def _close(self) -> None:
        self._writer.close()


def open_sink(store: ObjectStore, spec: TableSpec, fmt: str) -> TableSink:
    """A sink for ``<store root>/<table>.<fmt>``.

    Raises:
        ValueError: ``fmt`` is not one of :data:`FORMATS`.
    """
    sinks = {"parquet": ParquetSink, "csv": CsvSink}
    if fmt not in sinks:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return sinks[fmt](store, spec)
