"""The graph artifact: a relational database as a heterogeneous temporal graph in CSR form.

Every row of every table is a node with a dense index ``0..n-1`` per table. Every foreign key ->
primary key link (fact table ``F``, foreign key column ``c``, target table ``T``) gives two edge types:
``(F, c, T)`` and its reverse ``(T, "rev_" + c, F)``. Both are stored, each as CSR over its source
node type, so a sampler walks either direction with one lookup.

Layout of the artifact folder (all integers little-endian int64)::

    nodes/<table>/time.npy                   [num_nodes]     unix seconds; only tables with a time column
    edges/<src>__<rel>__<dst>/indptr.npy     [num_src + 1]   CSR row pointer over source nodes
    edges/<src>__<rel>__<dst>/indices.npy    [num_edges]     destination node index of each edge
    edges/<src>__<rel>__<dst>/time.npy       [num_edges]     edge time; only when a link end has a time

Edges of one source node are sorted by (time, destination), so the edges visible at an anchor time
form a prefix of the node's CSR row (one binary search) and the most recent ones end it.

Edge time is the instant a link becomes visible: the later of the times of its two rows (the fact
row's time whenever the data is consistent). Taking the later one guarantees that a neighbour reached
through an edge with ``time <= anchor`` is itself no newer than the anchor.

The manifest's metadata holds::

    {"format": "pq.graph", "format_version": 1,
     "node_types": {"<table>": {"num_nodes": N, "time": true|false}},
     "edge_types": [["<src>", "<rel>", "<dst>"], ...],
     "edges": {"<src>__<rel>__<dst>": {"num_edges": M, "time": true|false}}}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from data_engine.artifact_formats.errors import ArtifactFormatError
from platform_core.artifacts import Artifact, ArtifactStore, ArtifactWriter, Manifest

FORMAT = "pq.graph"
FORMAT_VERSION = 1
REVERSE_PREFIX = "rev_"
_SEPARATOR = "__"

EdgeType = tuple[str, str, str]


def node_time_file(table: str) -> str:
    """Name of the node-time file of ``table`` inside the artifact."""
    return f"nodes/{table}/time.npy"


def edge_folder(edge_type: Sequence[str]) -> str:
    """Folder of one edge type inside the artifact: ``edges/<src>__<rel>__<dst>``."""
    return f"edges/{edge_key(edge_type)}"


def edge_key(edge_type: Sequence[str]) -> str:
    """The string key of an edge type: ``<src>__<rel>__<dst>``."""
    return _SEPARATOR.join(edge_type)


def reverse_edge_type(edge_type: Sequence[str]) -> EdgeType:
    """The edge type holding the same links in the other direction.

    ``(F, c, T)`` and ``(T, "rev_c", F)`` are each other's reverse.
    """
    src, rel, dst = edge_type
    if rel.startswith(REVERSE_PREFIX):
        return (dst, rel[len(REVERSE_PREFIX):], src)
    return (dst, REVERSE_PREFIX + rel, src)


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or _SEPARATOR in name or name.startswith("."):
        raise ArtifactFormatError(
            f"{kind} name {name!r} cannot be used in a graph artifact (it must be non-empty and contain "
            f"neither '/' nor '{_SEPARATOR}', nor start with '.')")
    return name


def _as_index(name: str, values: Any, upper: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise ArtifactFormatError(f"{name}: expected a 1-D integer array, got {array.dtype} {array.shape}")
    array = array.astype(np.int64, copy=False)
    if array.size and (int(array.min()) < 0 or int(array.max()) >= upper):
        raise ArtifactFormatError(f"{name}: node indices must lie in [0, {upper}), got "
                                  f"[{int(array.min())}, {int(array.max())}]")
    return array


def _as_time(name: str, values: Any, size: int) -> np.ndarray:
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.datetime64):
        array = array.astype("datetime64[s]").astype(np.int64)
    if array.shape != (size,) or not np.issubdtype(array.dtype, np.integer):
        raise ArtifactFormatError(f"{name}: expected {size} int64 unix seconds, got {array.dtype} {array.shape}")
    return array.astype(np.int64, copy=False)


@dataclass(frozen=True)
class NodeTable:
    """One table's nodes: how many, and each row's time (unix seconds) when the table has a time column."""

    name: str
    num_nodes: int
    time: np.ndarray | None = None


@dataclass(frozen=True)
class Link:
    """One foreign key -> primary key link as parallel arrays over the fact rows whose key is not null.

    Attributes:
        fact: the table holding the foreign key column.
        column: the foreign key column; it names the edge type ``(fact, column, target)``.
        target: the table whose primary key the column references.
        src: node index (row) in ``fact`` of each link.
        dst: node index (row) in ``target`` that the row's key points to.
    """

    fact: str
    column: str
    target: str
    src: np.ndarray
    dst: np.ndarray

    @property
    def edge_type(self) -> EdgeType:
        return (self.fact, self.column, self.target)


@dataclass(frozen=True)
class Csr:
    """One edge type in CSR form, edges of each source node sorted by (time, destination)."""

    indptr: np.ndarray
    indices: np.ndarray
    time: np.ndarray | None = None

    @property
    def num_edges(self) -> int:
        return int(self.indices.shape[0])


def build_csr(src: np.ndarray, dst: np.ndarray, num_src: int, time: np.ndarray | None = None) -> Csr:
    """Turn COO edges into a CSR sorted by (source, time, destination).

    Args:
        src: int64 source node index per edge.
        dst: int64 destination node index per edge.
        num_src: number of source nodes (the row pointer has ``num_src + 1`` entries).
        time: int64 edge times, or None for untimed edges.

    Returns:
        The :class:`Csr`.
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    keys = (dst, src) if time is None else (dst, time, src)
    order = np.lexsort(keys)
    counts = np.bincount(src, minlength=num_src) if src.size else np.zeros(num_src, np.int64)
    indptr = np.zeros(num_src + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return Csr(indptr, dst[order], None if time is None else np.asarray(time, np.int64)[order])


def check_csr(name: str, csr: Csr, num_src: int, num_dst: int) -> None:
    """Validate a CSR against the format.

    Raises:
        ArtifactFormatError: wrong dtypes or shapes, a non-monotone row pointer, out-of-range indices or
            edges of a node not sorted by time.
    """
    for field, array in (("indptr", csr.indptr), ("indices", csr.indices), ("time", csr.time)):
        if array is not None and (array.dtype != np.int64 or array.ndim != 1):
            raise ArtifactFormatError(f"{name}/{field}: expected a 1-D int64 array, got {array.dtype} {array.shape}")
    indptr, indices = csr.indptr, csr.indices
    if indptr.shape != (num_src + 1,) or indptr[0] != 0 or indptr[-1] != indices.shape[0]:
        raise ArtifactFormatError(f"{name}/indptr: expected {num_src + 1} entries from 0 to {indices.shape[0]}")
    if np.any(np.diff(indptr) < 0):
        raise ArtifactFormatError(f"{name}/indptr: not non-decreasing")
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= num_dst):
        raise ArtifactFormatError(f"{name}/indices: destination indices must lie in [0, {num_dst})")
    if csr.time is not None:
        if csr.time.shape != indices.shape:
            raise ArtifactFormatError(f"{name}/time: expected {indices.shape[0]} entries")
        decreasing = np.flatnonzero(np.diff(csr.time) < 0) + 1
        # A decrease is fine only where a new source node's row starts.
        if decreasing.size and not np.all(np.isin(decreasing, indptr)):
            raise ArtifactFormatError(f"{name}/time: edges of a source node are not sorted by time")


def _edge_times(link: Link, times: Mapping[str, np.ndarray | None]) -> np.ndarray | None:
    parts = []
    if times.get(link.fact) is not None:
        parts.append(times[link.fact][link.src])
    if times.get(link.target) is not None:
        parts.append(times[link.target][link.dst])
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else np.maximum(parts[0], parts[1])


def write_graph(writer: ArtifactWriter, nodes: Sequence[NodeTable], links: Iterable[Link]) -> dict[str, Any]:
    """Write a graph into an open artifact writer (files and manifest metadata).

    Args:
        writer: from ``ArtifactStore(store).writer(uri, ...)``; committed by its context manager.
        nodes: every table of the graph.
        links: every foreign key link; both directions are written for each.

    Returns:
        The format metadata, also stored in ``writer.metadata``.

    Raises:
        ArtifactFormatError: invalid names, duplicate tables or links, out-of-range indices, bad times.
    """
    sizes: dict[str, int] = {}
    times: dict[str, np.ndarray | None] = {}
    for table in nodes:
        _check_name("table", table.name)
        if table.name in sizes:
            raise ArtifactFormatError(f"table {table.name!r} given twice")
        if int(table.num_nodes) < 0:
            raise ArtifactFormatError(f"table {table.name!r}: negative number of nodes")
        sizes[table.name] = int(table.num_nodes)
        times[table.name] = None if table.time is None else _as_time(
            f"nodes/{table.name}/time", table.time, sizes[table.name])

    edge_types: list[list[str]] = []
    edges: dict[str, dict[str, Any]] = {}
    for link in links:
        for table in (link.fact, link.target):
            if table not in sizes:
                raise ArtifactFormatError(f"link {link.edge_type}: unknown table {table!r}")
        _check_name("column", link.column)
        if link.column.startswith(REVERSE_PREFIX):
            raise ArtifactFormatError(f"link {link.edge_type}: a column name may not start with "
                                      f"{REVERSE_PREFIX!r} (reserved for reverse edges)")
        name = edge_key(link.edge_type)
        src = _as_index(f"{name}/src", link.src, sizes[link.fact])
        dst = _as_index(f"{name}/dst", link.dst, sizes[link.target])
        if src.shape != dst.shape:
            raise ArtifactFormatError(f"{name}: src and dst differ in length ({src.size} vs {dst.size})")
        link = Link(link.fact, link.column, link.target, src, dst)
        time = _edge_times(link, times)
        for edge_type, a, b in ((link.edge_type, src, dst), (reverse_edge_type(link.edge_type), dst, src)):
            key = edge_key(edge_type)
            if key in edges:
                raise ArtifactFormatError(f"edge type {edge_type} given twice")
            csr = build_csr(a, b, sizes[edge_type[0]], time)
            folder = edge_folder(edge_type)
            writer.write_numpy(f"{folder}/indptr.npy", csr.indptr)
            writer.write_numpy(f"{folder}/indices.npy", csr.indices)
            if csr.time is not None:
                writer.write_numpy(f"{folder}/time.npy", csr.time)
            edge_types.append(list(edge_type))
            edges[key] = {"num_edges": csr.num_edges, "time": csr.time is not None}

    for table, time in times.items():
        if time is not None:
            writer.write_numpy(node_time_file(table), time)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "node_types": {t: {"num_nodes": sizes[t], "time": times[t] is not None} for t in sizes},
        "edge_types": edge_types,
        "edges": edges,
    }
    writer.metadata.update(metadata)
    return metadata


def write_graph_artifact(artifacts: ArtifactStore, uri: str, nodes: Sequence[NodeTable], links: Iterable[Link],
                         *, producer: str = "data_engine.graph", inputs: dict[str, Any] | None = None) -> Artifact:
    """Write a whole graph artifact at ``uri`` (manifest last) and open it.

    Args:
        artifacts: the artifact store to write through.
        uri: the artifact's folder.
        nodes: every table of the graph.
        links: every foreign key link.
        producer: recorded in the manifest.
        inputs: what the graph was made from, recorded in the manifest.

    Returns:
        The committed :class:`~platform_core.artifacts.Artifact`.
    """
    with artifacts.writer(uri, producer=producer, inputs=inputs) as writer:
        write_graph(writer, nodes, links)
    return artifacts.open(writer.uri)


class GraphArtifact:
    """Reads a graph artifact; arrays are read-only memory maps on local stores.

    Args:
        artifact: an opened artifact written by :func:`write_graph`.
        mmap: memory-map local files (otherwise read them into memory).

    Raises:
        ArtifactFormatError: the artifact is not a graph artifact of a known version.
    """

    def __init__(self, artifact: Artifact, *, mmap: bool = True) -> None:
        meta = artifact.manifest.metadata
        if meta.get("format") != FORMAT:
            raise ArtifactFormatError(f"{artifact.uri}: not a graph artifact (format {meta.get('format')!r})")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ArtifactFormatError(f"{artifact.uri}: graph format version {meta.get('format_version')} "
                                      f"is not supported (expected {FORMAT_VERSION})")
        self.artifact = artifact
        self.mmap = mmap
        self.node_types: dict[str, dict[str, Any]] = dict(meta["node_types"])
        self.edge_types: list[EdgeType] = [tuple(e) for e in meta["edge_types"]]  # type: ignore[misc]
        self.edges: dict[str, dict[str, Any]] = dict(meta["edges"])

    @classmethod
    def open(cls, artifacts: ArtifactStore, uri: str, *, mmap: bool = True) -> "GraphArtifact":
        """Open the graph artifact at ``uri``."""
        return cls(artifacts.open(uri), mmap=mmap)

    @property
    def manifest(self) -> Manifest:
        return self.artifact.manifest

    @property
    def uri(self) -> str:
        return self.artifact.uri

    def num_nodes(self, table: str) -> int:
        return int(self._node(table)["num_nodes"])

    def has_node_time(self, table: str) -> bool:
        return bool(self._node(table)["time"])

    def has_edge_time(self, edge_type: Sequence[str]) -> bool:
        return bool(self._edge(edge_type)["time"])

    def num_edges(self, edge_type: Sequence[str]) -> int:
        return int(self._edge(edge_type)["num_edges"])

    def node_time(self, table: str) -> np.ndarray | None:
        """The node times of ``table`` (int64 unix seconds), or None when it has no time column."""
        return self.artifact.read_numpy(node_time_file(table), mmap=self.mmap) if self.has_node_time(table) else None

    def csr(self, edge_type: Sequence[str]) -> Csr:
        """The CSR arrays (row pointer, destinations, times or None) of one edge type."""
        folder = edge_folder(self._checked(edge_type))
        time = self.artifact.read_numpy(f"{folder}/time.npy", mmap=self.mmap) if self.has_edge_time(edge_type) else None
        return Csr(self.artifact.read_numpy(f"{folder}/indptr.npy", mmap=self.mmap),
                   self.artifact.read_numpy(f"{folder}/indices.npy", mmap=self.mmap), time)

    def validate(self) -> None:
        """Check every array against the format (reads everything once).

        Raises:
            ArtifactFormatError: the first violation found.
        """
        for edge_type in self.edge_types:
            check_csr(edge_key(edge_type), self.csr(edge_type), self.num_nodes(edge_type[0]),
                      self.num_nodes(edge_type[2]))
            if tuple(reverse_edge_type(edge_type)) not in self.edge_types:
                raise ArtifactFormatError(f"edge type {edge_type} has no reverse edge type")

    def _node(self, table: str) -> dict[str, Any]:
        try:
            return self.node_types[table]
        except KeyError:
            raise ArtifactFormatError(f"{self.uri}: no node type {table!r}") from None

    def _edge(self, edge_type: Sequence[str]) -> dict[str, Any]:
        return self.edges[edge_key(self._checked(edge_type))]

    def _checked(self, edge_type: Sequence[str]) -> EdgeType:
        key = tuple(edge_type)
        if edge_key(key) not in self.edges:
            raise ArtifactFormatError(f"{self.uri}: no edge type {key}")
        return key  # type: ignore[return-value]
