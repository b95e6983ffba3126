import pickle

import numpy as np
import pytest
import torch
from torch_geometric.data.graph_store import EdgeLayout

from graph_engine.graph_store import ReadOnlyStoreError
from graph_engine.sampling.subgraph import SamplingError, SubgraphRequest
from graph_engine.synthetic import SyntheticConfig, generate

pytestmark = pytest.mark.unit

ORDERS = ("orders", "customer_id", "customers")
REV_ORDERS = ("customers", "rev_customer_id", "orders")


def test_schema_and_edge_attrs(graph_store):
    schema = graph_store.schema
    assert set(schema.node_types) == {"customers", "products", "orders", "reviews"}
    assert len(schema.edge_types) == 8 and schema.reverse(ORDERS) == REV_ORDERS
    assert schema.node_time == {"customers": True, "orders": True, "products": False, "reviews": True}
    attrs = {a.edge_type: a for a in graph_store.get_all_edge_attrs()}
    assert attrs[ORDERS].layout == EdgeLayout.CSR and attrs[ORDERS].size == (3000, 300)
    assert graph_store.num_nodes("orders") == 3000


def test_layouts_describe_the_same_links(graph_store):
    rowptr, col = graph_store.get_edge_index(REV_ORDERS, "csr")
    row_coo, col_coo = graph_store.get_edge_index(REV_ORDERS, "coo")
    # CSC of (orders -> customers) is the CSR of (customers -> orders).
    row_csc, colptr = graph_store.get_edge_index(ORDERS, "csc")
    assert torch.equal(colptr, rowptr) and torch.equal(row_csc, col)
    links = set(zip(row_coo.tolist(), col_coo.tolist()))
    fwd_row, fwd_col = graph_store.get_edge_index(ORDERS, "coo")
    assert links == set(zip(fwd_col.tolist(), fwd_row.tolist()))
    assert len(links) == 3000


def test_arrays_are_memory_mapped_and_read_only(graph_store):
    rowptr, col = graph_store.get_edge_index(REV_ORDERS, "csr")
    csr = graph_store.graph.csr(REV_ORDERS)
    assert isinstance(csr.indices, np.memmap)
    with pytest.raises(ReadOnlyStoreError):
        graph_store.put_edge_index((rowptr, col), REV_ORDERS, "csr")
    with pytest.raises(ReadOnlyStoreError):
        graph_store.remove_edge_index(REV_ORDERS, "csr")
    with pytest.raises(KeyError):
        graph_store.get_edge_index(("a", "b", "c"), "csr")


def test_edge_times_are_sorted_within_each_row(graph_store):
    csr = graph_store.graph.csr(REV_ORDERS)
    time = graph_store.edge_time(REV_ORDERS)
    order_time = np.asarray(graph_store.node_time("orders"))
    assert np.array_equal(time, order_time[csr.indices])
    for u in range(0, 300, 17):
        row = time[csr.indptr[u]:csr.indptr[u + 1]]
        assert np.all(np.diff(row) >= 0)


def test_pickling_reopens_the_artifact(graph_store):
    clone = pickle.loads(pickle.dumps(graph_store))
    assert len(pickle.dumps(graph_store)) < 10_000
    assert clone.schema == graph_store.schema
    assert torch.equal(clone.get_edge_index(ORDERS, "csr")[1], graph_store.get_edge_index(ORDERS, "csr")[1])


def test_requests_are_validated(graph_store):
    fanouts = np.ones((8, 1), np.int64)
    bad = [
        dict(node=[0], node_type=[9], group=[0], fanouts=fanouts),
        dict(node=[0, 1], node_type=[0, 0], group=[0, 2], fanouts=fanouts),
        dict(node=[0], node_type=[0], group=[0], fanouts=np.ones((3, 1))),
        dict(node=[0], node_type=[0], group=[0], fanouts=fanouts, strategy="first"),
        dict(node=[0], node_type=[0], group=[0], fanouts=fanouts, time=[1, 2]),
    ]
    for kwargs in bad:
        with pytest.raises(SamplingError):
            graph_store.sample_subgraph(SubgraphRequest(**kwargs))


def test_capacity_overflow_is_retried(graph_store, check_subgraph, monkeypatch):
    import graph_engine.sampling.subgraph as subgraph

    monkeypatch.setattr(subgraph, "SLOT_BUDGET", 1)  # force tiny slots and retries
    customers = graph_store.schema.node_type_index("customers")
    fanouts = np.full((8, 2), -1, np.int64)
    request = SubgraphRequest(node=np.arange(20), node_type=np.full(20, customers), group=np.arange(20),
                              fanouts=fanouts, key=1)
    small = graph_store.sample_subgraph(request)
    monkeypatch.setattr(subgraph, "SLOT_BUDGET", 1 << 24)
    full = graph_store.sample_subgraph(request)
    assert small.edge.size == full.edge.size > 64 * 20
    assert np.array_equal(small.edge, full.edge) and np.array_equal(small.node, full.node)


def test_draw_nodes_respects_anchors_and_weights(graph_store):
    anchors = np.asarray(graph_store.node_time("customers"))[[10, 200, 299]]
    drawn = graph_store.draw_nodes("customers", 50, anchors, key=3).reshape(3, 50)
    times = np.asarray(graph_store.node_time("customers"))[drawn]
    assert np.all(times <= anchors[:, None])
    weight = np.zeros(300)
    weight[[5, 7]] = 1.0
    assert set(graph_store.draw_nodes("customers", 100, None, key=1, weight=weight).tolist()) == {5, 7}
    assert np.array_equal(graph_store.draw_nodes("products", 20, None, key=4),
                          graph_store.draw_nodes("products", 20, None, key=4))
    with pytest.raises(SamplingError):
        graph_store.draw_nodes("nobody", 1)


def test_synthetic_graph_is_deterministic_and_consistent(tmp_path):
    cfg = SyntheticConfig(customers=50, products=10, orders=400, reviews=100, seed=1)
    a, b = generate(cfg, features=False), generate(cfg, features=False)
    assert all(np.array_equal(x.dst, y.dst) for x, y in zip(a.links, b.links))
    signup = a.node_table("customers").time
    orders = a.node_table("orders").time
    link = a.links[0]
    assert np.all(orders[link.src] >= signup[link.dst]) and np.all(np.diff(orders) >= 0)
    assert SyntheticConfig.for_edges(10_000_000).num_edges >= 10_000_000
