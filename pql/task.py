"""Task type inference and default metrics, exactly as the table in PQL.md."""

from __future__ import annotations

from enum import StrEnum

from pql.passes.target import TargetInfo
from pql.passes.typecheck import VType

__all__ = ["TaskType", "infer_task", "default_metrics"]


class TaskType(StrEnum):
    """The learning task a query defines."""

    BINARY_CLASSIFICATION = "binary_classification"
    MULTICLASS_CLASSIFICATION = "multiclass_classification"
    MULTILABEL_CLASSIFICATION = "multilabel_classification"
    REGRESSION = "regression"
    LINK_PREDICTION = "link_prediction"
    FORECASTING = "forecasting"


_METRICS = {
    TaskType.BINARY_CLASSIFICATION: ("auroc", "average_precision", "accuracy", "f1"),
    TaskType.REGRESSION: ("mae", "rmse", "r2"),
    TaskType.MULTICLASS_CLASSIFICATION: ("accuracy", "macro_f1"),
    TaskType.MULTILABEL_CLASSIFICATION: ("macro_auprc",),
    TaskType.LINK_PREDICTION: ("map@{k}", "precision@{k}", "recall@{k}"),
    TaskType.FORECASTING: ("mae_per_horizon",),
}


def infer_task(target: TargetInfo) -> TaskType:
    """The task type of a checked target.

    Args:
        target: what :func:`~pql.passes.target.analyze_target` found.

    Returns:
        binary classification for a condition; forecasting with FORECAST; link prediction with
        RANK TOP k; multilabel with CLASSIFY; regression for a number; multiclass for a category.
    """
    if target.condition:
        return TaskType.BINARY_CLASSIFICATION
    if target.forecast is not None:
        return TaskType.FORECASTING
    if target.rank_k is not None:
        return TaskType.LINK_PREDICTION
    if target.classify:
        return TaskType.MULTILABEL_CLASSIFICATION
    if target.value_type is VType.NUMBER:
        return TaskType.REGRESSION
    return TaskType.MULTICLASS_CLASSIFICATION


def default_metrics(task: TaskType, k: int | None = None) -> tuple[str, ...]:
    """The metrics reported for ``task``, the model-selection metric first.

    Args:
        task: the task type.
        k: the k of RANK TOP k, substituted into ranking metrics (``"map@12"``).

    Returns:
        Metric names.
    """
    return tuple(m.format(k=k) for m in _METRICS[task])
