"""Vectorised helpers that build Arrow columns from word pools, index arrays and null masks."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def pick(pool: Sequence[str], index: np.ndarray) -> pa.StringArray:
    """The strings ``pool[index]`` as one Arrow string array."""
    return pc.take(pa.array(list(pool), type=pa.string()), pa.array(np.asarray(index, dtype=np.int64)))


def join(parts: Sequence[pa.Array | str], sep: str = " ") -> pa.StringArray:
    """Element-wise concatenation of string arrays (plain strings repeat on every row)."""
    return pc.binary_join_element_wise(*parts, sep)


def with_nulls(values: pa.Array | np.ndarray, null: np.ndarray, type: pa.DataType | None = None) -> pa.Array:
    """``values`` with the rows where ``null`` is true set to null."""
    if isinstance(values, np.ndarray):
        return pa.array(values, type=type, mask=np.asarray(null, dtype=bool))
    return pc.if_else(pa.array(np.asarray(null, dtype=bool)), pa.scalar(None, values.type), values)


def choice(rng: np.random.Generator, shares: Sequence[float], n: int) -> np.ndarray:
    """``n`` category indices drawn with the given (not necessarily normalised) shares."""
    p = np.asarray(shares, dtype=np.float64)
    return np.searchsorted(np.cumsum(p / p.sum()), rng.random(n), side="right").clip(0, len(p) - 1)


def row_choice(rng: np.random.Generator, cumulative: np.ndarray) -> np.ndarray:
    """One index per row of ``cumulative`` (row-wise cumulative probabilities ending at 1)."""
    u = rng.random(cumulative.shape[0])
    return (cumulative < u[:, None]).sum(axis=1).clip(0, cumulative.shape[1] - 1)
