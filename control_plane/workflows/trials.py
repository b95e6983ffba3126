"""The trials a run mode asks for: a small fixed search space per mode, the same for every run.

``fast`` runs one trial with short training, ``normal`` three and ``best`` six, with longer training and
wider models. Each trial's parameters become its job spec's ``model_plan``: GNN hyperparameters
(:class:`compute_engine.model.ModelPlan` fields) for ``train`` trials, LightGBM parameters under
``"baseline"`` for ``baseline`` trials. Pure functions: workflows call them.
"""

from __future__ import annotations

from typing import Any

RUN_MODES = ("fast", "normal", "best")
TRIAL_KINDS = ("train", "baseline")

_GNN: dict[str, list[dict[str, Any]]] = {
    # fast trains on a sample of at most 20,000 training examples: minutes on a laptop at demo scale.
    "fast": [{"channels": 64, "num_layers": 2, "lr": 3e-3, "epochs": 5, "patience": 2, "max_train_rows": 20_000}],
    "normal": [
        {"channels": 64, "num_layers": 2, "lr": 3e-3, "epochs": 20, "patience": 4},
        {"channels": 128, "num_layers": 2, "lr": 1e-3, "epochs": 20, "patience": 4, "aggr": "mean"},
        {"channels": 64, "num_layers": 3, "lr": 3e-3, "epochs": 20, "patience": 4, "strategy": "last"},
    ],
    "best": [
        {"channels": 64, "num_layers": 2, "lr": 3e-3, "epochs": 40, "patience": 6},
        {"channels": 128, "num_layers": 2, "lr": 1e-3, "epochs": 40, "patience": 6, "aggr": "mean"},
        {"channels": 64, "num_layers": 3, "lr": 3e-3, "epochs": 40, "patience": 6, "strategy": "last"},
        {"channels": 128, "num_layers": 2, "lr": 1e-3, "epochs": 40, "patience": 6, "attention": True},
        {"channels": 256, "num_layers": 2, "lr": 5e-4, "epochs": 40, "patience": 6, "dropout": 0.2},
        {"channels": 128, "num_layers": 3, "lr": 1e-3, "epochs": 40, "patience": 6, "aggr": "max"},
    ],
}

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
    """The trials of a run mode.

    Args:
        run_mode: ``fast``, ``normal`` or ``best``.
        kind: ``train`` (GNN) or ``baseline`` (LightGBM).
        seed: the first trial's seed; trial i gets ``seed + i``.

    Returns:
        One ``model_plan`` per trial.

    Raises:
        TrialPlanError: an unknown run mode or kind.
    """
    if run_mode not in RUN_MODES:
        raise TrialPlanError(f"unknown run mode {run_mode!r} (expected one of {', '.join(RUN_MODES)})")
    if kind not in TRIAL_KINDS:
        raise TrialPlanError(f"unknown trial kind {kind!r} (expected one of {', '.join(TRIAL_KINDS)})")
    if kind == "train":
        return [{**params, "seed": seed + i} for i, params in enumerate(_GNN[run_mode])]
    return [{"baseline": dict(params)} for params in _LIGHTGBM[run_mode]]


def baseline_params(run_mode: str) -> dict[str, Any]:
    """The ``model_plan`` of the baseline reported beside the GNN (the baseline job's own defaults)."""
    if run_mode not in RUN_MODES:
        raise TrialPlanError(f"unknown run mode {run_mode!r} (expected one of {', '.join(RUN_MODES)})")
    return {}
