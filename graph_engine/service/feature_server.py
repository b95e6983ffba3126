"""The feature store server: memory-mapped feature artifacts, gathered where they live, for any number of trainers.

Operations (see :mod:`graph_engine.service.server` for the transport):

- action ``tables``: per table its rows and tensor attributes with their sizes;
- action ``table_info``: columns, statistics and vocabularies of one table;
- exchange ``gather``: the requests ``[[table, attr, index name or null], ...]`` in the command and the
  index arrays (each sent once, however many attributes share it) in the batch; one answer array per
  request (``r<i>``; multicategorical requests answer ``r<i>.offset`` and ``r<i>.values``), sent
  without further copies;
- exchange ``text``: text columns of one table for optional ``index`` rows, as an Arrow table.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import torch
from torch_geometric.data import TensorAttr

from graph_engine.features.store import SORTED_READ_BYTES, ArtifactFeatureStore, FeatureLookupError, as_index
from graph_engine.service.server import Arrays, StoreServer
from graph_engine.service.wire import pack
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
        self._dense: dict[tuple[str, str], np.ndarray | None] = {}
        self._exchange("gather", self._gather)
        self._exchange("text", self._text)

    def _describe(self) -> dict[str, Any]:
        return {"features": {t: art.artifact.uri for t, art in self.store.tables.items()}}

    def _table_info(self, body: dict[str, Any]) -> dict[str, Any]:
        return dataclasses.asdict(self.store.table_info(str(body.get("table"))))

    def _gather(self, arrays: Arrays, fields: dict[str, Any]) -> pa.RecordBatch:
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
            block = self._dense_block(table, attr)
            if block is None:
                # Ragged blocks, and blocks too large to sit in memory (read in row order), take the store's
                # path; attributes sharing an index share one tensor, so the store plans their reads once.
                if index is not None and index not in tensors:
                    tensors[index] = torch.from_numpy(arrays[index])
                slow.append((i, TensorAttr(table, attr, None if index is None else tensors[index])))
                continue
            if (table, index) not in checked:
                checked[table, index] = None if index is None else as_index(
                    arrays[index], block.shape[0], f"{table}.{attr}")
            rows = checked[table, index]
            # NumPy's take copies whole rows and releases the GIL: cheaper than a parallel kernel launch
            # for mini-batch sizes, and concurrent clients gather at the same time.
            out[f"r{i}"] = block if rows is None else np.take(block, rows, axis=0)
        if slow:
            for (i, attr), tensor in zip(slow, self.store.multi_get_tensor([a for _, a in slow])):
                if attr.attr_name == MULTICATEGORICAL:
                    out[f"r{i}.offset"] = tensor.offset.numpy()
                    out[f"r{i}.values"] = tensor.values.numpy()
                else:
                    out[f"r{i}"] = tensor.numpy()
        return pack(out)

    def _dense_block(self, table: str, attr: str) -> np.ndarray | None:
        """The fixed-width block of ``(table, attr)`` when served by NumPy gathers, else None.

        Raises:
            FeatureLookupError: an unknown table or attribute (the store's message).
        """
        key = (table, attr)
        if key not in self._dense:
            if table not in self.store.tables:
                raise FeatureLookupError(f"no features for table {table!r} (known: {', '.join(self.store.tables)})")
            names = self.store.attr_names(table)
            if attr not in names:
                raise FeatureLookupError(f"table {table!r} has no attribute {attr!r} (it has: {', '.join(names)})")
            block = None
            if attr in DENSE:
                art = self.store.tables[table]
                block = np.asarray(art.time() if attr == "time" else art.block(attr))
                if block.nbytes >= SORTED_READ_BYTES:
                    block = None
            self._dense[key] = block
        return self._dense[key]

    def _text(self, arrays: Arrays, fields: dict[str, Any]) -> pa.Table:
        return self.store.text(str(fields.get("table")), arrays.get("index"))
