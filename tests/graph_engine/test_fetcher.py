import threading

import numpy as np
import pytest
import torch
from torch_geometric.loader import NodeLoader

from graph_engine.fetcher import FetcherError, MiniBatchFetcher, RowCache, StagedFeatureStore
from graph_engine.sampling.sampler import TemporalNeighborSampler
from graph_engine.service import FeatureStoreServer, GraphStoreServer, RemoteFeatureStore, RemoteGraphStore
from graph_engine.service.errors import StoreUnavailableError

pytestmark = pytest.mark.unit


def assert_same_batch(a, b):
    assert set(a.node_types) == set(b.node_types) and set(a.edge_types) == set(b.edge_types)
    for key in list(a.node_types) + list(a.edge_types):
        assert set(a[key].keys()) == set(b[key].keys()), key
        for name, x in a[key].items():
            y = b[key][name]
            if isinstance(x, torch.Tensor):
                assert x.dtype == y.dtype and x.shape == y.shape, (key, name)
                assert torch.equal(x, y) or torch.allclose(x, y, equal_nan=True), (key, name)
            elif hasattr(x, "offset"):
                assert torch.equal(x.offset, y.offset) and torch.equal(x.values, y.values), (key, name)
            else:
                assert x == y, (key, name)


def make_loader(features, graph, seeds, times, batch_size=16):
    sampler = TemporalNeighborSampler((features, graph), [4, 3], seed=8)
    return NodeLoader((features, graph), sampler, input_nodes=("customers", seeds), input_time=times,
                      batch_size=batch_size)


@pytest.fixture(scope="module")
def remote(graph_store, feature_store):
    graph_server, feature_server = GraphStoreServer(graph_store), FeatureStoreServer(feature_store)
    yield RemoteFeatureStore(feature_server.address), RemoteGraphStore(graph_server.address)
    graph_server.shutdown()
    feature_server.shutdown()


@pytest.mark.parametrize("settings", [
    dict(prefetch=0), dict(prefetch=2), dict(prefetch=3, batches_per_fetch=3),
    dict(prefetch=1, batches_per_fetch=2, cache_rows=64), dict(prefetch=0, batches_per_fetch=4, cache_rows=10_000),
])
@pytest.mark.parametrize("where", ["inprocess", "remote"])
def test_batches_are_those_of_the_loader(feature_store, graph_store, remote, customer_seeds, settings, where):
    nodes, times = customer_seeds
    stores = (feature_store, graph_store) if where == "inprocess" else remote
    plain = make_loader(feature_store, graph_store, nodes, times)
    expected = [list(plain), list(plain)]  # two epochs: the sampler draws new keys in the second
    fetcher = MiniBatchFetcher(make_loader(*stores, nodes, times), **settings)
    for epoch in range(2):
        got = list(fetcher)
        assert len(got) == len(expected[epoch]) == len(fetcher) == 4
        for a, b in zip(expected[epoch], got):
            assert_same_batch(a, b)
    k = settings.get("batches_per_fetch", 1)
    stats = fetcher.stats
    assert stats.batches == 8 and stats.round_trips == 2 * -(-4 // k)
    assert stats.rows_requested > stats.rows_unique >= stats.rows_fetched > 0
    if "cache_rows" in settings:
        assert stats.cache_hits > 0 and stats.cache_hits + stats.cache_misses == stats.rows_unique
        assert stats.rows_fetched == stats.cache_misses and 0 < stats.hit_rate < 1
    else:
        assert stats.cache_hits == 0 and stats.rows_fetched == stats.rows_unique


def test_batches_fetched_together_share_rows(feature_store, graph_store, customer_seeds):
    nodes, times = customer_seeds
    one = MiniBatchFetcher(make_loader(feature_store, graph_store, nodes, times), prefetch=0)
    four = MiniBatchFetcher(make_loader(feature_store, graph_store, nodes, times), prefetch=0, batches_per_fetch=4)
    list(one), list(four)
    assert one.stats.rows_requested == four.stats.rows_requested
    # Popular products and customers appear in several batches: fetched once per group of four.
    assert four.stats.rows_unique < one.stats.rows_unique
    assert (one.stats.round_trips, four.stats.round_trips) == (4, 1)
    assert four.stats.dedup_ratio > one.stats.dedup_ratio > 1


def test_row_cache_keeps_the_most_recently_used_rows():
    cache = RowCache(4)
    rows = lambda nodes: {"x": torch.from_numpy(nodes.astype(np.float32)[:, None] * 10)}
    first = np.array([1, 2, 3, 4])
    assert (cache.lookup("t", first, 100) == -1).all()
    cache.insert("t", first, rows(first), 100)
    assert len(cache) == 4 and cache.cached_attrs("t") == {"x"}
    hits = cache.lookup("t", np.array([3, 4, 9]), 100)  # 3 and 4 are now the most recently used
    assert (hits[:2] >= 0).all() and hits[2] == -1
    assert torch.equal(cache.read("t", "x", hits[:2]), torch.tensor([[30.0], [40.0]]))
    cache.insert("t", np.array([9, 11]), rows(np.array([9, 11])), 100)
    slots = cache.lookup("t", np.array([1, 2, 3, 4, 9, 11]), 100)
    assert list(slots >= 0) == [False, False, True, True, True, True]
    assert torch.equal(cache.read("t", "x", slots[2:]), torch.tensor([[30.0], [40.0], [90.0], [110.0]]))
    assert cache.hits == 2 + 4 and cache.misses == 4 + 1 + 2
    assert cache.hit_rate == pytest.approx(6 / 13)
    with pytest.raises(FetcherError):
        RowCache(-1)


def test_breaking_off_stops_the_fetcher_threads(feature_store, graph_store, customer_seeds):
    nodes, times = customer_seeds
    fetcher = MiniBatchFetcher(make_loader(feature_store, graph_store, nodes, times, batch_size=4), prefetch=2)
    for i, _ in enumerate(fetcher):
        if i == 1:
            break
    assert not [t for t in threading.enumerate() if t.name.startswith("pq-fetcher")]
    assert fetcher.stats.batches < 16


def test_a_failing_store_fails_the_iteration(feature_store, graph_store, customer_seeds):
    nodes, times = customer_seeds
    server = FeatureStoreServer(feature_store)
    features = RemoteFeatureStore(server.address, timeout_s=10)
    fetcher = MiniBatchFetcher(make_loader(features, graph_store, nodes, times), prefetch=2)
    batches = iter(fetcher)
    next(batches)
    server.shutdown()
    with pytest.raises(StoreUnavailableError, match=server.address):
        for _ in batches:
            pass
    assert not [t for t in threading.enumerate() if t.name.startswith("pq-fetcher")]


def test_the_loader_still_works_on_its_own(feature_store, graph_store, customer_seeds):
    nodes, times = customer_seeds
    loader = make_loader(feature_store, graph_store, nodes, times)
    expected = list(make_loader(feature_store, graph_store, nodes, times))
    MiniBatchFetcher(loader)
    staged = loader.data[0]
    assert isinstance(staged, StagedFeatureStore) and staged.inner is feature_store
    assert staged.table_info("orders") == feature_store.table_info("orders")
    for a, b in zip(expected, loader):  # nothing staged: rows come from the real store
        assert_same_batch(a, b)
    with pytest.raises(FetcherError, match="feature_store, graph_store"):
        MiniBatchFetcher(object())
    with pytest.raises(FetcherError, match="batches_per_fetch"):
        MiniBatchFetcher(loader, batches_per_fetch=0)
