"""The demo data generator: determinism, linear size, schema.json, realism and the planted signals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import typer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

import pql
from data_engine.demo_data import CHUNK_SIZE, TABLES, DemoDataError, generate
from data_engine.demo_data.catalogue import build_catalogue
from data_engine.demo_data.generator import chunk_rng
from data_engine.demo_data.sinks import open_sink
from data_engine.demo_data.vocabulary import CATEGORIES
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore, ObjectStoreError
from services.cli.demo_commands import demo_data

pytestmark = pytest.mark.unit

STYPES = {"ID", "numerical", "categorical", "multicategorical", "text", "timestamp"}
START, END = pd.Timestamp("2023-01-01"), pd.Timestamp("2025-01-01")


def _read(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}


@pytest.fixture(scope="module")
def scale_one(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame], object]:
    """Scale 1 with seed 0, generated once for the realism and signal checks."""
    out = tmp_path_factory.mktemp("demo-scale-1")
    chunks: list[tuple[int, int]] = []
    report = generate(out.as_uri(), scale=1.0, seed=0, progress=lambda done, total: chunks.append((done, total)))
    assert chunks == [(i + 1, len(chunks)) for i in range(len(chunks))] and len(chunks) == 3
    return out, _read(out), report


@pytest.fixture(scope="module")
def churn_examples(scale_one) -> pd.DataFrame:
    """Churn examples as ``PREDICT COUNT(orders.*, 0, 30) = 0 WHERE COUNT(orders.*, -90, 0) > 0`` would make
    them, at monthly anchors, with a few neighbour features and the customers' own columns."""
    _, t, _ = scale_one
    orders, customers = t["orders"], t["customers"]
    day = pd.Timedelta(days=1)
    rows = []
    for anchor in pd.date_range("2023-07-01", "2024-11-15", freq="30D"):
        past = orders[(orders.ordered_at > anchor - 90 * day) & (orders.ordered_at <= anchor)]
        # Poor products as seen at the anchor: many of their past orders were returned.
        seen = orders[orders.ordered_at <= anchor]
        returns = seen.returned.astype(float).groupby(seen.product_id).agg(["mean", "size"])
        poor = returns[(returns["size"] >= 4) & (returns["mean"] >= 0.25)].index
        recent = past[past.ordered_at > anchor - 30 * day]
        future = orders[(orders.ordered_at > anchor) & (orders.ordered_at <= anchor + 30 * day)]
        active = pd.Index(past.customer_id.unique())
        spent = past.groupby("customer_id").price.sum()
        rows.append(pd.DataFrame({
            "anchor": anchor,
            "customer_id": active,
            "churn": ~active.isin(future.customer_id),
            "bought_poor": active.isin(recent[recent.product_id.isin(poor)].customer_id),
            "returned": active.isin(recent[recent.returned == True].customer_id),  # noqa: E712
            "n_orders_90": past.groupby("customer_id").size().reindex(active).to_numpy(),
            "spend_90": spent.reindex(active).to_numpy(),
            "spend_next_30": future.groupby("customer_id").price.sum().reindex(active, fill_value=0.0).to_numpy(),
        }))
    examples = pd.concat(rows, ignore_index=True).merge(customers, on="customer_id")
    examples["tenure_days"] = (examples.anchor - examples.signup_date).dt.days
    return examples


def _cv_auroc(features: np.ndarray, label: np.ndarray) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    proba = cross_val_predict(model, features.astype(float), label, cv=3, method="predict_proba")[:, 1]
    return float(roc_auc_score(label, proba))


def _favourite(frame: pd.DataFrame, column: str) -> pd.Series:
    """Each customer's most frequent value of ``column``."""
    counts = frame.groupby(["customer_id", column]).size().unstack(fill_value=0)
    return counts.idxmax(axis=1)


# ---- determinism, size, layout --------------------------------------------------------------------------------
def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first = generate(str(tmp_path / "a"), scale=0.05, seed=7)
    second = generate((tmp_path / "b").as_uri(), scale=0.05, seed=7)
    other = generate(str(tmp_path / "c"), scale=0.05, seed=8)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted([f"{t}.parquet" for t in TABLES] + ["schema.json"])
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first.rows == second.rows
    assert (tmp_path / "a" / "orders.parquet").read_bytes() != (tmp_path / "c" / "orders.parquet").read_bytes()
    assert other.rows["customers"] == first.rows["customers"]


def test_size_grows_linearly_with_the_scale(tmp_path: Path) -> None:
    small = generate(str(tmp_path / "s"), scale=0.1, seed=3)
    large = generate(str(tmp_path / "l"), scale=0.2, seed=3)
    assert small.rows["customers"] == 1000 and large.rows["customers"] == 2000
    for name in TABLES:
        assert 1.7 <= large.rows[name] / small.rows[name] <= 2.3, (name, small.rows, large.rows)
    assert 1.75 <= large.total_rows / small.total_rows <= 2.25


def test_scale_one_is_about_a_hundred_thousand_orders_written_in_chunks(scale_one) -> None:
    out, t, report = scale_one
    assert 80_000 <= report.rows["orders"] <= 125_000
    assert report.rows == {name: len(frame) for name, frame in t.items()}
    assert report.rows["customers"] == 10_000 and report.rows["products"] == 1_500
    # One row group per chunk of customers: the tables were appended, not built whole.
    n_chunks = -(-10_000 // CHUNK_SIZE)
    for name in ("customers", "orders", "reviews", "sessions"):
        assert pq.ParquetFile(out / f"{name}.parquet").num_row_groups == n_chunks


def test_chunks_are_seeded_by_index_so_ids_are_stable_across_scales(scale_one, tmp_path: Path) -> None:
    _, t, _ = scale_one
    smaller = generate(str(tmp_path / "x"), scale=0.45, seed=0)  # the same full first chunk, fewer chunks
    customers = pd.read_parquet(tmp_path / "x" / "customers.parquet")
    assert smaller.rows["customers"] == 4500
    pd.testing.assert_frame_equal(customers.iloc[:CHUNK_SIZE], t["customers"].iloc[:CHUNK_SIZE])


def test_ids_are_unique_consecutive_and_links_resolve(scale_one) -> None:
    _, t, _ = scale_one
    for name, key in (("customers", "customer_id"), ("products", "product_id"), ("orders", "order_id"),
                      ("reviews", "review_id"), ("sessions", "session_id")):
        ids = t[name][key].to_numpy()
        assert (ids == np.arange(1, len(ids) + 1)).all(), name
    for table, column, to in (("orders", "customer_id", "customers"), ("orders", "product_id", "products"),
                              ("reviews", "customer_id", "customers"), ("reviews", "product_id", "products"),
                              ("sessions", "customer_id", "customers")):
        assert t[table][column].notna().all()
        assert t[table][column].isin(t[to][TABLES[to].primary_key]).all(), (table, column)


def test_schema_json_describes_the_files(scale_one) -> None:
    out, t, report = scale_one
    schema = json.loads((out / "schema.json").read_text())
    assert report.schema_uri == (out / "schema.json").as_uri()
    assert set(schema) == {"tables", "links"} and set(schema["tables"]) == set(TABLES)
    for name, spec in schema["tables"].items():
        assert set(spec) == {"primary_key", "time_column", "columns"}
        arrow = pq.read_schema(out / f"{name}.parquet")
        assert list(spec["columns"]) == arrow.names
        assert set(spec["columns"].values()) <= STYPES
        pk, time_column = spec["primary_key"], spec["time_column"]
        assert spec["columns"][pk] == "ID" and t[name][pk].is_unique and t[name][pk].notna().all()
        if time_column is not None:
            assert spec["columns"][time_column] == "timestamp"
            assert pa.types.is_timestamp(arrow.field(time_column).type)
            assert t[name][time_column].notna().all()
    assert schema["tables"]["products"]["time_column"] is None
    assert {(link["table"], link["column"], link["to"]) for link in schema["links"]} == {
        ("orders", "customer_id", "customers"), ("orders", "product_id", "products"),
        ("reviews", "customer_id", "customers"), ("reviews", "product_id", "products"),
        ("sessions", "customer_id", "customers")}
    for link in schema["links"]:
        assert schema["tables"][link["table"]]["columns"][link["column"]] == "ID"
        assert schema["tables"][link["to"]]["primary_key"] is not None
    assert {s for spec in schema["tables"].values() for s in spec["columns"].values()} == STYPES


@pytest.mark.parametrize("query, task", [
    ("PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id "
     "WHERE COUNT(orders.*, -90, 0, days) > 0", "binary_classification"),
    ("PREDICT SUM(orders.price, 0, 30, days) FOR EACH customers.customer_id", "regression"),
    ("PREDICT LIST_DISTINCT(orders.product_id, 0, 7, days) RANK TOP 12 FOR EACH customers.customer_id",
     "link_prediction"),
    ("PREDICT FIRST(orders.channel, 0, 7) FOR EACH customers.customer_id", "multiclass_classification"),
    ("PREDICT customers.segment FOR EACH customers.customer_id", "multiclass_classification"),
    ("PREDICT COUNT(orders.* WHERE orders.returned = true, 0, 30) > 0 FOR EACH customers.customer_id "
     "ASSUMING COUNT(orders.*, 0, 30) > 0", "binary_classification"),
    ("PREDICT SUM(orders.price, 0, 7, days) FORECAST 4 TIMEFRAMES FOR EACH products.product_id", "forecasting"),
    ("PREDICT AVG(reviews.rating, 0, 30) FOR EACH products.product_id", "regression"),
    ("PREDICT COUNT(sessions.*, 0, 7) > 3 FOR EACH customers.customer_id", "binary_classification"),
])
def test_the_reference_queries_compile_against_schema_json(scale_one, query: str, task: str) -> None:
    out, _, _ = scale_one
    schema = pql.GraphSchema.from_json((out / "schema.json").read_text())
    assert pql.compile(query, schema).task_type.value == task


def test_an_unwritable_output_is_a_user_facing_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    with pytest.raises(ObjectStoreError):
        generate(str(blocker / "demo"), scale=0.02)
    assert blocker.read_text().startswith("a file")


def test_csv_output_has_a_header_iso_timestamps_and_empty_nulls(tmp_path: Path) -> None:
    parquet = generate(str(tmp_path / "p"), scale=0.05, seed=1)
    csv = generate(str(tmp_path / "c"), scale=0.05, seed=1, fmt="csv")
    assert csv.rows == parquet.rows
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == sorted(
        [f"{t}.csv" for t in TABLES] + ["schema.json"])
    lines = (tmp_path / "c" / "orders.csv").read_text().splitlines()
    assert lines[0] == ",".join(f'"{c}"' for c in TABLES["orders"].stypes)
    assert len(lines) == csv.rows["orders"] + 1
    assert re.fullmatch(r'\d+,\d+,\d+,"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d",.*', lines[1])
    assert any(",," in line for line in lines[1:])  # discounts are mostly null: empty cells
    read = pacsv.read_csv(tmp_path / "c" / "orders.csv").to_pandas()
    expected = pd.read_parquet(tmp_path / "p" / "orders.parquet")
    assert (pd.to_datetime(read.ordered_at) == expected.ordered_at).all()
    pd.testing.assert_series_equal(read.discount, expected.discount)
    assert read.discount.isna().sum() == expected.discount.isna().sum() > 0
    tags = pacsv.read_csv(tmp_path / "c" / "products.csv").column("tags").to_pylist()
    expected_tags = pd.read_parquet(tmp_path / "p" / "products.parquet").tags
    assert ["|".join(t) for t in expected_tags] == tags and any("|" in t for t in tags)
    assert (tmp_path / "c" / "schema.json").read_bytes() == (tmp_path / "p" / "schema.json").read_bytes()


def test_writing_one_format_removes_the_other_and_a_file_uri_works(tmp_path: Path) -> None:
    out = tmp_path / "both"
    generate(out.as_uri(), scale=0.02, seed=0, fmt="csv")
    generate(out.as_uri(), scale=0.02, seed=0, fmt="parquet")
    assert sorted(p.suffix for p in out.iterdir()) == [".json"] + [".parquet"] * len(TABLES)


@pytest.mark.parametrize("kwargs", [{"scale": 0}, {"scale": -1}, {"scale": float("nan")}, {"scale": "1"},
                                    {"seed": -1}, {"seed": 1.5}, {"fmt": "xlsx"}])
def test_invalid_arguments_are_user_facing_errors(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(DemoDataError) as info:
        generate(str(tmp_path / "bad"), **kwargs)
    assert isinstance(info.value, UserFacingError)
    assert not (tmp_path / "bad").exists()


def test_a_sink_refuses_chunks_with_another_schema(tmp_path: Path) -> None:
    sink = open_sink(ObjectStore(str(tmp_path)), TABLES["orders"], "parquet")
    with pytest.raises(ValueError, match="expected schema"):
        sink.write(pa.table({"order_id": pa.array([1])}))
    sink.close()
    with pytest.raises(ValueError, match="closed"):
        sink.write(pa.table({"order_id": pa.array([1])}))
    with pytest.raises(ValueError, match="unknown format"):
        open_sink(ObjectStore(str(tmp_path)), TABLES["orders"], "json")


# ---- realism ---------------------------------------------------------------------------------------------------
def test_several_columns_have_nulls_and_keys_never_do(scale_one) -> None:
    _, t, _ = scale_one
    expected = {("customers", "age"): 0.15, ("customers", "gender"): 0.1,
                ("customers", "acquisition_channel"): 0.2, ("products", "description"): 0.1,
                ("products", "weight_kg"): 0.3, ("orders", "channel"): 0.02, ("orders", "payment_method"): 0.04,
                ("reviews", "title"): 0.4, ("reviews", "body"): 0.15, ("sessions", "duration_s"): 0.1,
                ("sessions", "referrer"): 0.2}
    for (table, column), rate in expected.items():
        assert abs(t[table][column].isna().mean() - rate) < 0.03 + rate * 0.25, (table, column)
    assert 0.6 < t["orders"].discount.isna().mean() < 0.95
    # Returns are unknown for the last 14 days only.
    unknown = t["orders"][t["orders"].returned.isna()]
    assert len(unknown) > 0 and unknown.ordered_at.min() >= END - pd.Timedelta(days=14)
    for name, spec in TABLES.items():
        assert t[name][spec.primary_key].notna().all()


def test_time_range_signups_and_event_order(scale_one) -> None:
    _, t, _ = scale_one
    for name, column in (("orders", "ordered_at"), ("reviews", "reviewed_at"), ("sessions", "started_at")):
        times = t[name][column]
        assert times.min() >= START and times.max() < END
        assert (times.max() - times.min()).days > 700
    signup = t["customers"].set_index("customer_id").signup_date
    assert 0.4 < (signup >= START).mean() < 0.8  # customers keep appearing
    orders = t["orders"]
    assert (orders.ordered_at >= signup.reindex(orders.customer_id).to_numpy()).all()
    sessions = t["sessions"]
    assert (sessions.started_at >= signup.reindex(sessions.customer_id).to_numpy()).all()
    first_purchase = orders.groupby(["customer_id", "product_id"]).ordered_at.min()
    reviews = t["reviews"]
    bought_at = first_purchase.reindex(pd.MultiIndex.from_frame(reviews[["customer_id", "product_id"]]))
    assert bought_at.notna().all() and (reviews.reviewed_at.to_numpy() > bought_at.to_numpy()).all()


def test_weekly_and_yearly_seasonality(scale_one) -> None:
    orders = scale_one[1]["orders"]
    per_day = orders.groupby(orders.ordered_at.dt.normalize()).size()
    weekend = per_day[per_day.index.day_of_week >= 5].mean()
    midweek = per_day[per_day.index.day_of_week.isin([1, 2])].mean()
    assert weekend > 1.15 * midweek
    november_december = per_day[(per_day.index.month == 11) & (per_day.index.day >= 20)
                                | (per_day.index.month == 12) & (per_day.index.day <= 22)].mean()
    summer = per_day[per_day.index.month.isin([6, 7, 8])].mean()
    assert november_december > 1.4 * summer
    hours = orders.ordered_at.dt.hour.value_counts(normalize=True).sort_index()
    assert hours.loc[19:21].sum() > 5 * hours.loc[2:4].sum() > 0


def test_activity_follows_a_power_law(scale_one) -> None:
    _, t, _ = scale_one
    per_customer = t["orders"].groupby("customer_id").size().reindex(t["customers"].customer_id, fill_value=0)
    ranked = per_customer.sort_values(ascending=False)
    assert ranked.iloc[:100].sum() > 0.06 * ranked.sum()  # the top 1 % place > 6 % of orders
    assert ranked.iloc[:2000].sum() > 0.5 * ranked.sum()  # the top 20 % place most orders
    assert ranked.max() > 10 * ranked.median()


def test_catalogue_has_categories_brands_prices_and_text(scale_one) -> None:
    products = scale_one[1]["products"]
    assert set(products.category) == {c.name for c in CATEGORIES}
    assert products.brand.nunique() >= 20 and products.title.is_unique
    by_category = products.groupby("category").price.median()
    assert by_category["electronics"] > 3 * by_category["grocery"]
    assert products.price.min() > 0 and products.price.max() > 5 * products.price.median()
    assert products.description.str.split().str.len().median() >= 12
    assert products.tags.map(len).max() >= 2
    reviews = scale_one[1]["reviews"]
    negative = reviews[reviews.rating <= 2].body.dropna()
    positive = reviews[reviews.rating >= 4].body.dropna()
    assert negative.str.contains("disappoint|broke|Poor|Avoid|refund|Waste", case=False).mean() > 0.5
    assert positive.str.contains("disappoint|broke|Poor|Avoid|refund|Waste", case=False).mean() < 0.05


# ---- planted signals -------------------------------------------------------------------------------------------
def test_churn_follows_recent_poor_products_not_customer_columns(churn_examples: pd.DataFrame) -> None:
    e = churn_examples
    assert len(e) > 20_000 and 0.25 < e.churn.mean() < 0.65
    poor, other = e[e.bought_poor].churn.mean(), e[~e.bought_poor].churn.mean()
    assert e.bought_poor.mean() > 0.03 and poor - other > 0.2, (poor, other)
    assert e[e.returned].churn.mean() - e[~e.returned].churn.mean() > 0.2
    own = pd.get_dummies(e[["gender", "region", "segment", "acquisition_channel", "newsletter"]].astype(str))
    own["age"] = e.age.fillna(e.age.mean())
    own["tenure_days"] = e.tenure_days / 365
    auroc_own = _cv_auroc(own.to_numpy(), e.churn.to_numpy())
    neighbours = np.c_[e.bought_poor, e.returned, np.log1p(e.n_orders_90)]
    auroc_graph = _cv_auroc(neighbours, e.churn.to_numpy())
    assert auroc_own < 0.56 and auroc_graph > auroc_own + 0.08, (auroc_own, auroc_graph)


def test_churn_follows_the_hidden_product_quality(scale_one) -> None:
    _, t, _ = scale_one
    catalogue = build_catalogue(chunk_rng(0, 0, 0), 1.0)
    lemons = catalogue.product_id[catalogue.quality < 0.35]
    orders = t["orders"]
    churned, hit = [], []
    for anchor in pd.date_range("2023-07-01", "2024-11-15", freq="30D"):
        past = orders[(orders.ordered_at > anchor - pd.Timedelta(days=90)) & (orders.ordered_at <= anchor)]
        recent = past[past.ordered_at > anchor - pd.Timedelta(days=30)]
        future = orders[(orders.ordered_at > anchor) & (orders.ordered_at <= anchor + pd.Timedelta(days=30))]
        active = pd.Index(past.customer_id.unique())
        churned.append(~active.isin(future.customer_id))
        hit.append(active.isin(recent[recent.product_id.isin(lemons)].customer_id))
    churn, lemon = np.concatenate(churned), np.concatenate(hit)
    assert churn[lemon].mean() > 0.7 and churn[~lemon].mean() < 0.5
    # A lemon shows in its buyers' returns and ratings.
    is_lemon = orders.product_id.isin(lemons)
    assert orders[is_lemon].returned.mean() > 4 * orders[~is_lemon].returned.mean()
    reviews = t["reviews"]
    assert reviews[reviews.product_id.isin(lemons)].rating.mean() < reviews.rating.mean() - 1.0


def test_spend_next_month_follows_past_spend(churn_examples: pd.DataFrame) -> None:
    e = churn_examples
    by_past_spend = e.groupby(pd.qcut(e.spend_90.rank(method="first"), 5, labels=False)).spend_next_30.mean()
    assert by_past_spend.is_monotonic_increasing and by_past_spend.iloc[-1] > 2.5 * by_past_spend.iloc[0]
    for column in ("gender", "region", "newsletter"):
        by_own = e.groupby(column).spend_next_30.mean()
        assert by_own.max() < 1.3 * by_own.min(), column
    by_age = e.groupby(pd.qcut(e.age, 5, duplicates="drop")).spend_next_30.mean()
    assert by_age.max() < 1.3 * by_age.min()


def test_purchases_repeat_favourites_and_follow_taste(scale_one) -> None:
    _, t, _ = scale_one
    orders = t["orders"].merge(t["products"][["product_id", "category"]], on="product_id")
    cut = pd.Timestamp("2024-07-01")
    before, after = orders[orders.ordered_at <= cut], orders[orders.ordered_at > cut]
    after = after[after.customer_id.isin(before.customer_id)]
    bought = before[["customer_id", "product_id"]].drop_duplicates().assign(seen=True)
    repeats = after.merge(bought, on=["customer_id", "product_id"], how="left").seen.notna().mean()
    top_category = _favourite(before, "category")
    in_top = (after.category.to_numpy() == top_category.reindex(after.customer_id).to_numpy()).mean()
    assert repeats > 0.15 and in_top > 0.35, (repeats, in_top)
    # Segment follows the favourite category group.
    group = {c.name: c.group for c in CATEGORIES}
    favourite_group = _favourite(orders.assign(group=orders.category.map(group)), "group")
    segment = t["customers"].set_index("customer_id").segment.reindex(favourite_group.index)
    assert (segment == favourite_group).mean() > 0.6


# ---- the pq demo-data command ----------------------------------------------------------------------------------
def test_cli_writes_under_pq_home_by_default_and_prints_the_row_counts(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(demo_data)
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["--scale", "0.02", "--format", "csv", "--seed", "4"],
                                env={"PQ_HOME": str(home)})
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (home / "demo").iterdir())
    assert files == sorted([f"{t}.csv" for t in TABLES] + ["schema.json"])
    customers = len((home / "demo" / "customers.csv").read_text().splitlines()) - 1
    assert customers == 200 and re.search(r"customers\s*│\s*200\s", result.output)
    for name in TABLES:
        assert name in result.output
    explicit = CliRunner().invoke(app, ["--scale", "0.02", "--out", str(tmp_path / "x")],
                                  env={"PQ_HOME": str(home)})
    assert explicit.exit_code == 0 and (tmp_path / "x" / "orders.parquet").exists()
    bad = CliRunner().invoke(app, ["--scale", "-2", "--out", str(tmp_path / "y")], env={"PQ_HOME": str(home)})
    assert isinstance(bad.exception, DemoDataError)
