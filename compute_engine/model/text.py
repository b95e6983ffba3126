"""Text columns as hashed n-gram bags, computed once per table and gathered per mini-batch.

Every text value becomes a sparse vector over ``buckets`` hash buckets: word unigrams and bigrams plus
character 3-grams inside word boundaries (scikit-learn's ``HashingVectorizer``, a stateless murmur hash, so
the same text gives the same vector in every process), scaled to unit L2 norm. A table's text columns are
laid side by side (column ``c`` uses buckets ``c * buckets .. (c + 1) * buckets``), so the bags of one row
are one contiguous slice, ordered by column. The model's text encoder is an ``EmbeddingBag`` over these
buckets: a learned linear map of the hashed vector, which needs no download and no vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

__all__ = ["HashedText", "hash_text", "DEFAULT_BUCKETS"]

DEFAULT_BUCKETS = 1 << 13


@dataclass
class HashedText:
    """The hashed bags of one table's text columns, row-major.

    Attributes:
        num_columns: text columns of the table.
        buckets: hash buckets per column.
        indptr: int64 [N + 1]: row ``r``'s entries (all its columns) are ``indptr[r]:indptr[r + 1]``.
        counts: int64 [N, num_columns]: entries of each (row, column) bag.
        indices: int64 [nnz]: bucket of each entry, offset by its column (``c * buckets``).
        weights: float32 [nnz]: value of each entry.
    """

    num_columns: int
    buckets: int
    indptr: torch.Tensor
    counts: torch.Tensor
    indices: torch.Tensor
    weights: torch.Tensor

    @property
    def num_rows(self) -> int:
        return int(self.indptr.numel() - 1)

    def gather(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The bags of ``rows``, in the ``EmbeddingBag`` input layout.

        Args:
            rows: int64 row indices.

        Returns:
            ``(indices, weights, offsets)``: ``offsets`` has one start per (row, column) bag, row-major.
        """
        rows = rows.to(torch.long).cpu()
        start, stop = self.indptr[rows], self.indptr[rows + 1]
        lengths = stop - start
        total = int(lengths.sum())
        # Position k of the output reads entry start[row(k)] + (k - first output position of row(k)).
        first = torch.cumsum(lengths, 0) - lengths
        owner = torch.repeat_interleave(torch.arange(rows.numel()), lengths)
        source = start[owner] + torch.arange(total) - first[owner]
        bag_sizes = self.counts[rows].reshape(-1)
        offsets = torch.cumsum(bag_sizes, 0) - bag_sizes
        return self.indices[source], self.weights[source], offsets


def _vectorizers(buckets: int):
    from sklearn.feature_extraction.text import HashingVectorizer

    common = dict(n_features=buckets, alternate_sign=False, norm=None, lowercase=True, dtype=np.float32)
    return (HashingVectorizer(analyzer="word", ngram_range=(1, 2), **common),
            HashingVectorizer(analyzer="char_wb", ngram_range=(3, 3), **common))


def hash_text(table: pa.Table, buckets: int = DEFAULT_BUCKETS) -> HashedText:
    """Hash every text column of ``table`` (nulls give empty bags).

    Args:
        table: one string column per text column, one row per node.
        buckets: hash buckets per column.

    Returns:
        The :class:`HashedText` of the table.

    Raises:
        ValueError: ``buckets`` is not positive.
    """
    from scipy import sparse

    if buckets < 1:
        raise ValueError(f"buckets must be positive, got {buckets}")
    words, chars = _vectorizers(buckets)
    parts, counts = [], []
    for name in table.column_names:
        values = ["" if v is None else v for v in table.column(name).to_pylist()]
        matrix = (words.transform(values) + chars.transform(values)).tocsr()
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).reshape(-1))
        matrix = sparse.diags(1.0 / np.maximum(norms, 1e-12)).dot(matrix).tocsr().astype(np.float32)
        matrix.sort_indices()
        parts.append(matrix)
        counts.append(np.diff(matrix.indptr))
    n = table.num_rows
    if parts:
        # hstack keeps each row's columns in order: exactly the row-major (row, column) bag layout.
        stacked = sparse.hstack(parts, format="csr")
        indptr, indices, data = stacked.indptr, stacked.indices, stacked.data
        count_matrix = np.stack(counts, axis=1)
    else:
        indptr, indices, data = np.zeros(n + 1), np.zeros(0), np.zeros(0)
        count_matrix = np.zeros((n, 0))
    return HashedText(num_columns=len(parts), buckets=int(buckets),
                      indptr=torch.from_numpy(np.asarray(indptr, dtype=np.int64)),
                      counts=torch.from_numpy(np.asarray(count_matrix, dtype=np.int64).reshape(n, len(parts))),
                      indices=torch.from_numpy(np.asarray(indices, dtype=np.int64)),
                      weights=torch.from_numpy(np.asarray(data, dtype=np.float32)))
