"""The client of a feature store server: a PyG ``FeatureStore`` over Arrow Flight.

It serves the same tensor attributes as the in-process
:class:`~graph_engine.features.store.ArtifactFeatureStore` (see there), with the same dtypes and errors.
:meth:`RemoteFeatureStore.multi_get_tensor` — what PyG's loaders call once per mini-batch — costs one
round trip for every table and attribute of the batch; each index travels once however many attributes
share it, and the rows come back in one frame whose arrays become tensors without further copies.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import pyarrow as pa
from torch_geometric.data import FeatureStore, TensorAttr

from graph_engine.features.store import FeatureLookupError, TableInfo, as_index
from graph_engine.graph_store import ReadOnlyStoreError, to_torch
from graph_engine.service.connection import DEFAULT_TIMEOUT_S, FlightConnection
from graph_engine.service.feature_server import MULTICATEGORICAL


#: Gathers answering about this many bytes or more take a call of their own (see ``exchange_bulk``).
BULK_BYTES = 4 << 20


def _multi_nested(num_cols: int, offset: np.ndarray, values: np.ndarray) -> Any:
    from torch_frame.data import MultiNestedTensor

    num_rows = (offset.shape[0] - 1) // num_cols if num_cols else 0
    return MultiNestedTensor(num_rows=num_rows, num_cols=num_cols, values=to_torch(values), offset=to_torch(offset))


class RemoteFeatureStore(FeatureStore):
    """Feature artifacts served by a :class:`~graph_engine.service.feature_server.FeatureStoreServer`.

    The list of tables and attributes is fetched once, on first use; table information when first asked
    for. Pickling sends only the address, so DataLoader workers open their own connections.

    Args:
        address: the server's ``host:port`` or ``grpc://host:port``.
        timeout_s: the longest one call may take before the server counts as unreachable.

    Raises:
        StoreServiceError: a malformed address.
    """

    def __init__(self, address: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> None:
        super().__init__()
        self.connection = FlightConnection(address, "feature store", timeout_s)
        self._tables: dict[str, dict[str, Any]] | None = None
        self._infos: dict[str, TableInfo] = {}
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return self.connection.address

    # ---- metadata ---------------------------------------------------------------------------
    @property
    def table_names(self) -> list[str]:
        """The served tables."""
        return list(self._catalog())

    def _catalog(self) -> dict[str, dict[str, Any]]:
        if self._tables is None:
            with self._lock:
                if self._tables is None:
                    self._tables = self.connection.action("tables")["tables"]
        return self._tables  # type: ignore[return-value]

    def _table(self, table: str) -> dict[str, Any]:
        catalog = self._catalog()
        try:
            return catalog[table]
        except KeyError:
            raise FeatureLookupError(f"no features for table {table!r} (known: {', '.join(catalog)})") from None

    def num_rows(self, table: str) -> int:
        """Rows of ``table``.

        Raises:
            FeatureLookupError: an unknown table.
        """
        return int(self._table(table)["num_rows"])

    def table_info(self, table: str) -> TableInfo:
        """Columns, statistics and vocabularies of one table (fetched once).

        Raises:
            FeatureLookupError: an unknown table.
        """
        if table not in self._infos:
            self._table(table)
            self._infos[table] = TableInfo(**self.connection.action("table_info", {"table": table}))
        return self._infos[table]

    def attr_names(self, table: str) -> list[str]:
        """The tensor attributes served for ``table``."""
        return list(self._table(table)["attrs"])

    def get_all_tensor_attrs(self) -> list[TensorAttr]:
        return [TensorAttr(table, name) for table, entry in self._catalog().items() for name in entry["attrs"]]

    def _get_tensor_size(self, attr: TensorAttr) -> tuple[int, ...] | None:
        entry = self._catalog().get(attr.group_name)
        if entry is None or attr.attr_name not in entry["attrs"]:
            return None
        return tuple(entry["attrs"][attr.attr_name])

    def health(self) -> dict[str, Any]:
        """The server's health report: status, artifacts, requests served, memory.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        return self.connection.action("health")

    def close(self) -> None:
        """Close the connection (it reopens on the next call)."""
        self.connection.close()

    def text(self, table: str, index: Any = None) -> pa.Table:
        """Text columns of ``table`` for the given rows (all rows when ``index`` is None)."""
        rows = self._index(table, index, f"text of {table}")
        return self.connection.exchange_table("text", {} if rows is None else {"index": rows}, table=table)

    # ---- reads --------------------------------------------------------------------------------
    def _index(self, table: str, index: Any, where: str) -> np.ndarray | None:
        num_rows = self.num_rows(table)
        rows = as_index(index, num_rows, where)
        if isinstance(rows, slice):
            rows = np.arange(num_rows, dtype=np.int64)[rows]
        return rows

    def _get_tensor(self, attr: TensorAttr) -> Any:
        return self._multi_get_tensor([attr])[0]

    def _multi_get_tensor(self, attrs: list[TensorAttr]) -> list[Any]:
        arrays: dict[str, np.ndarray] = {}
        names: dict[tuple[str, int], str] = {}
        requests = []
        answer_bytes = 0  # an estimate: 8 bytes a value
        for attr in attrs:
            table, name = attr.group_name, attr.attr_name
            entry = self._table(table)
            if name not in entry["attrs"]:
                raise FeatureLookupError(f"table {table!r} has no attribute {name!r} "
                                         f"(it has: {', '.join(entry['attrs'])})")
            index_name = None
            if attr.index is not None:
                # An index shared by several attributes (PyG passes one per table) travels once.
                key = (table, id(attr.index))
                if key not in names:
                    names[key] = f"i{len(names)}"
                    arrays[names[key]] = self._index(table, attr.index, f"{table}.{name}")
                index_name = names[key]
            requests.append([table, name, index_name])
            rows = self.num_rows(table) if index_name is None else arrays[index_name].size
            answer_bytes += rows * math.prod(max(int(d), 1) for d in entry["attrs"][name][1:]) * 8
        # Bandwidth, not the round trip, bounds answers this large: they take a call of their own.
        exchange = self.connection.exchange_bulk if answer_bytes >= BULK_BYTES else self.connection.exchange
        out, _ = exchange("gather", arrays, requests=requests)
        tensors = []
        for i, (table, name, _) in enumerate(requests):
            if name == MULTICATEGORICAL:
                width = self._table(table)["attrs"][name][1]
                tensors.append(_multi_nested(width, out[f"r{i}.offset"], out[f"r{i}.values"]))
            else:
                tensors.append(to_torch(out[f"r{i}"]))
        return tensors

    # ---- read-only --------------------------------------------------------------------------
    def _put_tensor(self, tensor: Any, attr: TensorAttr) -> bool:
        raise ReadOnlyStoreError("feature stores are read-only: write new feature artifacts instead")

    def _remove_tensor(self, attr: TensorAttr) -> bool:
        raise ReadOnlyStoreError("feature stores are read-only: write new feature artifacts instead")

    # ---- pickling -----------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"address": self.connection.address, "timeout_s": self.connection.timeout_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["address"], timeout_s=state["timeout_s"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address!r})"
