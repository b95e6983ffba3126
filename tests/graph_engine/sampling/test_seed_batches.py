"""SeedBatches (a NodeLoader's batches straight to the kernel) against the general sampling path."""

import pickle

import numpy as np
import pytest
import torch
from torch_geometric.sampler import NodeSamplerInput

from graph_engine.graph_store import ArtifactGraphStore
from graph_engine.sampling.sampler import TemporalNeighborSampler
from graph_engine.sampling.subgraph import SamplingError, SubgraphRequest

pytestmark = pytest.mark.unit

CUSTOMERS = "customers"


def _fanouts(store, hops):
    return np.array([hops] * len(store.schema.edge_types), dtype=np.int64)


def _arrays(result):
    return (result.node_counts.tolist(), result.edge_counts.tolist(), result.node.tolist(), result.batch.tolist(),
            result.row.tolist(), result.col.tolist(), result.edge.tolist())


class _GeneralPathStore(ArtifactGraphStore):
    """The same in-process store without seed batches: its sampler takes the general path (as remote stores)."""

    def _seed_batches(self, node_type, fanouts, strategy, timed):
        return None


@pytest.mark.parametrize("strategy", ["uniform", "last"])
@pytest.mark.parametrize("timed", [True, False])
def test_batches_equal_the_general_path(graph_store, customer_seeds, strategy, timed):
    nodes, times = (t.numpy() for t in customer_seeds)
    engine = graph_store.engine
    fanouts = _fanouts(graph_store, [4, 3])
    batches = graph_store.seed_batches(CUSTOMERS, fanouts, strategy, timed)
    customer = graph_store.schema.node_type_index(CUSTOMERS)
    repeated = np.concatenate([nodes[:5], nodes[:5]])  # a seed twice: two groups, one subgraph each
    for key, seeds in enumerate([nodes, nodes[:1], repeated, nodes[:0], nodes[7:40], nodes]):
        anchors = (np.concatenate([times[:5], times[:5] + 86_400]) if seeds is repeated
                   else times[:seeds.size] if seeds.size == nodes.size or seeds.size <= 1 else times[7:40])
        anchors = anchors if timed else None
        request = SubgraphRequest(node=seeds, node_type=np.full(seeds.size, customer), group=np.arange(seeds.size),
                                  fanouts=fanouts, time=anchors, strategy=strategy, key=(key + 1) << 60)
        # Interleaved with the general path's calls: both leave and reuse the same plans.
        general = engine.sample(request)
        quick = batches.sample(seeds, anchors, (key + 1) << 60)
        assert _arrays(quick) == _arrays(general)
        # A build may only make views while a helper still copies: values are read once the call returns.
        tag, built = batches.sample(seeds, anchors, (key + 1) << 60, build=lambda result: ("built", result))
        assert tag == "built" and _arrays(built) == _arrays(general)
    assert sum(general.edge_counts.ravel()) > 0


def test_sampler_output_is_the_same_through_either_path(graph_store, customer_seeds):
    nodes, times = customer_seeds
    general_store = _GeneralPathStore(graph_store.graph)
    assert general_store.seed_batches(CUSTOMERS, _fanouts(graph_store, [5, 3]), "uniform", True) is None
    quick = TemporalNeighborSampler(graph_store, [5, 3], seed=5)
    general = TemporalNeighborSampler(general_store, [5, 3], seed=5)
    for size in (64, 10, 64):
        batch = NodeSamplerInput(torch.arange(size), nodes[:size], times[:size], CUSTOMERS)
        a, b = quick.sample_from_nodes(batch), general.sample_from_nodes(batch)
        for field in ("node", "batch", "row", "col", "edge"):
            got, want = getattr(a, field), getattr(b, field)
            assert list(got) == list(want) and all(torch.equal(got[k], want[k]) for k in want)
        assert a.num_sampled_nodes == b.num_sampled_nodes and a.num_sampled_edges == b.num_sampled_edges
        assert a.metadata[0] is batch.input_id and a.metadata[1] is batch.time
    assert list(quick._batches) == [(CUSTOMERS, True)] and general._batches == {(CUSTOMERS, True): None}


def test_a_pickled_sampler_leaves_the_engine_behind_and_samples_alike(graph_store, customer_seeds):
    nodes, times = customer_seeds
    sampler = TemporalNeighborSampler(graph_store, [5, 3], seed=8)
    batch = NodeSamplerInput(torch.arange(nodes.numel()), nodes, times, CUSTOMERS)
    sampler.sample_from_nodes(batch)
    copy = pickle.loads(pickle.dumps(sampler))
    assert copy._batches == {}
    a, b = sampler.sample_from_nodes(batch), copy.sample_from_nodes(batch)
    assert all(torch.equal(a.node[k], b.node[k]) for k in a.node)
    assert all(torch.equal(a.row[k], b.row[k]) and torch.equal(a.edge[k], b.edge[k]) for k in a.row)


def test_bad_batches_and_settings_are_rejected(graph_store, customer_seeds):
    nodes, times = (t.numpy() for t in customer_seeds)
    fanouts = _fanouts(graph_store, [2, 2])
    timed = graph_store.seed_batches(CUSTOMERS, fanouts, "uniform", True)
    count = graph_store.num_nodes(CUSTOMERS)
    before = _arrays(timed.sample(nodes, times, 3))
    with pytest.raises(SamplingError, match=rf"out of range .*seed 2 is node {count} of 'customers', which has {count}"):
        timed.sample(np.array([0, 1, count]), np.zeros(3, np.int64), 0)
    with pytest.raises(SamplingError, match="out of range"):
        timed.sample(np.array([-1]), np.zeros(1, np.int64), 0)
    # A batch of the size just sampled (the kernel reuses that plan, then finds the bad seed): rejected, and the
    # plan it leaves gives the next batch what it gave before.
    bad = nodes.copy()
    bad[-1] = count
    with pytest.raises(SamplingError, match=rf"seed {nodes.size - 1} is node {count} of 'customers'"):
        timed.sample(bad, times, 3)
    assert _arrays(timed.sample(nodes, times, 3)) == before
    with pytest.raises(SamplingError, match="one entry per seed"):
        timed.sample(nodes, None, 0)
    with pytest.raises(SamplingError, match="one entry per seed"):
        timed.sample(nodes, times[:-1], 0)
    with pytest.raises(SamplingError, match="1-D"):
        timed.sample(nodes.reshape(8, -1), times.reshape(8, -1), 0)
    untimed = graph_store.seed_batches(CUSTOMERS, fanouts, "uniform", False)
    with pytest.raises(SamplingError, match="without anchor times"):
        untimed.sample(nodes, times, 0)
    # Seeds as another integer type, or as lists, are taken as int64 arrays.
    assert _arrays(untimed.sample(nodes.astype(np.int32), None, 3)) == _arrays(untimed.sample(nodes, None, 3))
    assert (_arrays(timed.sample(nodes.tolist(), times.tolist(), 3))
            == _arrays(timed.sample(nodes, times, 3)))
    with pytest.raises(SamplingError, match="unknown node type"):
        graph_store.seed_batches("shops", fanouts, "uniform", True)
    with pytest.raises(SamplingError, match="fanouts must be"):
        graph_store.seed_batches(CUSTOMERS, fanouts[:1], "uniform", True)
    with pytest.raises(SamplingError, match="fan-outs must be"):
        graph_store.seed_batches(CUSTOMERS, fanouts - 5, "uniform", True)
    with pytest.raises(SamplingError, match="strategy"):
        graph_store.seed_batches(CUSTOMERS, fanouts, "random", True)
    with pytest.raises(SamplingError, match="node_type out of range"):
        graph_store.engine.seed_batches(99, fanouts, "uniform", True)
