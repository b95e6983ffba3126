"""Property test: on random temporal graphs, no sampled node or edge is newer than its seed's anchor."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch_geometric.sampler import NodeSamplerInput

from data_engine.artifact_formats.graph import Link, NodeTable, write_graph_artifact
from graph_engine.graph_store import ArtifactGraphStore
from graph_engine.sampling.sampler import TemporalNeighborSampler
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore

pytestmark = pytest.mark.unit


@st.composite
def temporal_graphs(draw):
    """A random database: ``a`` (timed, with a self link), ``b`` (untimed), fact ``f`` -> a, b."""
    n_a = draw(st.integers(1, 25))
    n_b = draw(st.integers(1, 10))
    n_f = draw(st.integers(0, 80))
    times = st.integers(0, 1000)
    a_time = np.array(draw(st.lists(times, min_size=n_a, max_size=n_a)), dtype=np.int64)
    f_time = np.array(draw(st.lists(times, min_size=n_f, max_size=n_f)), dtype=np.int64)
    f_a = np.array(draw(st.lists(st.integers(0, n_a - 1), min_size=n_f, max_size=n_f)), dtype=np.int64)
    f_b = np.array(draw(st.lists(st.integers(-1, n_b - 1), min_size=n_f, max_size=n_f)), dtype=np.int64)
    parent = np.array(draw(st.lists(st.integers(-1, n_a - 1), min_size=n_a, max_size=n_a)), dtype=np.int64)
    nodes = [NodeTable("a", n_a, a_time), NodeTable("b", n_b), NodeTable("f", n_f, f_time)]
    has_b, has_parent = f_b >= 0, parent >= 0
    links = [
        Link("f", "a_id", "a", np.arange(n_f), f_a),
        Link("f", "b_id", "b", np.flatnonzero(has_b), f_b[has_b]),
        Link("a", "parent_id", "a", np.flatnonzero(has_parent), parent[has_parent]),
    ]
    seed_type = draw(st.sampled_from(["a", "b", "f"]))
    size = {"a": n_a, "b": n_b, "f": n_f}[seed_type]
    if size == 0:
        seed_type, size = "a", n_a
    seeds = np.array(draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=12)), dtype=np.int64)
    anchors = np.array(draw(st.lists(times, min_size=seeds.size, max_size=seeds.size)), dtype=np.int64)
    fanouts = draw(st.lists(st.integers(-1, 4), min_size=1, max_size=3))
    strategy = draw(st.sampled_from(["uniform", "last"]))
    return nodes, links, seed_type, seeds, anchors, fanouts, strategy


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=temporal_graphs(), key=st.integers(0, 2**63))
def test_nothing_newer_than_the_anchor(case, key, check_subgraph):
    nodes, links, seed_type, seeds, anchors, fanouts, strategy = case
    with tempfile.TemporaryDirectory() as tmp:
        store = ObjectStore(Path(tmp).as_uri())
        write_graph_artifact(ArtifactStore(store), "g", nodes, links)
        graph = ArtifactGraphStore.open(store, "g")
        sampler = TemporalNeighborSampler(graph, fanouts, strategy=strategy, seed=key)
        out = sampler.sample_from_nodes(NodeSamplerInput(
            torch.arange(seeds.size), torch.from_numpy(seeds), torch.from_numpy(anchors), seed_type))
        check_subgraph(graph, out, anchors)
        # Spelled out for the property's own sake: every non-seed node is at or before its anchor.
        for node_type in ("a", "f"):
            start = out.num_sampled_nodes[node_type][0]
            found = out.node[node_type][start:].numpy()
            owner = out.batch[node_type][start:].numpy()
            assert np.all(graph.node_time(node_type)[found] <= anchors[owner])
