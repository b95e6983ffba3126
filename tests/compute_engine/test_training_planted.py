"""Message passing works end to end: planted relational signals that only a GNN can read."""

from __future__ import annotations

from collections import Counter

import numba
import pytest
import torch

from compute_engine.metrics import evaluate
from compute_engine.model import ModelPlan
from compute_engine.training import train
from compute_engine.training.synthetic import PlantedConfig, churn_examples, make_shop, ranking_examples, write_shop
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


def _plan(**overrides) -> ModelPlan:
    base = dict(channels=32, num_layers=2, fanouts=[8, 1], strategy="last", epochs=8, batch_size=32, patience=8,
                lr=1e-2, dropout=0.0, text_buckets=256, seed=0)
    return ModelPlan(**{**base, **overrides})


def test_gnn_reads_the_recalled_products_an_entity_only_model_cannot(tmp_path):
    shop = make_shop(PlantedConfig(customers=300, recalled=0.25))
    stores = write_shop(shop, ObjectStore((tmp_path / "store").as_uri()), "shop")
    task, examples = churn_examples(shop, window_days=60)
    assert 0.3 < examples.label.mean() < 0.7
    events = []
    gnn = train(_plan(), examples, stores, task, progress=events.append, device="cpu")
    entity_only = train(_plan(num_layers=0, fanouts=[]), examples, stores, task, device="cpu")
    assert gnn.holdout_metrics["auroc"] > 0.85, gnn.history
    assert entity_only.holdout_metrics["auroc"] < 0.7
    assert gnn.holdout_metrics["auroc"] - entity_only.holdout_metrics["auroc"] > 0.25
    # Training is reported step by step, and every epoch is kept for plots.
    assert events and events[0].epoch == 1 and events[0].step == 1 and events[-1].step == events[-1].steps
    assert all(e.seeds_per_s > 0 and e.loss > 0 for e in events)
    assert [r.epoch for r in gnn.history] == list(range(1, len(gnn.history) + 1))
    assert gnn.history[-1].train_loss < gnn.history[0].train_loss
    assert gnn.val_metrics == gnn.history[gnn.best_epoch - 1].val_metrics
    assert gnn.val_metrics["auroc"] == max(r.val_metrics["auroc"] for r in gnn.history)


def test_ranking_retrieves_planted_tastes_above_popularity(tmp_path):
    shop = make_shop(PlantedConfig(customers=400))
    stores = write_shop(shop, ObjectStore((tmp_path / "store").as_uri()), "shop")
    task, examples = ranking_examples(shop, k=5)
    train_lists, holdout = examples.select("train").label, examples.select("holdout")
    popular = [p for p, _ in Counter(train_lists.values.tolist()).most_common(task.k)]
    baseline = evaluate(task.task_type, holdout.label.to_lists(), [popular] * len(holdout), k=task.k)["map@5"]
    result = train(_plan(fanouts=[8, 4], epochs=6, negatives=32), examples, stores, task, device="cpu")
    assert result.holdout_metrics["map@5"] > baseline + 0.08, (baseline, result.holdout_metrics)
    assert result.holdout_predictions.top_k.shape == (len(holdout), 5)
