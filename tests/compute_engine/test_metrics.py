"""Holdout metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from compute_engine import metrics as m
from pql.task import TaskType, default_metrics

pytestmark = pytest.mark.unit

Y = [0, 0, 1, 1]
S = [0.1, 0.4, 0.35, 0.8]


def test_binary_metrics_by_hand() -> None:
    # Of the four (positive, negative) pairs, three are ordered right.
    assert m.auroc(Y, S) == pytest.approx(0.75)
    # Ranked: 0.8 (pos), 0.4 (neg), 0.35 (pos): recall steps of 1/2 at precision 1 and 2/3.
    assert m.average_precision(Y, S) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # Threshold 0.5 predicts [0, 0, 0, 1]: one positive found of two, no false positive.
    assert m.f1(Y, S) == pytest.approx(2 / 3)
    result = m.evaluate(TaskType.BINARY_CLASSIFICATION, np.array(Y, dtype=bool), S)
    assert list(result) == ["auroc", "average_precision", "accuracy", "f1"]
    assert result["accuracy"] == pytest.approx(0.75)


def test_binary_metrics_match_sklearn_on_random_scores() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = np.clip(y * 0.3 + rng.random(500) * 0.8, 0, 1)
    result = m.evaluate("binary_classification", y, s)
    assert result["auroc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert result["average_precision"] == pytest.approx(skm.average_precision_score(y, s))
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(y, s >= 0.5))
    assert result["f1"] == pytest.approx(skm.f1_score(y, s >= 0.5))


def test_undefined_metrics_are_nan_not_errors() -> None:
    assert math.isnan(m.auroc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(m.average_precision([0, 0], [0.2, 0.5]))
    assert math.isnan(m.r2([3.0], [2.0]))
    assert math.isnan(m.macro_auprc([[0, 0], [0, 0]], [[0.1, 0.2], [0.3, 0.4]]))


def test_multiclass_metrics_by_hand() -> None:
    y = np.array(["a", "a", "b", "c"])
    p = np.array(["a", "b", "b", "c"])
    # F1 per class: a 2/3 (P 1, R 1/2), b 2/3 (P 1/2, R 1), c 1.
    result = m.evaluate(TaskType.MULTICLASS_CLASSIFICATION, y, p)
    assert result == {"accuracy": pytest.approx(0.75), "macro_f1": pytest.approx((2 / 3 + 2 / 3 + 1) / 3)}
    probabilities = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    by_index = m.evaluate(TaskType.MULTICLASS_CLASSIFICATION, [0, 0, 1, 2], probabilities)
    assert by_index == result


def test_multilabel_macro_auprc_leaves_out_labels_without_positives() -> None:
    y = [[1, 0, 0], [0, 1, 0], [1, 1, 0]]
    s = [[0.9, 0.5, 0.3], [0.2, 0.8, 0.1], [0.7, 0.3, 0.2]]
    # Label 0: both positives ranked first, AP 1. Label 1: pos 0.8, neg 0.5, pos 0.3 -> 1/2 + 1/2 * 2/3.
    # Label 2 has no positive and is left out.
    assert m.evaluate("multilabel_classification", y, s) == {"macro_auprc": pytest.approx((1 + 5 / 6) / 2)}


def test_regression_metrics_by_hand_and_sklearn() -> None:
    result = m.evaluate(TaskType.REGRESSION, [1, 2, 3, 4], [1, 3, 2, 4])
    assert result == {"mae": pytest.approx(0.5), "rmse": pytest.approx(math.sqrt(0.5)), "r2": pytest.approx(0.6)}
    rng = np.random.default_rng(1)
    y, p = rng.normal(size=200), rng.normal(size=200)
    assert m.r2(y, p) == pytest.approx(skm.r2_score(y, p))
    assert m.rmse(y, p) == pytest.approx(math.sqrt(skm.mean_squared_error(y, p)))


def test_forecasting_mae_per_horizon() -> None:
    result = m.evaluate(TaskType.FORECASTING, [[1, 2], [3, 4]], [[2, 2], [3, 6]])
    assert result == {"mae_per_horizon": pytest.approx(0.75), "mae_h1": pytest.approx(0.5), "mae_h2": pytest.approx(1.0)}


def test_ranking_metrics_by_hand() -> None:
    relevant = [[1, 2], [5], [], [7, 8, 9, 10]]
    ranked = [[1, 3, 2], [4, 5, 6], [1, 2, 3], [7, 7, 8]]
    # Entity 1: hits at ranks 1 and 3 -> AP (1 + 2/3) / min(3, 2); entity 2: hit at rank 2 -> AP 1/2;
    # entity 3 has no relevant item and is left out; entity 4: the repeated 7 counts once -> hits at ranks
    # 1 and 2 of [7, 8] -> AP (1 + 1) / min(3, 4).
    ap = [(1 + 2 / 3) / 2, 0.5, 2 / 3]
    result = m.evaluate(TaskType.LINK_PREDICTION, relevant, ranked, k=3)
    assert list(result) == ["map@3", "precision@3", "recall@3"]
    assert result["map@3"] == pytest.approx(np.mean(ap))
    assert result["precision@3"] == pytest.approx(np.mean([2 / 3, 1 / 3, 2 / 3]))
    assert result["recall@3"] == pytest.approx(np.mean([1, 1, 0.5]))
    assert m.ranking_metrics(relevant, ranked, 3)["entities"] == 3
    # Only the first k predictions count.
    assert m.map_at_k([[9]], [[1, 2, 9]], 2) == 0.0
    assert m.recall_at_k([[9]], [[1, 2, 9]], 3) == 1.0
    assert math.isnan(m.map_at_k([[], None], [[1], [2]], 1))


def test_ranking_needs_k_and_matching_lengths() -> None:
    with pytest.raises(m.MetricError, match="need k"):
        m.evaluate(TaskType.LINK_PREDICTION, [[1]], [[1]])
    with pytest.raises(m.MetricError, match="entities"):
        m.map_at_k([[1], [2]], [[1]], 1)
    with pytest.raises(m.MetricError, match="k: expected"):
        m.map_at_k([[1]], [[1]], 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sets(st.integers(0, 20), max_size=6), st.lists(st.integers(0, 20), max_size=8)),
                min_size=1, max_size=8), st.integers(1, 6))
def test_ranking_metrics_are_bounded_and_perfect_rankings_score_one(rows, k) -> None:
    relevant = [sorted(r) for r, _ in rows]
    ranked = [p for _, p in rows]
    result = m.ranking_metrics(relevant, ranked, k)
    for name in (f"map@{k}", f"precision@{k}", f"recall@{k}"):
        assert math.isnan(result[name]) or 0.0 <= result[name] <= 1.0
    perfect = m.ranking_metrics(relevant, relevant, k)
    if perfect["entities"]:
        assert perfect[f"map@{k}"] == pytest.approx(1.0)


def test_evaluate_names_match_default_metrics() -> None:
    cases = {
        TaskType.BINARY_CLASSIFICATION: ([0, 1], [0.2, 0.7]),
        TaskType.MULTICLASS_CLASSIFICATION: ([0, 1], [0, 1]),
        TaskType.MULTILABEL_CLASSIFICATION: ([[1, 0]], [[0.6, 0.1]]),
        TaskType.REGRESSION: ([1.0, 2.0], [1.5, 2.0]),
        TaskType.LINK_PREDICTION: ([[1]], [[1]]),
        TaskType.FORECASTING: ([[1.0]], [[2.0]]),
    }
    for task, (y, p) in cases.items():
        names = list(m.evaluate(task, y, p, k=12))
        assert names[:len(default_metrics(task, 12))] == list(default_metrics(task, 12))


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(m.MetricError, match="y_true has 2 values, y_pred 3"):
        m.mae([1, 2], [1, 2, 3])
    with pytest.raises(m.MetricError, match="NaN"):
        m.mae([1, 2], [1, float("nan")])
    with pytest.raises(m.MetricError, match="0/1"):
        m.auroc([0, 2], [0.1, 0.2])
    with pytest.raises(m.MetricError, match="no examples"):
        m.rmse([], [])


def test_binary_curves() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 1000)
    s = np.clip(0.5 * y + 0.5 * rng.random(1000), 0, 1)
    out = m.curves(TaskType.BINARY_CLASSIFICATION, y, s, max_points=50, bins=10)
    roc = out["roc"]
    assert len(roc["fpr"]) <= 50
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0) and (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert np.all(np.diff(roc["fpr"]) >= 0)
    assert len(out["pr"]["precision"]) == len(out["pr"]["recall"]) == len(out["pr"]["threshold"])
    calibration = out["calibration"]
    assert sum(calibration["count"]) == 1000
    # Mean scores rise with the bins, and each bin's mean score lies inside it.
    for low, high, mean in zip(calibration["bin_lower"], calibration["bin_upper"], calibration["mean_score"]):
        assert low <= mean <= high
    confusion = out["confusion"]
    assert confusion["labels"] == [0, 1]
    assert np.sum(confusion["matrix"]) == 1000
    assert confusion["matrix"][1][1] == int(((s >= 0.5) & (y == 1)).sum())
    assert m.curves(TaskType.BINARY_CLASSIFICATION, [1, 1], [0.3, 0.9])["roc"] == {}


def test_other_curves() -> None:
    multiclass = m.curves(TaskType.MULTICLASS_CLASSIFICATION, ["a", "b", "b"], ["a", "a", "b"])
    assert multiclass["confusion"] == {"labels": ["a", "b"], "matrix": [[1, 0], [1, 1]]}
    regression = m.curves(TaskType.REGRESSION, np.arange(5000.0), np.arange(5000.0) + 1, sample=100, seed=3)
    pairs = regression["predicted_vs_actual"]
    assert len(pairs["actual"]) == 100
    assert all(p == a + 1 for a, p in zip(pairs["actual"], pairs["predicted"]))
    forecast = m.curves(TaskType.FORECASTING, [[1.0, 2.0]], [[1.5, 2.5]])
    assert forecast["predicted_vs_actual"]["horizon"] == [1, 2]
    ranking = m.curves(TaskType.LINK_PREDICTION, [[1, 2]], [[1, 3, 2]], k=3)["at_cutoff"]
    assert ranking["precision"] == pytest.approx([1.0, 0.5, 2 / 3])
    assert ranking["recall"] == pytest.approx([0.5, 0.5, 1.0])
    multilabel = m.curves(TaskType.MULTILABEL_CLASSIFICATION, [[1, 0], [0, 0]], [[0.9, 0.2], [0.1, 0.3]])
    assert multilabel["per_label_ap"] == {0: 1.0}
