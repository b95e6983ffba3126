"""The shape of a served graph: node types, their sizes, edge types and which of them carry time."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_engine.artifact_formats.graph import GraphArtifact, reverse_edge_type

EdgeType = tuple[str, str, str]


@dataclass(frozen=True)
class GraphSchema:
    """Node and edge types of a graph, in a fixed order shared by stores, samplers and the wire.

    Attributes:
        node_types: node type names (tables).
        num_nodes: nodes per node type.
        node_time: whether each node type has node times.
        edge_types: ``(src, rel, dst)`` triples; every one has its reverse in the list.
        edge_time: whether each edge type has edge times.
        num_edges: edges per edge type.
    """

    node_types: tuple[str, ...]
    num_nodes: dict[str, int]
    node_time: dict[str, bool]
    edge_types: tuple[EdgeType, ...]
    edge_time: dict[EdgeType, bool]
    num_edges: dict[EdgeType, int]

    def __post_init__(self) -> None:
        known = set(self.edge_types)
        for edge_type in self.edge_types:
            if edge_type[0] not in self.num_nodes or edge_type[2] not in self.num_nodes:
                raise ValueError(f"edge type {edge_type} names an unknown node type")
            if reverse_edge_type(edge_type) not in known:
                raise ValueError(f"edge type {edge_type} has no reverse edge type in the graph")

    def reverse(self, edge_type: EdgeType) -> EdgeType:
        """The edge type holding the same links in the other direction."""
        return reverse_edge_type(edge_type)

    @functools.cached_property
    def node_counts(self) -> np.ndarray:
        """int64 nodes per node type, in ``node_types`` order (kept: requests are checked against it per call)."""
        return np.array([self.num_nodes[t] for t in self.node_types], dtype=np.int64)

    def node_type_index(self, node_type: str) -> int:
        try:
            return self.node_types.index(node_type)
        except ValueError:
            raise KeyError(f"unknown node type {node_type!r} (known: {', '.join(self.node_types)})") from None

    def edge_type_index(self, edge_type: tuple) -> int:
        try:
            return self.edge_types.index(tuple(edge_type))
        except ValueError:
            raise KeyError(f"unknown edge type {tuple(edge_type)}") from None

    @classmethod
    def from_artifact(cls, graph: GraphArtifact) -> "GraphSchema":
        nodes = tuple(graph.node_types)
        edges = tuple(graph.edge_types)
        return cls(node_types=nodes, num_nodes={t: graph.num_nodes(t) for t in nodes},
                   node_time={t: graph.has_node_time(t) for t in nodes}, edge_types=edges,
                   edge_time={e: graph.has_edge_time(e) for e in edges},
                   num_edges={e: graph.num_edges(e) for e in edges})

    def to_json(self) -> str:
        return json.dumps({
            "node_types": list(self.node_types),
            "num_nodes": self.num_nodes,
            "node_time": self.node_time,
            "edge_types": [list(e) for e in self.edge_types],
            "edge_time": [self.edge_time[e] for e in self.edge_types],
            "num_edges": [self.num_edges[e] for e in self.edge_types],
        })

    @classmethod
    def from_json(cls, text: str | bytes) -> "GraphSchema":
        raw: dict[str, Any] = json.loads(text)
        edges = tuple(tuple(e) for e in raw["edge_types"])
        return cls(node_types=tuple(raw["node_types"]), num_nodes={k: int(v) for k, v in raw["num_nodes"].items()},
                   node_time={k: bool(v) for k, v in raw["node_time"].items()}, edge_types=edges,  # type: ignore[arg-type]
                   edge_time=dict(zip(edges, map(bool, raw["edge_time"]))),  # type: ignore[arg-type]
                   num_edges=dict(zip(edges, map(int, raw["num_edges"]))))  # type: ignore[arg-type]
