"""Incremental updates: rows appended to the demo tables, ingested with ``previous=`` and materialized from the
previous result, compared with a full build of the same tables; the work counters follow the new rows; anything
but an append falls back to a full build."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from data_engine.artifact_formats.features import FeatureArtifact
from data_engine.artifact_formats.graph import GraphArtifact
from data_engine.demo_data import generate
from data_engine.ingest import ingest_table, open_table
from data_engine.materialize import OTHER, NodeIndex, materialize_graph
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore
from platform_core.settings import Settings

pytestmark = pytest.mark.integration

KEPT = ("customers", "products", "orders")
NEW_CHANNEL, NEW_TAG = "kiosk", "brand-new-tag"


def _split(frames: dict[str, pa.Table]) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    """Earlier rows and appended rows per table: 90 % of customers and products, and the orders of those
    (so the earlier version has no dangling key); the appended rows hold new values a vocabulary lacks and a
    customer row repeating an earlier key."""
    customers, products, orders = frames["customers"], frames["products"], frames["orders"]
    base_c = customers.slice(0, customers.num_rows * 9 // 10)
    base_p = products.slice(0, products.num_rows * 9 // 10)
    known = pc.and_(pc.is_in(orders["customer_id"], base_c["customer_id"]),
                    pc.is_in(orders["product_id"], base_p["product_id"]))
    early = pc.and_(known, pa.array(np.arange(orders.num_rows) < orders.num_rows * 97 // 100))
    base_o, new_o = orders.filter(early), orders.filter(pc.invert(early))
    channel = new_o["channel"].to_pylist()
    channel[:3] = [NEW_CHANNEL] * 3
    new_o = new_o.set_column(new_o.schema.get_field_index("channel"), "channel", pa.array(channel, pa.string()))
    new_p = products.slice(base_p.num_rows)
    tags = new_p["tags"].to_pylist()
    tags[0] = list(tags[0]) + [NEW_TAG]
    new_p = new_p.set_column(new_p.schema.get_field_index("tags"), "tags", pa.array(tags, new_p.schema.field("tags").type))
    new_c = pa.concat_tables([customers.slice(base_c.num_rows), base_c.slice(0, 1)])  # the last row repeats a key
    return {"customers": base_c, "products": base_p, "orders": base_o}, {"customers": new_c, "products": new_p,
                                                                       "orders": new_o}


@pytest.fixture(scope="module")
def update(tmp_path_factory: pytest.TempPathFactory, spark):
    """Version 1 (earlier rows) materialized in full; version 2 (plus the appended rows) materialized both
    incrementally from version 1 and in full."""
    home = tmp_path_factory.mktemp("materialize-incremental")
    raw = home / "raw"
    generate(raw.as_uri(), scale=0.02, seed=3, fmt="parquet")
    settings = Settings(home=home)
    store = ObjectStore.from_settings(settings)
    full = json.loads((raw / "schema.json").read_text())
    schema = {"tables": {t: full["tables"][t] for t in KEPT},
              "links": [link for link in full["links"] if link["table"] in KEPT and link["to"] in KEPT]}
    before, added = _split({t: pq.read_table(raw / f"{t}.parquet") for t in KEPT})
    sources, v1, v2 = {}, {}, {}
    for name in KEPT:
        sources[name] = home / "sources" / name
        sources[name].mkdir(parents=True)
        pq.write_table(before[name], sources[name] / "part-1.parquet")
        v1[name] = ingest_table(str(sources[name]), name, settings=settings, store=store, profile=False)
    first = materialize_graph(schema, {t: r.uri for t, r in v1.items()}, "graphs/v1", settings=settings, store=store)
    for name in KEPT:
        pq.write_table(added[name], sources[name] / "part-2.parquet")
        v2[name] = ingest_table(str(sources[name]), name, settings=settings, store=store, profile=False,
                                previous=v1[name].uri)
    uris = {t: r.uri for t, r in v2.items()}
    incremental = materialize_graph(schema, uris, "graphs/v2", settings=settings, store=store, previous=first)
    rebuilt = materialize_graph(schema, uris, "graphs/v2-full", settings=settings, store=store)
    return {"store": store, "settings": settings, "schema": schema, "sources": sources, "before": before,
            "added": added, "v1": v1, "v2": v2, "first": first, "incremental": incremental, "full": rebuilt}


def test_appended_files_are_ingested_alone_after_the_earlier_rows(update):
    store = update["store"]
    for name in KEPT:
        earlier, later = open_table(store, update["v1"][name].uri), open_table(store, update["v2"][name].uri)
        assert update["v2"][name].appended_to == earlier.uri
        assert later.rows == earlier.rows + update["added"][name].num_rows
        assert sorted(later.data_files)[: len(earlier.data_files)] == sorted(earlier.data_files)
        assert later.dtypes == earlier.dtypes


def test_an_unchanged_source_ingested_again_from_its_appended_table_is_that_table(update):
    # The next job's ingestion (previous = the appended table, nothing new in the folder) finds it again:
    # the graphs built on it stay shared.
    name = KEPT[0]
    again = ingest_table(str(update["sources"][name]), name, settings=update["settings"], store=update["store"],
                         profile=False, previous=update["v2"][name].uri)
    assert again.reused and again.uri == update["v2"][name].uri and again.appended_to is None


def test_incremental_update_equals_a_full_build(update):
    artifacts = ArtifactStore(update["store"])
    incremental, full, first = update["incremental"], update["full"], update["first"]
    assert incremental.mode == "incremental" and incremental.previous == first.output_uri and incremental.fallback is None
    assert full.mode == "full"
    assert incremental.num_nodes == full.num_nodes and incremental.links == full.links
    for name in KEPT:
        new, rebuilt = NodeIndex.open(artifacts, incremental.index_uris[name]), NodeIndex.open(artifacts, full.index_uris[name])
        old = NodeIndex.open(artifacts, first.index_uris[name])
        # Earlier nodes keep their indices; the index as a whole is the full build's.
        table = artifacts.open(new.uri).read_table("index.parquet")
        assert table.slice(0, old.num_nodes).equals(artifacts.open(old.uri).read_table("index.parquet"))
        assert table.equals(artifacts.open(rebuilt.uri).read_table("index.parquet"))
        for key in ("num_nodes", "null_keys", "duplicate_rows", "nodes_are_rows"):
            assert new.metadata[key] == rebuilt.metadata[key], (name, key)
    assert NodeIndex.open(artifacts, incremental.index_uris["customers"]).metadata["duplicate_rows"] == 1

    graph, rebuilt = GraphArtifact.open(artifacts, incremental.graph_uri), GraphArtifact.open(artifacts, full.graph_uri)
    graph.validate()
    assert graph.edge_types == rebuilt.edge_types
    for edge_type in rebuilt.edge_types:
        a, b = graph.csr(edge_type), rebuilt.csr(edge_type)
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices), edge_type
        assert np.array_equal(a.time, b.time), edge_type
    for name in ("customers", "orders"):
        assert np.array_equal(graph.node_time(name), rebuilt.node_time(name))
    assert graph.manifest.metadata["build"]["links_rebuilt"] == []


def _decoded(features: FeatureArtifact, group: str) -> dict[str, list]:
    vocabularies = features.vocabularies
    if group == "categorical":
        block = features.block("categorical")
        return {c: [None if x < 0 else vocabularies[c][x] for x in block[:, i]]
                for i, c in enumerate(features.columns["categorical"])}
    offsets, values = features.multicategorical()
    names = features.columns["multicategorical"]
    return {c: [[vocabularies[c][v] for v in values[offsets[r * len(names) + i]:offsets[r * len(names) + i + 1]]]
                for r in range(features.num_rows)] for i, c in enumerate(names)}


def test_features_equal_a_full_build_with_new_values_as_other(update):
    artifacts = ArtifactStore(update["store"])
    incremental, full, first = update["incremental"], update["full"], update["first"]
    for name in KEPT:
        new = FeatureArtifact.open(artifacts, incremental.feature_uris[name])
        rebuilt = FeatureArtifact.open(artifacts, full.feature_uris[name])
        old = FeatureArtifact.open(artifacts, first.feature_uris[name])
        assert new.num_rows == rebuilt.num_rows and new.columns == rebuilt.columns
        for group in ("numerical", "timestamp"):
            if new.columns[group]:
                assert np.array_equal(new.block(group), rebuilt.block(group), equal_nan=True), (name, group)
        if new.has_time:
            assert np.array_equal(new.time(), rebuilt.time())
        if new.columns["text"]:
            assert new.text().equals(rebuilt.text())
        for group in ("categorical", "multicategorical"):
            if not new.columns[group]:
                continue
            ours, theirs, earlier = _decoded(new, group), _decoded(rebuilt, group), _decoded(old, group)
            for column in ours:
                # Earlier rows keep their codes and values.
                assert ours[column][: old.num_rows] == earlier[column], (name, column)
                expected = theirs[column]
                if group == "categorical":
                    expected = [OTHER if v not in old.vocabularies[column] and v is not None else v for v in expected]
                else:
                    expected = [[OTHER if v not in old.vocabularies[column] else v for v in row] for row in expected]
                assert ours[column] == expected, (name, column)
    orders = FeatureArtifact.open(artifacts, incremental.feature_uris["orders"])
    old_orders = FeatureArtifact.open(artifacts, first.feature_uris["orders"])
    channel = orders.vocabularies["channel"]
    assert channel == old_orders.vocabularies["channel"] + [OTHER]
    assert orders.stats["channel"]["other_code"] == len(channel) - 1
    assert orders.manifest.metadata["statistics_rows"] == old_orders.num_rows
    assert _decoded(orders, "categorical")["channel"].count(OTHER) == 3
    products = FeatureArtifact.open(artifacts, incremental.feature_uris["products"])
    assert products.vocabularies["tags"][-1] == OTHER


def test_work_follows_the_appended_rows(update):
    added, incremental, full = update["added"], update["incremental"], update["full"]
    appended = {t: added[t].num_rows for t in KEPT}
    new_nodes = {t: incremental.num_nodes[t] - update["first"].num_nodes[t] for t in KEPT}
    assert new_nodes == {"customers": appended["customers"] - 1, "products": appended["products"],
                         "orders": appended["orders"]}
    for name in KEPT:
        assert incremental.tables[name]["status"] == "appended"
        assert incremental.tables[name]["rows_read"] == appended[name]
        assert incremental.tables[name]["nodes_encoded"] == new_nodes[name]
        assert incremental.tables[name]["nodes_copied"] == update["first"].num_nodes[name]
        assert full.tables[name]["rows_read"] == full.num_nodes[name] + (1 if name == "customers" else 0)
    # Each new order gives one edge per link (both of its keys name a row); no earlier edge is joined again.
    assert incremental.work["edges_built"] == 2 * appended["orders"]
    assert incremental.work["edges_copied"] == sum(update["first"].num_edges.values())
    assert full.work["edges_built"] == sum(full.num_edges.values())
    # Resolving the new orders' keys scans the key and time columns of the linked tables, nothing more.
    assert incremental.work["lookup_rows"] == update["v2"]["customers"].rows + update["v2"]["products"].rows
    assert incremental.work["rows_read"] == sum(appended.values()) < full.work["rows_read"] / 5


def _append_file(update, name: str, rows: pa.Table, previous: str):
    path = update["sources"][name]
    pq.write_table(rows, path / f"part-{len(list(path.iterdir())) + 1}.parquet")
    result = ingest_table(str(path), name, settings=update["settings"], store=update["store"], profile=False,
                          previous=previous)
    assert result.appended_to == previous
    return result.uri


def _assert_same_graph(store, ours, theirs) -> None:
    artifacts = ArtifactStore(store)
    graph, rebuilt = GraphArtifact.open(artifacts, ours.graph_uri), GraphArtifact.open(artifacts, theirs.graph_uri)
    graph.validate()
    assert ours.links == theirs.links and ours.num_nodes == theirs.num_nodes
    for edge_type in rebuilt.edge_types:
        a, b = graph.csr(edge_type), rebuilt.csr(edge_type)
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices), edge_type
        assert np.array_equal(a.time, b.time), edge_type


def test_later_appends_read_only_their_rows_and_join_again_only_links_they_complete(update, monkeypatch):
    """Version 3 adds five orders, one naming a customer that does not exist yet (a dangling key); version 4
    adds that customer and a product: the orders-customers link is joined again in full (an earlier order
    now finds its customer), the orders-products link only gains empty rows for the new product. Tiny merge
    blocks make the reverse CSR merges of version 3 cross many block boundaries and split at busy nodes."""
    monkeypatch.setattr("data_engine.materialize.edges._BLOCK_NODES", 5)
    monkeypatch.setattr("data_engine.materialize.edges._BLOCK_EDGES", 7)
    settings, store, v2 = update["settings"], update["store"], update["v2"]
    more = update["added"]["orders"].slice(0, 5)
    more = more.set_column(more.schema.get_field_index("order_id"), "order_id", pc.add(more["order_id"], 10_000_000))
    missing = int(pc.max(update["added"]["customers"]["customer_id"]).as_py()) + 1
    ids = more["customer_id"].to_pylist()
    ids[0] = missing
    more = more.set_column(more.schema.get_field_index("customer_id"), "customer_id",
                           pa.array(ids, more.schema.field("customer_id").type))
    v3 = {**{t: r.uri for t, r in v2.items()}, "orders": _append_file(update, "orders", more, v2["orders"].uri)}
    third = materialize_graph(update["schema"], v3, "graphs/v3", settings=settings, store=store,
                              previous=update["incremental"].output_uri)
    assert third.mode == "incremental"
    assert third.tables["orders"]["rows_read"] == third.tables["orders"]["nodes_encoded"] == 5
    assert third.tables["customers"]["status"] == third.tables["products"]["status"] == "unchanged"
    assert third.index_uris["customers"] == update["incremental"].index_uris["customers"]
    assert third.work["edges_built"] == 9  # five orders, two links, one key dangling
    assert third.links["orders__customer_id__customers"]["dangling_keys"] == 1

    customer = update["added"]["customers"].slice(0, 1)
    customer = customer.set_column(customer.schema.get_field_index("customer_id"), "customer_id",
                                   pa.array([missing], customer.schema.field("customer_id").type))
    product = update["added"]["products"].slice(0, 1)
    product = product.set_column(product.schema.get_field_index("product_id"), "product_id",
                                 pc.add(product["product_id"], 10_000_000))
    v4 = {**v3, "customers": _append_file(update, "customers", customer, v2["customers"].uri),
          "products": _append_file(update, "products", product, v2["products"].uri)}
    fourth = materialize_graph(update["schema"], v4, "graphs/v4", settings=settings, store=store, previous=third)
    full = materialize_graph(update["schema"], v4, "graphs/v4-full", settings=settings, store=store)
    assert fourth.mode == "incremental" and fourth.links["orders__customer_id__customers"]["dangling_keys"] == 0
    build = GraphArtifact.open(ArtifactStore(store), fourth.graph_uri).manifest.metadata["build"]
    assert build["links_rebuilt"] == ["orders__customer_id__customers"]
    assert fourth.work["edges_built"] == fourth.num_edges["orders__customer_id__customers"]
    _assert_same_graph(store, fourth, full)


def test_changes_other_than_appends_fall_back_to_a_full_build(update, tmp_path):
    settings, store = update["settings"], update["store"]
    # An earlier file rewritten (one customer's age changed): ingestion and materialization start over.
    source = tmp_path / "customers"
    source.mkdir()
    changed = update["before"]["customers"]
    ages = changed["age"].to_pylist()
    ages[0] = (ages[0] or 0) + 1
    changed = changed.set_column(changed.schema.get_field_index("age"), "age", pa.array(ages, changed.schema.field("age").type))
    pq.write_table(changed, source / "part-1.parquet")
    pq.write_table(update["added"]["customers"], source / "part-2.parquet")
    redone = ingest_table(str(source), "customers", settings=settings, store=store, profile=False,
                          previous=update["v1"]["customers"].uri)
    assert redone.appended_to is None and redone.rows == update["v2"]["customers"].rows
    uris = {**{t: r.uri for t, r in update["v2"].items()}, "customers": redone.uri}
    result = materialize_graph(update["schema"], uris, "graphs/fallback", settings=settings, store=store,
                               previous=update["first"])
    assert result.mode == "full" and "customers" in result.fallback
    assert result.work["rows_read"] == update["full"].work["rows_read"]
    GraphArtifact.open(ArtifactStore(store), result.graph_uri).validate()
    # The previous output as the new output: a full build (the previous artifacts are not updated in place).
    same = materialize_graph(update["schema"], {t: r.uri for t, r in update["v1"].items()}, "graphs/v1",
                             settings=settings, store=store, previous=update["first"])
    assert same.reused


def test_csv_appends_keep_the_earlier_types_or_start_over(update, tmp_path):
    settings, store = update["settings"], update["store"]
    source = tmp_path / "readings"
    source.mkdir()
    pcsv.write_csv(pa.table({"id": [1, 2, 3], "value": [1.5, 2.5, 3.5], "at": ["2024-01-01", "2024-01-02", "2024-01-03"]}),
                   source / "a.csv")
    first = ingest_table(str(source), "readings", settings=settings, store=store, profile=False)
    pcsv.write_csv(pa.table({"id": [4], "value": [4.5], "at": ["2024-01-04"]}), source / "b.csv")
    second = ingest_table(str(source), "readings", settings=settings, store=store, profile=False, previous=first.uri)
    assert second.appended_to == first.uri and second.rows == 4 and second.dtypes == first.dtypes
    table = open_table(store, second.uri)
    ids = pa.concat_tables([pq.read_table(table.artifact.local_path(n)) for n in sorted(table.data_files)])["id"]
    assert ids.to_pylist() == [1, 2, 3, 4]
    # A value the earlier type cannot parse: the whole source is ingested again (the type is inferred anew).
    (source / "c.csv").write_text("id,value,at\nfive,5.5,2024-01-05\n")
    third = ingest_table(str(source), "readings", settings=settings, store=store, profile=False, previous=second.uri)
    assert third.appended_to is None and third.rows == 5 and third.dtypes["id"] == "string"
