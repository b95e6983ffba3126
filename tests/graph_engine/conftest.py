"""Fixtures of the graph engine's tests: a small synthetic shop written as real artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from graph_engine.features.store import ArtifactFeatureStore
from graph_engine.graph_store import ArtifactGraphStore
from graph_engine.synthetic import SyntheticConfig, SyntheticUris, generate
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore

SMALL = SyntheticConfig(customers=300, products=40, orders=3000, reviews=800, seed=7)


@pytest.fixture(scope="session")
def shop_store(tmp_path_factory: pytest.TempPathFactory) -> ObjectStore:
    return ObjectStore((Path(tmp_path_factory.mktemp("shop")) / "store").as_uri())


@pytest.fixture(scope="session")
def shop_uris(shop_store: ObjectStore) -> SyntheticUris:
    return generate(SMALL).write(ArtifactStore(shop_store), "shop")


@pytest.fixture(scope="session")
def graph_store(shop_store: ObjectStore, shop_uris: SyntheticUris) -> ArtifactGraphStore:
    return ArtifactGraphStore.open(shop_store, shop_uris.graph)


@pytest.fixture(scope="session")
def feature_store(shop_store: ObjectStore, shop_uris: SyntheticUris) -> ArtifactFeatureStore:
    return ArtifactFeatureStore.open(shop_store, "shop/features")


@pytest.fixture(scope="session")
def customer_seeds(graph_store: ArtifactGraphStore) -> tuple[torch.Tensor, torch.Tensor]:
    """Customers and anchor times between their sign-up and a year later."""
    rng = np.random.default_rng(3)
    nodes = rng.choice(graph_store.num_nodes("customers"), 64, replace=False)
    times = np.asarray(graph_store.node_time("customers"))[nodes] + rng.integers(0, 365 * 86_400, nodes.size)
    return torch.from_numpy(nodes.astype(np.int64)), torch.from_numpy(times.astype(np.int64))


def verify_subgraph(store: ArtifactGraphStore, out, anchors: np.ndarray | None = None, unique: bool = True) -> int:
    """Check a sampled subgraph against the graph by brute force; returns the number of edges checked.

    Every edge must exist (its id points at the CSR slot linking its two nodes), join nodes of one
    disjoint subgraph, and be no newer than that subgraph's anchor; every non-seed node with a time must
    be no newer than its anchor; nodes are unique within a subgraph.
    """
    schema = store.schema
    checked = 0
    for edge_type in schema.edge_types:
        row, col, eid = (out.row[edge_type].numpy(), out.col[edge_type].numpy(), out.edge[edge_type].numpy())
        walked = store.graph.csr(schema.reverse(edge_type))
        v = out.node[edge_type[0]].numpy()[row]
        u = out.node[edge_type[2]].numpy()[col]
        assert np.all(walked.indptr[u] <= eid) and np.all(eid < walked.indptr[u + 1]), edge_type
        assert np.array_equal(walked.indices[eid], v), edge_type
        if out.batch is not None:
            group = out.batch[edge_type[2]].numpy()[col]
            assert np.array_equal(out.batch[edge_type[0]].numpy()[row], group), edge_type
            if anchors is not None and walked.time is not None:
                assert np.all(walked.time[eid] <= anchors[group]), edge_type
        checked += eid.size
    for node_type in schema.node_types:
        nodes = out.node[node_type].numpy()
        seeds = out.num_sampled_nodes[node_type][0]
        assert sum(out.num_sampled_nodes[node_type]) == nodes.size
        if out.batch is None:
            assert not unique or np.unique(nodes[seeds:]).size == nodes.size - seeds
            continue
        batch = out.batch[node_type].numpy()
        pairs = np.stack([batch[seeds:], nodes[seeds:]], axis=1)
        if unique:
            assert np.unique(pairs, axis=0).shape[0] == pairs.shape[0], node_type
        times = store.node_time(node_type)
        if anchors is not None and times is not None:
            assert np.all(np.asarray(times)[nodes[seeds:]] <= anchors[batch[seeds:]]), node_type
    return checked


@pytest.fixture(scope="session")
def check_subgraph():  # stateless: safe to share between hypothesis examples
    return verify_subgraph
