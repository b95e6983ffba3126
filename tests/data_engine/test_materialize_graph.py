"""Materialization on a tiny hand-made graph: node indexes, CSR edges and feature blocks checked against
pandas and against the artifact formats' in-memory writers (same bytes, same metadata)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from data_engine.artifact_formats.features import (
    GROUPS,
    FeatureArtifact,
    FeatureBlocks,
    encode_features,
    write_feature_artifact,
)
from data_engine.artifact_formats.graph import GraphArtifact, Link, NodeTable, edge_key, write_graph_artifact
from data_engine.ingest.tables import TABLE_PRODUCER
from data_engine.materialize import (
    OTHER,
    FeatureOptions,
    MaterializeError,
    NodeIndex,
    build_node_index,
    materialize_features,
    materialize_graph,
    update_node_index,
)
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore
from platform_core.settings import Settings
from services.cli.materialize_commands import materialize_app

pytestmark = pytest.mark.integration

INT64_MIN = np.iinfo(np.int64).min
TS = pa.timestamp("us", tz="UTC")
DTYPES = {pa.int64(): "int64", pa.float64(): "float64", pa.string(): "string", pa.bool_(): "bool", TS: "timestamp",
          pa.list_(pa.string()): "list<string>"}
FORMAT_GRAPH_KEYS = ("format", "format_version", "node_types", "edge_types", "edges")
FORMAT_FEATURE_KEYS = ("format", "format_version", "table", "num_rows", "columns", "time_column")


def _ts(*values):
    return pa.array([None if v is None else pd.Timestamp(v, tz="UTC") for v in values], TS)


USERS = [  # two parts: row ids 0-2 and 3-5; a duplicate key (row 2) and a null key (row 3)
    pa.table({"user_id": pa.array([10, 20, 10]), "signup": _ts("2024-01-03", "2024-01-01", "2024-02-01"),
              "age": pa.array([31.0, None, 40.0]), "country": pa.array(["DE", "US", "FR"]),
              "tags": pa.array(["a|b", "b", "zz"]), "bio": pa.array(["hello", None, "dup"]),
              "referred_by": pa.array([None, 10, 99], pa.int64())}),
    pa.table({"user_id": pa.array([None, 30, 40], pa.int64()), "signup": _ts("2024-01-05", None, "2024-01-02"),
              "age": pa.array([1.0, 22.5, 51.0]), "country": pa.array(["US", None, "DE"]),
              "tags": pa.array([None, " a |  c ||", ""]), "bio": pa.array(["x", "hi there", "é"]),
              "referred_by": pa.array([10, 40, 77])}),
]
ITEMS = [pa.table({"item_id": pa.array(["i1", "i2", "i3"]), "price": pa.array([9.5, float("nan"), 3.0]),
                   "color": pa.array(["red", "red", "blue"]), "on_sale": pa.array([True, None, False]),
                   "labels": pa.array([["x", None, "y"], None, ["y"]], pa.list_(pa.string()))})]
ORDERS = [
    pa.table({"order_id": pa.array([1, 2, 3, 4]), "user_id": pa.array([10, 20, 10, 99]),
              "item_id": pa.array(["i1", "i2", None, "i3"]),
              "ordered_at": _ts("2024-03-01", "2024-03-02", "2024-03-01", "2024-03-03"),
              "quantity": pa.array([1, 2, 3, 4]), "status": pa.array([1, 2, 2, 2])}),
    pa.table({"order_id": pa.array([5, 6, 7]), "user_id": pa.array([None, 40, 10], pa.int64()),
              "item_id": pa.array(["i9", "i1", "i2"]),
              "ordered_at": _ts("2024-03-04", "2023-12-31", "2024-02-15"),
              "quantity": pa.array([5, 6, 7]), "status": pa.array([3, 1, 2])}),
]
# followee is a float column (integer ids with a null, as pandas writes them); 40.5 names no user.
FOLLOWS = [pa.table({"follower": pa.array([10, 20, 30, 10]), "followee": pa.array([20.0, 10.0, None, 40.5]),
                     "followed_at": _ts("2024-05-01", "2024-04-01", "2024-04-01", None)})]

SCHEMA = {
    "tables": {
        "users": {"primary_key": "user_id", "time_column": "signup",
                  "columns": {"user_id": "ID", "signup": "timestamp", "age": "numerical", "country": "categorical",
                              "tags": "multicategorical", "bio": "text", "referred_by": "ID"}},
        "items": {"primary_key": "item_id", "time_column": None,
                  "columns": {"item_id": "ID", "price": "numerical", "color": "categorical",
                              "on_sale": "categorical", "labels": "multicategorical"}},
        "orders": {"primary_key": "order_id", "time_column": "ordered_at",
                   "columns": {"order_id": "ID", "user_id": "ID", "item_id": "ID", "ordered_at": "timestamp",
                               "quantity": "numerical", "status": "categorical"}},
        "follows": {"primary_key": None, "time_column": "followed_at",
                    "columns": {"follower": "ID", "followee": "ID", "followed_at": "timestamp"}},
    },
    "links": [{"table": "orders", "column": "user_id", "to": "users"},
              {"table": "orders", "column": "item_id", "to": "items"},
              {"table": "follows", "column": "follower", "to": "users"},
              {"table": "follows", "column": "followee", "to": "users"},
              {"table": "users", "column": "referred_by", "to": "users"}],
}
PARTS = {"users": USERS, "items": ITEMS, "orders": ORDERS, "follows": FOLLOWS}


def write_table(store: ObjectStore, uri: str, name: str, parts: list[pa.Table], primary_key: str | None,
                time_column: str | None) -> str:
    """A table artifact in the layout ingestion writes (typed Parquet parts under data/ plus metadata)."""
    schema = parts[0].schema
    with ArtifactStore(store).writer(uri, producer=TABLE_PRODUCER, inputs={"test": name}) as writer:
        for i, part in enumerate(parts):
            writer.write_table(f"data/part-{i:05d}-test.zstd.parquet", part)
        writer.metadata.update({"table": name, "rows": sum(p.num_rows for p in parts), "columns": schema.names,
                                "dtypes": {f.name: DTYPES[f.type] for f in schema}, "primary_key": primary_key,
                                "time_column": time_column})
    return writer.uri


@pytest.fixture(scope="module", autouse=True)
def tiny_parts():
    """Sorted outputs in range partitions of 3 rows read back in batches of 2, so that even these tiny tables
    go through the multi-part, multi-batch streaming that large tables take."""
    from data_engine.materialize import spark_io

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(spark_io, "ROWS_PER_PART", 3)
        patch.setattr(spark_io, "BATCH_ROWS", 2)
        yield


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, tiny_parts, spark):
    """Settings, a store, the four tables and one materialization (module-wide: Spark jobs are slow)."""
    home = tmp_path_factory.mktemp("materialize-home")
    settings = Settings(home=home)
    store = ObjectStore.from_settings(settings)
    uris = {name: write_table(store, store.uri("tables", name), name, parts, SCHEMA["tables"][name]["primary_key"],
                              SCHEMA["tables"][name]["time_column"]) for name, parts in PARTS.items()}
    result = materialize_graph(SCHEMA, uris, "graphs/tiny", settings=settings, store=store)
    return settings, store, uris, result


def _frame(name: str) -> pd.DataFrame:
    """The table's rows in ingestion order (row id = position), as pandas."""
    return pa.concat_tables(PARTS[name]).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def _node_rows(name: str) -> pd.DataFrame:
    """Independently of the job: the rows that are nodes, in node order (first row of each non-null key)."""
    frame = _frame(name)
    pk = SCHEMA["tables"][name]["primary_key"]
    if pk is None:
        return frame.reset_index(drop=True)
    return frame[frame[pk].notna()].drop_duplicates(pk, keep="first").reset_index(drop=True)


def _seconds(series: pd.Series) -> np.ndarray:
    values = series.to_numpy(dtype="datetime64[us]")
    out = values.astype("datetime64[s]").astype(np.int64)
    out[np.isnat(values)] = INT64_MIN
    return out


def _coo(csr) -> set[tuple[int, int, int | None]]:
    src = np.repeat(np.arange(csr.indptr.size - 1), np.diff(csr.indptr))
    times = csr.time if csr.time is not None else [None] * src.size
    return {(int(s), int(d), None if t is None else int(t)) for s, d, t in zip(src, csr.indices, times)}


def test_node_indexes_follow_first_rows_and_count_null_and_duplicate_keys(env):
    settings, store, uris, result = env
    artifacts = ArtifactStore(store)
    users = NodeIndex.open(artifacts, result.index_uris["users"])
    rows = pa.Table.from_batches(list(users.iter_batches())).to_pydict()
    assert rows == {"node": [0, 1, 2, 3], "key": [10, 20, 30, 40], "row": [0, 1, 4, 5]}
    assert users.metadata["null_keys"] == 1 and users.metadata["duplicate_rows"] == 1
    # Only where every row is a node numbered by its row id do later jobs skip the row -> node join.
    assert not users.metadata["nodes_are_rows"]
    assert NodeIndex.open(artifacts, result.index_uris["orders"]).metadata["nodes_are_rows"]
    assert users.lookup([40, 10, 77]).tolist() == [3, 0, -1]
    follows = NodeIndex.open(artifacts, result.index_uris["follows"])
    assert follows.key_column is None and follows.num_nodes == 4
    assert result.num_nodes == {"users": 4, "items": 3, "orders": 7, "follows": 4}


def test_edges_match_an_independent_join_and_reverse_is_the_transpose(env):
    settings, store, uris, result = env
    graph = GraphArtifact.open(ArtifactStore(store), result.graph_uri)
    graph.validate()
    nodes = {name: _node_rows(name) for name in PARTS}
    for link in SCHEMA["links"]:
        fact, column, target = link["table"], link["column"], link["to"]
        pk = SCHEMA["tables"][target]["primary_key"]
        facts = nodes[fact].reset_index().rename(columns={"index": "src"})
        targets = nodes[target].reset_index().rename(columns={"index": "dst"})
        with warnings.catch_warnings():  # the float followee against integer keys is the point here
            warnings.simplefilter("ignore", UserWarning)
            joined = facts.merge(targets, left_on=column, right_on=pk, suffixes=("", "_t"))
        times = []
        for table, suffix in ((fact, ""), (target, "_t")):
            time_column = SCHEMA["tables"][table]["time_column"]
            if time_column:
                name = time_column + suffix if time_column + suffix in joined else time_column
                times.append(_seconds(joined[name]))
        expected = np.maximum(times[0], times[1]) if len(times) == 2 else times[0]
        key = edge_key((fact, column, target))
        forward = graph.csr((fact, column, target))
        assert forward.indices.size == len(joined) == result.num_edges[key]
        assert _coo(forward) == set(zip(joined["src"].astype(int), joined["dst"].astype(int), expected.tolist()))
        reverse = graph.csr((target, "rev_" + column, fact))
        assert _coo(reverse) == {(d, s, t) for s, d, t in _coo(forward)}
        for csr in (forward, reverse):  # each node's edges sorted by (time, destination)
            for v in range(csr.indptr.size - 1):
                lo, hi = csr.indptr[v], csr.indptr[v + 1]
                pairs = list(zip(csr.time[lo:hi], csr.indices[lo:hi]))
                assert pairs == sorted(pairs)
        keyed = int(nodes[fact][column].notna().sum())
        assert result.links[key] == {"fact_rows": len(nodes[fact]), "null_keys": len(nodes[fact]) - keyed,
                                     "dangling_keys": keyed - len(joined), "num_edges": len(joined)}
    assert result.links["orders__user_id__users"]["dangling_keys"] == 1
    assert result.links["follows__followee__users"] == {"fact_rows": 4, "null_keys": 1, "dangling_keys": 1,
                                                        "num_edges": 2}
    assert result.links["users__referred_by__users"] == {"fact_rows": 4, "null_keys": 1, "dangling_keys": 1,
                                                         "num_edges": 2}
    assert result.links["orders__item_id__items"] == {"fact_rows": 7, "null_keys": 1, "dangling_keys": 1,
                                                      "num_edges": 5}
    # user 0 (key 10) ordered at 2024-02-15 (order 6) before 2024-03-01 (orders 0 and 2: tie, by destination).
    rev = graph.csr(("users", "rev_user_id", "orders"))
    assert rev.indices[rev.indptr[0]:rev.indptr[1]].tolist() == [6, 0, 2]
    # user 2 (key 30) has no signup time: the node time is the format's earliest instant.
    assert graph.node_time("users").tolist()[2] == INT64_MIN


def test_graph_has_the_bytes_and_metadata_of_the_in_memory_writer(env, tmp_path):
    settings, store, uris, result = env
    artifacts = ArtifactStore(store)
    nodes = {name: _node_rows(name) for name in PARTS}
    tables = []
    for name, frame in nodes.items():
        time_column = SCHEMA["tables"][name]["time_column"]
        tables.append(NodeTable(name, len(frame), _seconds(frame[time_column]) if time_column else None))
    links = []
    for link in SCHEMA["links"]:
        fact, column, target = link["table"], link["column"], link["to"]
        index = {k: i for i, k in enumerate(nodes[target][SCHEMA["tables"][target]["primary_key"]])}
        pairs = [(i, index[k]) for i, k in enumerate(nodes[fact][column]) if not pd.isna(k) and k in index]
        links.append(Link(fact, column, target, np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])))
    reference = write_graph_artifact(artifacts, "reference-graph", tables, links)
    ours = artifacts.open(result.graph_uri)
    assert {f.name: f.sha256 for f in ours.manifest.files} == {f.name: f.sha256 for f in reference.manifest.files}
    for key in FORMAT_GRAPH_KEYS:
        assert ours.manifest.metadata[key] == reference.manifest.metadata[key], key
    assert set(ours.manifest.metadata) - set(FORMAT_GRAPH_KEYS) == {"links", "node_index", "build"}


def _reference_features(name: str) -> FeatureBlocks:
    """The in-memory encoder's blocks from the node rows in node order, typed as the format expects."""
    frame = _node_rows(name)
    spec = SCHEMA["tables"][name]
    keys = {spec["primary_key"]} | {l["column"] for l in SCHEMA["links"] if l["table"] == name}
    groups: dict[str, dict] = {g: {} for g in GROUPS}
    for column, stype in spec["columns"].items():
        if stype == "ID" or column in keys:
            continue
        values = frame[column]
        if stype == "numerical":
            groups[stype][column] = values.astype("float64").to_numpy(na_value=np.nan)
        elif stype == "categorical":
            groups[stype][column] = [None if pd.isna(v) else v for v in values]
        elif stype == "multicategorical":
            groups[stype][column] = [
                None if v is None else list(v) if not isinstance(v, str)
                else [t.strip() for t in v.split("|") if t.strip()] for v in values]
        elif stype == "timestamp":
            groups[stype][column] = _seconds(values)
        else:
            groups[stype][column] = [None if pd.isna(v) else v for v in values]
    time_column = spec["time_column"]
    return encode_features(name, len(frame), **{g: v for g, v in groups.items() if v},
                           time=_seconds(frame[time_column]) if time_column else None, time_column=time_column)


def _approx(value):
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_approx(v) for v in value]
    return pytest.approx(value, rel=1e-6) if isinstance(value, float) else value


@pytest.mark.parametrize("table", list(PARTS))
def test_features_match_the_in_memory_encoder(env, table):
    settings, store, uris, result = env
    artifacts = ArtifactStore(store)
    reference_blocks = _reference_features(table)
    reference = write_feature_artifact(artifacts, f"reference-features/{table}", reference_blocks)
    ours = FeatureArtifact.open(artifacts, result.feature_uris[table])
    theirs = FeatureArtifact(reference)
    binary = {f.name: f.sha256 for f in reference.manifest.files if f.kind == "numpy"}
    assert binary and {f.name: f.sha256 for f in ours.manifest.files if f.kind == "numpy"} == binary
    assert ours.vocabularies == theirs.vocabularies
    if ours.columns["text"]:
        assert ours.text().equals(theirs.text())
    for key in FORMAT_FEATURE_KEYS:
        assert ours.manifest.metadata[key] == reference.manifest.metadata[key], key
    assert ours.stats == _approx(theirs.stats)
    # The blocks read back validate against the format.
    mc = ours.multicategorical()
    FeatureBlocks(table=table, num_rows=ours.num_rows, columns=ours.columns, numerical=ours.block("numerical"),
                  categorical=ours.block("categorical"), timestamp=ours.block("timestamp"),
                  multicategorical_offsets=None if mc is None else mc[0],
                  multicategorical_values=None if mc is None else mc[1], text=ours.text(), time=ours.time(),
                  time_column=ours.time_column, vocabularies=ours.vocabularies).validate()


def test_features_decode_to_the_source_rows(env):
    settings, store, uris, result = env
    users = FeatureArtifact.open(ArtifactStore(store), result.feature_uris["users"])
    assert users.columns == {"numerical": ["age"], "categorical": ["country"], "multicategorical": ["tags"],
                             "timestamp": ["signup"], "text": ["bio"]}
    # Nodes 0..3 are users 10, 20, 30, 40 (first rows 0, 1, 4, 5).
    assert np.array_equal(users.block("numerical")[:, 0], np.array([31.0, np.nan, 22.5, 51.0], np.float32),
                          equal_nan=True)
    vocab = users.vocabularies
    assert [None if c < 0 else vocab["country"][c] for c in users.block("categorical")[:, 0]] == ["DE", "US", None, "DE"]
    offsets, values = users.multicategorical()
    assert [[vocab["tags"][v] for v in values[offsets[r]:offsets[r + 1]]] for r in range(4)] == [
        ["a", "b"], ["b"], ["a", "c"], []]
    assert users.text().column("bio").to_pylist() == ["hello", None, "hi there", "é"]
    assert users.stats["age"]["count"] == 3 and users.stats["age"]["null_count"] == 1
    assert users.stats["tags"]["mean_length"] == pytest.approx(5 / 4)
    items = FeatureArtifact.open(ArtifactStore(store), result.feature_uris["items"])
    assert items.vocabularies["on_sale"] == [False, True] and items.block("categorical")[:, 1].tolist() == [1, -1, 0]
    assert not items.has_time and items.stats["price"]["null_count"] == 1


def test_long_tails_share_one_other_code(env):
    settings, store, uris, result = env
    art = materialize_features(SCHEMA, "orders", uris["orders"], result.index_uris["orders"], "features/orders-top1",
                               options=FeatureOptions(max_categories=1), settings=settings, store=store)
    # status: 2 four times, 1 twice, 3 once; only the most frequent keeps its own code.
    assert art.vocabularies["status"] == [2, OTHER]
    assert art.block("categorical")[:, 0].tolist() == [1, 0, 0, 0, 1, 1, 0]
    assert art.stats["status"] == {"cardinality": 2, "null_count": 0, "counts": [4, 3], "other_code": 1,
                                   "distinct": 3}


def test_materialize_is_idempotent_and_the_cli_finds_the_result(env):
    settings, store, uris, result = env
    again = materialize_graph(SCHEMA, uris, "graphs/tiny", settings=settings, store=store)
    assert again.reused and again.graph_uri == result.graph_uri and again.num_edges == result.num_edges
    schema_file = Path(settings.home) / "schema.json"
    schema_file.write_text(json.dumps(SCHEMA))
    env_vars = {"PQ_HOME": str(settings.home)}
    out = CliRunner().invoke(materialize_app, ["graph", str(schema_file), "--out", "graphs/tiny", "--json"], env=env_vars)
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["reused"] is True
    out = CliRunner().invoke(materialize_app, ["graph", str(schema_file), "--out", "graphs/x", "--tables", "nowhere"],
                             env=env_vars)
    assert isinstance(out.exception, MaterializeError) and "no ingested table for users" in str(out.exception)


def test_node_index_is_stable_when_rows_are_appended(env):
    settings, store, uris, result = env
    artifacts = ArtifactStore(store)
    first = NodeIndex.open(artifacts, result.index_uris["users"])
    # The new version: the old rows in another part layout, plus new keys, a repeated old key and a new duplicate.
    old = pa.concat_tables(USERS)
    appended = pa.table({"user_id": pa.array([50, 20, 5, 50]), "signup": _ts("2024-06-01", None, "2024-06-02", None),
                         "age": pa.array([1.0, 2.0, 3.0, 4.0]), "country": pa.array(["DE"] * 4),
                         "tags": pa.array(["a"] * 4), "bio": pa.array(["n"] * 4),
                         "referred_by": pa.array([None] * 4, pa.int64())})
    v2 = write_table(store, store.uri("tables", "users-v2"), "users", [old.slice(0, 4), old.slice(4), appended],
                     "user_id", "signup")
    second = update_node_index(first.uri, v2, "index/users-v2", settings=settings, store=store)
    assert second.num_nodes == 6 and second.metadata["new_nodes"] == 2
    assert second.lookup([10, 20, 30, 40, 50, 5]).tolist() == [0, 1, 2, 3, 4, 5]
    assert second.metadata["duplicate_rows"] == 3 and second.metadata["null_keys"] == 1
    assert not second.metadata["nodes_are_rows"]
    # Rebuilding from scratch numbers the same way here (old rows first), and the update is idempotent.
    assert build_node_index(v2, "index/users-v2-full", primary_key="user_id", settings=settings,
                            store=store).lookup([10, 20, 30, 40, 50, 5]).tolist() == [0, 1, 2, 3, 4, 5]
    again = update_node_index(first.uri, v2, "index/users-v2", settings=settings, store=store)
    assert again.artifact.manifest.created_at == second.artifact.manifest.created_at
    # A table without a primary key: appended rows are new nodes; losing rows is refused.
    follows = NodeIndex.open(artifacts, result.index_uris["follows"])
    more = write_table(store, store.uri("tables", "follows-v2"), "follows", FOLLOWS + FOLLOWS, None, "followed_at")
    assert update_node_index(follows.uri, more, "index/follows-v2", primary_key=None, settings=settings,
                             store=store).metadata["new_nodes"] == 4
    fewer = write_table(store, store.uri("tables", "follows-v0"), "follows", [FOLLOWS[0].slice(0, 2)], None,
                        "followed_at")
    with pytest.raises(MaterializeError, match="can only be appended"):
        update_node_index(follows.uri, fewer, "index/follows-v0", primary_key=None, settings=settings, store=store)


def test_the_same_graph_on_s3(env, s3_store):
    """On an S3 store (real SeaweedFS), Spark works on staged copies; the artifacts are byte for byte the same."""
    settings, store, uris, result = env
    schema = {"tables": {t: SCHEMA["tables"][t] for t in ("users", "orders", "items")}, "links": SCHEMA["links"][:2]}
    s3_uris = {name: write_table(s3_store, s3_store.uri("tables", name), name, PARTS[name],
                                 SCHEMA["tables"][name]["primary_key"], SCHEMA["tables"][name]["time_column"])
               for name in schema["tables"]}
    on_s3 = materialize_graph(schema, s3_uris, "graphs/tiny", settings=settings, store=s3_store)
    assert on_s3.graph_uri.startswith("s3://") and on_s3.num_edges == {k: result.num_edges[k] for k in on_s3.num_edges}
    # Every file equals the same file of the local run (the subset's tables and links give the same arrays).
    pairs = [(on_s3.graph_uri, result.graph_uri)] + [(on_s3.feature_uris[t], result.feature_uris[t])
                                                      for t in schema["tables"]]
    for ours, theirs in pairs:
        local = {f.name: f.sha256 for f in ArtifactStore(store).open(theirs).manifest.files}
        files = ArtifactStore(s3_store).open(ours).manifest.files
        assert len(files) > 1 and {f.name: f.sha256 for f in files} == {f.name: local[f.name] for f in files}
    GraphArtifact.open(ArtifactStore(s3_store), on_s3.graph_uri).validate()
    assert FeatureArtifact.open(ArtifactStore(s3_store), on_s3.feature_uris["users"]).text().num_rows == 4


def test_sorted_output_streams_several_parts_in_order(env, spark):
    """The assumption every streamed file rests on: range parts read in name order give the global order."""
    from data_engine.materialize.spark_io import SortedOutput
    from data_engine.staging import Staging

    settings, store, uris, result = env
    values = np.random.default_rng(1).permutation(50)
    frame = spark.createDataFrame([(int(v), int(v) % 7) for v in values], "x long, y long")
    with Staging(store, settings.home / "scratch") as staging, \
            ArtifactStore(store).writer("sorted-check", producer="tests") as writer:
        with SortedOutput(staging, writer, "check", frame, ["y", "x"], rows_hint=50) as out:
            assert len(out._parts) > 1 and out.rows == 50
            got = pa.Table.from_batches(list(out.batches()))
            assert got.column("x").to_pylist() == sorted(range(50), key=lambda v: (v % 7, v))
    assert not store.exists(writer.file_uri("_work"))


def test_sorted_output_parts_have_bounded_row_groups_read_in_bounded_batches(env, spark, monkeypatch):
    """Spark writes a part in row groups of about ROW_GROUP_BYTES, not one group per part, and the batches
    that stream them back span row groups (so the bytes written from them do not depend on the grouping)."""
    import pyarrow.parquet as pq

    from data_engine.materialize import spark_io
    from data_engine.materialize.spark_io import SortedOutput
    from data_engine.staging import Staging

    monkeypatch.setattr(spark_io, "ROW_GROUP_BYTES", 1024)
    settings, store, uris, result = env
    frame = spark.range(5000).selectExpr("(id * 7919) % 5000 AS x")
    with Staging(store, settings.home / "scratch") as staging, \
            ArtifactStore(store).writer("row-group-check", producer="tests") as writer:
        with SortedOutput(staging, writer, "check", frame, ["x"], rows_hint=2) as out:
            assert len(out._parts) == 1 and out.rows == 5000
            assert pq.ParquetFile(out._parts[0]).metadata.num_row_groups > 2
            sizes = [b.num_rows for b in out.batches(batch_size=1500)]
            assert sizes == [1500, 1500, 1500, 500]
            assert pa.Table.from_batches(list(out.batches(batch_size=4096))).column("x").to_pylist() == list(range(5000))
