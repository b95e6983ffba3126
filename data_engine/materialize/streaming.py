"""Chunk generators that turn sorted record batches into the chunks of fixed-shape ``.npy`` files.

Each function consumes an iterator of Arrow arrays (or record batches) in node order and yields NumPy
chunks along the first axis, for :meth:`ArtifactWriter.write_numpy_chunks`; none holds more than one
batch (plus a bounded block of a row pointer) in memory.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_engine.materialize.errors import MaterializeError

_SPAN = 1 << 16  # row-pointer entries per emitted chunk across long runs of nodes without edges
#: bytes per chunk that :meth:`NpySlices.chunks` reads by default (whatever the width of a row)
CHUNK_BYTES = 8 << 20


def int64_values(array: pa.Array | pa.ChunkedArray, null: int) -> np.ndarray:
    """An integer column as int64 with ``null`` for nulls."""
    return pc.fill_null(array.cast(pa.int64()), null).to_numpy(zero_copy_only=False)


def row_pointer(sources: Iterable[np.ndarray], num_src: int, name: str) -> Iterator[np.ndarray]:
    """The CSR row pointer (``num_src + 1`` entries) from the edges' source nodes in sorted order.

    Raises:
        MaterializeError: sources out of order or out of range (the sorted output was not sorted).
    """
    emitted = 0  # row-pointer entries written so far (for nodes 0..emitted-1)
    seen = 0  # edges before the current chunk
    last = -1
    for src in sources:
        if src.size == 0:
            continue
        if src[0] < last or np.any(np.diff(src) < 0) or src[-1] >= num_src or src[0] < 0:
            raise MaterializeError(f"{name}: edge sources are not sorted within [0, {num_src})")
        last = int(src[-1])
        # Node v's edges start after every edge whose source is below v.
        for lo in range(emitted, last + 1, _SPAN):
            nodes = np.arange(lo, min(last + 1, lo + _SPAN), dtype=np.int64)
            yield seen + np.searchsorted(src, nodes, side="left")
        emitted = last + 1
        seen += src.size
    for lo in range(emitted, num_src + 1, _SPAN):
        yield np.full(min(num_src + 1, lo + _SPAN) - lo, seen, dtype=np.int64)


def checked_nodes(batches: Iterable[pa.RecordBatch], node_column: str, num_nodes: int, name: str,
                  start: int = 0) -> Iterator[pa.RecordBatch]:
    """Pass batches through, checking that their node column counts ``start``, ``start + 1``... up to
    ``num_nodes``.

    Raises:
        MaterializeError: a node is missing, repeated or out of order.
    """
    expected = start
    for batch in batches:
        nodes = batch.column(node_column).to_numpy(zero_copy_only=False)
        if nodes.size and (nodes[0] != expected or np.any(np.diff(nodes) != 1)):
            raise MaterializeError(f"{name}: node rows are not the dense sequence {start}..{num_nodes - 1}")
        expected += nodes.size
        yield batch
    if expected != num_nodes:
        raise MaterializeError(f"{name}: {expected - start} node rows, expected {num_nodes - start}")


def dense_block(batches: Iterable[pa.RecordBatch], columns: Sequence[str],
                convert: Callable[[pa.Array], np.ndarray], dtype: np.dtype) -> Iterator[np.ndarray]:
    """Rows of several columns as ``[batch rows, len(columns)]`` chunks, each column converted."""
    for batch in batches:
        block = np.empty((batch.num_rows, len(columns)), dtype=dtype)
        for i, name in enumerate(columns):
            block[:, i] = convert(batch.column(name))
        yield block


def _lengths(batch: pa.RecordBatch, columns: Sequence[str]) -> np.ndarray:
    lengths = np.empty((batch.num_rows, len(columns)), dtype=np.int64)
    for i, name in enumerate(columns):
        lengths[:, i] = pc.fill_null(pc.list_value_length(batch.column(name)), 0).to_numpy(zero_copy_only=False)
    return lengths


class RaggedOffsets:
    """Iterates the offsets of the row-major ragged layout (``rows * len(columns) + 1`` entries) of list
    columns; :attr:`total` is the number of values once iterated."""

    def __init__(self, batches: Iterable[pa.RecordBatch], columns: Sequence[str], total: int = 0,
                 leading: bool = True) -> None:
        # ``total``/``leading``: continue the offsets of earlier rows that end at ``total`` (no leading entry)
        self._batches, self._columns = batches, columns
        self.total, self._leading = total, leading

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._leading:
            yield np.full(1, self.total, dtype=np.int64)
        for batch in self._batches:
            ends = self.total + np.cumsum(_lengths(batch, self._columns).reshape(-1))
            if ends.size:
                self.total = int(ends[-1])
            yield ends


def ragged_values(batches: Iterable[pa.RecordBatch], columns: Sequence[str]) -> Iterator[np.ndarray]:
    """The values of the row-major ragged layout: row by row, each row's lists column after column."""
    for batch in batches:
        lengths = _lengths(batch, columns)
        flat_lengths = lengths.reshape(-1)
        starts = (np.cumsum(flat_lengths) - flat_lengths).reshape(lengths.shape)
        out = np.empty(int(flat_lengths.sum()), dtype=np.int32)
        for c, name in enumerate(columns):
            lists = batch.column(name)
            values = pc.list_flatten(lists).to_numpy(zero_copy_only=False)
            if values.size == 0:
                continue
            rows = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
            first = np.cumsum(lengths[:, c]) - lengths[:, c]
            out[starts[rows, c] + np.arange(values.size) - first[rows]] = values
        yield out


class NpySlices:
    """Reads row ranges of a ``.npy`` file of a committed artifact without loading the whole file
    (seeks in the object, so it works the same on local folders and S3).

    Args:
        artifact: the artifact.
        name: the ``.npy`` file's name in it.
    """

    def __init__(self, artifact, name: str) -> None:
        self._stream = artifact.store.open_input(artifact.file_uri(name))
        version = np.lib.format.read_magic(self._stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(self._stream)
        if fortran:
            raise MaterializeError(f"{artifact.uri}/{name}: Fortran-ordered arrays are not read in slices")
        self.shape, self.dtype, self._offset = tuple(shape), np.dtype(dtype), self._stream.tell()
        self._row = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` (clipped to the array)."""
        start, stop = max(0, start), min(stop, self.shape[0])
        if stop <= start:
            return np.empty((0, *self.shape[1:]), self.dtype)
        self._stream.seek(self._offset + start * self._row)
        data = self._stream.read((stop - start) * self._row)
        return np.frombuffer(data, self.dtype).reshape((stop - start, *self.shape[1:]))

    def chunks(self, start: int = 0, stop: int | None = None, rows: int | None = None) -> Iterator[np.ndarray]:
        """Rows ``start`` to ``stop`` (default: the end) in chunks of at most ``rows`` rows (default: as
        many as fit in :data:`CHUNK_BYTES`)."""
        stop = self.shape[0] if stop is None else min(stop, self.shape[0])
        rows = rows or max(1, CHUNK_BYTES // max(1, self._row))
        for lo in range(start, stop, rows):
            yield self.read(lo, min(stop, lo + rows))

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> "NpySlices":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
