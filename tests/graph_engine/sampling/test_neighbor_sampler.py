import numba
import numpy as np
import pytest
import torch
from torch_geometric.loader import LinkLoader, NodeLoader
from torch_geometric.sampler import EdgeSamplerInput, NegativeSampling, NodeSamplerInput

from graph_engine.sampling.sampler import TemporalNeighborSampler
from graph_engine.sampling.subgraph import SamplingError

pytestmark = pytest.mark.unit

CUSTOMERS = "customers"
ORDERS = ("orders", "customer_id", "customers")  # messages orders -> customers
REV_ORDERS = ("customers", "rev_customer_id", "orders")


def _sample(store, seeds, times=None, **kwargs):
    kwargs.setdefault("seed", 11)
    sampler = TemporalNeighborSampler(store, kwargs.pop("num_neighbors", [5, 3]), **kwargs)
    nodes = seeds
    return sampler.sample_from_nodes(NodeSamplerInput(torch.arange(nodes.numel()), nodes, times, CUSTOMERS))


def _same(a, b) -> bool:
    keys = lambda d: sorted(d, key=str)
    return (keys(a.node) == keys(b.node)
            and all(torch.equal(a.node[k], b.node[k]) for k in a.node)
            and all(torch.equal(a.row[k], b.row[k]) and torch.equal(a.col[k], b.col[k])
                    and torch.equal(a.edge[k], b.edge[k]) for k in a.row)
            and (a.batch is None or all(torch.equal(a.batch[k], b.batch[k]) for k in a.batch)))


@pytest.mark.parametrize("strategy", ["uniform", "last"])
def test_sampled_edges_exist_and_respect_anchor_times(graph_store, customer_seeds, check_subgraph, strategy):
    nodes, times = customer_seeds
    out = _sample(graph_store, nodes, times, strategy=strategy)
    assert check_subgraph(graph_store, out, times.numpy()) > 100
    assert torch.equal(out.node[CUSTOMERS][:nodes.numel()], nodes)
    assert torch.equal(out.batch[CUSTOMERS][:nodes.numel()], torch.arange(nodes.numel()))
    assert out.metadata[1] is times
    # Hop structure: orders reach customers at hop 0 (towards the seeds), products at hop 1.
    assert out.num_sampled_edges[ORDERS][0] > 0 and out.num_sampled_edges[REV_ORDERS][0] == 0


def test_untimed_sampling_sees_future_neighbours(graph_store, customer_seeds, check_subgraph):
    nodes, times = customer_seeds
    timed = _sample(graph_store, nodes, times, num_neighbors=[-1, 0])
    untimed = _sample(graph_store, nodes, None, num_neighbors=[-1, 0])
    check_subgraph(graph_store, untimed)
    assert untimed.row[ORDERS].numel() > timed.row[ORDERS].numel()


def test_all_neighbours_match_brute_force(graph_store, customer_seeds):
    nodes, times = customer_seeds
    out = _sample(graph_store, nodes, times, num_neighbors=[-1, 0])
    csr = graph_store.graph.csr(REV_ORDERS)
    got = set(zip(out.batch[CUSTOMERS][out.col[ORDERS]].tolist(), out.edge[ORDERS].tolist()))
    expected = {(g, pos) for g, (u, t) in enumerate(zip(nodes.tolist(), times.tolist()))
                for pos in range(csr.indptr[u], csr.indptr[u + 1]) if csr.time[pos] <= t}
    assert got == expected and expected


def test_last_takes_the_most_recent_neighbours(graph_store, customer_seeds):
    nodes, times = customer_seeds
    k = 3
    out = _sample(graph_store, nodes, times, num_neighbors=[k, 0], strategy="last")
    csr = graph_store.graph.csr(REV_ORDERS)
    by_group: dict[int, set[int]] = {}
    for g, pos in zip(out.batch[CUSTOMERS][out.col[ORDERS]].tolist(), out.edge[ORDERS].tolist()):
        by_group.setdefault(g, set()).add(pos)
    for g, (u, t) in enumerate(zip(nodes.tolist(), times.tolist())):
        lo, hi = csr.indptr[u], csr.indptr[u + 1]
        visible = lo + int(np.searchsorted(csr.time[lo:hi], t, side="right"))
        assert by_group.get(g, set()) == set(range(max(lo, visible - k), visible))


def test_uniform_draws_distinct_neighbours_up_to_the_fanout(graph_store, customer_seeds):
    nodes, times = customer_seeds
    k = 4
    out = _sample(graph_store, nodes, times, num_neighbors=[k, 0])
    csr = graph_store.graph.csr(REV_ORDERS)
    groups = out.batch[CUSTOMERS][out.col[ORDERS]].numpy()
    for g, (u, t) in enumerate(zip(nodes.tolist(), times.tolist())):
        picked = out.edge[ORDERS].numpy()[groups == g]
        lo, hi = csr.indptr[u], csr.indptr[u + 1]
        visible = int(np.searchsorted(csr.time[lo:hi], t, side="right"))
        assert np.unique(picked).size == picked.size == min(k, visible)


def test_uniform_is_roughly_uniform(graph_store):
    # One customer with a dozen orders, sampled many times with different keys: counts are even.
    csr = graph_store.graph.csr(REV_ORDERS)
    u = int(np.flatnonzero((np.diff(csr.indptr) >= 8) & (np.diff(csr.indptr) <= 20))[0])
    degree = int(csr.indptr[u + 1] - csr.indptr[u])
    sampler = TemporalNeighborSampler(graph_store, [2, 0], seed=5)
    seeds = torch.full((400,), u)
    out = sampler.sample_from_nodes(NodeSamplerInput(torch.arange(400), seeds, None, CUSTOMERS))
    counts = np.bincount(out.edge[ORDERS].numpy() - csr.indptr[u], minlength=degree)
    assert counts.sum() == 800 and counts.min() > 0
    expected = 800 / degree
    assert ((counts - expected) ** 2 / expected).sum() < 3 * degree  # loose chi-square bound


def test_same_seed_same_sample_and_thread_count_does_not_matter(graph_store, customer_seeds):
    nodes, times = customer_seeds
    first = _sample(graph_store, nodes, times, seed=3)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        single = _sample(graph_store, nodes, times, seed=3)
    finally:
        numba.set_num_threads(before)
    other = _sample(graph_store, nodes, times, seed=4)
    assert _same(first, single)
    assert not _same(first, other)


def test_calls_in_sequence_differ_but_replay_identically(graph_store, customer_seeds):
    nodes, times = customer_seeds
    a = TemporalNeighborSampler(graph_store, [5, 3], seed=9)
    b = TemporalNeighborSampler(graph_store, [5, 3], seed=9)
    inputs = NodeSamplerInput(torch.arange(nodes.numel()), nodes, times, CUSTOMERS)
    a1, a2 = a.sample_from_nodes(inputs), a.sample_from_nodes(inputs)
    b1, b2 = b.sample_from_nodes(inputs), b.sample_from_nodes(inputs)
    assert _same(a1, b1) and _same(a2, b2) and not _same(a1, a2)


def test_fanout_per_edge_type(graph_store, customer_seeds, check_subgraph):
    nodes, times = customer_seeds
    out = _sample(graph_store, nodes, times, num_neighbors={ORDERS: [2, 0]}, default=[0, 0])
    check_subgraph(graph_store, out, times.numpy())
    assert out.row[ORDERS].numel() > 0
    assert all(out.row[e].numel() == 0 for e in graph_store.schema.edge_types if e != ORDERS)
    assert np.bincount(out.batch[CUSTOMERS][out.col[ORDERS]].numpy()).max() <= 2


def test_non_disjoint_sampling_shares_nodes(graph_store, check_subgraph):
    seeds = torch.tensor([0, 1, 2, 0])
    out = _sample(graph_store, seeds, None, disjoint=False)
    assert out.batch is None
    assert torch.equal(out.node[CUSTOMERS][:4], seeds)
    check_subgraph(graph_store, out)


def test_bad_configurations_are_rejected(graph_store, customer_seeds):
    nodes, times = customer_seeds
    with pytest.raises(SamplingError, match="disjoint"):
        _sample(graph_store, nodes, times, disjoint=False)
    with pytest.raises(SamplingError, match="unknown edge type"):
        TemporalNeighborSampler(graph_store, {("a", "b", "c"): [1]})
    with pytest.raises(SamplingError, match="same number of hops"):
        TemporalNeighborSampler(graph_store, {ORDERS: [1, 2], REV_ORDERS: [1]})
    with pytest.raises(SamplingError, match="strategy"):
        TemporalNeighborSampler(graph_store, [1], strategy="random")
    with pytest.raises(SamplingError, match="out of range"):
        _sample(graph_store, torch.tensor([10**6]))


def test_node_loader_batches(graph_store, feature_store, customer_seeds, check_subgraph):
    nodes, times = customer_seeds
    sampler = TemporalNeighborSampler(graph_store, [4, 2], seed=1)
    loader = NodeLoader((feature_store, graph_store), sampler, input_nodes=(CUSTOMERS, nodes), input_time=times,
                        batch_size=16)
    batches = list(loader)
    assert len(batches) == 4
    batch = batches[1]
    assert batch[CUSTOMERS].batch_size == 16
    assert torch.equal(batch[CUSTOMERS].n_id[:16], nodes[16:32])
    assert torch.equal(batch[CUSTOMERS].seed_time, times[16:32])
    assert torch.equal(batch[CUSTOMERS].input_id, torch.arange(16, 32))
    assert batch[CUSTOMERS].numerical.shape == (batch[CUSTOMERS].num_nodes, 1)
    expected = feature_store["orders", "numerical", batch["orders"].n_id]
    assert torch.equal(batch["orders"].numerical.nan_to_num(-1), expected.nan_to_num(-1))
    edge_index = batch[ORDERS].edge_index
    assert edge_index[0].max() < batch["orders"].num_nodes and edge_index[1].max() < batch[CUSTOMERS].num_nodes


@pytest.mark.parametrize("mode", ["binary", "triplet"])
def test_link_loader_with_negative_sampling(graph_store, feature_store, check_subgraph, mode):
    csr = graph_store.graph.csr(ORDERS)  # orders -> customers, one per order
    orders = torch.arange(0, 3000, 150)
    customers = torch.from_numpy(csr.indices[orders.numpy()].copy())
    times = torch.from_numpy(csr.time[orders.numpy()].copy())
    sampler = TemporalNeighborSampler(graph_store, [3, 2], seed=2)
    loader = LinkLoader((feature_store, graph_store), sampler, edge_label_index=(ORDERS, torch.stack([orders, customers])),
                        edge_label_time=times, neg_sampling=NegativeSampling(mode, 2), batch_size=10)
    batch = next(iter(loader))
    if mode == "binary":
        index = batch[ORDERS].edge_label_index
        label = batch[ORDERS].edge_label
        assert index.shape == (2, 30) and label.tolist() == [1.0] * 10 + [0.0] * 20
        assert torch.equal(batch["orders"].n_id[index[0, :10]], orders[:10])
        assert torch.equal(batch[CUSTOMERS].n_id[index[1, :10]], customers[:10])
        label_time = batch[ORDERS].edge_label_time
        negative_customers = batch[CUSTOMERS].n_id[index[1, 10:]]
        signup = torch.from_numpy(np.asarray(graph_store.node_time(CUSTOMERS)))
        assert torch.all(signup[negative_customers] <= label_time[10:])
    else:
        assert batch[CUSTOMERS].dst_neg_index.shape == (10, 2)
        assert torch.equal(batch[CUSTOMERS].n_id[batch[CUSTOMERS].dst_pos_index], customers[:10])
        assert torch.equal(batch["orders"].n_id[batch["orders"].src_index], orders[:10])


def test_edge_sampling_output_is_valid_and_reproducible(graph_store, check_subgraph):
    csr = graph_store.graph.csr(ORDERS)
    orders = torch.arange(0, 3000, 300)
    customers = torch.from_numpy(csr.indices[orders.numpy()].copy())
    times = torch.from_numpy(csr.time[orders.numpy()].copy())
    inputs = EdgeSamplerInput(torch.arange(10), orders, customers, None, times, ORDERS)
    outs = [TemporalNeighborSampler(graph_store, [3, 2], seed=8).sample_from_edges(inputs, NegativeSampling("binary", 1))
            for _ in range(2)]
    assert _same(outs[0], outs[1])
    anchors = times.numpy()
    check_subgraph(graph_store, outs[0], anchors, unique=False)
