"""Compiled row gathers for feature blocks (dense 2-D blocks and the ragged multicategorical block).

A gather reads rows in the order given by ``order`` (e.g. sorted by row index, so reads from a memory
map move forward through the file and neighbouring rows share pages) and writes each to its place in
the output, so the caller gets rows in the requested order either way.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, parallel=True)
def gather_rows(block, index, order):
    """``out[order[i]] = block[index[order[i]]]`` for a 2-D block; rows are copied in parallel."""
    n = order.shape[0]
    width = block.shape[1]
    out = np.empty((n, width), block.dtype)
    for i in nb.prange(n):
        j = order[i]
        row = index[j]
        for c in range(width):
            out[j, c] = block[row, c]
    return out


@nb.njit(cache=True, parallel=True)
def gather_vector(values, index, order):
    """``out[order[i]] = values[index[order[i]]]`` for a 1-D array."""
    n = order.shape[0]
    out = np.empty(n, values.dtype)
    for i in nb.prange(n):
        j = order[i]
        out[j] = values[index[j]]
    return out


@nb.njit(cache=True)
def ragged_offsets(offsets, index, width):
    """Offsets of the gathered ragged rows: row ``r`` spans cells ``r*width .. (r+1)*width`` of ``offsets``."""
    n = index.shape[0]
    out = np.empty(n * width + 1, np.int64)
    out[0] = 0
    for i in range(n):
        base = index[i] * width
        for c in range(width):
            out[i * width + c + 1] = out[i * width + c] + offsets[base + c + 1] - offsets[base + c]
    return out


@nb.njit(cache=True, parallel=True)
def gather_ragged(offsets, values, index, width, new_offsets):
    """The values of the gathered ragged rows, laid out by ``new_offsets`` (from :func:`ragged_offsets`)."""
    n = index.shape[0]
    out = np.empty(new_offsets[n * width], values.dtype)
    for i in nb.prange(n):
        start = offsets[index[i] * width]
        dst = new_offsets[i * width]
        for k in range(new_offsets[(i + 1) * width] - dst):
            out[dst + k] = values[start + k]
    return out
