"""Materialization of the demo data set (tiny scale) after real ingestion, checked against DuckDB and pandas
reading the generated Parquet files directly."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from data_engine.artifact_formats.features import FeatureArtifact
from data_engine.artifact_formats.graph import GraphArtifact, edge_key
from data_engine.demo_data import generate
from data_engine.ingest import ingest_table
from data_engine.materialize import NodeIndex, materialize_graph
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore
from platform_core.settings import Settings

pytestmark = pytest.mark.integration

KEPT = ("customers", "products", "orders")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, spark):
    """Demo data at scale 0.02, ingested and materialized once for the module."""
    home = tmp_path_factory.mktemp("materialize-demo")
    raw = home / "raw"
    generate(raw.as_uri(), scale=0.02, seed=3, fmt="parquet")
    settings = Settings(home=home)
    store = ObjectStore.from_settings(settings)
    full = json.loads((raw / "schema.json").read_text())
    # Three of the five tables keep the run short and still cover every case (timed and static tables,
    # numerical, categorical, multicategorical, timestamp and text columns, two links into one table).
    schema = {"tables": {t: full["tables"][t] for t in KEPT},
              "links": [link for link in full["links"] if link["table"] in KEPT and link["to"] in KEPT]}
    uris = {name: ingest_table(str(raw / f"{name}.parquet"), name, settings=settings, store=store, profile=False).uri
            for name in KEPT}
    result = materialize_graph(schema, uris, "graphs/demo", settings=settings, store=store)
    frames = {name: pd.read_parquet(raw / f"{name}.parquet") for name in KEPT}
    return store, schema, result, frames, raw


def test_graph_is_valid_and_matches_a_duckdb_join(demo):
    store, schema, result, frames, raw = demo
    graph = GraphArtifact.open(ArtifactStore(store), result.graph_uri)
    graph.validate()
    assert result.num_nodes == {name: len(frame) for name, frame in frames.items()}
    db = duckdb.connect()
    for link in schema["links"]:
        fact, column, target = link["table"], link["column"], link["to"]
        pk = schema["tables"][target]["primary_key"]
        expected = db.execute(
            f"SELECT count(*) FROM '{raw / fact}.parquet' f JOIN '{raw / target}.parquet' t ON f.{column} = t.{pk}"
        ).fetchone()[0]
        forward = graph.csr((fact, column, target))
        reverse = graph.csr((target, "rev_" + column, fact))
        assert expected > 0 and forward.indices.size == reverse.indices.size == expected
        assert result.links[edge_key((fact, column, target))]["dangling_keys"] == 0
        for csr, num_dst in ((forward, len(frames[target])), (reverse, len(frames[fact]))):
            assert csr.indices.min() >= 0 and csr.indices.max() < num_dst
            # Within every source node's row, time never decreases (decreases only where a row starts).
            drops = np.flatnonzero(np.diff(csr.time) < 0) + 1
            assert np.isin(drops, csr.indptr).all()
        # The reverse is the transpose: same (src, dst, time) triples with the ends swapped.
        src = np.repeat(np.arange(forward.indptr.size - 1), np.diff(forward.indptr))
        back = np.repeat(np.arange(reverse.indptr.size - 1), np.diff(reverse.indptr))
        assert sorted(zip(src, forward.indices, forward.time)) == sorted(zip(reverse.indices, back, reverse.time))


def test_edges_point_to_the_rows_their_keys_name(demo):
    store, schema, result, frames, raw = demo
    artifacts = ArtifactStore(store)
    graph = GraphArtifact.open(artifacts, result.graph_uri)
    orders, customers = frames["orders"], frames["customers"]
    order_nodes = NodeIndex.open(artifacts, result.index_uris["orders"]).lookup(orders["order_id"])
    customer_nodes = NodeIndex.open(artifacts, result.index_uris["customers"]).lookup(customers["customer_id"])
    customer_of = dict(zip(customers["customer_id"], customer_nodes))
    csr = graph.csr(("orders", "customer_id", "customers"))
    assert (np.diff(csr.indptr) == 1).all()  # every order has exactly one customer
    assert np.array_equal(csr.indices[order_nodes], [customer_of[c] for c in orders["customer_id"]])
    seconds = orders["ordered_at"].to_numpy().astype("datetime64[s]").astype(np.int64)
    signup = dict(zip(customers["customer_id"], customers["signup_date"].to_numpy().astype("datetime64[s]")
                      .astype(np.int64)))
    expected = np.maximum(seconds, [signup[c] for c in orders["customer_id"]])
    assert np.array_equal(csr.time[order_nodes], expected)
    assert np.array_equal(graph.node_time("orders")[order_nodes], seconds)


def test_features_match_the_source_rows_per_node(demo):
    store, schema, result, frames, raw = demo
    artifacts = ArtifactStore(store)
    orders = frames["orders"]
    nodes = NodeIndex.open(artifacts, result.index_uris["orders"]).lookup(orders["order_id"])
    features = FeatureArtifact.open(artifacts, result.feature_uris["orders"])
    assert features.num_rows == len(orders)
    assert features.columns["numerical"] == ["quantity", "price", "discount"]
    numerical = features.block("numerical")[nodes]
    for i, name in enumerate(features.columns["numerical"]):
        expected = orders[name].astype("float64").to_numpy(na_value=np.nan).astype(np.float32)
        assert np.array_equal(numerical[:, i], expected, equal_nan=True), name
        valid = expected[~np.isnan(expected)].astype(np.float64)
        stats = features.stats[name]
        assert stats["count"] == valid.size and stats["null_count"] == len(orders) - valid.size
        assert stats["mean"] == pytest.approx(valid.mean()) and stats["std"] == pytest.approx(valid.std())
        assert stats["quantiles"] == pytest.approx(np.quantile(valid, [0, 0.25, 0.5, 0.75, 1]).tolist())
    categorical = features.block("categorical")[nodes]
    for i, name in enumerate(features.columns["categorical"]):
        vocabulary = features.vocabularies[name]
        decoded = [None if c < 0 else vocabulary[c] for c in categorical[:, i]]
        assert decoded == [None if pd.isna(v) else v for v in orders[name]], name
        counts = orders[name].value_counts()
        assert features.stats[name]["counts"] == [int(counts[v]) for v in vocabulary]
    seconds = orders["ordered_at"].to_numpy().astype("datetime64[s]").astype(np.int64)
    assert np.array_equal(features.time()[nodes], seconds)

    products = frames["products"]
    nodes = NodeIndex.open(artifacts, result.index_uris["products"]).lookup(products["product_id"])
    features = FeatureArtifact.open(artifacts, result.feature_uris["products"])
    offsets, values = features.multicategorical()
    vocabulary = features.vocabularies["tags"]
    for node, tags in zip(nodes, products["tags"]):
        assert [vocabulary[v] for v in values[offsets[node]:offsets[node + 1]]] == list(tags)
    text = features.text()
    assert text.column("title").take(nodes).to_pylist() == products["title"].tolist()
    assert not features.has_time
