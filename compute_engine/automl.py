"""AutoML: the GNN model plans a run mode searches, with Optuna choosing them and keeping every trial.

A run mode is a few rounds of trials run in parallel. Each training job has one Optuna study (TPE sampler,
seeded) in a database (``PQ_AUTOML_DATABASE_URL``, SQLite under the home by default; PostgreSQL when
deployed): :func:`ask_trials` draws the next round's plans, the trainers run them, :func:`tell_trials` reports
their validation metric so the next round learns from it. The first trial of every study is the mode's
default plan, so ``fast`` (one trial) always trains the same, well-tried model.

Search spaces (on top of each mode's fixed budget: epochs, patience, training-row cap)::

    fast    1 trial: the default plan
    normal  1 round of 3: channels, layers, learning rate, aggregation, sampling strategy, dropout
    best    2 rounds of 3: the same and wider, plus attention convolutions
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RUN_MODES", "SearchPlan", "SEARCH_PLANS", "AutoMLError", "study_name", "ask_trials", "tell_trials",
           "study_trials"]

RUN_MODES = ("fast", "normal", "best")


class AutoMLError(ValueError):
    """An unknown run mode, or a study that cannot be used."""


@dataclass(frozen=True)
class SearchPlan:
    """What one run mode searches.

    Attributes:
        rounds: trials per round; rounds run one after the other, the trials of a round in parallel.
        fixed: plan values every trial gets (budget).
        default: the first trial's searched values.
        space: name -> ``("categorical", [choices])`` or ``("log_float", low, high)``.
    """

    rounds: tuple[int, ...]
    fixed: dict[str, Any]
    default: dict[str, Any]
    space: dict[str, tuple] = field(default_factory=dict)

    @property
    def trials(self) -> int:
        return sum(self.rounds)


_DEFAULT = {"channels": 64, "num_layers": 2, "lr": 3e-3, "aggr": "sum", "strategy": "uniform", "dropout": 0.1}
_SPACE = {"channels": ("categorical", [64, 128]), "num_layers": ("categorical", [1, 2, 3]),
          "lr": ("log_float", 5e-4, 1e-2), "aggr": ("categorical", ["sum", "mean"]),
          "strategy": ("categorical", ["uniform", "last"]), "dropout": ("categorical", [0.0, 0.1, 0.2])}

SEARCH_PLANS = {
    # fast trains on a sample of at most 20,000 training examples: minutes on a laptop at demo scale.
    "fast": SearchPlan(rounds=(1,), fixed={"epochs": 5, "patience": 2, "max_train_rows": 20_000},
                       default=dict(_DEFAULT)),
    "normal": SearchPlan(rounds=(3,), fixed={"epochs": 20, "patience": 4, "max_train_rows": 200_000},
                         default=dict(_DEFAULT), space=dict(_SPACE)),
    "best": SearchPlan(rounds=(3, 3), fixed={"epochs": 40, "patience": 6},
                       default=dict(_DEFAULT),
                       space={**_SPACE, "channels": ("categorical", [64, 128, 256]),
                              "attention": ("categorical", [False, True])}),
}


def search_plan(run_mode: str) -> SearchPlan:
    """The search of a run mode.

    Raises:
        AutoMLError: an unknown run mode.
    """
    if run_mode not in SEARCH_PLANS:
        raise AutoMLError(f"unknown run mode {run_mode!r} (expected one of {', '.join(RUN_MODES)})")
    return SEARCH_PLANS[run_mode]


def study_name(job_key: str) -> str:
    """The Optuna study of a training job."""
    return f"pq-{job_key}"


def _study(storage_url: str, name: str, higher_is_better: bool, seed: int):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(study_name=name, storage=storage_url, load_if_exists=True,
                               direction="maximize" if higher_is_better else "minimize",
                               sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=3))


def _suggest(trial, space: dict[str, tuple]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in space.items():
        if spec[0] == "categorical":
            values[name] = trial.suggest_categorical(name, spec[1])
        elif spec[0] == "log_float":
            values[name] = trial.suggest_float(name, spec[1], spec[2], log=True)
        else:
            raise AutoMLError(f"search space {name}: unknown kind {spec[0]!r}")
    return values


def ask_trials(storage_url: str, name: str, run_mode: str, count: int, *, higher_is_better: bool,
               seed: int = 0) -> list[tuple[int, dict[str, Any]]]:
    """Draw the next ``count`` trials of a study (created on first use, its first trial the default plan).

    Args:
        storage_url: the study database (SQLAlchemy URL).
        name: the study (:func:`study_name`).
        run_mode: its run mode.
        count: trials to draw.
        higher_is_better: the direction of the selection metric.
        seed: the sampler's seed; trial ``n`` trains with seed ``seed + n``.

    Returns:
        ``(trial number, model plan)`` per trial; the plan is a job spec's ``model_plan``.
    """
    plan = search_plan(run_mode)
    study = _study(storage_url, name, higher_is_better, seed)
    if not study.trials:
        study.enqueue_trial({k: v for k, v in plan.default.items() if k in plan.space})
    out = []
    for _ in range(count):
        trial = study.ask()
        searched = _suggest(trial, plan.space)
        values = {**plan.default, **searched}
        if values.get("attention") and values["channels"] % 4:
            values["attention"] = False
        out.append((trial.number, {**values, **plan.fixed, "seed": seed + trial.number}))
    return out


def tell_trials(storage_url: str, name: str, results: list[tuple[int, float | None]], *,
                higher_is_better: bool, seed: int = 0) -> None:
    """Report finished trials: their validation metric, or None for a failed trial."""
    import optuna

    study = _study(storage_url, name, higher_is_better, seed)
    for number, value in results:
        if value is None or not math.isfinite(value):
            study.tell(number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        else:
            study.tell(number, float(value), skip_if_finished=True)


def study_trials(storage_url: str, name: str) -> list[dict[str, Any]]:
    """Every trial of a study: number, state, value and parameters (for reports and tests)."""
    import optuna

    study = optuna.load_study(study_name=name, storage=storage_url)
    return [{"number": t.number, "state": t.state.name, "value": t.value, "params": dict(t.params)}
            for t in study.trials]
