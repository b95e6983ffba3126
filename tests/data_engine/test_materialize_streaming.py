"""The chunk generators that stream sorted batches into .npy files, across batch boundaries."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from data_engine.materialize import streaming
from data_engine.materialize.errors import MaterializeError
from data_engine.materialize.streaming import RaggedOffsets, checked_nodes, dense_block, ragged_values, row_pointer

pytestmark = pytest.mark.unit


def _split(array: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    return np.split(array, cuts)


@pytest.mark.parametrize("span", [1, 3, 1 << 20])
def test_row_pointer_equals_the_counts_across_chunks_and_gaps(monkeypatch, span):
    monkeypatch.setattr(streaming, "_SPAN", span)
    rng = np.random.default_rng(0)
    num_src = 40
    # Nodes 0-4 and 33-39 have no edges; some nodes have many; a node's edges straddle chunk borders.
    src = np.sort(np.concatenate([rng.integers(5, 33, 60), np.full(7, 12)]))
    chunks = _split(src, [0, 1, 17, 17, 30, 66])  # empty chunks included
    pointer = np.concatenate(list(row_pointer(chunks, num_src, "t")))
    expected = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=num_src))])
    assert pointer.dtype == np.int64 and np.array_equal(pointer, expected)
    assert np.array_equal(np.concatenate(list(row_pointer([], 3, "t"))), [0, 0, 0, 0])


@pytest.mark.parametrize("sources", [[np.array([3, 1])], [np.array([2, 3]), np.array([1])], [np.array([5])]])
def test_row_pointer_refuses_unsorted_or_out_of_range_sources(sources):
    with pytest.raises(MaterializeError, match="not sorted"):
        list(row_pointer(sources, 4, "t"))


def _batches(lists_a, lists_b, cuts):
    table = pa.table({"node": np.arange(len(lists_a)), "a": pa.array(lists_a, pa.list_(pa.int32())),
                      "b": pa.array(lists_b, pa.list_(pa.int32()))})
    bounds = [0, *cuts, len(lists_a)]
    return [table.slice(lo, hi - lo).to_batches()[0] for lo, hi in zip(bounds, bounds[1:])]


def test_ragged_layout_is_row_major_across_batches():
    a = [[1, 2], None, [3], [], [4, 5, 6]]
    b = [[7], [8, 9], None, [10], []]
    batches = _batches(a, b, [2, 3])
    offsets = RaggedOffsets(batches, ["a", "b"])
    flat_offsets = np.concatenate(list(offsets))
    values = np.concatenate(list(ragged_values(batches, ["a", "b"])))
    expected = [[x for x in (lst or [])] for row in zip(a, b) for lst in row]
    assert offsets.total == values.size == 10 and values.dtype == np.int32
    assert [values[flat_offsets[i]:flat_offsets[i + 1]].tolist() for i in range(10)] == expected


def test_checked_nodes_and_dense_blocks():
    batches = [pa.record_batch({"node": [0, 1], "x": [1.5, None]}), pa.record_batch({"node": [2], "x": [3.0]})]
    block = np.concatenate(list(dense_block(checked_nodes(batches, "node", 3, "t"), ["x", "x"],
                                            lambda a: a.to_numpy(zero_copy_only=False), np.float32)))
    assert block.shape == (3, 2) and np.isnan(block[1, 0]) and block[2, 1] == 3.0
    with pytest.raises(MaterializeError, match="dense sequence"):
        list(checked_nodes([pa.record_batch({"node": [0, 2]})], "node", 3, "t"))
    with pytest.raises(MaterializeError, match="expected 3"):
        list(checked_nodes(batches[:1], "node", 3, "t"))
