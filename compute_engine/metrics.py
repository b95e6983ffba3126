"""Holdout metrics of every task type, and the curve data the console plots.

Every metric is a pure function over NumPy arrays. scikit-learn computes the ones it implements; the ranking
metrics are written here, with these definitions (for one entity with relevant set R and ranked
predictions p_1, p_2, ... of which the first k count; a repeated prediction counts once, at its first rank):

- precision@k = |{p_1..p_k} ∩ R| / k  (missing predictions count as misses);
- recall@k    = |{p_1..p_k} ∩ R| / |R|;
- AP@k        = (1 / min(k, |R|)) * sum over i <= k with p_i in R of precision@i  (as in RelBench);
- MAP@k, mean precision@k, mean recall@k: the means over entities.

Entities with no relevant item (R empty) are excluded from all three means: their recall and AP are
undefined, and counting their precision as 0 would penalize every model alike. When no entity has a
relevant item the metrics are NaN.

:func:`evaluate` returns exactly the metric names :func:`pql.task.default_metrics` lists for a task (the
selection metric first); forecasting adds ``mae_h1`` ... ``mae_h<n>`` after ``mae_per_horizon``.
Undefined metrics (AUROC over one class, R² of one example) are NaN, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from pql.task import TaskType, default_metrics

__all__ = ["MetricError", "auroc", "average_precision", "accuracy", "f1", "macro_f1", "macro_auprc", "mae", "rmse",
           "r2", "precision_at_k", "recall_at_k", "map_at_k", "ranking_metrics", "mae_per_horizon", "evaluate",
           "curves", "BINARY_THRESHOLD"]

#: Scores at or above this are predicted positive for accuracy and F1 of a binary task.
BINARY_THRESHOLD = 0.5


class MetricError(ValueError):
    """Arrays that do not fit the metric: wrong shapes, lengths, or non-finite predictions."""


# ---- input checks -------------------------------------------------------------------------------------
def _vector(values: Any, name: str, *, finite: bool = True) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise MetricError(f"{name}: expected a 1-D array, got shape {array.shape}")
    if finite and array.dtype.kind in "fc" and not np.isfinite(array).all():
        raise MetricError(f"{name}: holds NaN or infinite values")
    return array


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = _vector(y_true, "y_true"), _vector(y_pred, "y_pred")
    if len(t) != len(p):
        raise MetricError(f"y_true has {len(t)} values, y_pred {len(p)}")
    if len(t) == 0:
        raise MetricError("no examples to evaluate")
    return t, p


def _binary_labels(y_true: Any) -> np.ndarray:
    t = _vector(y_true, "y_true")
    if t.dtype == bool:
        return t.astype(np.int8)
    if not np.isin(t, (0, 1)).all():
        raise MetricError("y_true: a binary task needs labels 0/1 or booleans")
    return t.astype(np.int8)


def _single_class(t: np.ndarray) -> bool:
    return len(np.unique(t)) < 2


# ---- binary classification ----------------------------------------------------------------------------
def auroc(y_true: Any, y_score: Any) -> float:
    """Area under the ROC curve of scores against 0/1 labels; NaN when only one class occurs."""
    t, s = _pair(_binary_labels(y_true), y_score)
    return math.nan if _single_class(t) else float(skm.roc_auc_score(t, s))


def average_precision(y_true: Any, y_score: Any) -> float:
    """Average precision (area under the step PR curve); NaN when there is no positive."""
    t, s = _pair(_binary_labels(y_true), y_score)
    return math.nan if t.sum() == 0 else float(skm.average_precision_score(t, s))


def accuracy(y_true: Any, y_pred: Any) -> float:
    """The fraction of predicted labels equal to the true ones (any label type)."""
    t, p = _pair(y_true, y_pred)
    return float(skm.accuracy_score(t, p))


def f1(y_true: Any, y_score: Any, threshold: float = BINARY_THRESHOLD) -> float:
    """F1 of the positive class, predicting positive where the score is >= ``threshold``."""
    t, s = _pair(_binary_labels(y_true), y_score)
    return float(skm.f1_score(t, (s >= threshold).astype(np.int8), zero_division=0.0))


# ---- multiclass and multilabel ------------------------------------------------------------------------
def macro_f1(y_true: Any, y_pred: Any) -> float:
    """F1 averaged over the classes occurring in the true or predicted labels, unweighted."""
    t, p = _pair(y_true, y_pred)
    return float(skm.f1_score(t, p, average="macro", zero_division=0.0))


def _matrix(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 2:
        raise MetricError(f"{name}: expected a 2-D array (examples x labels), got shape {array.shape}")
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        raise MetricError(f"{name}: holds NaN or infinite values")
    return array


def macro_auprc(y_true: Any, y_score: Any) -> float:
    """Average precision per label, averaged over the labels with at least one positive example.

    Args:
        y_true: (examples, labels) of 0/1 or booleans.
        y_score: (examples, labels) of scores.

    Returns:
        The macro average; labels without a positive are left out (their AP is undefined); NaN when no
        label has one.
    """
    t, s = _matrix(y_true, "y_true").astype(np.int8), _matrix(y_score, "y_score")
    if t.shape != s.shape:
        raise MetricError(f"y_true has shape {t.shape}, y_score {s.shape}")
    present = np.flatnonzero(t.sum(axis=0) > 0)
    if len(present) == 0:
        return math.nan
    return float(np.mean([skm.average_precision_score(t[:, j], s[:, j]) for j in present]))


# ---- regression and forecasting ----------------------------------------------------------------------
def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error."""
    t, p = _pair(y_true, y_pred)
    return float(skm.mean_absolute_error(t, p))


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error."""
    t, p = _pair(y_true, y_pred)
    return float(math.sqrt(skm.mean_squared_error(t, p)))


def r2(y_true: Any, y_pred: Any) -> float:
    """Coefficient of determination; NaN with fewer than two examples."""
    t, p = _pair(y_true, y_pred)
    return math.nan if len(t) < 2 else float(skm.r2_score(t, p))


def mae_per_horizon(y_true: Any, y_pred: Any) -> list[float]:
    """The MAE of each forecast horizon (column) of (examples, horizons) arrays."""
    t, p = _matrix(y_true, "y_true").astype(float), _matrix(y_pred, "y_pred").astype(float)
    if t.shape != p.shape:
        raise MetricError(f"y_true has shape {t.shape}, y_pred {p.shape}")
    if t.shape[0] == 0:
        raise MetricError("no examples to evaluate")
    return [float(v) for v in np.abs(t - p).mean(axis=0)]


# ---- ranking ------------------------------------------------------------------------------------------
def _ranking_inputs(y_true: Sequence[Any], y_pred: Sequence[Any] | np.ndarray, k: int
                    ) -> list[tuple[set, list]]:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MetricError(f"k: expected a whole number >= 1, got {k!r}")
    if len(y_true) != len(y_pred):
        raise MetricError(f"y_true has {len(y_true)} entities, y_pred {len(y_pred)}")
    pairs = []
    for relevant, ranked in zip(y_true, y_pred):
        rel = set(np.asarray(relevant if relevant is not None else [], dtype=object).tolist())
        if not rel:
            continue
        top: list = []
        for item in np.asarray(ranked, dtype=object).tolist()[:k]:
            if item not in top:
                top.append(item)
        pairs.append((rel, top))
    return pairs


def _ranking(pairs: list[tuple[set, list]], k: int) -> dict[str, float]:
    if not pairs:
        return {"map": math.nan, "precision": math.nan, "recall": math.nan}
    ap, prec, rec = [], [], []
    for rel, top in pairs:
        hits = 0
        precision_sum = 0.0
        for rank, item in enumerate(top, start=1):
            if item in rel:
                hits += 1
                precision_sum += hits / rank
        ap.append(precision_sum / min(k, len(rel)))
        prec.append(hits / k)
        rec.append(hits / len(rel))
    return {"map": float(np.mean(ap)), "precision": float(np.mean(prec)), "recall": float(np.mean(rec))}


def ranking_metrics(y_true: Sequence[Any], y_pred: Sequence[Any] | np.ndarray, k: int) -> dict[str, float]:
    """MAP@k, precision@k and recall@k in one pass (definitions in the module docstring).

    Args:
        y_true: per entity, the relevant items (any hashable values; None or empty: excluded).
        y_pred: per entity, the predicted items best first (a list per entity or an (entities, >= k) array).
        k: the cut-off.

    Returns:
        ``{"map@k": ..., "precision@k": ..., "recall@k": ...}`` with k written out, and ``"entities"``:
        how many entities had a relevant item and were averaged.

    Raises:
        MetricError: k < 1 or a different number of entities in y_true and y_pred.
    """
    pairs = _ranking_inputs(y_true, y_pred, k)
    values = _ranking(pairs, k)
    return {f"map@{k}": values["map"], f"precision@{k}": values["precision"], f"recall@{k}": values["recall"],
            "entities": float(len(pairs))}


def map_at_k(y_true: Sequence[Any], y_pred: Sequence[Any] | np.ndarray, k: int) -> float:
    """Mean average precision at k (RelBench's definition: AP denominator min(k, |relevant|))."""
    return _ranking(_ranking_inputs(y_true, y_pred, k), k)["map"]


def precision_at_k(y_true: Sequence[Any], y_pred: Sequence[Any] | np.ndarray, k: int) -> float:
    """Mean over entities with a relevant item of the relevant share of the top k predictions."""
    return _ranking(_ranking_inputs(y_true, y_pred, k), k)["precision"]


def recall_at_k(y_true: Sequence[Any], y_pred: Sequence[Any] | np.ndarray, k: int) -> float:
    """Mean over entities with a relevant item of the share of relevant items in the top k predictions."""
    return _ranking(_ranking_inputs(y_true, y_pred, k), k)["recall"]


# ---- one entry point per task -------------------------------------------------------------------------
def _multiclass_labels(y_pred: Any) -> np.ndarray:
    array = np.asarray(y_pred)
    return array.argmax(axis=1) if array.ndim == 2 else array


def evaluate(task_type: TaskType | str, y_true: Any, y_pred: Any, k: int | None = None) -> dict[str, float]:
    """The default metrics of a task on holdout predictions.

    Args:
        task_type: the task (a :class:`pql.TaskType` or its value).
        y_true: binary: 0/1 or booleans; multiclass: labels (class indices when ``y_pred`` holds
            probabilities); multilabel: (examples, labels) 0/1; regression: numbers; ranking: per entity the
            relevant items; forecasting: (examples, horizons).
        y_pred: binary: scores (probabilities; >= 0.5 is positive for accuracy and F1); multiclass: predicted
            labels, or (examples, classes) probabilities whose argmax is the class index; multilabel:
            (examples, labels) scores; regression: numbers; ranking: per entity the ranked items;
            forecasting: (examples, horizons).
        k: the ranking cut-off (RANK TOP k); required for link prediction, ignored otherwise.

    Returns:
        ``{metric name: value}`` in the order of :func:`pql.task.default_metrics`; forecasting adds
        ``mae_h1`` ... per horizon (``mae_per_horizon`` is their mean, the selection metric).

    Raises:
        MetricError: arrays that do not fit the task, or a ranking task without k.
    """
    task = TaskType(task_type)
    if task is TaskType.BINARY_CLASSIFICATION:
        values = {"auroc": auroc(y_true, y_pred), "average_precision": average_precision(y_true, y_pred),
                  "accuracy": accuracy(_binary_labels(y_true), (np.asarray(y_pred) >= BINARY_THRESHOLD).astype(np.int8)),
                  "f1": f1(y_true, y_pred)}
    elif task is TaskType.MULTICLASS_CLASSIFICATION:
        labels = _multiclass_labels(y_pred)
        values = {"accuracy": accuracy(y_true, labels), "macro_f1": macro_f1(y_true, labels)}
    elif task is TaskType.MULTILABEL_CLASSIFICATION:
        values = {"macro_auprc": macro_auprc(y_true, y_pred)}
    elif task is TaskType.REGRESSION:
        values = {"mae": mae(y_true, y_pred), "rmse": rmse(y_true, y_pred), "r2": r2(y_true, y_pred)}
    elif task is TaskType.LINK_PREDICTION:
        if k is None:
            raise MetricError("ranking metrics need k (the k of RANK TOP k)")
        values = ranking_metrics(y_true, y_pred, k)
        values.pop("entities")
    else:
        per = mae_per_horizon(y_true, y_pred)
        values = {"mae_per_horizon": float(np.mean(per)), **{f"mae_h{i + 1}": v for i, v in enumerate(per)}}
    names = default_metrics(task, k)
    ordered = {name: values.pop(name) for name in names}
    return {**ordered, **values}


# ---- curves -------------------------------------------------------------------------------------------
def _thin(arrays: dict[str, np.ndarray], max_points: int) -> dict[str, list[float]]:
    """Keep at most ``max_points`` evenly spaced points of equally long arrays, always with both ends."""
    n = len(next(iter(arrays.values())))
    keep = np.unique(np.linspace(0, n - 1, min(n, max_points)).round().astype(int)) if n else np.array([], int)
    return {name: [float(v) for v in values[keep]] for name, values in arrays.items()}


def _calibration(t: np.ndarray, s: np.ndarray, bins: int) -> dict[str, list[float]]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(np.clip(s, 0.0, 1.0), edges[1:-1], right=False), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    score_sum = np.bincount(which, weights=s, minlength=bins)
    pos_sum = np.bincount(which, weights=t, minlength=bins)
    filled = count > 0
    return {"bin_lower": [float(v) for v in edges[:-1][filled]], "bin_upper": [float(v) for v in edges[1:][filled]],
            "mean_score": [float(v) for v in score_sum[filled] / count[filled]],
            "fraction_positive": [float(v) for v in pos_sum[filled] / count[filled]],
            "count": [int(v) for v in count[filled]]}


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _confusion(t: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    labels = np.unique(np.concatenate([t, p]))
    matrix = skm.confusion_matrix(t, p, labels=labels)
    return {"labels": [v.item() if hasattr(v, "item") else v for v in labels], "matrix": matrix.tolist()}


def curves(task_type: TaskType | str, y_true: Any, y_pred: Any, *, k: int | None = None, max_points: int = 200,
           bins: int = 10, sample: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The data behind the holdout plots of a task.

    Args:
        task_type: the task.
        y_true, y_pred: as for :func:`evaluate`.
        k: the ranking cut-off (link prediction).
        max_points: the most points kept of a ROC or PR curve.
        bins: calibration bins over [0, 1].
        sample: the most points of a predicted-vs-actual scatter (a seeded sample).
        seed: the sample's seed.

    Returns:
        binary: ``roc`` (fpr, tpr, threshold), ``pr`` (precision, recall, threshold), ``calibration``,
        ``confusion`` at the 0.5 threshold; multiclass: ``confusion``; multilabel: ``per_label_ap`` (label
        index -> AP for labels with a positive); regression: ``predicted_vs_actual``; forecasting:
        ``predicted_vs_actual`` with the horizon of each point; ranking: ``at_cutoff`` (precision and recall
        at 1..k). Empty where a curve is undefined (ROC over one class).

    Raises:
        MetricError: arrays that do not fit the task.
    """
    task = TaskType(task_type)
    if task is TaskType.BINARY_CLASSIFICATION:
        t, s = _pair(_binary_labels(y_true), y_pred)
        s = s.astype(float)
        out: dict[str, Any] = {"calibration": _calibration(t, s, bins),
                               "confusion": _confusion(t, (s >= BINARY_THRESHOLD).astype(np.int8))}
        if _single_class(t):
            out["roc"], out["pr"] = {}, {}
            return out
        fpr, tpr, thr = skm.roc_curve(t, s)
        precision, recall, pr_thr = skm.precision_recall_curve(t, s)
        out["roc"] = _thin({"fpr": fpr, "tpr": tpr, "threshold": np.clip(thr, -1e300, 1e300)}, max_points)
        # precision_recall_curve has one threshold fewer than points; the last point (recall 0) has none.
        out["pr"] = _thin({"precision": precision[:-1], "recall": recall[:-1], "threshold": pr_thr}, max_points)
        return out
    if task is TaskType.MULTICLASS_CLASSIFICATION:
        t, p = _pair(y_true, _multiclass_labels(y_pred))
        return {"confusion": _confusion(t, p)}
    if task is TaskType.MULTILABEL_CLASSIFICATION:
        t, s = _matrix(y_true, "y_true").astype(np.int8), _matrix(y_pred, "y_score")
        if t.shape != s.shape:
            raise MetricError(f"y_true has shape {t.shape}, y_score {s.shape}")
        present = np.flatnonzero(t.sum(axis=0) > 0)
        return {"per_label_ap": {int(j): float(skm.average_precision_score(t[:, j], s[:, j])) for j in present}}
    if task is TaskType.REGRESSION:
        t, p = _pair(y_true, y_pred)
        keep = _sample(len(t), sample, seed)
        return {"predicted_vs_actual": {"actual": t[keep].astype(float).tolist(),
                                        "predicted": p[keep].astype(float).tolist()}}
    if task is TaskType.FORECASTING:
        t, p = _matrix(y_true, "y_true").astype(float), _matrix(y_pred, "y_pred").astype(float)
        if t.shape != p.shape:
            raise MetricError(f"y_true has shape {t.shape}, y_pred {p.shape}")
        horizon = np.tile(np.arange(1, t.shape[1] + 1), t.shape[0])
        keep = _sample(t.size, sample, seed)
        return {"predicted_vs_actual": {"actual": t.ravel()[keep].tolist(), "predicted": p.ravel()[keep].tolist(),
                                        "horizon": horizon[keep].tolist()}}
    if k is None:
        raise MetricError("ranking curves need k (the k of RANK TOP k)")
    pairs = _ranking_inputs(y_true, y_pred, k)
    at = [_ranking([(rel, top[:c]) for rel, top in pairs], c) for c in range(1, k + 1)]
    return {"at_cutoff": {"k": list(range(1, k + 1)), "precision": [v["precision"] for v in at],
                          "recall": [v["recall"] for v in at], "map": [v["map"] for v in at]}}
