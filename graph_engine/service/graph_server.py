"""The graph store server: one memory-mapped graph artifact, sampled where it lives, for any number of trainers.

Operations (see :mod:`graph_engine.service.server` for the transport):

- action ``schema``: the :class:`~graph_engine.schema.GraphSchema` as JSON (node and edge types, sizes);
- exchange ``sample``: seeds (``node``, ``node_type``, ``group``, optional ``time``) and ``fanouts`` in,
  ``strategy`` and ``key`` in the command; the :class:`~graph_engine.sampling.subgraph.SubgraphResult`
  arrays out, in one round trip per mini-batch;
- exchange ``draw``: random nodes (negatives) for optional ``anchor`` times and ``weight``;
- exchange ``csr`` / ``node_time``: whole arrays of one edge type / node type, for PyG's
  ``get_edge_index`` and for callers that need them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from graph_engine.graph_store import ArtifactGraphStore
from graph_engine.sampling.subgraph import SamplingError, SubgraphRequest
from graph_engine.service.server import Arrays, StoreServer

#: The arrays of a SubgraphResult, in the order they travel.
RESULT_FIELDS = ("node", "batch", "node_counts", "row", "col", "edge", "edge_counts")


def edge_type_of(fields: dict[str, Any]) -> tuple[str, str, str]:
    """The edge type named in a command.

    Raises:
        SamplingError: no (src, rel, dst) triple.
    """
    value = fields.get("edge_type")
    if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(isinstance(v, str) for v in value):
        raise SamplingError(f"expected an edge type (src, rel, dst), got {value!r}")
    return tuple(value)  # type: ignore[return-value]


class GraphStoreServer(StoreServer):
    """Serves one graph artifact over Arrow Flight.

    Args:
        store: the in-process store over the artifact (memory-mapped on local object stores).
        host: the interface to listen on.
        port: the TCP port (0: any free one).
    """

    kind = "graph store"

    def __init__(self, store: ArtifactGraphStore, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.store = store
        self._schema_json = store.schema.to_json()
        self._action("schema", lambda _: {"schema": self._schema_json}, "node and edge types of the graph")
        self._exchange("sample", self._sample)
        self._exchange("draw", self._draw)
        self._exchange("csr", self._csr)
        self._exchange("node_time", self._node_time)
        # Build the sampling engine now, so the first trainer does not wait for it.
        store.engine

    def _describe(self) -> dict[str, Any]:
        schema = self.store.schema
        return {"graph": self.store.graph.uri, "num_nodes": schema.num_nodes,
                "num_edges": int(sum(schema.num_edges.values()))}

    def _sample(self, arrays: Arrays, fields: dict[str, Any]) -> Arrays:
        try:
            request = SubgraphRequest(node=arrays["node"], node_type=arrays["node_type"], group=arrays["group"],
                                      fanouts=arrays["fanouts"], time=arrays.get("time"),
                                      strategy=str(fields.get("strategy", "uniform")), key=int(fields.get("key", 0)))
        except KeyError as exc:
            raise SamplingError(f"sample request without {exc.args[0]!r}") from None
        result = self.store.sample_subgraph(request)
        return {name: getattr(result, name) for name in RESULT_FIELDS}

    def _draw(self, arrays: Arrays, fields: dict[str, Any]) -> Arrays:
        node_type = fields.get("node_type")
        if not isinstance(node_type, str):
            raise SamplingError("draw request without a node type")
        drawn = self.store.draw_nodes(node_type, int(fields.get("count", 0)), arrays.get("anchor"),
                                      int(fields.get("key", 0)), arrays.get("weight"))
        return {"node": drawn}

    def _csr(self, arrays: Arrays, fields: dict[str, Any]) -> Arrays:
        edge_type = edge_type_of(fields)
        if edge_type not in self.store.schema.edge_types:
            raise KeyError(f"unknown edge type {edge_type}")
        csr = self.store.graph.csr(edge_type)
        out = {"indptr": csr.indptr, "indices": csr.indices}
        if csr.time is not None:
            out["time"] = csr.time
        return out

    def _node_time(self, arrays: Arrays, fields: dict[str, Any]) -> Arrays:
        node_type = str(fields.get("node_type"))
        time = self.store.node_time(node_type)
        return {} if time is None else {"time": np.asarray(time)}
