"""Table, column and link statistics checked against independent DuckDB computations."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_engine.ingest import ingest_table, open_table
from data_engine.staging import Staging
from data_engine.statistics import QUANTILES, link_statistics
from platform_core.object_store import ObjectStore
from platform_core.settings import load_settings

pytestmark = pytest.mark.integration

N = 3000


def _tables(rng: np.random.Generator) -> dict[str, pa.Table]:
    start = dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc)
    price = rng.lognormal(3, 1, N)
    price[rng.random(N) < 0.05] = np.nan  # nulls
    quantity = rng.integers(1, 9, N)
    seconds = rng.integers(0, 365 * 86400, N)
    colors = rng.choice(["red", "green", "blue", "black", "white", "teal"], N, p=[.4, .2, .15, .1, .1, .05])
    tags = ["|".join(sorted(set(rng.choice(["a", "b", "c", "d", "e"], rng.integers(1, 4))))) for _ in range(N)]
    customer = rng.integers(1, 260, N)  # customers 1..250 exist: some keys dangle
    orders = pa.table({
        "order_id": pa.array(np.arange(1, N + 1), pa.int64()),
        "customer_id": pa.array(np.where(rng.random(N) < 0.02, None, customer).tolist(), pa.int64()),
        "price": pa.array([None if math.isnan(p) else round(float(p), 2) for p in price], pa.float64()),
        "quantity": pa.array(quantity, pa.int64()),
        "color": pa.array([None if i % 17 == 0 else c for i, c in enumerate(colors)]),
        "tags": pa.array(tags),
        "ordered_at": pa.array([start + dt.timedelta(seconds=int(s)) for s in seconds], pa.timestamp("us", "UTC")),
    })
    customers = pa.table({"customer_id": pa.array(np.arange(1, 251), pa.int64()),
                          "name": [f"customer {i}" for i in range(1, 251)]})
    return {"orders": orders, "customers": customers}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, spark):
    root = tmp_path_factory.mktemp("stats")
    settings = load_settings(home=root / "home", spark_master="local[2]")
    store = ObjectStore.from_settings(settings)
    tables = _tables(np.random.default_rng(11))
    uris, paths = {}, {}
    for name, table in tables.items():
        paths[name] = root / f"{name}.parquet"
        pq.write_table(table, paths[name])
        uris[name] = ingest_table(str(paths[name]), name, settings=settings, store=store, spark=spark).uri
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, path in paths.items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    yield {"store": store, "uris": uris, "con": con, "spark": spark, "settings": settings}
    con.close()


def _stats(env, table: str) -> dict:
    return open_table(env["store"], env["uris"][table]).stats()


def _one(env, sql: str):
    return env["con"].execute(sql).fetchone()


def test_table_statistics_and_time_range(env):
    stats = _stats(env, "orders")
    rows, low, high = _one(env, "SELECT count(*), epoch_us(min(ordered_at)), epoch_us(max(ordered_at)) FROM orders")
    assert stats["rows"] == rows == N
    assert stats["time_range"]["column"] == "ordered_at"
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    assert dt.datetime.fromisoformat(stats["time_range"]["min"]) == epoch + dt.timedelta(microseconds=low)
    assert dt.datetime.fromisoformat(stats["time_range"]["max"]) == epoch + dt.timedelta(microseconds=high)
    assert stats["primary_key"]["column"] == "order_id"


@pytest.mark.parametrize("column", ["customer_id", "price", "quantity", "color", "tags", "ordered_at"])
def test_nulls_and_distinct_counts(env, column):
    got = _stats(env, "orders")["columns"][column]
    nulls, distinct = _one(env, f"SELECT count(*) - count({column}), count(DISTINCT {column}) FROM orders")
    assert got["nulls"] == nulls
    if got["distinct_exact"]:
        assert got["distinct"] == distinct
    else:  # HyperLogLog, within its few percent
        assert abs(got["distinct"] - distinct) <= 0.05 * distinct


@pytest.mark.parametrize("column", ["price", "quantity"])
def test_numeric_moments_quantiles_and_histogram(env, column):
    got = _stats(env, "orders")["columns"][column]
    low, high, mean, std, count = _one(
        env, f"SELECT min({column}), max({column}), avg({column}), stddev_samp({column}), count({column}) FROM orders")
    assert got["min"] == low and got["max"] == high
    assert got["mean"] == pytest.approx(mean, rel=1e-9)
    assert got["std"] == pytest.approx(std, rel=1e-9)
    for q, value in got["quantiles"].items():
        # The q-quantile v: at most a fraction q of the values is below v, at least q is at or below v
        # (within the approximation's rank error).
        below, at_or_below = _one(env, f"SELECT count_if({column} < {value}), count_if({column} <= {value}) "
                                       "FROM orders")
        assert below / count <= float(q) + 0.01 and at_or_below / count >= float(q) - 0.01
    assert got["quantiles"]["0.0"] == low and got["quantiles"]["1.0"] == high
    hist = got["histogram"]
    assert sum(hist["counts"]) == count
    edges = hist["edges"]
    width = edges[1] - edges[0]
    n = len(hist["counts"])
    expected = dict(env["con"].execute(
        f"SELECT least(floor(({column} - {edges[0]}) / {width}), {n - 1})::INT AS b, count(*) FROM orders "
        f"WHERE {column} IS NOT NULL GROUP BY b").fetchall())
    assert hist["counts"] == [expected.get(b, 0) for b in range(n)]


def test_top_values_and_tokens(env):
    got = _stats(env, "orders")["columns"]
    expected = env["con"].execute(
        "SELECT color, count(*) AS n FROM orders WHERE color IS NOT NULL GROUP BY color ORDER BY n DESC, color "
        "LIMIT 10").fetchall()
    assert [(t["value"], t["count"]) for t in got["color"]["top_values"]] == expected
    assert got["color"]["stype"] == "categorical"
    assert got["tags"]["stype"] == "multicategorical" and got["tags"]["separator"] == "|"
    tokens = env["con"].execute(
        "SELECT t, count(*) AS n FROM (SELECT unnest(string_split(tags, '|')) AS t FROM orders) GROUP BY t "
        "ORDER BY n DESC, t").fetchall()
    pipe = got["tags"]["separators"]["|"]
    assert [(t["value"], t["count"]) for t in pipe["top_tokens"]] == tokens
    assert pipe["distinct_tokens"] == len(tokens)


def test_timestamp_quantiles_and_histogram(env):
    got = _stats(env, "orders")["columns"]["ordered_at"]
    assert got["stype"] == "timestamp"
    assert sum(got["histogram"]["counts"]) == N
    median = got["quantiles"]["0.5"]
    below, at_or_below = _one(env, f"SELECT count_if(ordered_at < TIMESTAMPTZ '{median}'), "
                                   f"count_if(ordered_at <= TIMESTAMPTZ '{median}') FROM orders")
    assert below / N <= 0.51 and at_or_below / N >= 0.49


def test_link_statistics_against_duckdb(env):
    with Staging(env["store"]) as staging:
        orders = open_table(env["store"], env["uris"]["orders"]).dataframe(env["spark"], staging)
        customers = open_table(env["store"], env["uris"]["customers"]).dataframe(env["spark"], staging)
        got = link_statistics(orders, "customer_id", customers, "customer_id")
    con = env["con"]
    nulls = _one(env, "SELECT count(*) FROM orders WHERE customer_id IS NULL")[0]
    dangling_keys, dangling_rows = _one(env, "SELECT count(DISTINCT customer_id), count(*) FROM orders "
                                             "WHERE customer_id NOT IN (SELECT customer_id FROM customers)")
    degrees = [d for (d,) in con.execute(
        "SELECT count(o.order_id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.customer_id "
        "GROUP BY c.customer_id").fetchall()]
    assert got["fk_rows"] == N and got["fk_nulls"] == nulls
    assert got["dangling_keys"] == dangling_keys and got["dangling_rows"] == dangling_rows
    assert got["coverage"] == pytest.approx((N - nulls - dangling_rows) / (N - nulls))
    assert set(got["dangling_sample"]) <= set(range(251, 260)) and len(got["dangling_sample"]) == 5
    assert got["pk_rows"] == 250
    degree = got["degree"]
    assert (degree["min"], degree["max"], degree["zero"]) == (min(degrees), max(degrees), degrees.count(0))
    assert degree["mean"] == pytest.approx(np.mean(degrees))
    assert degree["quantiles"]["0.5"] == sorted(degrees)[int(math.ceil(0.5 * len(degrees))) - 1]
    assert list(degree["quantiles"]) == [str(q) for q in QUANTILES]
