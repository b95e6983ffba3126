"""The AutoML search on a real Optuna study in a SQLite database."""

from __future__ import annotations

import pytest

from compute_engine.automl import SEARCH_PLANS, AutoMLError, ask_trials, study_name, study_trials, tell_trials
from compute_engine.model import ModelPlan

pytestmark = pytest.mark.unit


@pytest.fixture
def storage(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'automl.db'}"


def _model_plan(params: dict) -> ModelPlan:
    return ModelPlan.from_dict({k: v for k, v in params.items() if k != "max_train_rows"})


def test_fast_mode_trains_the_default_plan_once(storage):
    (number, params), = ask_trials(storage, study_name("job-1"), "fast", 1, higher_is_better=True, seed=5)
    plan = SEARCH_PLANS["fast"]
    assert number == 0 and params == {**plan.default, **plan.fixed, "seed": 5}
    _model_plan(params)  # a valid model plan


def test_rounds_learn_from_reported_metrics_and_keep_every_trial(storage):
    name = study_name("job-2")
    first = ask_trials(storage, name, "best", 3, higher_is_better=False, seed=0)
    assert [n for n, _ in first] == [0, 1, 2]
    assert {k: first[0][1][k] for k in SEARCH_PLANS["best"].default} == SEARCH_PLANS["best"].default
    for _, params in first:
        _model_plan(params)
        assert params["epochs"] == SEARCH_PLANS["best"].fixed["epochs"]
    assert len({tuple(sorted(p.items())) for _, p in first}) == 3  # three different plans
    tell_trials(storage, name, [(0, 0.5), (1, None), (2, 0.25)], higher_is_better=False)
    second = ask_trials(storage, name, "best", 3, higher_is_better=False, seed=0)
    assert [n for n, _ in second] == [3, 4, 5] and all(p["seed"] == n for n, p in second)
    trials = study_trials(storage, name)
    assert [(t["number"], t["state"], t["value"]) for t in trials[:3]] == [
        (0, "COMPLETE", 0.5), (1, "FAIL", None), (2, "COMPLETE", 0.25)]
    assert [t["state"] for t in trials[3:]] == ["RUNNING"] * 3
    # Telling a trial twice changes nothing (a retried activity).
    tell_trials(storage, name, [(0, 0.9)], higher_is_better=False)
    assert study_trials(storage, name)[0]["value"] == 0.5


def test_the_same_seed_draws_the_same_plans(tmp_path):
    drawn = [ask_trials(f"sqlite:///{tmp_path / f'{i}.db'}", "s", "normal", 3, higher_is_better=True, seed=11)
             for i in range(2)]
    assert drawn[0] == drawn[1]


def test_an_unknown_run_mode_is_refused(storage):
    with pytest.raises(AutoMLError, match="unknown run mode 'slowest'"):
        ask_trials(storage, "s", "slowest", 1, higher_is_better=True)
