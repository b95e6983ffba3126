"""The LightGBM baseline on small synthetic training tables: it finds signal in the entity's own columns
when there is some, and none when there is none."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from compute_engine.baseline import BaselineError, build_features, plan_features, run_baseline
from compute_engine.baseline.inputs import entity_rows
from compute_engine.inputs import InputError
from compute_engine.job_spec import JobSpec
from data_engine.ingest import TableNotFoundError, open_table
from platform_core.artifacts import ArtifactStore

pytestmark = pytest.mark.unit

FAST = {"baseline": {"num_boost_round": 150, "learning_rate": 0.1, "log_period": 0}}


def noisy(flags: np.ndarray, rate: float, seed: int) -> list[bool]:
    flip = np.random.default_rng(seed).random(len(flags)) < rate
    return (flags ^ flip).tolist()


def test_label_from_an_entity_column_reaches_high_auroc(shop) -> None:
    labels = noisy(shop.column("segment") == "gold", 0.03, seed=5)
    tt = shop.training_table("churn", labels, pa.bool_(), "binary_classification")
    result = run_baseline(shop.spec("binary_classification", tt, model_plan=FAST), store=shop.store)
    assert result.model == "lightgbm" and not result.reused
    assert list(result.metrics) == ["auroc", "average_precision", "accuracy", "f1"]
    assert result.metrics["auroc"] > 0.9
    assert result.metrics["accuracy"] > 0.9
    art = ArtifactStore(shop.store).open(result.uri)
    summary = art.read_json("metrics.json")
    assert summary["selection_metric"] == "auroc"
    assert {d["source"] for d in summary["dropped_columns"]} == {"customer_id", "region_id"}
    assert [f["name"] for f in summary["features"]] == ["segment", "spend", "signup_at__age_days", "bio__chars",
                                                        "bio__words", "tags__items"]
    importance = art.read_json("feature_importance.json")
    assert importance[0]["feature"] == "segment"
    predictions = art.read_table("predictions.parquet")
    assert predictions.column_names == ["customer_id", "anchor_time", "label", "score"]
    assert predictions.num_rows == result.rows["holdout"] == summary["rows"]["holdout"]
    holdout_keys = shop.keys[np.array([s == "holdout" for s in
                                       pq.read_table(art.store.local_path(tt + "/data/part-00000.parquet"))
                                       .column("split").to_pylist()])]
    assert predictions.column("customer_id").to_pylist() == holdout_keys.tolist()
    assert set(art.read_json("curves.json")) == {"roc", "pr", "calibration", "confusion"}
    assert art.read_bytes("model/lightgbm-0.txt").startswith(b"tree")


def test_label_independent_of_the_entity_is_near_chance(shop) -> None:
    labels = (np.random.default_rng(9).random(len(shop.keys)) < 0.4).tolist()
    tt = shop.training_table("coin", labels, pa.bool_(), "binary_classification")
    result = run_baseline(shop.spec("binary_classification", tt, model_plan=FAST), store=shop.store)
    assert 0.4 < result.metrics["auroc"] < 0.6


def test_an_entity_table_with_only_its_key_gives_the_prior(shop) -> None:
    keys_only = shop.customers_with(["customer_id"], {"customer_id": "ID"})
    spend = shop.column("spend")
    tt = shop.training_table("spend-prior", spend.tolist(), pa.float64(), "regression")
    spec = JobSpec(**{**shop.spec("regression", tt, model_plan=FAST, job_id="prior").__dict__,
                      "table_uris": {"customers": keys_only}})
    result = run_baseline(spec, store=shop.store)
    assert result.model == "prior"
    predictions = ArtifactStore(shop.store).open(result.uri).read_table("predictions.parquet")
    predicted = predictions.column("prediction").to_numpy()
    split = ArtifactStore(shop.store).open(tt).read_table("data/part-00000.parquet").column("split").to_numpy(
        zero_copy_only=False)
    train = split == "train"
    assert np.allclose(predicted, predicted[0]) and abs(predicted[0] - spend[train].mean()) < 1e-6 * spend.mean()
    assert abs(result.metrics["r2"]) < 0.05


def test_regression_and_idempotence(shop) -> None:
    spend = shop.column("spend")
    labels = (3 * spend + np.random.default_rng(2).normal(0, 5, len(spend))).tolist()
    tt = shop.training_table("spend", labels, pa.float64(), "regression")
    spec = shop.spec("regression", tt, model_plan=FAST)
    first = run_baseline(spec, store=shop.store)
    assert list(first.metrics) == ["mae", "rmse", "r2"]
    assert first.metrics["r2"] > 0.9
    again = run_baseline(spec, store=shop.store)
    assert again.reused and again.metrics == first.metrics
    other = run_baseline(shop.spec("regression", tt, model_plan={"baseline": {**FAST["baseline"], "num_leaves": 7}}),
                         store=shop.store)
    assert not other.reused


def test_multiclass_predicts_probabilities_per_class(shop) -> None:
    tt = shop.training_table("segment", shop.column("segment").tolist(), pa.string(), "multiclass_classification")
    result = run_baseline(shop.spec("multiclass_classification", tt, model_plan=FAST), store=shop.store)
    # The segment is itself a feature: the baseline must recover it.
    assert result.metrics["accuracy"] > 0.95 and result.metrics["macro_f1"] > 0.95
    art = ArtifactStore(shop.store).open(result.uri)
    assert art.read_json("metrics.json")["classes"] == ["bronze", "gold", "silver"]
    predictions = art.read_table("predictions.parquet").to_pylist()
    for row in predictions:
        assert sum(row["probabilities"]) == pytest.approx(1.0)
        assert row["predicted"] == ["bronze", "gold", "silver"][int(np.argmax(row["probabilities"]))]


def test_forecasting_fits_one_model_per_horizon(shop) -> None:
    spend = shop.column("spend")
    labels = [[s, 2 * s, 0.0] for s in spend]
    tt = shop.training_table("forecast", labels, pa.list_(pa.float64()), "forecasting")
    result = run_baseline(shop.spec("forecasting", tt, model_plan=FAST), store=shop.store)
    assert list(result.metrics) == ["mae_per_horizon", "mae_h1", "mae_h2", "mae_h3"]
    assert result.metrics["mae_h2"] > result.metrics["mae_h1"]  # twice the scale, twice the error
    art = ArtifactStore(shop.store).open(result.uri)
    assert len(art.read_json("metrics.json")["best_iterations"]) == 3
    assert all(len(p) == 3 for p in art.read_table("predictions.parquet").column("prediction").to_pylist())


def test_multilabel_scores_the_most_frequent_labels(shop) -> None:
    labels = [[s] for s in shop.column("segment").tolist()]
    tt = shop.training_table("labels", labels, pa.list_(pa.string()), "multilabel_classification")
    result = run_baseline(shop.spec("multilabel_classification", tt, model_plan=FAST), store=shop.store)
    assert result.metrics["macro_auprc"] > 0.95


def test_ranking_recommends_the_most_popular_targets(shop) -> None:
    keys = shop.keys[:6]
    labels = [[1, 2], [1, 3], [2, 1], [4], [2], [5]]
    split = ["train", "train", "train", "val", "holdout", "holdout"]
    tt = shop.training_table("recs", labels, pa.list_(pa.int64()), "link_prediction", rank_k=2, split=split,
                             keys=keys)
    result = run_baseline(shop.spec("link_prediction", tt), store=shop.store)
    assert result.model == "most_popular"
    # Training counts: 1 three times, 2 twice -> [1, 2] for everyone. Holdout: [2] is hit at rank 2
    # (AP 1/2), [5] is missed (AP 0).
    assert result.metrics == {"map@2": pytest.approx(0.25), "precision@2": pytest.approx(0.25),
                              "recall@2": pytest.approx(0.5)}
    art = ArtifactStore(shop.store).open(result.uri)
    assert art.read_json("metrics.json")["recommended"] == [1, 2]
    assert art.read_table("predictions.parquet").column("predicted").to_pylist() == [[1, 2], [1, 2]]


def test_training_split_is_sampled_to_the_row_budget(shop) -> None:
    labels = (shop.column("segment") == "gold").tolist()
    tt = shop.training_table("sampled", labels, pa.bool_(), "binary_classification")
    plan = {"baseline": {**FAST["baseline"], "max_train_rows": 300}}
    result = run_baseline(shop.spec("binary_classification", tt, model_plan=plan), store=shop.store)
    summary = ArtifactStore(shop.store).open(result.uri).read_json("metrics.json")
    assert summary["rows"]["train"] == 300 and summary["train_rows_total"] > 1000
    assert result.rows["holdout"] > 200


def test_features_see_only_what_is_known_at_the_anchor(shop) -> None:
    table = open_table(shop.store, shop.customers_uri)
    keys = pa.array([1003, 424242, 1003], pa.int64())
    rows = entity_rows(table, keys, ["signup_at", "segment"])
    assert rows.num_rows == 3
    assert rows.column("signup_at")[1].as_py() is None  # no such customer
    assert rows.column("segment")[0] == rows.column("segment")[2]
    signup = rows.column("signup_at")[0].as_py()
    anchors = pa.array([signup + dt.timedelta(days=10), signup, signup - dt.timedelta(days=1)],
                       pa.timestamp("us", tz="UTC"))
    schema = pa.schema([("customer_id", pa.int64()), ("signup_at", pa.timestamp("us", tz="UTC")),
                        ("segment", pa.string())])
    features, dropped = plan_features(schema, {}, "customer_id", {})
    assert [f.name for f in features] == ["signup_at__age_days", "segment"] and dropped[0].source == "customer_id"
    x = build_features(features, rows, pa.chunked_array([anchors]), {})
    assert x["signup_at__age_days"][0] == pytest.approx(10.0)
    assert math.isnan(x["signup_at__age_days"][1])  # unknown customer
    assert math.isnan(x["signup_at__age_days"][2])  # signed up after the anchor: not known yet
    assert str(x["segment"].dtype) == "category"


def test_inputs_the_baseline_cannot_use_are_user_errors(shop) -> None:
    labels = (shop.column("segment") == "gold").tolist()
    tt = shop.training_table("errors", labels, pa.bool_(), "binary_classification")
    with pytest.raises(BaselineError, match="is binary_classification"):
        run_baseline(shop.spec("regression", tt), store=shop.store)
    spec = shop.spec("binary_classification", tt)
    with pytest.raises(BaselineError, match="needs the entity table customers"):
        run_baseline(type(spec)(**{**spec.__dict__, "table_uris": {}}), store=shop.store)
    with pytest.raises(TableNotFoundError):
        run_baseline(type(spec)(**{**spec.__dict__, "table_uris": {"customers": shop.store.uri("nope")}}),
                     store=shop.store)
    no_holdout = shop.training_table("no-holdout", labels, pa.bool_(), "binary_classification",
                                     split=["train"] * len(labels))
    with pytest.raises(BaselineError, match="no holdout example"):
        run_baseline(shop.spec("binary_classification", no_holdout), store=shop.store)
    with pytest.raises(InputError, match="not a training table"):
        run_baseline(shop.spec("binary_classification", shop.customers_uri), store=shop.store)
    with pytest.raises(BaselineError, match="num_boost_round"):
        run_baseline(shop.spec("binary_classification", tt, model_plan={"baseline": {"num_boost_round": "x"}}),
                     store=shop.store)
    assert not ArtifactStore(shop.store).exists(spec.output_uri)
