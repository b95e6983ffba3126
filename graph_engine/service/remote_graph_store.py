"""The client of a graph store server: a :class:`~graph_engine.graph_store.SamplingGraphStore` over Arrow Flight.

``TemporalNeighborSampler`` and PyG's loaders use it exactly like the in-process
:class:`~graph_engine.graph_store.ArtifactGraphStore`: sampling runs in the server, next to the graph,
and each mini-batch costs one round trip (over the connection's session, see
:mod:`~graph_engine.service.connection`) carrying the seeds out and the sampled subgraph back.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from data_engine.artifact_formats.graph import Csr
from graph_engine.graph_store import SamplingGraphStore
from graph_engine.sampling.subgraph import SubgraphRequest, SubgraphResult
from graph_engine.schema import EdgeType, GraphSchema
from graph_engine.service.connection import DEFAULT_TIMEOUT_S, FlightConnection
from graph_engine.service.graph_server import RESULT_FIELDS


class RemoteGraphStore(SamplingGraphStore):
    """A graph store served by a :class:`~graph_engine.service.graph_server.GraphStoreServer`.

    Nothing is fetched until first used; the schema is then fetched once and kept. Pickling sends only
    the address, so DataLoader workers open their own connections.

    Args:
        address: the server's ``host:port`` or ``grpc://host:port``.
        timeout_s: the longest one call may take before the server counts as unreachable.

    Raises:
        StoreServiceError: a malformed address.
    """

    def __init__(self, address: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> None:
        super().__init__()
        self.connection = FlightConnection(address, "graph store", timeout_s)
        self._schema: GraphSchema | None = None
        self._arrays: dict[EdgeType, Csr] = {}
        self._times: dict[str, np.ndarray | None] = {}
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return self.connection.address

    @property
    def schema(self) -> GraphSchema:
        """Node and edge types of the served graph (fetched on first use).

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        if self._schema is None:
            with self._lock:
                if self._schema is None:
                    self._schema = GraphSchema.from_json(self.connection.action("schema")["schema"])
        return self._schema

    def health(self) -> dict[str, Any]:
        """The server's health report: status, artifact, requests served, memory.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        return self.connection.action("health")

    def close(self) -> None:
        """Close the connection (it reopens on the next call)."""
        self.connection.close()

    # ---- hooks --------------------------------------------------------------------------------
    def _sample_subgraph(self, request: SubgraphRequest) -> SubgraphResult:
        arrays = {"node": request.node, "node_type": request.node_type, "group": request.group,
                  "fanouts": request.fanouts}
        if request.time is not None:
            arrays["time"] = request.time
        out, _ = self.connection.exchange("sample", arrays, strategy=request.strategy, key=int(request.key))
        return SubgraphResult(**{name: out[name] for name in RESULT_FIELDS})

    def _draw_nodes(self, node_type: str, count: int, anchor: np.ndarray | None, key: int,
                    weight: np.ndarray | None) -> np.ndarray:
        arrays = {}
        if anchor is not None:
            arrays["anchor"] = np.ascontiguousarray(anchor, dtype=np.int64)
        if weight is not None:
            arrays["weight"] = np.ascontiguousarray(weight, dtype=np.float64)
        out, _ = self.connection.exchange("draw", arrays, node_type=node_type, count=count, key=key)
        return out["node"]

    def _csr(self, edge_type: EdgeType) -> Csr:
        if edge_type not in self._arrays:
            out, _ = self.connection.exchange_bulk("csr", edge_type=list(edge_type))
            self._arrays[edge_type] = Csr(out["indptr"], out["indices"], out.get("time"))
        return self._arrays[edge_type]

    def _node_time(self, node_type: str) -> np.ndarray | None:
        if node_type not in self._times:
            out, _ = self.connection.exchange_bulk("node_time", node_type=node_type)
            self._times[node_type] = out.get("time")
        return self._times[node_type]

    def edge_time(self, edge_type: EdgeType) -> np.ndarray | None:
        """Times of the edges of one edge type in CSR order, or None when untimed."""
        return self._csr(tuple(edge_type)).time  # type: ignore[arg-type]

    # ---- pickling -----------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"address": self.connection.address, "timeout_s": self.connection.timeout_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["address"], timeout_s=state["timeout_s"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address!r})"
