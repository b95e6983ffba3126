"""Spark results to the driver part by part, never whole: globally sorted Parquet read back with pyarrow.

A job that must write one file in a global order (a CSR row pointer, a feature block by node index)
lets Spark sort and write Parquet into a scratch folder; Spark names the parts of a global sort after
their range partitions (``part-00000`` holds the smallest keys), so reading the parts in name order,
batch by batch, streams the rows in order with bounded memory: the driver holds one batch, a read buffer
per column and the page being decoded, whatever the size of a part or of a row group (Spark writes row
groups of about :data:`ROW_GROUP_BYTES` too, for readers that take a row group at a time). The scratch
folder lives inside the artifact being written when Spark reaches the store (removed before the commit,
and with everything else when the writer aborts), else in the local staging folder.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from data_engine.staging import Staging, is_data_file
from platform_core.artifacts import ArtifactWriter

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

WORK_FOLDER = "_work"
BATCH_ROWS = 65_536
#: bytes of a Parquet row group that Spark writes (its default is 128 MiB), so that a reader that takes a
#: row group at a time holds a bounded amount whatever the size of the output
ROW_GROUP_BYTES = 8 << 20
#: bytes read at a time from a column chunk: pyarrow otherwise reads a whole column chunk (a part's worth
#: of a column) into memory before decoding its first page
READ_BUFFER_BYTES = 1 << 20
#: rows per range partition of a sorted output; a smaller output is sorted in one task, without the
#: sampling pass that a range partitioning over several partitions needs
ROWS_PER_PART = 2_000_000
_PART = re.compile(r"^part-(\d+)")


def _part_order(name: str) -> tuple[int, str]:
    match = _PART.match(posixpath.basename(name))
    return (int(match.group(1)) if match else -1, name)


class SortedOutput:
    """A DataFrame written sorted into scratch Parquet, streamed back in that order.

    Args:
        staging: the job's staging area.
        writer: the artifact being written (the scratch folder is one of its sub-folders when in place).
        name: a short name for the scratch folder.
        frame: the rows to write.
        order_by: the sort columns (ascending, nulls first).
        rows_hint: about how many rows the frame has (sets the number of range partitions).

    Use it as a context manager; the scratch output is removed on exit.
    """

    def __init__(self, staging: Staging, writer: ArtifactWriter, name: str, frame: "DataFrame",
                 order_by: Sequence[str], rows_hint: int) -> None:
        self.staging = staging
        self.writer = writer
        self.folder = f"{WORK_FOLDER}/{name}"
        self._spark_schema = frame.schema
        parts = max(1, -(-int(rows_hint) // ROWS_PER_PART))
        ordered = frame.repartitionByRange(parts, *order_by).sortWithinPartitions(*order_by)
        (ordered.write.mode("overwrite").option("parquet.block.size", ROW_GROUP_BYTES)
         .parquet(staging.output_path(writer, self.folder)))
        self._parts = self._list_parts()
        self.rows = 0
        for part in self._parts:
            parquet = self._open(part)
            self.rows += parquet.metadata.num_rows
            parquet.close(force=True)

    def __enter__(self) -> "SortedOutput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.staging.discard(self.writer, self.folder)
        if self.staging.output_path_local(self.writer, self.folder) is None:
            work = self.writer.file_uri(WORK_FOLDER)
            store = self.staging.store_for(work)
            if not store.list(work, recursive=True):
                store.delete(work)

    def _list_parts(self) -> list[str]:
        local = self.staging.output_path_local(self.writer, self.folder)
        if local is not None:
            names = [p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()]
            parts = [str(local / n) for n in names if is_data_file(n)]
        else:
            uri = self.writer.file_uri(self.folder)
            store = self.staging.store_for(uri)
            parts = [f for f in store.list(uri, recursive=True) if is_data_file(f[len(uri) + 1:])]
        return sorted(parts, key=_part_order)

    def _open(self, part: str) -> pq.ParquetFile:
        """The part for reading; the caller closes it with ``close(force=True)`` (it owns the stream)."""
        # No pre-buffering: it caches every requested column chunk of the file for the reader's lifetime.
        source = part if "://" not in part else self.staging.store_for(part).open_input(part)
        return pq.ParquetFile(source, buffer_size=READ_BUFFER_BYTES, pre_buffer=False)

    @property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of the rows (also when Spark wrote no part at all)."""
        for part in self._parts:
            parquet = self._open(part)
            try:
                return parquet.schema_arrow
            finally:
                parquet.close(force=True)
        from pyspark.sql.pandas.types import to_arrow_schema

        return to_arrow_schema(self._spark_schema)

    def batches(self, columns: Sequence[str] | None = None, batch_size: int | None = None
                ) -> Iterator[pa.RecordBatch]:
        """The rows in sort order, as record batches of at most ``batch_size`` rows (default :data:`BATCH_ROWS`)."""
        batch_size = batch_size or BATCH_ROWS
        pool = pa.default_memory_pool()
        for part in self._parts:
            parquet = self._open(part)
            try:
                yield from parquet.iter_batches(batch_size=batch_size, columns=list(columns) if columns else None)
            finally:
                parquet.close(force=True)
                # The allocator keeps freed pages for reuse; hand them back so that the driver's resident
                # memory follows what it holds, not the largest part it has read.
                pool.release_unused()
