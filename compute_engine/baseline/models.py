"""The baseline models: LightGBM per task on the entity's own columns, and most-popular for ranking.

Each fit trains on the ``train`` rows, stops early on the ``val`` rows (when there are any) and predicts the
``holdout`` rows. Forecasting fits one regressor per horizon, multilabel one binary classifier per label (the
most frequent labels of the training split, up to a budget).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from compute_engine.baseline.inputs import BaselineError
from pql.task import TaskType

__all__ = ["DEFAULT_PARAMS", "Fit", "fit_lightgbm", "most_popular", "baseline_params"]

log = logging.getLogger("compute_engine.baseline")

#: The baseline's defaults; a job's ``model_plan["baseline"]`` overrides them, and any other key there is
#: passed to LightGBM as a parameter.
DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_boost_round": 1000,
    "early_stopping_rounds": 50,
    "max_train_rows": 2_000_000,
    "max_labels": 50,
    "log_period": 100,
}
_OWN_KEYS = ("num_boost_round", "early_stopping_rounds", "max_train_rows", "max_labels", "log_period")


def baseline_params(model_plan: dict[str, Any]) -> dict[str, Any]:
    """The defaults with a job's ``model_plan["baseline"]`` on top.

    Raises:
        BaselineError: ``model_plan["baseline"]`` is not a mapping, or a budget is not a whole number.
    """
    given = model_plan.get("baseline", {})
    if not isinstance(given, dict):
        raise BaselineError(f"model_plan.baseline: expected a mapping of parameters, got {given!r}")
    params = {**DEFAULT_PARAMS, **given}
    for name in _OWN_KEYS:
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BaselineError(f"model_plan.baseline.{name}: expected a whole number >= 0, got {value!r}")
    if params["num_boost_round"] < 1 or params["max_train_rows"] < 1 or params["max_labels"] < 1:
        raise BaselineError("model_plan.baseline: num_boost_round, max_train_rows and max_labels must be >= 1")
    return params


@dataclass
class Fit:
    """What a fit produced.

    Attributes:
        holdout: holdout predictions: scores (binary), values (regression), (rows, classes) probabilities
            (multiclass), (rows, horizons) values (forecasting), (rows, labels) scores (multilabel).
        best_iterations: the boosting rounds kept per model.
        importance: feature name -> (gain, split count), summed over models.
        classes: the class or label values the columns of ``holdout`` stand for (multiclass, multilabel).
        model_text: each model in LightGBM's text format.
    """

    holdout: np.ndarray
    best_iterations: list[int]
    importance: dict[str, tuple[float, int]]
    classes: list[Any] = field(default_factory=list)
    model_text: list[str] = field(default_factory=list)


def _lgb_params(params: dict[str, Any], objective: str, seed: int, threads: int, **extra: Any) -> dict[str, Any]:
    out = {k: v for k, v in params.items() if k not in _OWN_KEYS}
    out.update(objective=objective, seed=seed, num_threads=threads, deterministic=True, force_row_wise=True,
               verbosity=-1, **extra)
    return out


class _Trainer:
    def __init__(self, x: pd.DataFrame, split: np.ndarray, params: dict[str, Any], seed: int, threads: int) -> None:
        self.x, self.params, self.seed, self.threads = x, params, seed, threads
        self.train = np.flatnonzero(split == "train")
        self.val = np.flatnonzero(split == "val")
        self.holdout = np.flatnonzero(split == "holdout")
        self.importance: dict[str, list[float]] = {name: [0.0, 0] for name in x.columns}
        self.best: list[int] = []
        self.models: list[str] = []

    def fit(self, y: np.ndarray, objective: str, what: str, val_mask: np.ndarray | None = None, **extra: Any
            ) -> lgb.Booster:
        """Train one model on the train rows of ``y``, early-stopping on the val rows (those in ``val_mask``)."""
        params = _lgb_params(self.params, objective, self.seed, self.threads, **extra)
        train_set = lgb.Dataset(self.x.iloc[self.train], label=y[self.train], free_raw_data=True)
        val = self.val if val_mask is None else self.val[val_mask[self.val]]
        callbacks = []
        valid_sets = []
        if len(val) and self.params["early_stopping_rounds"] > 0:
            valid_sets = [lgb.Dataset(self.x.iloc[val], label=y[val], reference=train_set)]
            callbacks.append(lgb.early_stopping(self.params["early_stopping_rounds"], verbose=False))
        if self.params["log_period"] and valid_sets:
            callbacks.append(lgb.log_evaluation(self.params["log_period"]))
        log.info("training LightGBM %s: %d train rows, %d val rows, %d features", what, len(self.train), len(val),
                 self.x.shape[1])
        booster = lgb.train(params, train_set, num_boost_round=self.params["num_boost_round"],
                            valid_sets=valid_sets, valid_names=["val"] if valid_sets else None, callbacks=callbacks)
        best = booster.best_iteration or booster.current_iteration()
        self.best.append(int(best))
        gains = booster.feature_importance("gain", iteration=best)
        splits = booster.feature_importance("split", iteration=best)
        # LightGBM keeps the column order of the frame (it may rewrite names it does not accept).
        for name, gain, count in zip(self.x.columns, gains, splits):
            entry = self.importance[name]
            entry[0] += float(gain)
            entry[1] += int(count)
        self.models.append(booster.model_to_string(num_iteration=best))
        log.info("LightGBM %s kept %d rounds", what, best)
        return booster

    def predict(self, booster: lgb.Booster) -> np.ndarray:
        return booster.predict(self.x.iloc[self.holdout], num_iteration=self.best[-1])

    def result(self, holdout: np.ndarray, classes: list[Any] | None = None) -> Fit:
        importance = {k: (float(v[0]), int(v[1])) for k, v in self.importance.items()}
        return Fit(holdout, self.best, importance, classes or [], self.models)


def _sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers in numeric order before everything else in text order."""
    if isinstance(value, (int, float, np.number)):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def fit_lightgbm(task: TaskType, x: pd.DataFrame, labels: list[Any], split: np.ndarray, params: dict[str, Any],
                 *, seed: int, threads: int) -> Fit:
    """Train the task's LightGBM model(s) and predict the holdout rows.

    Args:
        task: binary, multiclass, multilabel, regression or forecasting.
        x: the feature matrix, one row per example.
        labels: the examples' labels as Python values (booleans, numbers, categories, lists).
        split: each example's split (``train``, ``val``, ``holdout``).
        params: :func:`baseline_params`.
        seed: LightGBM's seed.
        threads: LightGBM's thread count.

    Returns:
        The :class:`Fit`.

    Raises:
        BaselineError: the training split cannot train this task (a single class; no label values).
    """
    trainer = _Trainer(x, split, params, seed, threads)
    if task is TaskType.BINARY_CLASSIFICATION:
        y = np.array([1.0 if v else 0.0 for v in labels])
        return trainer.result(trainer.predict(trainer.fit(y, "binary", "binary classifier")))
    if task is TaskType.REGRESSION:
        y = np.array(labels, dtype=float)
        return trainer.result(trainer.predict(trainer.fit(y, "regression", "regressor")))
    if task is TaskType.MULTICLASS_CLASSIFICATION:
        classes = sorted({labels[i] for i in trainer.train}, key=_sort_key)
        if len(classes) < 2:
            raise BaselineError(f"the training split has a single class ({classes[0]!r} if any): nothing to classify")
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index.get(v, -1) for v in labels], dtype=float)
        # Validation rows of a class the training split never shows cannot be scored by LightGBM.
        booster = trainer.fit(y, "multiclass", f"{len(classes)}-class classifier", val_mask=y >= 0,
                              num_class=len(classes))
        return trainer.result(trainer.predict(booster), classes)
    if task is TaskType.FORECASTING:
        horizons = {len(v) for v in labels}
        if len(horizons) != 1:
            raise BaselineError(f"forecast labels have different lengths ({sorted(horizons)})")
        y_all = np.array(labels, dtype=float)
        columns = [trainer.predict(trainer.fit(y_all[:, h], "regression", f"regressor for horizon {h + 1}"))
                   for h in range(y_all.shape[1])]
        return trainer.result(np.column_stack(columns))
    if task is TaskType.MULTILABEL_CLASSIFICATION:
        counts = Counter(v for i in trainer.train for v in set(labels[i] or ()))
        kept = [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], _sort_key(kv[0])))][:params["max_labels"]]
        if not kept:
            raise BaselineError("the training split has no label values: nothing to classify")
        sets = [set(v or ()) for v in labels]
        columns = []
        for j, value in enumerate(kept):
            y = np.array([1.0 if value in s else 0.0 for s in sets])
            columns.append(trainer.predict(trainer.fit(y, "binary", f"classifier for label {j + 1}/{len(kept)}")))
        return trainer.result(np.column_stack(columns), kept)
    raise BaselineError(f"LightGBM has no baseline for {task.value}")


def most_popular(labels: list[Any], split: np.ndarray, k: int) -> list[Any]:
    """The k targets that occur in the most training labels (ties: the smaller value first).

    Args:
        labels: per example, the list of targets.
        split: each example's split; only ``train`` rows count.
        k: how many to return.

    Returns:
        Up to k target values, most popular first.
    """
    counts = Counter(v for i in np.flatnonzero(split == "train") for v in (labels[i] or ()))
    return [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], _sort_key(kv[0])))][:k]
