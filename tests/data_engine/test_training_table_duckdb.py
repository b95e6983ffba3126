"""Training tables of the demo data against the same labels written independently in DuckDB SQL.

Each test builds a table with Spark from ingested artifacts, then computes the expected rows from the raw
demo Parquet files with hand-written SQL over the anchors the job chose (the anchors themselves are checked
against the data's time range), and compares the row sets and labels.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

import pql
from data_engine.demo_data import generate
from data_engine.ingest import ingest_table
from data_engine.training_table import SplitBoundaries, build_training_table
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore
from platform_core.settings import load_settings

pytestmark = pytest.mark.integration

TABLES = ("customers", "orders", "products")
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, spark):
    """Demo data at scale 0.03, ingested; a DuckDB connection with the raw files as views."""
    root = tmp_path_factory.mktemp("tt-duckdb")
    settings = load_settings(home=root / "home", spark_master="local[2]")
    store = ObjectStore((root / "store").as_uri())
    raw = root / "raw"
    generate(raw.as_uri(), scale=0.03, seed=7, fmt="parquet")
    uris = {name: ingest_table((raw / f"{name}.parquet").as_uri(), name, output=store.uri("tables", name),
                               settings=settings, store=store, spark=spark, profile=False).uri
            for name in TABLES}
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name in TABLES:
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{raw / (name + '.parquet')}')")
    schema = pql.GraphSchema.from_json((raw / "schema.json").read_text())
    yield {"settings": settings, "store": store, "spark": spark, "uris": uris, "con": con, "schema": schema}
    con.close()


def _build(demo, query: str, name: str, **kwargs):
    plan = pql.compile(query, demo["schema"], seed=kwargs.pop("seed", 0)).plan
    return build_training_table(plan, demo["uris"], demo["store"].uri("out", name), store=demo["store"],
                                settings=demo["settings"], spark=demo["spark"], **kwargs)


def _naive(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _spark_rows(demo, result, key: str = "customer_id") -> dict[tuple, tuple]:
    art = ArtifactStore(demo["store"]).open(result.uri)
    table = pa.concat_tables([art.read_table(f.name) for f in art.manifest.files if f.name.startswith("data/")])
    out = {}
    for r in table.to_pylist():
        k = (r[key], _naive(r["anchor_time"]))
        assert k not in out, f"duplicate example {k}"
        out[k] = (r["label"], r["split"])
    return out


def _load_anchors(demo, result) -> None:
    con = demo["con"]
    con.execute("CREATE OR REPLACE TABLE anchors (t TIMESTAMP, split VARCHAR)")
    rows = [(_naive(t), split) for split, times in result.anchors.items() for t in times]
    con.executemany("INSERT INTO anchors VALUES (?, ?)", rows)


def _duck_rows(demo, sql: str) -> dict[tuple, tuple]:
    return {(r[0], r[1]): (r[2], r[3]) for r in demo["con"].execute(sql).fetchall()}


def _default_anchors(demo, window: dt.timedelta, table="orders", column="ordered_at") -> dict[str, list]:
    lo, hi = demo["con"].execute(f"SELECT min({column}), date_trunc('second', max({column})) FROM {table}").fetchone()
    holdout, val = hi - window, hi - 2 * window
    train, t = [], val - window
    while t > lo:
        train.append(t)
        t -= window
    return {"train": sorted(train), "val": [val], "holdout": [holdout]}


def _anchor_lists(result) -> dict[str, list]:
    return {k: [_naive(t) for t in v] for k, v in result.anchors.items()}


def test_churn_with_past_activity_filter(demo) -> None:
    result = _build(demo, "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id "
                          "WHERE COUNT(orders.*, -90, 0, days) > 0", "churn")
    assert _anchor_lists(result) == _default_anchors(demo, 30 * DAY)
    _load_anchors(demo, result)
    expected = _duck_rows(demo, """
        SELECT c.customer_id, a.t,
               (SELECT count(*) FROM orders o WHERE o.customer_id = c.customer_id
                  AND o.ordered_at > a.t AND o.ordered_at <= a.t + INTERVAL 30 DAY) = 0,
               a.split
        FROM customers c CROSS JOIN anchors a
        WHERE (c.signup_date IS NULL OR c.signup_date <= a.t)
          AND (SELECT count(*) FROM orders o WHERE o.customer_id = c.customer_id
                 AND o.ordered_at > a.t - INTERVAL 90 DAY AND o.ordered_at <= a.t) > 0""")
    got = _spark_rows(demo, result)
    assert got == expected
    labels = [label for label, _ in got.values()]
    assert 0 < sum(labels) < len(labels)  # both classes occur: the comparison is not trivially true
    assert result.rows_per_split == {s: sum(1 for _, sp in got.values() if sp == s) for s in ("train", "val", "holdout")}


def test_sum_regression_with_given_boundaries(demo) -> None:
    bounds = SplitBoundaries(validation_start="2024-09-01", holdout_start="2024-10-15", anchor_step="14 days",
                             eval_windows=2)
    result = _build(demo, "PREDICT SUM(orders.price, 0, 30, days) FOR EACH customers.customer_id", "sum",
                    boundaries=bounds)
    lo = demo["con"].execute("SELECT min(ordered_at) FROM orders").fetchone()[0]
    vs, hs = dt.datetime(2024, 9, 1), dt.datetime(2024, 10, 15)
    train, t = [], vs - 3 * 14 * DAY  # the smallest multiple of the 14-day step covering the 30-day window
    while t > lo:
        train.append(t)
        t -= 14 * DAY
    assert _anchor_lists(result) == {"train": sorted(train), "val": [vs, vs + 14 * DAY],
                                     "holdout": [hs, hs + 14 * DAY]}
    _load_anchors(demo, result)
    expected = _duck_rows(demo, """
        SELECT c.customer_id, a.t,
               coalesce((SELECT sum(o.price) FROM orders o WHERE o.customer_id = c.customer_id
                           AND o.ordered_at > a.t AND o.ordered_at <= a.t + INTERVAL 30 DAY), 0),
               a.split
        FROM customers c CROSS JOIN anchors a
        WHERE c.signup_date IS NULL OR c.signup_date <= a.t""")
    got = _spark_rows(demo, result)
    assert got.keys() == expected.keys()
    for k, (label, split) in expected.items():
        assert got[k][1] == split
        assert got[k][0] == pytest.approx(label, rel=1e-9, abs=1e-9)
    assert any(label > 0 for label, _ in got.values())


def test_filtered_count_with_assuming(demo) -> None:
    result = _build(demo, "PREDICT COUNT(orders.* WHERE orders.returned = true, 0, 30) > 0 "
                          "FOR EACH customers.customer_id ASSUMING COUNT(orders.*, 0, 30) > 0", "assuming")
    _load_anchors(demo, result)
    expected = _duck_rows(demo, """
        SELECT c.customer_id, a.t,
               (SELECT count(*) FROM orders o WHERE o.customer_id = c.customer_id AND o.returned
                  AND o.ordered_at > a.t AND o.ordered_at <= a.t + INTERVAL 30 DAY) > 0,
               a.split
        FROM customers c CROSS JOIN anchors a
        WHERE (c.signup_date IS NULL OR c.signup_date <= a.t)
          AND (SELECT count(*) FROM orders o WHERE o.customer_id = c.customer_id
                 AND o.ordered_at > a.t AND o.ordered_at <= a.t + INTERVAL 30 DAY) > 0""")
    got = _spark_rows(demo, result)
    assert got == expected
    assert 0 < sum(label for label, _ in got.values()) < len(got)


def test_first_multiclass(demo) -> None:
    result = _build(demo, "PREDICT FIRST(orders.channel, 0, 7) FOR EACH customers.customer_id", "first",
                    boundaries=SplitBoundaries(max_train_anchors=20))
    assert len(result.anchors["train"]) == 20
    _load_anchors(demo, result)
    expected = _duck_rows(demo, """
        SELECT customer_id, t, channel, split FROM (
            SELECT c.customer_id, a.t, a.split, o.channel,
                   row_number() OVER (PARTITION BY c.customer_id, a.t ORDER BY o.ordered_at, o.order_id) AS rn
            FROM customers c
            JOIN anchors a ON c.signup_date IS NULL OR c.signup_date <= a.t
            JOIN orders o ON o.customer_id = c.customer_id AND o.channel IS NOT NULL
                         AND o.ordered_at > a.t AND o.ordered_at <= a.t + INTERVAL 7 DAY)
        WHERE rn = 1""")
    got = _spark_rows(demo, result)
    assert got == expected
    assert result.label_type == "string" and len({label for label, _ in got.values()}) > 1


def test_list_distinct_ranking(demo) -> None:
    result = _build(demo, "PREDICT LIST_DISTINCT(orders.product_id, 0, 7, days) RANK TOP 12 "
                          "FOR EACH customers.customer_id", "rank", boundaries=SplitBoundaries(max_train_anchors=20))
    _load_anchors(demo, result)
    expected = _duck_rows(demo, """
        SELECT c.customer_id, a.t, list_sort(list_distinct(list(o.product_id))), a.split
        FROM customers c
        JOIN anchors a ON c.signup_date IS NULL OR c.signup_date <= a.t
        JOIN orders o ON o.customer_id = c.customer_id
                     AND o.ordered_at > a.t AND o.ordered_at <= a.t + INTERVAL 7 DAY
        GROUP BY c.customer_id, a.t, a.split
        HAVING count(o.product_id) > 0""")
    got = _spark_rows(demo, result)
    assert got == expected
    assert result.label_type == "array<bigint>" and result.metadata["rank_k"] == 12
    assert any(len(label) > 1 for label, _ in got.values())


def test_static_target_split_by_signup_time(demo) -> None:
    result = _build(demo, "PREDICT customers.segment FOR EACH customers.customer_id", "static")
    con = demo["con"]
    latest = con.execute("SELECT greatest((SELECT max(signup_date) FROM customers), "
                         "(SELECT max(ordered_at) FROM orders))").fetchone()[0]
    expected = dict(con.execute("SELECT customer_id, segment FROM customers WHERE segment IS NOT NULL").fetchall())
    got = _spark_rows(demo, result)
    assert {k[1] for k in got} == {latest}
    assert {k[0]: label for k, (label, _) in got.items()} == expected
    # The oldest 80 % by signup time train, the next 10 % validate, the newest hold out (ties stay together).
    times = dict(con.execute("SELECT customer_id, signup_date FROM customers").fetchall())
    ordered = sorted(times.values())
    n = len(ordered)
    q80 = next(v for v in ordered if sum(t <= v for t in ordered) >= 0.8 * n)
    q90 = next(v for v in ordered if sum(t <= v for t in ordered) >= 0.9 * n)
    for (key, _), (_, split) in got.items():
        assert split == ("train" if times[key] <= q80 else "val" if times[key] <= q90 else "holdout")
    assert {split for _, split in got.values()} == {"train", "val", "holdout"}


def test_static_random_split_of_an_entity_without_time(demo) -> None:
    result = _build(demo, "PREDICT products.price FOR EACH products.product_id", "static_random")
    expected = dict(demo["con"].execute("SELECT product_id, price FROM products WHERE price IS NOT NULL").fetchall())
    got = _spark_rows(demo, result, key="product_id")
    assert {k[0]: label for k, (label, _) in got.items()} == pytest.approx(expected)
    assert result.metadata["split"] == {"policy": "static_random", "seed": 0,
                                        "fractions": {"train": 0.8, "validation": 0.1, "holdout": 0.1}}
    assert result.rows_per_split["train"] > result.rows_per_split["val"] + result.rows_per_split["holdout"]
