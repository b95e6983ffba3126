"""The feature store server: memory-mapped feature artifacts, gathered where they live, for any number of trainers.

Operations (see :mod:`graph_engine.service.server` for the transport):

- action ``tables``: per table its rows and tensor attributes with their sizes;
- action ``table_info``: columns, statistics and vocabularies of one table;
- exchange ``gather``: the requests ``[[table, attr, index name or null], ...]`` in the command and the
  index arrays (each sent once, however many attributes share it) in the batch; one answer array per
  request (``r<i>``; multicategorical requests answer ``r<i>.offset`` and ``r<i>.values``), copied
  once, into the answer frame;
- exchange ``text``: text columns of one table for optional ``index`` rows, as an Arrow table.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import torch
from torch_geometric.data import TensorAttr

from graph_engine.features.gather import ragged_offsets
from graph_engine.features.store import SORTED_READ_BYTES, ArtifactFeatureStore, FeatureLookupError, as_index
from graph_engine.service.server import Arrays, StoreServer
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore

MULTICATEGORICAL = "multicategorical"
DENSE = ("numerical", "categorical", "timestamp", "time")


def open_feature_store(store: ObjectStore, uris: Sequence[str]) -> ArtifactFeatureStore:
    """Open feature artifacts given as artifact URIs or folders of them (mixed).

    Raises:
        ArtifactError: an artifact is missing or incomplete.
        FeatureLookupError: two artifacts for one table, or no artifact at all.
    """
    artifacts = ArtifactStore(store)
    tables = []
    for uri in uris:
        full = uri.rstrip("/") if "://" in uri else store.uri(uri)
        if store.exists(f"{full}/_manifest.json"):
            tables.extend(ArtifactFeatureStore.open(artifacts, [full]).tables.values())
        else:
            tables.extend(ArtifactFeatureStore.open(artifacts, full).tables.values())
    if not tables:
        raise FeatureLookupError(f"no feature artifacts at {', '.join(uris)}")
    return ArtifactFeatureStore(tables)


def _gather_ragged(offsets: np.ndarray, values: np.ndarray, width: int,
                   rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values) of the given rows of a ragged block of ``width`` cells per row (all rows for None),
    laid out as the in-process store lays them out."""
    if rows is None:
        return offsets, values
    new_offsets = ragged_offsets(offsets, rows, width)
    # Each row's cells are contiguous in both layouts: shift the output positions by the row's move.
    lengths = np.diff(new_offsets[::width])
    moves = np.repeat(offsets[rows * width] - new_offsets[:-1:width], lengths)
    return new_offsets, values[np.arange(new_offsets[-1], dtype=np.int64) + moves]


class FeatureStoreServer(StoreServer):
    """Serves feature artifacts over Arrow Flight.

    Args:
        store: the in-process store over the artifacts (memory-mapped on local object stores).
        host: the interface to listen on.
        port: the TCP port (0: any free one).
    """

    kind = "feature store"

    def __init__(self, store: ArtifactFeatureStore, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.store = store
        self._tables = {
            table: {"num_rows": art.num_rows,
                    "attrs": {name: list(store.get_tensor_size(table, name)) for name in store.attr_names(table)}}
            for table, art in store.tables.items()}
        self._action("tables", lambda _: {"tables": self._tables}, "rows and tensor attributes of every table")
        self._action("table_info", self._table_info, "columns, statistics and vocabularies of one table")
        self._blocks: dict[tuple[str, str], Any] = {}
        self._exchange("gather", self._gather)
        self._exchange("text", self._text)

    def _describe(self) -> dict[str, Any]:
        return {"features": {t: art.artifact.uri for t, art in self.store.tables.items()}}

    def _table_info(self, body: dict[str, Any]) -> dict[str, Any]:
        return dataclasses.asdict(self.store.table_info(str(body.get("table"))))

    def _gather(self, arrays: Arrays, fields: dict[str, Any]) -> Arrays:
        requests = fields.get("requests")
        if not isinstance(requests, list) or not all(isinstance(r, list) and len(r) == 3 for r in requests):
            raise FeatureLookupError("gather request without a list of [table, attr, index] requests")
        out: dict[str, np.ndarray] = {}
        slow: list[tuple[int, TensorAttr]] = []
        tensors: dict[str, torch.Tensor] = {}
        checked: dict[tuple[str, str | None], np.ndarray | None] = {}
        for i, (table, attr, index) in enumerate(requests):
            if index is not None and index not in arrays:
                raise FeatureLookupError(f"gather request names a missing index {index!r}")
            block = self._block(table, attr)
            if block is None:
                # Blocks too large to sit in memory (read in row order) take the store's path; attributes
                # sharing an index share one tensor, so the store plans their reads once.
                if index is not None and index not in tensors:
                    tensors[index] = torch.from_numpy(arrays[index])
                slow.append((i, TensorAttr(table, attr, None if index is None else tensors[index])))
                continue
            if (table, index) not in checked:
                checked[table, index] = None if index is None else as_index(
                    arrays[index], self.store.tables[table].num_rows, f"{table}.{attr}")
            rows = checked[table, index]
            # Serial gathers (NumPy's take copies whole rows and releases the GIL): cheaper than a
            # parallel kernel launch for mini-batch sizes, which also stalls whenever one of its threads
            # is descheduled on a busy machine; concurrent clients gather at the same time anyway.
            if isinstance(block, np.ndarray):
                out[f"r{i}"] = block if rows is None else np.take(block, rows, axis=0)
            else:
                out[f"r{i}.offset"], out[f"r{i}.values"] = _gather_ragged(*block, rows)
        if slow:
            for (i, attr), tensor in zip(slow, self.store.multi_get_tensor([a for _, a in slow])):
                if attr.attr_name == MULTICATEGORICAL:
                    out[f"r{i}.offset"] = tensor.offset.numpy()
                    out[f"r{i}.values"] = tensor.values.numpy()
                else:
                    out[f"r{i}"] = tensor.numpy()
        return out

    def _block(self, table: str, attr: str) -> np.ndarray | tuple[np.ndarray, np.ndarray, int] | None:
        """What serves ``(table, attr)`` by serial gathers: its fixed-width block, or the (offsets,
        values, width) of its ragged block; None for blocks large enough to take the store's sorted reads.

        Raises:
            FeatureLookupError: an unknown table or attribute (the store's message).
        """
        key = (table, attr)
        if key not in self._blocks:
            if table not in self.store.tables:
                raise FeatureLookupError(f"no features for table {table!r} (known: {', '.join(self.store.tables)})")
            names = self.store.attr_names(table)
            if attr not in names:
                raise FeatureLookupError(f"table {table!r} has no attribute {attr!r} (it has: {', '.join(names)})")
            art = self.store.tables[table]
            block: Any = None
            if attr in DENSE:
                block = np.asarray(art.time() if attr == "time" else art.block(attr))
                if block.nbytes >= SORTED_READ_BYTES:
                    block = None
            elif attr == MULTICATEGORICAL:
                offsets, values = art.multicategorical()
                if offsets.nbytes + values.nbytes < SORTED_READ_BYTES:
                    block = (np.asarray(offsets), np.asarray(values), len(art.columns[MULTICATEGORICAL]))
            self._blocks[key] = block
        return self._blocks[key]

    def _text(self, arrays: Arrays, fields: dict[str, Any]) -> pa.Table:
        return self.store.text(str(fields.get("table")), arrays.get("index"))
