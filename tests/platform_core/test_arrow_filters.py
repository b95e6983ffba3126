"""Selecting rows by key from a stream of record batches."""

import pyarrow as pa
import pytest

from platform_core.arrow_filters import KeyTypeMismatch, rows_matching

pytestmark = pytest.mark.unit


def _batches():
    yield pa.record_batch({"id": pa.array([1, 2, 3], pa.int32()), "v": ["a", "b", "c"]})
    yield pa.record_batch({"id": pa.array([4, 5], pa.int32()), "v": ["d", "e"]})


def test_keeps_the_matching_rows_of_every_batch_with_the_column_cast_to_the_values_type():
    found = rows_matching(_batches(), "id", pa.array([5, 2, 9], pa.int64()))
    assert found.to_pydict() == {"id": [2, 5], "v": ["b", "e"]}
    assert found.schema.field("id").type == pa.int64()


def test_no_match_is_an_empty_table_and_no_batch_is_none():
    assert rows_matching(_batches(), "id", pa.array([7])).num_rows == 0
    assert rows_matching(iter(()), "id", pa.array([7])) is None


def test_incomparable_types_are_named():
    with pytest.raises(KeyTypeMismatch, match="int32 cannot be compared with list"):
        rows_matching(_batches(), "id", pa.array([[1]]))
