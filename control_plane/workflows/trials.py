"""LightGBM trials of a run mode (runs without GNN trials) and the direction of each metric.

GNN trials come from the AutoML search (:mod:`compute_engine.automl`, Optuna). A run with ``baseline``
trials only (tests, or data without a graph worth the name) takes its mode's fixed list: ``fast`` one,
``normal`` three, ``best`` six; each becomes a job spec's ``model_plan`` under ``"baseline"``. Pure
functions: workflows call them.
"""

from __future__ import annotations

from typing import Any

RUN_MODES = ("fast", "normal", "best")
TRIAL_KINDS = ("baseline",)

_LIGHTGBM: dict[str, list[dict[str, Any]]] = {
    "fast": [{"learning_rate": 0.1, "num_leaves": 15, "num_boost_round": 200, "early_stopping_rounds": 20}],
    "normal": [
        {"learning_rate": 0.1, "num_leaves": 15, "num_boost_round": 500, "early_stopping_rounds": 30},
        {"learning_rate": 0.05, "num_leaves": 31, "num_boost_round": 1000, "early_stopping_rounds": 50},
        {"learning_rate": 0.05, "num_leaves": 63, "min_data_in_leaf": 10, "num_boost_round": 1000,
         "early_stopping_rounds": 50},
    ],
    "best": [
        {"learning_rate": 0.1, "num_leaves": 15, "num_boost_round": 1000, "early_stopping_rounds": 50},
        {"learning_rate": 0.05, "num_leaves": 31, "num_boost_round": 2000, "early_stopping_rounds": 100},
        {"learning_rate": 0.05, "num_leaves": 63, "min_data_in_leaf": 10, "num_boost_round": 2000,
         "early_stopping_rounds": 100},
        {"learning_rate": 0.02, "num_leaves": 31, "num_boost_round": 4000, "early_stopping_rounds": 200},
        {"learning_rate": 0.02, "num_leaves": 127, "min_data_in_leaf": 5, "num_boost_round": 4000,
         "early_stopping_rounds": 200},
        {"learning_rate": 0.05, "num_leaves": 31, "feature_fraction": 0.7, "num_boost_round": 2000,
         "early_stopping_rounds": 100},
    ],
}


_LOWER_IS_BETTER = ("mae", "rmse", "mae_per_horizon")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (errors are smaller-is-better), for model selection."""
    return metric not in _LOWER_IS_BETTER and not metric.startswith("mae_h")


class TrialPlanError(ValueError):
    """An unknown run mode or trial kind."""


def trial_params(run_mode: str, kind: str, seed: int = 0) -> list[dict[str, Any]]:
    """The LightGBM trials of a run mode.

    Args:
        run_mode: ``fast``, ``normal`` or ``best``.
        kind: ``baseline`` (GNN trials come from the AutoML search).
        seed: unused by LightGBM trials (their seed is the job's).

    Returns:
        One ``model_plan`` per trial.

    Raises:
        TrialPlanError: an unknown run mode or kind.
    """
    if run_mode not in RUN_MODES:
        raise TrialPlanError(f"unknown run mode {run_mode!r} (expected one of {', '.join(RUN_MODES)})")
    if kind not in TRIAL_KINDS:
        raise TrialPlanError(f"unknown trial kind {kind!r} (expected one of {', '.join(TRIAL_KINDS)})")
    return [{"baseline": dict(params)} for params in _LIGHTGBM[run_mode]]


def baseline_params(run_mode: str) -> dict[str, Any]:
    """The ``model_plan`` of the baseline reported beside the GNN (the baseline job's own defaults)."""
    if run_mode not in RUN_MODES:
        raise TrialPlanError(f"unknown run mode {run_mode!r} (expected one of {', '.join(RUN_MODES)})")
    return {}
