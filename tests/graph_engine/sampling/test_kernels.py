"""The sampling kernels' binary search (the time cut-off of a row) against NumPy."""

import numba as nb
import numpy as np
import pytest

from graph_engine.sampling.kernels import data_address, upper_bound

pytestmark = pytest.mark.unit


@nb.njit(cache=True)
def _upper_bounds(values, lo, hi, queries):
    out = np.empty(queries.shape[0], np.int64)
    for i in range(queries.shape[0]):
        out[i] = upper_bound(data_address(values), lo, hi, queries[i])
    return out


def test_upper_bound_matches_searchsorted_on_every_range_of_small_arrays():
    rng = np.random.default_rng(0)
    for size in range(0, 12):
        values = np.sort(rng.integers(0, 6, size)).astype(np.int64)  # duplicates on purpose
        queries = np.arange(-1, 8, dtype=np.int64)
        for lo in range(size + 1):
            for hi in range(lo, size + 1):
                expected = lo + np.searchsorted(values[lo:hi], queries, side="right")
                assert _upper_bounds(values, lo, hi, queries).tolist() == expected.tolist(), (values, lo, hi)


def test_upper_bound_matches_searchsorted_on_long_rows():
    rng = np.random.default_rng(1)
    for size in (33, 100, 1000, 4097):
        values = np.sort(rng.integers(0, 10 * size, size)).astype(np.int64)
        queries = np.concatenate([rng.integers(-5, 10 * size + 5, 500), values[rng.integers(0, size, 100)]])
        lo, hi = size // 7, size - size // 5
        expected = lo + np.searchsorted(values[lo:hi], queries, side="right")
        assert (_upper_bounds(values, lo, hi, queries) == expected).all()
