"""The training loop: seeded determinism, early stopping, and checkpoints that predict identically."""

from __future__ import annotations

import json

import numba
import numpy as np
import pytest
import torch

from compute_engine.model import ModelPlan
from compute_engine.training import load_checkpoint, predict, save_checkpoint, train
from compute_engine.training.predict import predict_all
from compute_engine.training.checkpoint import CheckpointError
from compute_engine.training.synthetic import PlantedConfig, churn_examples, make_shop, ranking_examples, write_shop
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    numba.set_num_threads(numba_threads)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    store = ObjectStore((tmp_path_factory.mktemp("loop") / "store").as_uri())
    shop = make_shop(PlantedConfig(customers=120, products=30, recalled=0.25))
    return store, shop, write_shop(shop, store, "shop")


def _plan(**overrides) -> ModelPlan:
    base = dict(channels=16, num_layers=2, fanouts=[4, 2], epochs=2, batch_size=32, text_buckets=64, seed=3)
    return ModelPlan(**{**base, **overrides})


def test_same_seed_same_result_other_seed_other_result(planted):
    _, shop, stores = planted
    task, examples = churn_examples(shop, per_customer=2)
    first = train(_plan(), examples, stores, task, device="cpu")
    second = train(_plan(), examples, stores, task, device="cpu")
    assert [r.val_metrics for r in first.history] == [r.val_metrics for r in second.history]
    assert [r.train_loss for r in first.history] == [r.train_loss for r in second.history]
    assert first.holdout_metrics == second.holdout_metrics
    assert np.array_equal(first.holdout_predictions.scores, second.holdout_predictions.scores)
    other = train(_plan(seed=4), examples, stores, task, device="cpu")
    assert not np.array_equal(first.holdout_predictions.scores, other.holdout_predictions.scores)
    summary = json.loads(json.dumps(first.summary()))
    assert summary["selection_metric"] == "auroc" and len(summary["history"]) == 2


def test_inference_scores_every_entity_that_exists_at_the_anchor(planted):
    _, shop, stores = planted
    task, examples = churn_examples(shop, per_customer=1)
    model = train(_plan(epochs=1, max_steps_per_epoch=1), examples, stores, task, device="cpu").model
    anchor = int(np.sort(shop.signup)[60])
    seen = []
    out = predict_all(model, stores, anchor, batch_size=16, on_batch=lambda done, total: seen.append((done, total)))
    assert out.node_index.tolist() == np.flatnonzero(shop.signup <= anchor).tolist()
    assert out.scores.shape == (61,) and out.embeddings.shape == (61, 16) and (out.anchor_time == anchor).all()
    assert seen[-1] == (61, 61) and len(seen) == 4


def test_early_stopping_keeps_the_best_epoch(planted):
    _, shop, stores = planted
    task, examples = churn_examples(shop, per_customer=2)
    # A learning rate too small to move float32 weights: validation never improves after epoch 1.
    result = train(_plan(lr=1e-12, epochs=6, patience=2), examples, stores, task, device="cpu")
    assert len(result.history) == 3 and result.best_epoch == 1
    assert result.val_metrics == result.history[0].val_metrics


@pytest.mark.parametrize("kind", ["churn", "ranking"])
def test_checkpoint_round_trip_predicts_identically(planted, kind):
    store, shop, stores = planted
    task, examples = (churn_examples(shop, per_customer=2) if kind == "churn"
                      else ranking_examples(shop, per_customer=2, k=3))
    result = train(_plan(epochs=1, max_steps_per_epoch=3), examples, stores, task, device="cpu")
    holdout = examples.select("holdout")
    uri = save_checkpoint(result.model, store, store.uri("models", kind), inputs={"test": kind},
                          metadata={"holdout": result.holdout_metrics})
    loaded = load_checkpoint(store, uri)
    assert loaded.plan == result.model.plan and loaded.spec.to_json() == result.model.spec.to_json()
    expected = predict(result.model, stores, holdout.node_index, holdout.anchor_time)
    got = predict(loaded, stores, holdout.node_index, holdout.anchor_time)
    for field in ("scores", "top_k", "top_k_scores", "embeddings"):
        a, b = getattr(expected, field), getattr(got, field)
        assert (a is None and b is None) or np.array_equal(a, b), field
    manifest = ArtifactStore(store).open(uri).manifest
    assert manifest.metadata["task_type"] == task.task_type.value
    with pytest.raises(CheckpointError):
        load_checkpoint(store, store.uri("shop", "graph"))
