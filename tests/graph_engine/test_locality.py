import numpy as np
import pytest
import torch
from torch_geometric.sampler import NodeSamplerInput

from data_engine.artifact_formats.features import write_feature_artifact
from data_engine.artifact_formats.graph import write_graph_artifact
from graph_engine.features.store import ArtifactFeatureStore
from graph_engine.graph_store import ArtifactGraphStore
from graph_engine.locality import (
    LocalityError,
    NodeOrder,
    node_order,
    pages_touched,
    permute_features,
    permute_graph,
    read_node_order,
    take_ragged_rows,
    write_node_order,
)
from graph_engine.sampling.sampler import TemporalNeighborSampler
from graph_engine.synthetic import SyntheticConfig, generate
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore

pytestmark = pytest.mark.unit

CONFIG = SyntheticConfig(customers=120, products=15, orders=900, reviews=300, seed=4)


@pytest.fixture(scope="module")
def shop():
    return generate(CONFIG)


@pytest.fixture(scope="module")
def written(shop, tmp_path_factory):
    """The shop written as is and reordered by foreign key (graph and features)."""
    artifacts = ArtifactStore(ObjectStore(tmp_path_factory.mktemp("locality").as_uri()))
    order = node_order(shop.nodes, shop.links, "fk")
    out = {}
    for name, current in (("original", None), ("fk", order)):
        nodes, links = (shop.nodes, shop.links) if current is None else permute_graph(shop.nodes, shop.links, current)
        graph = write_graph_artifact(artifacts, f"{name}/graph", nodes, links)
        uris = [write_feature_artifact(artifacts, f"{name}/features/{t}",
                                       b if current is None else permute_features(b, current)).uri
                for t, b in shop.features.items()]
        out[name] = (ArtifactGraphStore.open(artifacts, graph.uri), ArtifactFeatureStore.open(artifacts, uris))
    return out, order, artifacts


@pytest.mark.parametrize("strategy", ["identity", "time", "fk", "random"])
def test_every_strategy_gives_permutations(shop, strategy):
    order = node_order(shop.nodes, shop.links, strategy, seed=3)
    for table in shop.nodes:
        perm = order.old_of_new[table.name]
        assert np.array_equal(np.sort(perm), np.arange(table.num_nodes))
        assert np.array_equal(order.to_old(table.name, order.to_new(table.name, np.arange(table.num_nodes))),
                              np.arange(table.num_nodes))
    if strategy == "time":
        times = np.asarray(shop.node_table("orders").time)[order.old_of_new["orders"]]
        assert np.all(np.diff(times) >= 0)


def test_fk_order_puts_each_entitys_facts_together(shop):
    order = node_order(shop.nodes, shop.links, "fk")
    link = next(l for l in shop.links if l.edge_type == ("orders", "customer_id", "customers"))
    customer_of = np.empty(CONFIG.orders, np.int64)
    customer_of[link.src] = order.to_new("customers", link.dst)
    reordered = customer_of[order.old_of_new["orders"]]
    assert np.all(np.diff(reordered) >= 0)  # grouped by customer, customers in their own order
    times = np.asarray(shop.node_table("orders").time)[order.old_of_new["orders"]]
    same = np.diff(reordered) == 0
    assert np.all(np.diff(times)[same] >= 0)  # within a customer, in time order
    chosen = node_order(shop.nodes, shop.links, "fk", keys={"orders": "product_id"})
    product = next(l for l in shop.links if l.edge_type == ("orders", "product_id", "products"))
    product_of = np.empty(CONFIG.orders, np.int64)
    product_of[product.src] = chosen.to_new("products", product.dst)
    assert np.all(np.diff(product_of[chosen.old_of_new["orders"]]) >= 0)


def test_reordered_graph_is_the_same_graph(written):
    stores, order, _ = written
    (graph, _), (moved, _) = stores["original"], stores["fk"]
    assert moved.schema == graph.schema
    for edge_type in graph.schema.edge_types:
        src, dst = graph.get_edge_index(edge_type, "coo")
        new_src, new_dst = moved.get_edge_index(edge_type, "coo")
        mapped_src = order.to_new(edge_type[0], src.numpy())
        mapped_dst = order.to_new(edge_type[2], dst.numpy())
        time, new_time = graph.edge_time(edge_type), moved.edge_time(edge_type)
        assert (time is None) == (new_time is None)
        stamps = time.tolist() if time is not None else [0] * src.numel()
        new_stamps = new_time.tolist() if new_time is not None else [0] * new_src.numel()
        expected = set(zip(mapped_src.tolist(), mapped_dst.tolist(), stamps))
        got = set(zip(new_src.tolist(), new_dst.tolist(), new_stamps))
        assert len(expected) == src.numel()  # every edge distinct: the sets compare the whole edge lists
        assert got == expected, edge_type
    for table in graph.schema.node_types:
        times = graph.node_time(table)
        if times is not None:
            assert np.array_equal(np.asarray(moved.node_time(table)), np.asarray(times)[order.old_of_new[table]])


def test_features_follow_their_nodes(written):
    stores, order, _ = written
    (_, features), (_, moved) = stores["original"], stores["fk"]
    for table in features.tables:
        new_rows = torch.tensor([0, 5, features.tables[table].num_rows - 1, 5])
        old_rows = torch.from_numpy(order.to_old(table, new_rows.numpy()))
        for attr in features.attr_names(table):
            got, want = moved[table, attr, new_rows], features[table, attr, old_rows]
            if attr == "multicategorical":
                assert torch.equal(got.offset, want.offset) and torch.equal(got.values, want.values)
            else:
                assert torch.equal(got, want) or torch.allclose(got, want, equal_nan=True), (table, attr)
        assert moved.text(table, new_rows).equals(features.text(table, old_rows))
        assert moved.table_info(table) == features.table_info(table)


def test_sampling_maps_across_the_reordering(written):
    stores, order, _ = written
    (graph, _), (moved, _) = stores["original"], stores["fk"]
    seeds = np.arange(0, CONFIG.customers, 3)
    times = np.asarray(graph.node_time("customers"))[seeds] + 200 * 86_400

    def sample(store, nodes):
        sampler = TemporalNeighborSampler(store, [-1, -1], strategy="last", seed=0)  # all neighbours: no draws
        out = sampler.sample_from_nodes(NodeSamplerInput(torch.arange(nodes.size), torch.from_numpy(nodes),
                                                         torch.from_numpy(times), "customers"))
        return out

    before, after = sample(graph, seeds), sample(moved, order.to_new("customers", seeds))
    for table in graph.schema.node_types:
        pairs = set(zip(before.batch[table].tolist(), order.to_new(table, before.node[table].numpy()).tolist()))
        assert pairs == set(zip(after.batch[table].tolist(), after.node[table].tolist())), table


def test_the_order_is_kept_as_an_artifact(written):
    _, order, artifacts = written
    art = write_node_order(artifacts, "fk/order", order)
    back = read_node_order(artifacts, art.uri)
    assert back.strategy == "fk"
    assert all(np.array_equal(back.old_of_new[t], order.old_of_new[t]) for t in order.old_of_new)
    with pytest.raises(LocalityError, match="not a node order"):
        read_node_order(artifacts, "fk/graph")


def test_locality_shows_in_pages_read(shop):
    fk = node_order(shop.nodes, shop.links, "fk")
    shuffled = node_order(shop.nodes, shop.links, "random", seed=1)
    link = next(l for l in shop.links if l.edge_type == ("orders", "customer_id", "customers"))
    customers = np.arange(0, CONFIG.customers, 10)
    orders = link.src[np.isin(link.dst, customers)]  # the orders a batch of these customers reads
    row_bytes = 64
    assert pages_touched(fk.to_new("orders", orders), row_bytes) < pages_touched(shuffled.to_new("orders", orders),
                                                                                  row_bytes)
    assert pages_touched(np.array([0, 1, 63, 64]), 64) == 2
    assert pages_touched(np.array([1]), 10_000) == 3


def test_bad_orders_are_refused(shop):
    with pytest.raises(LocalityError, match="unknown reordering"):
        node_order(shop.nodes, shop.links, "bfs-of-doom")
    with pytest.raises(LocalityError, match="not a permutation"):
        NodeOrder({"t": np.array([0, 0, 1])})
    with pytest.raises(LocalityError, match="no link"):
        node_order(shop.nodes, shop.links, "fk", keys={"orders": "nope"})
    small = NodeOrder({t.name: np.arange(3) for t in shop.nodes})
    with pytest.raises(LocalityError, match="has 3 rows"):
        permute_graph(shop.nodes, shop.links, small)
    offsets, values = take_ragged_rows(np.array([0, 2, 2, 5]), np.array([1, 2, 3, 4, 5]), np.array([2, 0]), 1)
    assert offsets.tolist() == [0, 3, 5] and values.tolist() == [3, 4, 5, 1, 2]
