"""PyG graph stores over graph artifacts: read-only, memory-mapped, heterogeneous, temporal.

:class:`SamplingGraphStore` is the interface the sampler talks to: PyG's ``GraphStore`` (edge indices
per edge type in CSR, CSC or COO layout) plus sampling calls (:meth:`~SamplingGraphStore.sample_subgraph`,
:meth:`~SamplingGraphStore.draw_nodes`, and where the store has it, :meth:`~SamplingGraphStore.seed_batches`
for a NodeLoader's batches) that run where the graph lives. :class:`ArtifactGraphStore` serves
a graph artifact in-process; the remote client in :mod:`graph_engine.services` implements the same
interface over Arrow Flight.

Edge indices are returned as zero-copy tensors over the read-only memory maps: do not write into them.
"""

from __future__ import annotations

import threading
import warnings
from abc import abstractmethod
from typing import Any, Callable, TypeVar

import numpy as np
import torch
from torch_geometric.data import GraphStore
from torch_geometric.data.graph_store import EdgeAttr, EdgeLayout

from data_engine.artifact_formats.graph import Csr, GraphArtifact
from graph_engine.sampling.helpers import HELPERS
from graph_engine.sampling.subgraph import CsrGraph, SamplingError, SeedBatches, SubgraphRequest, SubgraphResult
from graph_engine.schema import EdgeType, GraphSchema
from platform_core.artifacts import ArtifactStore
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore

#: What a caller builds from a sampled subgraph (see SamplingGraphStore.sample_subgraph).
Built = TypeVar("Built")


class ReadOnlyStoreError(UserFacingError, RuntimeError):
    """The graph and feature stores serve artifacts and cannot be changed in place."""


def to_torch(array: np.ndarray) -> torch.Tensor:
    """A tensor sharing ``array``'s memory, also for read-only arrays (memory maps)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.asarray(array))


class SamplingGraphStore(GraphStore):
    """A read-only PyG ``GraphStore`` that can also sample subgraphs where the graph lives.

    Subclasses provide :attr:`schema`, :meth:`_csr`, :meth:`_node_time`, :meth:`_sample_subgraph` and
    :meth:`_draw_nodes`; the public methods validate and then call them.
    """

    @property
    @abstractmethod
    def schema(self) -> GraphSchema:
        """Node and edge types of the served graph."""

    # ---- sampling ----------------------------------------------------------------------------
    def sample_subgraph(self, request: SubgraphRequest,
                        build: Callable[[SubgraphResult], Built] | None = None) -> SubgraphResult | Built:
        """Sample the subgraph described by ``request``.

        Args:
            request: seeds and settings.
            build: turns the result into what the caller wants (e.g. tensors), called once; its value is
                returned. It may read the result's counts and make views of its arrays, but not read their
                values: an in-process store may still be filling them while it runs (the copy overlaps the
                caller's work); they are complete when this returns. It must not sample from this store
                (the in-process store runs it holding its sampling lock).

        Raises:
            SamplingError: the request does not fit the graph.
        """
        self._will_sample()
        request = request.validate(self.schema)
        return self._sample_subgraph(request) if build is None else self._build_subgraph(request, build)

    def seed_batches(self, node_type: str, fanouts: np.ndarray, strategy: str, timed: bool) -> SeedBatches | None:
        """A quicker way to sample one disjoint subgraph per seed for batch after batch of seeds of one node type
        with the same settings (a NodeLoader's batches), where the store has one: the settings are checked
        once, and each batch gives what :meth:`sample_subgraph` gives for its request (see
        :class:`~graph_engine.sampling.subgraph.SeedBatches`).

        Args:
            node_type: the seeds' node type.
            fanouts, strategy: as in :class:`SubgraphRequest`.
            timed: whether the batches come with anchor times.

        Returns:
            The batches' sampler, or None where the store has none (remote stores): use :meth:`sample_subgraph`.

        Raises:
            SamplingError: an unknown node type or malformed settings.
        """
        if node_type not in self.schema.num_nodes:
            raise SamplingError(f"unknown node type {node_type!r}")
        return self._seed_batches(self.schema.node_type_index(node_type), fanouts, strategy, timed)

    def draw_nodes(self, node_type: str, count: int, anchor: np.ndarray | None = None, key: int = 0,
                   weight: np.ndarray | None = None) -> np.ndarray:
        """Draw random nodes of ``node_type`` (negatives): ``count`` per anchor time, none newer than it.

        Args:
            node_type: the node type to draw from.
            count: draws per anchor (or in total without anchors).
            anchor: int64 anchor times, or None to ignore time.
            key: random key; the same key gives the same draws.
            weight: optional per-node weights.

        Returns:
            int64 node indices, anchor-major.

        Raises:
            SamplingError: unknown node type or bad arguments.
        """
        if node_type not in self.schema.num_nodes:
            raise SamplingError(f"unknown node type {node_type!r}")
        if count < 0:
            raise SamplingError("count must not be negative")
        return self._draw_nodes(node_type, int(count), anchor, int(key), weight)

    def node_time(self, node_type: str) -> np.ndarray | None:
        """All node times of ``node_type`` (int64 unix seconds), or None when it has none."""
        if node_type not in self.schema.num_nodes:
            raise KeyError(f"unknown node type {node_type!r}")
        return self._node_time(node_type)

    def num_nodes(self, node_type: str) -> int:
        return self.schema.num_nodes[node_type]

    # ---- PyG GraphStore -----------------------------------------------------------------------
    def get_all_edge_attrs(self) -> list[EdgeAttr]:
        schema = self.schema
        return [EdgeAttr(e, EdgeLayout.CSR, size=(schema.num_nodes[e[0]], schema.num_nodes[e[2]]))
                for e in schema.edge_types]

    def _get_edge_index(self, edge_attr: EdgeAttr) -> tuple[torch.Tensor, torch.Tensor] | None:
        edge_type = tuple(edge_attr.edge_type)
        if edge_type not in self.schema.edge_types:
            return None
        if edge_attr.layout == EdgeLayout.CSR:
            csr = self._csr(edge_type)  # type: ignore[arg-type]
            return to_torch(csr.indptr), to_torch(csr.indices)
        if edge_attr.layout == EdgeLayout.CSC:
            # The CSC of an edge type is the CSR of its reverse: same links, stored from the other end.
            rev = self._csr(self.schema.reverse(edge_type))  # type: ignore[arg-type]
            return to_torch(rev.indices), to_torch(rev.indptr)
        csr = self._csr(edge_type)  # type: ignore[arg-type]
        row = np.repeat(np.arange(csr.indptr.shape[0] - 1, dtype=np.int64), np.diff(csr.indptr))
        return torch.from_numpy(row), to_torch(csr.indices)

    def _put_edge_index(self, edge_index: Any, edge_attr: EdgeAttr) -> bool:
        raise ReadOnlyStoreError("graph stores are read-only: write a new graph artifact instead")

    def _remove_edge_index(self, edge_attr: EdgeAttr) -> bool:
        raise ReadOnlyStoreError("graph stores are read-only: write a new graph artifact instead")

    # ---- hooks --------------------------------------------------------------------------------
    @abstractmethod
    def _csr(self, edge_type: EdgeType) -> Csr:
        """The CSR arrays of one edge type."""

    @abstractmethod
    def _node_time(self, node_type: str) -> np.ndarray | None:
        """Node times of one node type."""

    @abstractmethod
    def _sample_subgraph(self, request: SubgraphRequest) -> SubgraphResult:
        """Sample a validated request."""

    def _will_sample(self) -> None:
        """Called first thing in :meth:`sample_subgraph`, before validation: a store may get ready for the
        call meanwhile (by default nothing)."""

    def _build_subgraph(self, request: SubgraphRequest, build: Callable[[SubgraphResult], Built]) -> Built:
        """Sample a validated request and build from it (see :meth:`sample_subgraph`): by default, one after
        the other."""
        return build(self._sample_subgraph(request))

    def _seed_batches(self, node_type: int, fanouts: np.ndarray, strategy: str, timed: bool) -> SeedBatches | None:
        """The sampler of :meth:`seed_batches` for a known node type (its index), or None (by default: none)."""
        return None

    @abstractmethod
    def _draw_nodes(self, node_type: str, count: int, anchor: np.ndarray | None, key: int,
                    weight: np.ndarray | None) -> np.ndarray:
        """Draw nodes for validated arguments."""


class ArtifactGraphStore(SamplingGraphStore):
    """Serves a graph artifact in-process.

    On a local object store the arrays are read-only memory maps, shared through the page cache by
    every process that opens the same artifact; on S3 they are downloaded once into this process.
    Pickling (e.g. into DataLoader workers) sends the artifact's location, not the arrays.

    Args:
        graph: the opened graph artifact.
    """

    def __init__(self, graph: GraphArtifact) -> None:
        super().__init__()
        self.graph = graph
        self._schema = GraphSchema.from_artifact(graph)
        self._arrays: dict[EdgeType, Csr] = {}
        self._times: dict[str, np.ndarray | None] = {}
        self._engine: CsrGraph | None = None
        self._lock = threading.Lock()

    @classmethod
    def open(cls, store: ObjectStore | ArtifactStore, uri: str) -> "ArtifactGraphStore":
        """Open the graph artifact at ``uri``.

        Raises:
            ArtifactError: no committed artifact there.
            ArtifactFormatError: it is not a graph artifact.
        """
        artifacts = store if isinstance(store, ArtifactStore) else ArtifactStore(store)
        return cls(GraphArtifact.open(artifacts, uri))

    @property
    def schema(self) -> GraphSchema:
        return self._schema

    @property
    def engine(self) -> CsrGraph:
        """The sampling engine over this graph's arrays (built on first use)."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = CsrGraph(self._schema, [self._as_tuple(self._csr(e)) for e in self._schema.edge_types],
                                            [self._node_time(t) for t in self._schema.node_types])
        return self._engine

    @staticmethod
    def _as_tuple(csr: Csr) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        return csr.indptr, csr.indices, csr.time

    def _csr(self, edge_type: EdgeType) -> Csr:
        if edge_type not in self._arrays:
            self._arrays[edge_type] = self.graph.csr(edge_type)
        return self._arrays[edge_type]

    def _node_time(self, node_type: str) -> np.ndarray | None:
        if node_type not in self._times:
            self._times[node_type] = self.graph.node_time(node_type)
        return self._times[node_type]

    def edge_time(self, edge_type: EdgeType) -> np.ndarray | None:
        """Times of the edges of one edge type in CSR order, or None when untimed."""
        return self._csr(tuple(edge_type)).time  # type: ignore[arg-type]

    def _will_sample(self) -> None:
        # Sleeping helper threads take tens of microseconds to wake: wake them while the request is checked.
        HELPERS.nudge()

    def _sample_subgraph(self, request: SubgraphRequest) -> SubgraphResult:
        return self.engine.sample(request, validated=True)

    def _build_subgraph(self, request: SubgraphRequest, build: Callable[[SubgraphResult], Built]) -> Built:
        return self.engine.sample(request, validated=True, build=build)

    def _seed_batches(self, node_type: int, fanouts: np.ndarray, strategy: str, timed: bool) -> SeedBatches:
        return self.engine.seed_batches(node_type, fanouts, strategy, timed)

    def _draw_nodes(self, node_type: str, count: int, anchor: np.ndarray | None, key: int,
                    weight: np.ndarray | None) -> np.ndarray:
        return self.engine.draw_nodes(node_type, count, anchor, key, weight=weight,
                                      node_time=self._node_time(node_type) if anchor is not None else None)

    def __getstate__(self) -> dict[str, Any]:
        art = self.graph.artifact
        return {"store": art.store, "uri": art.uri}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(GraphArtifact.open(ArtifactStore(state["store"]), state["uri"]))  # type: ignore[misc]
