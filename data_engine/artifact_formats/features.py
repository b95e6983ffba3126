"""The feature artifact: one table's column values as row-oriented blocks, one block per semantic type.

Row ``i`` of every block belongs to node ``i`` of the table (the graph artifact's dense node index), so
a feature store fetches a mini-batch's rows with one gather per block.

Layout of the artifact folder (one folder per table; a block exists only when it has a column)::

    numerical.npy                  float32 [N, n_num]   NaN for null
    categorical.npy                int32   [N, n_cat]   codes into the column's vocabulary, -1 for null
    multicategorical_offsets.npy   int64   [N * n_mc + 1]
    multicategorical_values.npy    int32   [nnz]        codes into the column's vocabulary
    timestamp.npy                  int64   [N, n_ts]    unix seconds, INT64_MIN for null
    text.arrow                     Arrow IPC, one string column per text column, N rows, null for null
    time.npy                       int64   [N]          the row's time (unix seconds), when the table has one
    vocabularies.json              {"<column>": [value, ...]} for categorical and multicategorical columns

Multicategorical values are one ragged array in row-major order: the codes of row ``r``, column ``c``
are ``values[offsets[r * n_mc + c] : offsets[r * n_mc + c + 1]]`` (the layout of pytorch-frame's
``MultiNestedTensor``), so a row's lists are one contiguous slice. A null list is stored empty.

Vocabularies are sorted by decreasing frequency (ties by value), so code 0 is the most frequent value.

The manifest's metadata holds::

    {"format": "pq.features", "format_version": 1, "table": "<table>", "num_rows": N,
     "columns": {"numerical": [...], "categorical": [...], "multicategorical": [...],
                 "timestamp": [...], "text": [...]},
     "time_column": "<column>" | null,
     "stats": {"<column>": {...}}}

Statistics per semantic type (what the column encoders need): numerical ``count, null_count, mean, std,
min, max, quantiles`` (at 0, .25, .5, .75, 1); categorical and multicategorical ``cardinality,
null_count, counts`` (aligned with the vocabulary; multicategorical adds ``mean_length``); timestamp
``count, null_count, min, max, median, year_range``; text ``null_count, mean_length``. Statistics of an
all-null column are null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_engine.artifact_formats.errors import ArtifactFormatError
from platform_core.artifacts import Artifact, ArtifactStore, ArtifactWriter, Manifest

FORMAT = "pq.features"
FORMAT_VERSION = 1
TIMESTAMP_NULL = np.iinfo(np.int64).min
CATEGORY_NULL = -1
QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)
GROUPS = ("numerical", "categorical", "multicategorical", "timestamp", "text")
VOCABULARIES_FILE = "vocabularies.json"


def _block_file(group: str) -> str:
    return f"{group}.npy"


@dataclass
class FeatureBlocks:
    """One table's encoded feature blocks, ready to write (see the module docstring for the layout).

    Build it with :func:`encode_features` from raw columns, or fill it directly from arrays that are
    already encoded (a Spark job); :meth:`validate` checks either way.
    """

    table: str
    num_rows: int
    columns: dict[str, list[str]] = field(default_factory=lambda: {g: [] for g in GROUPS})
    numerical: np.ndarray | None = None
    categorical: np.ndarray | None = None
    multicategorical_offsets: np.ndarray | None = None
    multicategorical_values: np.ndarray | None = None
    timestamp: np.ndarray | None = None
    text: pa.Table | None = None
    time: np.ndarray | None = None
    time_column: str | None = None
    vocabularies: dict[str, list[Any]] = field(default_factory=dict)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)

    def validate(self) -> None:
        """Check shapes, dtypes and code ranges.

        Raises:
            ArtifactFormatError: the first violation found, naming the block.
        """
        n = self.num_rows
        where = f"features of {self.table!r}"
        for group in GROUPS:
            self.columns.setdefault(group, [])
        names = [c for g in GROUPS for c in self.columns[g]]
        if len(set(names)) != len(names):
            raise ArtifactFormatError(f"{where}: a column appears in two groups or twice")
        expected = {"numerical": np.float32, "categorical": np.int32, "timestamp": np.int64}
        for group, dtype in expected.items():
            block = getattr(self, group)
            width = len(self.columns[group])
            if width == 0:
                if block is not None:
                    raise ArtifactFormatError(f"{where}: {group} block given without column names")
                continue
            if block is None or block.dtype != dtype or block.shape != (n, width):
                got = None if block is None else (block.dtype, block.shape)
                raise ArtifactFormatError(f"{where}: {group} must be {np.dtype(dtype)} [{n}, {width}], got {got}")
        for column in self.columns["categorical"] + self.columns["multicategorical"]:
            if column not in self.vocabularies:
                raise ArtifactFormatError(f"{where}: no vocabulary for column {column!r}")
        if self.categorical is not None and self.categorical.size:
            sizes = np.array([len(self.vocabularies[c]) for c in self.columns["categorical"]])
            if np.any(self.categorical < CATEGORY_NULL) or np.any(self.categorical.max(axis=0) >= sizes):
                raise ArtifactFormatError(f"{where}: categorical codes outside their vocabularies")
        n_mc = len(self.columns["multicategorical"])
        if n_mc:
            offsets, values = self.multicategorical_offsets, self.multicategorical_values
            if offsets is None or offsets.dtype != np.int64 or offsets.shape != (n * n_mc + 1,):
                raise ArtifactFormatError(f"{where}: multicategorical_offsets must be int64 [{n * n_mc + 1}]")
            if values is None or values.dtype != np.int32 or values.ndim != 1:
                raise ArtifactFormatError(f"{where}: multicategorical_values must be 1-D int32")
            if offsets[0] != 0 or offsets[-1] != values.shape[0] or np.any(np.diff(offsets) < 0):
                raise ArtifactFormatError(f"{where}: multicategorical_offsets must rise from 0 to {values.shape[0]}")
        if self.text is not None:
            if self.text.num_rows != n or self.text.column_names != self.columns["text"]:
                raise ArtifactFormatError(f"{where}: text must have {n} rows and columns {self.columns['text']}")
        elif self.columns["text"]:
            raise ArtifactFormatError(f"{where}: text columns named but no text table given")
        if self.time is not None and (self.time.dtype != np.int64 or self.time.shape != (n,)):
            raise ArtifactFormatError(f"{where}: time must be int64 [{n}]")

    def write(self, writer: ArtifactWriter) -> dict[str, Any]:
        """Validate, then write the blocks and metadata into an open artifact writer.

        Returns:
            The format metadata, also stored in ``writer.metadata``.
        """
        self.validate()
        for group in ("numerical", "categorical", "timestamp"):
            if self.columns[group]:
                writer.write_numpy(_block_file(group), getattr(self, group))
        if self.columns["multicategorical"]:
            writer.write_numpy("multicategorical_offsets.npy", self.multicategorical_offsets)
            writer.write_numpy("multicategorical_values.npy", self.multicategorical_values)
        if self.columns["text"]:
            writer.write_arrow("text.arrow", self.text)
        if self.time is not None:
            writer.write_numpy("time.npy", self.time)
        if self.vocabularies:
            writer.write_json(VOCABULARIES_FILE, self.vocabularies)
        metadata = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "table": self.table,
            "num_rows": self.num_rows,
            "columns": {g: list(self.columns[g]) for g in GROUPS},
            "time_column": self.time_column,
            "stats": self.stats,
        }
        writer.metadata.update(metadata)
        return metadata


# ---- encoding raw columns ----------------------------------------------------------------------

def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def numerical_stats(values: np.ndarray) -> dict[str, Any]:
    """Statistics of one numerical column (NaN = null)."""
    valid = values[~np.isnan(values)].astype(np.float64)
    if valid.size == 0:
        return {"count": 0, "null_count": int(values.size), "mean": None, "std": None, "min": None,
                "max": None, "quantiles": None}
    return {"count": int(valid.size), "null_count": int(values.size - valid.size),
            "mean": _finite_or_none(valid.mean()), "std": _finite_or_none(valid.std()),
            "min": float(valid.min()), "max": float(valid.max()),
            "quantiles": [float(q) for q in np.quantile(valid, QUANTILES)]}


def timestamp_stats(values: np.ndarray) -> dict[str, Any]:
    """Statistics of one timestamp column (INT64_MIN = null)."""
    valid = values[values != TIMESTAMP_NULL]
    if valid.size == 0:
        return {"count": 0, "null_count": int(values.size), "min": None, "max": None, "median": None,
                "year_range": None}
    years = valid.astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970
    return {"count": int(valid.size), "null_count": int(values.size - valid.size), "min": int(valid.min()),
            "max": int(valid.max()), "median": int(np.median(valid)),
            "year_range": [int(years.min()), int(years.max())]}


def _vocabulary(flat: pa.Array) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Vocabulary sorted by decreasing count (ties by value), codes of ``flat`` (-1 null), counts."""
    encoded = pc.dictionary_encode(flat)
    dictionary = encoded.dictionary.to_pylist()
    raw_codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    counts = np.bincount(raw_codes[raw_codes >= 0], minlength=len(dictionary))
    order = sorted(range(len(dictionary)), key=lambda i: (-counts[i], str(type(dictionary[i])), dictionary[i]))
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[order] = np.arange(len(dictionary))
    codes = np.where(raw_codes >= 0, rank[np.maximum(raw_codes, 0)], CATEGORY_NULL) if raw_codes.size else raw_codes
    return [dictionary[i] for i in order], codes.astype(np.int32), counts[order]


def _to_timestamp_seconds(name: str, values: Any, n: int) -> np.ndarray:
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.datetime64):
        null = np.isnat(array)
        out = array.astype("datetime64[s]").astype(np.int64)
        out[null] = TIMESTAMP_NULL
    elif np.issubdtype(array.dtype, np.integer):
        out = array.astype(np.int64)
    else:
        raise ArtifactFormatError(f"timestamp column {name!r}: expected datetime64 or int64 seconds, got {array.dtype}")
    if out.shape != (n,):
        raise ArtifactFormatError(f"timestamp column {name!r}: expected {n} values, got {out.shape}")
    return out


def encode_features(
    table: str,
    num_rows: int,
    *,
    numerical: Mapping[str, Any] | None = None,
    categorical: Mapping[str, Sequence[Any] | np.ndarray] | None = None,
    multicategorical: Mapping[str, Sequence[Sequence[Any] | None]] | None = None,
    timestamp: Mapping[str, Any] | None = None,
    text: Mapping[str, Sequence[str | None]] | None = None,
    time: Any = None,
    time_column: str | None = None,
) -> FeatureBlocks:
    """Encode raw column values into :class:`FeatureBlocks` with vocabularies and statistics.

    Args:
        table: the table's name.
        num_rows: rows of the table (= nodes of its type).
        numerical: column -> numbers (NaN or None for null).
        categorical: column -> values of any hashable scalar type (None or NaN for null).
        multicategorical: column -> per row a list of values, or None for null.
        timestamp: column -> datetime64 values (NaT null) or int64 unix seconds (INT64_MIN null).
        text: column -> strings (None for null).
        time: the row time (datetime64 or int64 seconds), when the table has a time column.
        time_column: the time column's name.

    Returns:
        Validated blocks.

    Raises:
        ArtifactFormatError: a column has the wrong length or type.
    """
    blocks = FeatureBlocks(table=table, num_rows=int(num_rows), time_column=time_column)

    def checked(group: str, name: str, values: Any) -> Any:
        if len(values) != num_rows:
            raise ArtifactFormatError(f"{group} column {name!r} of {table!r}: expected {num_rows} values, "
                                      f"got {len(values)}")
        return values

    if numerical:
        cols = []
        for name, values in numerical.items():
            array = np.asarray(checked("numerical", name, values), dtype=np.float64).astype(np.float32)
            blocks.stats[name] = numerical_stats(array)
            cols.append(array)
        blocks.columns["numerical"] = list(numerical)
        blocks.numerical = np.ascontiguousarray(np.stack(cols, axis=1))
    if categorical:
        cols = []
        for name, values in categorical.items():
            checked("categorical", name, values)
            flat = pa.array(values if isinstance(values, np.ndarray) else list(values), from_pandas=True)
            vocab, codes, counts = _vocabulary(flat)
            blocks.vocabularies[name] = vocab
            blocks.stats[name] = {"cardinality": len(vocab), "null_count": int((codes < 0).sum()),
                                  "counts": counts.tolist()}
            cols.append(codes)
        blocks.columns["categorical"] = list(categorical)
        blocks.categorical = np.ascontiguousarray(np.stack(cols, axis=1))
    if multicategorical:
        names = list(multicategorical)
        lengths = np.zeros((num_rows, len(names)), dtype=np.int64)
        per_column = []
        for c, name in enumerate(names):
            lists = pa.array(list(checked("multicategorical", name, multicategorical[name])), from_pandas=True)
            if not pa.types.is_list(lists.type) and not pa.types.is_large_list(lists.type):
                raise ArtifactFormatError(f"multicategorical column {name!r} of {table!r}: expected lists")
            parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
            vocab, codes, counts = _vocabulary(pc.list_flatten(lists))
            keep = codes >= 0  # null elements inside a list are dropped
            rows, codes = parents[keep], codes[keep]
            lengths[:, c] = np.bincount(rows, minlength=num_rows)
            blocks.vocabularies[name] = vocab
            blocks.stats[name] = {"cardinality": len(vocab), "null_count": int(lists.null_count),
                                  "counts": counts.tolist(),
                                  "mean_length": float(lengths[:, c].mean()) if num_rows else None}
            per_column.append((rows, codes))
        offsets = np.zeros(num_rows * len(names) + 1, dtype=np.int64)
        np.cumsum(lengths.reshape(-1), out=offsets[1:])
        values = np.empty(int(offsets[-1]), dtype=np.int32)
        starts = offsets[:-1].reshape(num_rows, len(names))
        for c, (rows, codes) in enumerate(per_column):
            # Row r's codes of column c go to its slot of the row-major layout, in their list order.
            first = np.cumsum(lengths[:, c]) - lengths[:, c]
            values[starts[rows, c] + np.arange(codes.size) - first[rows]] = codes
        blocks.columns["multicategorical"] = names
        blocks.multicategorical_offsets, blocks.multicategorical_values = offsets, values
    if timestamp:
        cols = []
        for name, values in timestamp.items():
            array = _to_timestamp_seconds(name, checked("timestamp", name, values), num_rows)
            blocks.stats[name] = timestamp_stats(array)
            cols.append(array)
        blocks.columns["timestamp"] = list(timestamp)
        blocks.timestamp = np.ascontiguousarray(np.stack(cols, axis=1))
    if text:
        arrays = {}
        for name, values in text.items():
            arrays[name] = pa.array(list(checked("text", name, values)), type=pa.string())
            lengths = pc.utf8_length(arrays[name])
            blocks.stats[name] = {"null_count": int(arrays[name].null_count),
                                  "mean_length": pc.mean(lengths).as_py()}
        blocks.columns["text"] = list(text)
        blocks.text = pa.table(arrays)
    if time is not None:
        blocks.time = _to_timestamp_seconds(time_column or "time", time, num_rows)
    blocks.validate()
    return blocks


def write_feature_artifact(artifacts: ArtifactStore, uri: str, blocks: FeatureBlocks, *,
                           producer: str = "data_engine.features",
                           inputs: dict[str, Any] | None = None) -> Artifact:
    """Write one table's feature artifact at ``uri`` (manifest last) and open it."""
    with artifacts.writer(uri, producer=producer, inputs=inputs) as writer:
        blocks.write(writer)
    return artifacts.open(writer.uri)


class FeatureArtifact:
    """Reads one table's feature artifact; blocks are read-only memory maps on local stores.

    Args:
        artifact: an opened artifact written by :meth:`FeatureBlocks.write`.
        mmap: memory-map local files (otherwise read them into memory).

    Raises:
        ArtifactFormatError: the artifact is not a feature artifact of a known version.
    """

    def __init__(self, artifact: Artifact, *, mmap: bool = True) -> None:
        meta = artifact.manifest.metadata
        if meta.get("format") != FORMAT:
            raise ArtifactFormatError(f"{artifact.uri}: not a feature artifact (format {meta.get('format')!r})")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ArtifactFormatError(f"{artifact.uri}: feature format version {meta.get('format_version')} "
                                      f"is not supported (expected {FORMAT_VERSION})")
        self.artifact = artifact
        self.mmap = mmap
        self.table: str = meta["table"]
        self.num_rows: int = int(meta["num_rows"])
        self.columns: dict[str, list[str]] = {g: list(meta["columns"].get(g, [])) for g in GROUPS}
        self.time_column: str | None = meta.get("time_column")
        self.stats: dict[str, dict[str, Any]] = meta.get("stats", {})
        self._vocabularies: dict[str, list[Any]] | None = None

    @classmethod
    def open(cls, artifacts: ArtifactStore, uri: str, *, mmap: bool = True) -> "FeatureArtifact":
        return cls(artifacts.open(uri), mmap=mmap)

    @property
    def manifest(self) -> Manifest:
        return self.artifact.manifest

    @property
    def has_time(self) -> bool:
        return any(f.name == "time.npy" for f in self.manifest.files)

    def block(self, group: str) -> np.ndarray | None:
        """The ``numerical``, ``categorical`` or ``timestamp`` block, or None when it has no column."""
        if group not in ("numerical", "categorical", "timestamp"):
            raise ArtifactFormatError(f"{group!r} is not a dense block (numerical, categorical, timestamp)")
        return self.artifact.read_numpy(_block_file(group), mmap=self.mmap) if self.columns[group] else None

    def multicategorical(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(offsets, values) of the multicategorical block, or None when it has no column."""
        if not self.columns["multicategorical"]:
            return None
        return (self.artifact.read_numpy("multicategorical_offsets.npy", mmap=self.mmap),
                self.artifact.read_numpy("multicategorical_values.npy", mmap=self.mmap))

    def text(self) -> pa.Table | None:
        """The text columns (memory-mapped on local stores), or None when there is none."""
        return self.artifact.read_arrow("text.arrow") if self.columns["text"] else None

    def time(self) -> np.ndarray | None:
        """The row times (int64 unix seconds), or None when the table has no time column."""
        return self.artifact.read_numpy("time.npy", mmap=self.mmap) if self.has_time else None

    @property
    def vocabularies(self) -> dict[str, list[Any]]:
        """Vocabulary of each categorical and multicategorical column (code -> value)."""
        if self._vocabularies is None:
            has = any(f.name == VOCABULARIES_FILE for f in self.manifest.files)
            self._vocabularies = self.artifact.read_json(VOCABULARIES_FILE) if has else {}
        return self._vocabularies

