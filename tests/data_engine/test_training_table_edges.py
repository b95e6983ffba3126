"""Training and prediction tables on hand-made tables whose labels are worked out by hand.

Times are days after B = 2024-01-01 (UTC). With ``validation_start = B+40``, ``holdout_start = B+50`` and a
10-day window the anchors are B+10, B+20, B+30 (train), B+40 (val) and B+50 (holdout); events sit exactly on
anchors and window ends to pin down the window semantics ``T + start < time <= T + end``.
"""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import pql
from data_engine.ingest import ingest_table
from data_engine.training_table import (
    AnchorError,
    SplitBoundaries,
    TrainingTableError,
    build_prediction_table,
    build_training_table,
)
from platform_core.artifacts import ArtifactStore
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore
from platform_core.settings import load_settings
from services.cli.training_table_commands import training_table_app

pytestmark = pytest.mark.integration

UTC = dt.timezone.utc
B = dt.datetime(2024, 1, 1, tzinfo=UTC)
SECOND = dt.timedelta(seconds=1)


def day(n: float) -> dt.datetime:
    return B + dt.timedelta(days=n)


SCHEMA = {
    "tables": {
        "users": {"primary_key": "user_id", "time_column": "created_at",
                  "columns": {"user_id": "ID", "created_at": "timestamp", "country": "categorical",
                              "region_id": "ID", "tier": "categorical"}},
        "regions": {"primary_key": "region_id", "time_column": None,
                    "columns": {"region_id": "ID", "size": "numerical"}},
        "events": {"primary_key": "event_id", "time_column": "at",
                   "columns": {"event_id": "ID", "user_id": "ID", "at": "timestamp", "kind": "categorical",
                               "value": "numerical"}},
    },
    "links": [
        {"table": "users", "column": "region_id", "to": "regions"},
        {"table": "events", "column": "user_id", "to": "users"},
    ],
}
TS = pa.timestamp("us", tz="UTC")
ROWS = {
    "users": pa.table({
        "user_id": pa.array([1, 2, 3, 4], pa.int64()),
        "created_at": pa.array([day(-100), day(-100), day(35), day(-100)], TS),
        "country": ["US", "FR", "US", "US"],
        "region_id": pa.array([1, 2, 1, None], pa.int64()),
        "tier": ["gold", None, "silver", "gold"],
    }),
    "regions": pa.table({"region_id": pa.array([1, 2, 3], pa.int64()),
                         "size": pa.array([10.0, 3.0, None], pa.float64())}),
    "events": pa.table({
        "event_id": pa.array([1, 2, 3, 4, 5, 6, 7, 8], pa.int64()),
        "user_id": pa.array([1, 1, 1, 2, 2, 3, 1, 2], pa.int64()),
        "at": pa.array([day(5), day(30), day(40), day(30) + SECOND, day(20), day(45), day(60), day(90)], TS),
        "kind": ["a", "b", "a", "b", "a", "a", "b", "a"],
        "value": pa.array([1.0, 2.0, 3.0, 4.0, None, 5.0, 6.0, 1.5], pa.float64()),
    }),
}
BOUNDS = SplitBoundaries(validation_start=day(40), holdout_start=day(50))
SPLIT_OF = {10: "train", 20: "train", 30: "train", 40: "val", 50: "holdout"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, spark):
    """The hand-made tables, ingested into a local store (``<store>/tables/<name>``)."""
    root = tmp_path_factory.mktemp("tt-edges")
    settings = load_settings(home=root / "home", spark_master="local[2]")
    store = ObjectStore((root / "store").as_uri())
    uris = {}
    for name, table in ROWS.items():
        path = root / "raw" / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        uris[name] = ingest_table(path.as_uri(), name, output=store.uri("tables", name), settings=settings,
                                  store=store, spark=spark, profile=False).uri
    schema = pql.GraphSchema.from_json(json.dumps(SCHEMA))
    return {"root": root, "settings": settings, "store": store, "spark": spark, "uris": uris, "schema": schema}


def _build(env, query: str, name: str, tables=None, **kwargs):
    plan = pql.compile(query, env["schema"]).plan
    uris = {t: env["uris"][t] for t in (tables or env["uris"])}
    return build_training_table(plan, uris, env["store"].uri("out", name), store=env["store"],
                                settings=env["settings"], spark=env["spark"], **kwargs)


def _rows(env, uri: str) -> list[dict]:
    art = ArtifactStore(env["store"]).open(uri)
    tables = [art.read_table(f.name) for f in art.manifest.files if f.name.startswith("data/")]
    return pa.concat_tables(tables).to_pylist()


def _by_day(rows: list[dict], key: str = "user_id") -> dict[tuple[int, int], object]:
    """{(entity, days after B): label}, checking each row's split on the way."""
    out = {}
    for r in rows:
        offset = (r["anchor_time"] - B) / dt.timedelta(days=1)
        assert offset == int(offset)
        assert r["split"] == SPLIT_OF[int(offset)], r
        out[(r[key], int(offset))] = r["label"]
    return out


def test_window_is_start_exclusive_end_inclusive_and_entities_exist_after_creation(env) -> None:
    query = "PREDICT COUNT(events.*, 0, 10, days) FOR EACH users.user_id"
    result = _build(env, query, "count", tables=["users", "events"], boundaries=BOUNDS)
    assert result.anchors == {"train": [day(10), day(20), day(30)], "val": [day(40)], "holdout": [day(50)]}
    assert result.label_type == "double" and result.task_type == "regression"
    got = _by_day(_rows(env, result.uri))
    nonzero = {(2, 10): 1.0,  # event at B+20 = T+10: end inclusive
               (1, 20): 1.0,  # event at B+30 = T+10; the one at B+20 (= T) belongs to the window before
               (1, 30): 1.0, (2, 30): 1.0,  # B+40 inclusive; B+30 (= T) excluded, B+30 + 1 s included
               (3, 40): 1.0, (1, 50): 1.0}
    # User 3 exists from B+35: not at the anchors B+10..B+30.
    expected = {(u, d): nonzero.get((u, d), 0.0) for d in (10, 20, 30, 40, 50) for u in (1, 2, 3, 4)
                if not (u == 3 and d < 35)}
    assert got == expected
    assert result.rows_per_split == {"train": 9, "val": 4, "holdout": 4}
    assert result.metadata["stats"]["train"]["label"]["max"] == 1.0
    # The same inputs again: the artifact is found, not rebuilt; other boundaries rebuild it.
    again = _build(env, query, "count", tables=["users", "events"], boundaries=BOUNDS)
    assert again.reused and not result.reused and again.rows == result.rows
    other = _build(env, query, "count", tables=["users", "events"],
                   boundaries=SplitBoundaries(validation_start=day(30), holdout_start=day(50)))
    assert not other.reused and other.anchors["val"] == [day(30)] and other.anchors["train"] == [day(10), day(20)]


def test_where_sees_rows_up_to_the_anchor_and_labels_only_after(env) -> None:
    result = _build(env, "PREDICT COUNT(events.*, 0, 10, days) > 0 FOR EACH users.user_id "
                         "WHERE COUNT(events.*, -10, 0, days) > 0", "leak", tables=["users", "events"],
                    boundaries=BOUNDS)
    assert result.label_type == "boolean"
    assert _by_day(_rows(env, result.uri)) == {
        (1, 10): False, (2, 20): False,  # the event at B+20 = T passes WHERE at T and is no label at T
        (1, 30): True, (1, 40): False, (2, 40): False, (3, 50): False}


def test_empty_windows_drop_undefined_labels(env) -> None:
    result = _build(env, "PREDICT AVG(events.value, 0, 10, days) FOR EACH users.user_id", "avg",
                    tables=["users", "events"], boundaries=BOUNDS)
    # User 2's only event in (B+10, B+20] has no value: AVG is undefined there, like an empty window.
    assert _by_day(_rows(env, result.uri)) == {(1, 20): 2.0, (1, 30): 3.0, (2, 30): 4.0, (3, 40): 5.0,
                                                (1, 50): 6.0}


def test_null_aggregations_in_where_make_comparisons_false(env) -> None:
    result = _build(env, "PREDICT COUNT(events.*, 0, 10, days) > 0 FOR EACH users.user_id "
                         "WHERE NOT MAX(events.value, -INF, 0, days) > 1", "nullwhere", tables=["users", "events"],
                    boundaries=BOUNDS)
    assert _by_day(_rows(env, result.uri)) == {
        (1, 10): False, (1, 20): True,
        (2, 10): True, (2, 20): False, (2, 30): True,  # no (non-NULL) value yet: MAX is NULL, NOT (NULL > 1)
        (3, 40): True,
        **{(4, d): False for d in (10, 20, 30, 40, 50)}}


def test_forecast_over_a_multi_hop_path(env) -> None:
    result = _build(env, "PREDICT SUM(events.value, 0, 10, days) FORECAST 2 TIMEFRAMES FOR EACH regions.region_id",
                    "forecast")
    # Events span B+5..B+90; a 20-day horizon in 10-day steps: holdout B+70, val B+50, train B+10..B+30.
    assert result.anchors == {"train": [day(10), day(20), day(30)], "val": [day(50)], "holdout": [day(70)]}
    assert result.label_type == "array<double>" and result.task_type == "forecasting"
    got = {(r["region_id"], (r["anchor_time"] - B).days): r["label"] for r in _rows(env, result.uri)}
    # events -> users -> regions: users 1 and 3 live in region 1, user 2 in region 2, region 3 has nobody.
    # The event without value sums to 0 (SUM's empty rule), like an empty window.
    nonzero = {(1, 10): [0.0, 2.0], (1, 20): [2.0, 3.0], (2, 20): [0.0, 4.0], (1, 30): [3.0, 5.0],
               (2, 30): [4.0, 0.0], (1, 50): [6.0, 0.0], (2, 70): [0.0, 1.5]}
    assert got == {(r, d): nonzero.get((r, d), [0.0, 0.0]) for d in (10, 20, 30, 50, 70) for r in (1, 2, 3)}
    assert result.metadata["stats"]["holdout"]["label"]["mean_per_horizon"] == [0.0, 0.5]


def test_static_target_through_a_foreign_key_split_by_entity_time(env) -> None:
    bounds = SplitBoundaries(validation_start=day(-50), holdout_start=day(30))
    result = _build(env, "PREDICT regions.size FOR EACH users.user_id WHERE users.country = 'US'", "static",
                    boundaries=bounds)
    rows = _rows(env, result.uri)
    # User 4 has no region, so no size: no label, no example. The anchor is the newest time of any table.
    assert sorted((r["user_id"], r["label"], r["split"]) for r in rows) == [(1, 10.0, "train"), (3, 10.0, "holdout")]
    assert {r["anchor_time"] for r in rows} == {day(90)}
    with pytest.raises(TrainingTableError, match="temporal queries only"):
        _build(env, "PREDICT regions.size FOR EACH users.user_id", "static2",
               boundaries=SplitBoundaries(anchor_step="7 days"))


def test_prediction_table_filters_at_the_anchor(env) -> None:
    schema, store = env["schema"], env["store"]
    plan = pql.compile("PREDICT COUNT(events.*, 0, 10) > 0 FOR EACH users.user_id "
                       "WHERE COUNT(events.*, -10, 0) > 0", schema).plan
    tables = {t: env["uris"][t] for t in ("users", "events")}
    kwargs = {"store": store, "settings": env["settings"], "spark": env["spark"]}

    def keys(result):
        return sorted(r["user_id"] for r in _rows(env, result.uri))

    latest = build_prediction_table(plan, tables, store.uri("pred", "latest"), **kwargs)
    assert latest.anchor_time == day(90) and keys(latest) == [2]
    at = build_prediction_table(plan, tables, store.uri("pred", "at45"), day(45), **kwargs)
    assert keys(at) == [1, 3] and at.rows == 2
    assert {r["anchor_time"] for r in _rows(env, at.uri)} == {day(45)}
    some = pql.compile("PREDICT COUNT(events.*, 0, 10) > 0 FOR users.user_id IN (2, 3) "
                       "WHERE COUNT(events.*, -10, 0) > 0", schema).plan
    assert keys(build_prediction_table(some, tables, store.uri("pred", "ids"), "2024-02-15", **kwargs)) == [3]
    static = pql.compile("PREDICT COUNT(events.*, 0, 10) > 0 FOR EACH users.user_id WHERE users.country = 'US'",
                         schema).plan
    # User 3 signs up at B+35: not an entity yet at B+30.
    assert keys(build_prediction_table(static, tables, store.uri("pred", "static"), day(30), **kwargs)) == [1, 4]


def test_user_errors(env) -> None:
    with pytest.raises(TrainingTableError, match="no table URI for events"):
        _build(env, "PREDICT COUNT(events.*, 0, 10) FOR EACH users.user_id", "err1", tables=["users"])
    with pytest.raises(AnchorError, match="no holdout anchor") as info:
        _build(env, "PREDICT COUNT(events.*, 0, 10) FOR EACH users.user_id", "err2", tables=["users", "events"],
               boundaries=SplitBoundaries(holdout_start=day(85)))
    assert isinstance(info.value, UserFacingError)
    assert not ArtifactStore(env["store"]).exists(env["store"].uri("out", "err2"))


def test_cli_build_and_prediction(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PQ_HOME", str(env["root"] / "cli-home"))
    monkeypatch.setenv("PQ_SPARK_MASTER", "local[2]")
    schema_path = env["root"] / "schema.json"
    schema_path.write_text(json.dumps(SCHEMA))
    store = env["store"]
    runner = CliRunner()
    result = runner.invoke(training_table_app, [
        "build", "--schema", str(schema_path), "--output", store.uri("cli", "tt"), "--tables", store.uri("tables"),
        "--validation-start", "2024-02-10", "--holdout-start", "2024-02-20", "--json",
        "PREDICT COUNT(events.*, 0, 10, days) FOR EACH users.user_id"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["rows_per_split"] == {"train": 9, "val": 4, "holdout": 4}
    assert payload["anchors"]["holdout"] == [day(50).isoformat()]
    result = runner.invoke(training_table_app, [
        "prediction", "--schema", str(schema_path), "--output", store.uri("cli", "pt"),
        "--table", f"users={env['uris']['users']}", "--table", f"events={env['uris']['events']}",
        "--anchor-time", "2024-02-15", "--json",
        "PREDICT COUNT(events.*, 0, 10) > 0 FOR EACH users.user_id WHERE COUNT(events.*, -10, 0) > 0"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"] == 2
    bad = runner.invoke(training_table_app, ["build", "--schema", str(schema_path), "--output", "x",
                                             "--table", "users", "PREDICT regions.size FOR EACH users.user_id"])
    assert isinstance(bad.exception, UserFacingError) and "NAME=URI" in str(bad.exception)


def test_tables_on_s3(env, s3_store: ObjectStore) -> None:
    """The same job against a real S3 server: inputs staged for Spark, parts uploaded into the artifact."""
    uris = {name: ingest_table((env["root"] / "raw" / f"{name}.parquet").as_uri(), name,
                               output=s3_store.uri("tables", name), settings=env["settings"], store=s3_store,
                               spark=env["spark"], profile=False).uri
            for name in ("users", "events")}
    plan = pql.compile("PREDICT COUNT(events.*, 0, 10, days) > 0 FOR EACH users.user_id "
                       "WHERE COUNT(events.*, -10, 0, days) > 0", env["schema"]).plan
    kwargs = {"store": s3_store, "settings": env["settings"], "spark": env["spark"]}
    result = build_training_table(plan, uris, s3_store.uri("out", "leak"), boundaries=BOUNDS, **kwargs)
    assert result.uri.startswith("s3://")
    art = ArtifactStore(s3_store).open(result.uri)
    art.verify()
    rows = pa.concat_tables([art.read_table(f.name) for f in art.manifest.files if f.name.startswith("data/")])
    assert _by_day(rows.to_pylist()) == {(1, 10): False, (2, 20): False, (1, 30): True, (1, 40): False,
                                         (2, 40): False, (3, 50): False}
    predicted = build_prediction_table(plan, uris, s3_store.uri("out", "pred"), day(45), **kwargs)
    assert predicted.rows == 2
