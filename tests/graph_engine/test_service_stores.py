"""Remote stores against in-process ones, with the Flight servers running in this process's threads."""

import pickle
import threading
import time

import numpy as np
import pytest
import torch
from torch_geometric.data import TensorAttr
from torch_geometric.loader import LinkLoader, NodeLoader
from torch_geometric.sampler import NegativeSampling

from graph_engine.features.store import FeatureLookupError
from graph_engine.graph_store import ReadOnlyStoreError
from graph_engine.sampling.sampler import TemporalNeighborSampler
from graph_engine.sampling.subgraph import SamplingError, SubgraphRequest
from graph_engine.service import (
    FeatureStoreServer,
    GraphStoreServer,
    RemoteFeatureStore,
    RemoteGraphStore,
    StoreServiceError,
    StoreUnavailableError,
)
from graph_engine.service import connection
from graph_engine.service.server import StoreServer

pytestmark = pytest.mark.unit

ORDERS = ("orders", "customer_id", "customers")


@pytest.fixture(scope="module")
def servers(graph_store, feature_store):
    graph_server, feature_server = GraphStoreServer(graph_store), FeatureStoreServer(feature_store)
    yield graph_server, feature_server
    graph_server.shutdown()
    feature_server.shutdown()


@pytest.fixture(scope="module")
def remote(servers):
    graph_server, feature_server = servers
    return RemoteFeatureStore(feature_server.address), RemoteGraphStore(graph_server.address)


def assert_same_value(a, b, where):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b) or (a.is_floating_point() and torch.allclose(a, b, equal_nan=True)), where
    elif hasattr(a, "offset") and hasattr(a, "values"):  # MultiNestedTensor
        assert (a.num_rows, a.num_cols) == (b.num_rows, b.num_cols), where
        assert torch.equal(a.offset, b.offset) and torch.equal(a.values, b.values), where
    else:
        assert a == b, where


def assert_same_batch(a, b):
    assert set(a.node_types) == set(b.node_types) and set(a.edge_types) == set(b.edge_types)
    for key in list(a.node_types) + list(a.edge_types):
        assert set(a[key].keys()) == set(b[key].keys()), key
        for name, value in a[key].items():
            assert_same_value(value, b[key][name], (key, name))


def node_loader(features, graph, seeds, times, **kwargs):
    sampler = TemporalNeighborSampler((features, graph), [4, 3], seed=21, **kwargs)
    return NodeLoader((features, graph), sampler, input_nodes=("customers", seeds), input_time=times, batch_size=16)


def test_node_loader_batches_are_identical(feature_store, graph_store, remote, customer_seeds):
    nodes, times = customer_seeds
    local = node_loader(feature_store, graph_store, nodes, times)
    far = node_loader(*remote, nodes, times)
    for epoch in range(2):  # the second epoch draws with new keys, on both sides alike
        batches = list(far)
        expected = list(local)
        assert len(batches) == len(expected) == 4
        for got, want in zip(batches, expected):
            assert_same_batch(want, got)
    assert batches[0]["customers"].multicategorical.num_rows == batches[0]["customers"].num_nodes


def test_link_loader_with_negatives_is_identical(feature_store, graph_store, remote):
    csr = graph_store.graph.csr(ORDERS)
    src = torch.arange(40)
    dst = torch.from_numpy(np.asarray(csr.indices[:40]))
    label_index = (ORDERS, torch.stack([src, dst]))
    time = torch.from_numpy(np.asarray(graph_store.node_time("orders"))[:40].copy())

    def loader(features, graph):
        sampler = TemporalNeighborSampler((features, graph), [3, 2], seed=5)
        return LinkLoader((features, graph), sampler, edge_label_index=label_index, edge_label_time=time,
                          neg_sampling=NegativeSampling("binary", amount=2), batch_size=20)

    for got, want in zip(loader(*remote), loader(feature_store, graph_store)):
        assert_same_batch(want, got)


def test_graph_store_interface_matches(graph_store, remote):
    _, graph = remote
    assert graph.schema == graph_store.schema
    assert {a.edge_type for a in graph.get_all_edge_attrs()} == set(graph_store.schema.edge_types)
    for layout in ("csr", "csc", "coo"):
        for got, want in zip(graph.get_edge_index(ORDERS, layout), graph_store.get_edge_index(ORDERS, layout)):
            assert torch.equal(got, want), layout
    assert np.array_equal(graph.node_time("customers"), graph_store.node_time("customers"))
    assert graph.node_time("products") is None
    assert np.array_equal(graph.edge_time(ORDERS), graph_store.edge_time(ORDERS))
    anchors = np.asarray(graph_store.node_time("customers"))[[3, 30, 299]]
    weight = np.linspace(0, 1, graph_store.num_nodes("products"))
    assert np.array_equal(graph.draw_nodes("customers", 20, anchors, key=9),
                          graph_store.draw_nodes("customers", 20, anchors, key=9))
    assert np.array_equal(graph.draw_nodes("products", 50, None, key=2, weight=weight),
                          graph_store.draw_nodes("products", 50, None, key=2, weight=weight))
    request = dict(node=np.arange(10), node_type=np.zeros(10, np.int64), group=np.arange(10),
                   fanouts=np.full((8, 2), 3, np.int64), key=77, strategy="last")
    customers = graph_store.schema.node_type_index("customers")
    request["node_type"] += customers
    got, want = graph.sample_subgraph(SubgraphRequest(**request)), graph_store.sample_subgraph(SubgraphRequest(**request))
    for name in ("node", "batch", "node_counts", "row", "col", "edge", "edge_counts"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name


def test_feature_store_interface_matches(feature_store, remote):
    features, _ = remote
    key = lambda attrs: sorted((a.group_name, a.attr_name) for a in attrs)
    assert key(features.get_all_tensor_attrs()) == key(feature_store.get_all_tensor_attrs())
    assert features.get_tensor_size("orders", "numerical") == feature_store.get_tensor_size("orders", "numerical")
    assert features.table_info("customers") == feature_store.table_info("customers")
    assert features.text("products", torch.tensor([5, 1])).equals(feature_store.text("products", torch.tensor([5, 1])))
    assert features.text("products").equals(feature_store.text("products"))
    index = torch.tensor([7, 3, 3, 299])
    for attr in feature_store.attr_names("customers"):
        for rows in (index, None, slice(10, 20), torch.arange(300) % 7 == 0):
            assert_same_value(feature_store["customers", attr, rows], features["customers", attr, rows], (attr, rows))
    # One call for several tables and attributes sharing indices.
    attrs = [TensorAttr(t, a, torch.tensor([0, 2, 1])) for t in ("orders", "reviews") for a in ("numerical", "time")]
    for got, want in zip(features.multi_get_tensor(attrs), feature_store.multi_get_tensor(attrs)):
        assert_same_value(want, got, "multi")


def test_errors_keep_their_type_and_message(feature_store, graph_store, remote):
    features, graph = remote
    for store in (feature_store, features):
        with pytest.raises(FeatureLookupError, match=r"out of range \[0, 3000\)"):
            store["orders", "numerical", torch.tensor([3000])]
        with pytest.raises(FeatureLookupError, match="no features for table 'nobody'"):
            store["nobody", "numerical", None]
        with pytest.raises(FeatureLookupError, match="no attribute 'time'"):
            store["products", "time", torch.tensor([0])]
        with pytest.raises(ReadOnlyStoreError):
            store.put_tensor(torch.zeros(1, 2), "orders", "numerical", torch.tensor([0]))
    for store in (graph_store, graph):
        with pytest.raises(SamplingError, match="unknown node type"):
            store.draw_nodes("nobody", 1)
        with pytest.raises(ReadOnlyStoreError):
            store.put_edge_index((torch.zeros(2), torch.zeros(2)), ORDERS, "csr")
    # Requests that skip the client's checks are refused by the server with the same error type.
    with pytest.raises(SamplingError, match="out of range"):
        graph.connection.exchange("sample", {"node": np.array([10**6]), "node_type": np.array([0]),
                                             "group": np.array([0]), "fanouts": np.ones((8, 1), np.int64)})
    with pytest.raises(FeatureLookupError, match="out of range"):
        features.connection.exchange("gather", {"i0": np.array([-1])}, requests=[["orders", "numerical", "i0"]])
    with pytest.raises(KeyError, match="unknown operation"):
        graph.connection.exchange("nonsense")
    with pytest.raises(KeyError, match="unknown action"):
        features.connection.action("nonsense")


def test_clients_pickle_as_addresses_and_reconnect(remote, feature_store):
    features, graph = remote
    for store in (features, graph):
        data = pickle.dumps(store)
        assert len(data) < 1000
        clone = pickle.loads(data)
        assert clone.address == store.address and clone is not store
    clone = pickle.loads(pickle.dumps(features))
    assert torch.equal(clone["orders", "categorical", torch.tensor([4, 2])],
                       feature_store["orders", "categorical", torch.tensor([4, 2])])


def test_concurrent_clients_get_their_own_answers(graph_store, servers):
    graph_server, _ = servers
    customers = graph_store.schema.node_type_index("customers")
    fanouts = np.full((8, 2), 4, np.int64)

    def request(i):
        seeds = np.arange(i, 300, 7)
        return SubgraphRequest(node=seeds, node_type=np.full(seeds.size, customers), group=np.arange(seeds.size),
                               fanouts=fanouts, key=1000 + i)

    expected = {i: graph_store.sample_subgraph(request(i)) for i in range(6)}
    before = RemoteGraphStore(graph_server.address).health()["requests"].get("sample", 0)
    failures = []

    def client(i):
        store = RemoteGraphStore(graph_server.address)  # one connection per client
        try:
            for _ in range(5):
                got = store.sample_subgraph(request(i))
                if not (np.array_equal(got.node, expected[i].node) and np.array_equal(got.edge, expected[i].edge)):
                    failures.append(i)
        except Exception as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    health = RemoteGraphStore(graph_server.address).health()
    assert health["requests"]["sample"] - before == 30
    assert health["status"] == "ok" and health["memory"]["rss_bytes"] > 0


def test_a_stopped_server_gives_an_error_naming_its_address(graph_store):
    server = GraphStoreServer(graph_store)
    store = RemoteGraphStore(server.address, timeout_s=10)
    assert store.schema == graph_store.schema
    server.shutdown()
    with pytest.raises(StoreUnavailableError, match=f"graph store at {server.address} is unreachable") as caught:
        store.draw_nodes("customers", 3)
    assert isinstance(caught.value, StoreServiceError)
    never = RemoteFeatureStore(server.address, timeout_s=10)
    with pytest.raises(StoreUnavailableError, match="feature store at grpc://"):
        never.get_all_tensor_attrs()


def test_a_session_outlives_failed_requests(graph_store, servers):
    graph_server, _ = servers
    store = RemoteGraphStore(graph_server.address)
    assert store.draw_nodes("customers", 3, key=1).shape == (3,)
    session = store.connection._local.session
    with pytest.raises(SamplingError, match="unknown node type"):
        store.connection.exchange("draw", node_type="nobody", count=1)
    with pytest.raises(KeyError, match="unknown operation"):
        store.connection.exchange("nonsense")
    # The same stream answers the next request, with the same answer as the in-process store.
    assert np.array_equal(store.draw_nodes("customers", 3, key=1), graph_store.draw_nodes("customers", 3, key=1))
    assert store.connection._local.session is session and not session.closed
    store.close()
    assert session.closed
    assert store.draw_nodes("customers", 2, key=2).shape == (2,)  # reopened


class SlowServer(StoreServer):
    """Answers ``wait`` after the given seconds."""

    kind = "slow store"

    def __init__(self) -> None:
        super().__init__()
        self._exchange("wait", lambda arrays, fields: time.sleep(fields["s"]) or {"x": np.arange(3)})


def test_a_request_past_its_timeout_gives_an_error_and_the_next_one_works():
    server = SlowServer()
    try:
        store = connection.FlightConnection(server.address, "slow store", timeout_s=0.5)
        with pytest.raises(StoreUnavailableError, match=r"slow store at .* \(no answer within 0.5 s\)"):
            store.exchange("wait", s=3.0)
        out, _ = store.exchange("wait", s=0.0)
        assert np.array_equal(out["x"], np.arange(3))
    finally:
        server.shutdown()


def test_idle_sessions_close_on_their_own(graph_store, monkeypatch):
    monkeypatch.setattr(connection, "IDLE_CLOSE_S", 0.05)
    server = GraphStoreServer(graph_store)
    try:
        store = RemoteGraphStore(server.address)
        store.draw_nodes("customers", 1)
        session = store.connection._local.session
        deadline = time.monotonic() + 10
        while not session.closed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.closed
        assert store.draw_nodes("customers", 1).shape == (1,)
    finally:
        server.shutdown()


def test_a_server_stops_while_other_threads_hold_sessions(graph_store):
    server = GraphStoreServer(graph_store)
    store = RemoteGraphStore(server.address, timeout_s=10)
    used, stopped, outcome = threading.Event(), threading.Event(), []

    def trainer():
        store.draw_nodes("customers", 1)  # this thread's session stays open
        used.set()
        stopped.wait(30)
        try:
            store.draw_nodes("customers", 1)
            outcome.append("answered")
        except StoreUnavailableError as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=trainer)
    thread.start()
    assert used.wait(30)
    server.shutdown()  # returns: the idle session is closed, not waited for
    stopped.set()
    thread.join(30)
    assert len(outcome) == 1 and f"graph store at {server.address} is unreachable" in outcome[0]


def test_large_gathers_take_a_call_of_their_own_with_the_same_answers(feature_store, remote, monkeypatch):
    from graph_engine.service import remote_feature_store

    features, _ = remote
    bulk = []
    original = features.connection.exchange_bulk
    monkeypatch.setattr(remote_feature_store, "BULK_BYTES", 0)
    monkeypatch.setattr(features.connection, "exchange_bulk", lambda *a, **k: bulk.append(a[0]) or original(*a, **k))
    index = torch.tensor([5, 0, 2999, 5])
    attrs = [TensorAttr("orders", a, index) for a in ("numerical", "categorical", "time")]
    attrs += [TensorAttr("customers", "multicategorical", torch.tensor([3, 1])), TensorAttr("products", "numerical", None)]
    for got, want in zip(features.multi_get_tensor(attrs), feature_store.multi_get_tensor(attrs)):
        assert_same_value(want, got, "bulk")
    assert bulk == ["gather"]
