"""PyG feature stores over feature artifacts: read-only, memory-mapped, one group per table.

Tensor attributes are ``(group_name=<table>, attr_name=<block>, index)`` with these blocks (present
only when the table has such columns):

- ``numerical``: float32 [n, n_num] (NaN = null)
- ``categorical``: int32 [n, n_cat] (-1 = null)
- ``timestamp``: int64 [n, n_ts] (unix seconds, INT64_MIN = null)
- ``multicategorical``: a pytorch-frame ``MultiNestedTensor`` [n, n_mc] of vocabulary codes
- ``time``: int64 [n], the row time

Column names, vocabularies and statistics of each table are in :meth:`ArtifactFeatureStore.table_info`.
Text stays out of mini-batches (it needs an encoder first): :meth:`ArtifactFeatureStore.text`.

:meth:`multi_get_tensor` serves a whole mini-batch: the attributes sharing an index are planned once,
rows are gathered by compiled parallel loops (sorted by row for large memory-mapped blocks, so reads
move forward through the file), and results are handed to torch without copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import torch
from torch_geometric.data import FeatureStore, TensorAttr

from data_engine.artifact_formats.features import FeatureArtifact
from graph_engine.features import gather
from graph_engine.graph_store import ReadOnlyStoreError, to_torch
from graph_engine.sampling.subgraph import KERNEL_LOCK
from platform_core.artifacts import ArtifactStore
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore

DENSE_BLOCKS = ("numerical", "categorical", "timestamp")
ATTRIBUTES = DENSE_BLOCKS + ("multicategorical", "time")
# Blocks at least this large are read in row order: they are unlikely to sit in memory already.
SORTED_READ_BYTES = 256 << 20


class FeatureLookupError(UserFacingError, KeyError):
    """An unknown table or attribute, or row indices out of range."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class TableInfo:
    """What encoders need to know about one table's features."""

    table: str
    num_rows: int
    columns: dict[str, list[str]]
    time_column: str | None
    stats: dict[str, dict[str, Any]]
    vocabularies: dict[str, list[Any]]


def _multi_nested(num_rows: int, num_cols: int, offsets: np.ndarray, values: np.ndarray):
    from torch_frame.data import MultiNestedTensor

    return MultiNestedTensor(num_rows=num_rows, num_cols=num_cols, values=to_torch(values).long(),
                             offset=to_torch(offsets))


def as_index(index: Any, num_rows: int, where: str) -> np.ndarray | slice | None:
    """Normalise a PyG index (tensor, array, slice, int, None) to an int64 array, a slice or None.

    Raises:
        FeatureLookupError: indices out of range.
    """
    if index is None or isinstance(index, slice):
        return index
    if isinstance(index, torch.Tensor):
        index = index.detach().cpu()
        array = index.nonzero().view(-1).numpy() if index.dtype == torch.bool else index.numpy()
    else:
        array = np.asarray(index)
        if array.dtype == np.bool_:
            array = np.flatnonzero(array)
    array = np.ascontiguousarray(array.reshape(-1), dtype=np.int64)
    if array.size and (array.min() < 0 or array.max() >= num_rows):
        raise FeatureLookupError(f"{where}: row index out of range [0, {num_rows})")
    return array


class ArtifactFeatureStore(FeatureStore):
    """Serves feature artifacts (one per table) in-process.

    Args:
        tables: the opened feature artifacts, one per table.
        sorted_reads: gather rows in row order (True), in request order (False), or decide per block
            by its size (None).

    Raises:
        FeatureLookupError: two artifacts for one table.
    """

    def __init__(self, tables: Iterable[FeatureArtifact], *, sorted_reads: bool | None = None) -> None:
        super().__init__()
        self.tables: dict[str, FeatureArtifact] = {}
        for table in tables:
            if table.table in self.tables:
                raise FeatureLookupError(f"two feature artifacts for table {table.table!r}")
            self.tables[table.table] = table
        self.sorted_reads = sorted_reads
        self._blocks: dict[tuple[str, str], Any] = {}

    @classmethod
    def open(cls, store: ObjectStore | ArtifactStore, uris: Mapping[str, str] | Sequence[str] | str, *,
             sorted_reads: bool | None = None) -> "ArtifactFeatureStore":
        """Open feature artifacts: a list of URIs, a table -> URI mapping, or a folder whose sub-folders
        are feature artifacts.

        Raises:
            ArtifactError: an artifact is missing or incomplete.
            ArtifactFormatError: one is not a feature artifact.
        """
        artifacts = store if isinstance(store, ArtifactStore) else ArtifactStore(store)
        if isinstance(uris, str):
            root = artifacts.store.uri(uris) if "://" not in uris else uris.rstrip("/")
            manifests = [u for u in artifacts.store.list(root, recursive=True) if u.endswith("/_manifest.json")]
            uris = sorted(u.rsplit("/", 1)[0] for u in manifests)
        elif isinstance(uris, Mapping):
            uris = list(uris.values())
        return cls([FeatureArtifact.open(artifacts, u) for u in uris], sorted_reads=sorted_reads)

    # ---- metadata ---------------------------------------------------------------------------
    def table_info(self, table: str) -> TableInfo:
        """Columns, statistics and vocabularies of one table."""
        art = self._table(table)
        return TableInfo(table, art.num_rows, art.columns, art.time_column, art.stats, art.vocabularies)

    def attr_names(self, table: str) -> list[str]:
        """The tensor attributes served for ``table``."""
        art = self._table(table)
        names = [g for g in DENSE_BLOCKS + ("multicategorical",) if art.columns[g]]
        return names + (["time"] if art.has_time else [])

    def get_all_tensor_attrs(self) -> list[TensorAttr]:
        return [TensorAttr(table, name) for table in self.tables for name in self.attr_names(table)]

    def _get_tensor_size(self, attr: TensorAttr) -> tuple[int, ...] | None:
        if attr.group_name not in self.tables or attr.attr_name not in self.attr_names(attr.group_name):
            return None
        art = self.tables[attr.group_name]
        if attr.attr_name == "time":
            return (art.num_rows,)
        return (art.num_rows, len(art.columns[attr.attr_name]))

    def text(self, table: str, index: Any = None) -> pa.Table:
        """Text columns of ``table`` for the given rows (all rows when ``index`` is None)."""
        art = self._table(table)
        text = art.text()
        if text is None:
            return pa.table({})
        rows = as_index(index, art.num_rows, f"text of {table}")
        if rows is None:
            return text
        if isinstance(rows, slice):
            rows = np.arange(art.num_rows)[rows]
        return text.take(pa.array(rows))

    # ---- reads --------------------------------------------------------------------------------
    def _get_tensor(self, attr: TensorAttr) -> Any:
        return self._multi_get_tensor([attr])[0]

    def _multi_get_tensor(self, attrs: list[TensorAttr]) -> list[Any]:
        plans: dict[tuple[str, int], tuple[Any, np.ndarray | None]] = {}
        out = []
        for attr in attrs:
            table, name = attr.group_name, attr.attr_name
            art = self._table(table)
            if name not in self.attr_names(table):
                raise FeatureLookupError(f"table {table!r} has no attribute {name!r} "
                                         f"(it has: {', '.join(self.attr_names(table))})")
            # Attributes of one table that share an index tensor (PyG's loaders pass one per table)
            # share one normalised index and read order.
            plan_key = (table, id(attr.index))
            if plan_key not in plans:
                rows = as_index(attr.index, art.num_rows, f"{table}.{name}")
                plans[plan_key] = (rows, None)
            rows, order = plans[plan_key]
            if isinstance(rows, np.ndarray) and order is None and name != "multicategorical":
                order = self._order(table, rows)
                plans[plan_key] = (rows, order)
            out.append(self._read(table, name, rows, order))
        return out

    def _order(self, table: str, rows: np.ndarray) -> np.ndarray:
        sort = self.sorted_reads
        if sort is None:
            size = sum(getattr(self._block(table, g), "nbytes", 0) for g in DENSE_BLOCKS if g in self.attr_names(table))
            sort = size >= SORTED_READ_BYTES
        return np.argsort(rows, kind="stable") if sort else np.arange(rows.size, dtype=np.int64)

    def _read(self, table: str, name: str, rows: np.ndarray | slice | None, order: np.ndarray | None) -> Any:
        block = self._block(table, name)
        num_rows = self.tables[table].num_rows
        if name == "multicategorical":
            offsets, values = block
            width = len(self.tables[table].columns["multicategorical"])
            if rows is None:
                return _multi_nested(num_rows, width, offsets, values)
            if isinstance(rows, slice):
                rows = np.arange(num_rows, dtype=np.int64)[rows]
            with KERNEL_LOCK:
                new_offsets = gather.ragged_offsets(offsets, rows, width)
                gathered = gather.gather_ragged(offsets, values, rows, width, new_offsets)
            return _multi_nested(rows.size, width, new_offsets, gathered)
        if rows is None:
            return to_torch(block)
        if isinstance(rows, slice):
            return to_torch(block[rows])
        with KERNEL_LOCK:
            out = gather.gather_vector(block, rows, order) if block.ndim == 1 else gather.gather_rows(block, rows, order)
        return torch.from_numpy(out)

    def _block(self, table: str, name: str) -> Any:
        key = (table, name)
        if key not in self._blocks:
            art = self._table(table)
            if name == "multicategorical":
                self._blocks[key] = art.multicategorical()
            elif name == "time":
                self._blocks[key] = np.asarray(art.time())
            else:
                self._blocks[key] = np.asarray(art.block(name))
        return self._blocks[key]

    def _table(self, table: str) -> FeatureArtifact:
        try:
            return self.tables[table]
        except KeyError:
            raise FeatureLookupError(f"no features for table {table!r} (known: {', '.join(self.tables)})") from None

    # ---- read-only --------------------------------------------------------------------------
    def _put_tensor(self, tensor: Any, attr: TensorAttr) -> bool:
        raise ReadOnlyStoreError("feature stores are read-only: write new feature artifacts instead")

    def _remove_tensor(self, attr: TensorAttr) -> bool:
        raise ReadOnlyStoreError("feature stores are read-only: write new feature artifacts instead")

    def __getstate__(self) -> dict[str, Any]:
        return {"tables": [(t.artifact.store, t.artifact.uri) for t in self.tables.values()],
                "sorted_reads": self.sorted_reads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        tables = [FeatureArtifact.open(ArtifactStore(store), uri) for store, uri in state["tables"]]
        self.__init__(tables, sorted_reads=state["sorted_reads"])  # type: ignore[misc]
