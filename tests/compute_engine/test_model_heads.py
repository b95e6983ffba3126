"""Every head: output shapes through the whole model, losses, predictions, clamping and top-k retrieval."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
import torch

from compute_engine.model import GraphModel, ModelPlan, PlanError
from compute_engine.model.heads import LinkHead, RegressionHead, SubgraphTargets
from compute_engine.training import RaggedLabels, Stores, Task, TrainingExamples, predict, train
from compute_engine.training.data import ExamplesError, build_spec, make_loader
from graph_engine.features.store import ArtifactFeatureStore
from graph_engine.graph_store import ArtifactGraphStore
from graph_engine.synthetic import SyntheticConfig, generate
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore
from pql.task import TaskType

pytestmark = pytest.mark.unit

N = 90
PLAN = dict(channels=16, num_layers=2, fanouts=[4, 2], epochs=1, batch_size=32, max_steps_per_epoch=2,
            text_buckets=64, negatives=8)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    numba.set_num_threads(numba_threads)


@pytest.fixture(scope="module")
def shop_stores(tmp_path_factory) -> Stores:
    store = ObjectStore((tmp_path_factory.mktemp("heads") / "store").as_uri())
    uris = generate(SyntheticConfig(customers=150, products=25, orders=900, reviews=200, seed=5)).write(
        ArtifactStore(store), "s")
    return Stores(ArtifactGraphStore.open(store, uris.graph), ArtifactFeatureStore.open(store, "s/features"))


def _examples(stores: Stores, label) -> TrainingExamples:
    rng = np.random.default_rng(0)
    nodes = rng.choice(stores.schema.num_nodes["customers"], N, replace=False)
    anchors = np.asarray(stores.graph.node_time("customers"))[nodes] + 200 * 86_400
    split = np.array(["train", "val", "holdout"])[np.arange(N) % 3]
    return TrainingExamples(nodes, anchors, label, split)


CASES = {
    "binary": (Task(TaskType.BINARY_CLASSIFICATION, "customers"), lambda r: r.integers(0, 2, N), ()),
    "multiclass": (Task(TaskType.MULTICLASS_CLASSIFICATION, "customers", num_classes=3),
                   lambda r: r.integers(0, 3, N), (3,)),
    "multilabel": (Task(TaskType.MULTILABEL_CLASSIFICATION, "customers", num_classes=4),
                   lambda r: RaggedLabels.from_lists([r.choice(4, r.integers(0, 3), replace=False) for _ in range(N)]),
                   (4,)),
    "regression": (Task(TaskType.REGRESSION, "customers"), lambda r: r.gamma(2.0, 10.0, N), ()),
    "forecasting": (Task(TaskType.FORECASTING, "customers", horizon=3), lambda r: r.normal(5, 2, (N, 3)), (3,)),
    "link": (Task(TaskType.LINK_PREDICTION, "customers", target_type="products", k=4),
             lambda r: RaggedLabels.from_lists([r.choice(25, r.integers(0, 4), replace=False) for _ in range(N)]),
             None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_task_trains_and_predicts_with_the_right_shapes(shop_stores, case):
    task, make_label, shape = CASES[case]
    examples = _examples(shop_stores, make_label(np.random.default_rng(1)))
    plan = ModelPlan(**PLAN, attention=case == "multiclass", aggr="mean" if case == "binary" else "sum")
    result = train(plan, examples, shop_stores, task, device="cpu")
    assert list(result.val_metrics)[0] == task.metrics[0]
    assert list(result.holdout_metrics)[:len(task.metrics)] == list(task.metrics)
    preds = result.holdout_predictions
    assert preds.embeddings.shape == (N // 3, 16) and np.isfinite(preds.embeddings).all()
    if shape is None:
        assert preds.top_k.shape == (N // 3, 4) and preds.scores is None
        assert all(len(set(row)) == 4 for row in preds.top_k.tolist())
        assert (preds.top_k >= 0).all() and (preds.top_k < 25).all()
        assert np.all(np.diff(preds.top_k_scores, axis=1) <= 0)
    else:
        assert preds.scores.shape == (N // 3,) + shape and np.isfinite(preds.scores).all()
    if case in ("binary", "multilabel"):
        assert ((preds.scores >= 0) & (preds.scores <= 1)).all()
    if case == "multiclass":
        assert np.allclose(preds.scores.sum(axis=1), 1.0, atol=1e-5)
    if case in ("regression", "forecasting"):
        train_labels = np.asarray(examples.select("train").label)
        assert (preds.scores >= train_labels.min(axis=0) - 1e-4).all()
        assert (preds.scores <= train_labels.max(axis=0) + 1e-4).all()


def test_regression_head_standardises_and_clamps():
    head = RegressionHead(TaskType.REGRESSION, 4)
    head.fit_targets(torch.tensor([10.0, 20.0, 30.0, float("nan")]))
    assert head.mean.item() == pytest.approx(20.0) and head.std.item() == pytest.approx(math.sqrt(200 / 3))
    assert head.predict(torch.tensor([100.0, -100.0, 0.0])).tolist() == [30.0, 10.0, 20.0]
    # The loss is computed on standardised targets, and NaN targets are skipped.
    loss = head.loss(torch.zeros(3), torch.tensor([20.0, float("nan"), 20.0]))
    assert loss.item() == 0.0
    forecast = RegressionHead(TaskType.FORECASTING, 4, outputs=2)
    forecast.fit_targets(torch.tensor([[0.0, 100.0], [1.0, 300.0]]))
    assert forecast.predict(torch.tensor([[9.0, -9.0]])).tolist() == [[1.0, 100.0]]
    with pytest.raises(ValueError, match="finite"):
        RegressionHead(TaskType.REGRESSION, 4).fit_targets(torch.tensor([float("nan")]))


def test_link_top_k_in_chunks_matches_brute_force():
    torch.manual_seed(0)
    head = LinkHead(8, 50).eval()
    query = torch.randn(6, 8)
    group, node, score = torch.tensor([0, 0, 4]), torch.tensor([7, 44, 3]), torch.tensor([50.0, -50.0, 9.0])
    subgraph = SubgraphTargets(group, node, score, 50)
    times = torch.zeros(50, dtype=torch.long)
    times[11] = 10**9  # target 11 only exists after every anchor
    index, value = head.top_k(query, 5, subgraph=subgraph, exclude_newer=times, anchor=torch.full((6,), 10**8),
                              chunk=7)
    full = head.scores(query, torch.arange(50), subgraph)
    full[:, 11] = -torch.inf
    expected_value, expected_index = full.topk(5, dim=1)
    assert torch.equal(index, expected_index) and torch.allclose(value, expected_value)
    assert index[0, 0] == 7 and 44 not in index[0].tolist() and 11 not in index.flatten().tolist()
    assert subgraph.lookup(torch.tensor([4, 1]), torch.tensor([3, 7])).tolist() == [[9.0, 0.0], [0.0, 0.0]]


def test_link_loss_prefers_positives():
    head = LinkHead(4, 10)
    positive = torch.tensor([[True, False, False], [False, False, True]])
    good = head.loss(torch.tensor([[5.0, 0.0, 0.0], [0.0, 0.0, 5.0]]), positive)
    bad = head.loss(torch.tensor([[0.0, 5.0, 0.0], [5.0, 0.0, 0.0]]), positive)
    assert good < bad
    assert head.loss(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.bool)).item() == 0.0


def test_model_forward_shapes_and_seed_embeddings(shop_stores):
    task = Task(TaskType.MULTILABEL_CLASSIFICATION, "customers", num_classes=5)
    spec = build_spec(task, shop_stores)
    plan = ModelPlan(channels=16, num_layers=1, fanouts=[3], text_buckets=64, strategy="last")
    model = GraphModel(plan, spec)
    nodes, anchors = np.arange(10), np.asarray(shop_stores.graph.node_time("customers"))[:10] + 10**7
    batch = next(iter(make_loader(shop_stores, spec, plan, nodes, anchors, batch_size=10)))
    assert torch.equal(batch.nodes["customers"].n_id[:10], torch.arange(10))
    out, h, subgraph = model(batch)
    assert out.shape == (10, 5) and h.shape == (10, 16) and subgraph is None
    # Predictions for a seed do not depend on the other seeds of its batch (disjoint subgraphs; the most
    # recent neighbours, so no random draw depends on the seed's position).
    alone = predict(model, shop_stores, nodes[3:4], anchors[3:4], embeddings=True)
    together = predict(model, shop_stores, nodes, anchors, embeddings=True)
    assert np.allclose(alone.scores[0], together.scores[3], atol=1e-5)


def test_bad_plans_and_examples_are_rejected(shop_stores):
    with pytest.raises(PlanError, match="one entry per layer"):
        ModelPlan(num_layers=2, fanouts=[4])
    with pytest.raises(PlanError, match="aggr"):
        ModelPlan(aggr="median")
    with pytest.raises(PlanError, match="unknown model plan keys"):
        ModelPlan.from_dict({"chanels": 3})
    task = Task(TaskType.BINARY_CLASSIFICATION, "customers")
    with pytest.raises(ExamplesError, match="binary labels"):
        train(ModelPlan(**PLAN), _examples(shop_stores, np.full(N, 2)), shop_stores, task, device="cpu")
    with pytest.raises(ExamplesError, match="not a node type"):
        build_spec(Task(TaskType.BINARY_CLASSIFICATION, "users"), shop_stores)
    bad = _examples(shop_stores, np.zeros(N))
    bad.node_index[0] = 10**6
    with pytest.raises(ExamplesError, match="must lie in"):
        train(ModelPlan(**PLAN), bad, shop_stores, task, device="cpu")


@pytest.mark.parametrize("attention", [False, True])
def test_trimming_per_layer_keeps_the_seed_embeddings(shop_stores, attention):
    task = Task(TaskType.BINARY_CLASSIFICATION, "customers")
    spec = build_spec(task, shop_stores)
    plan = ModelPlan(channels=16, num_layers=3, fanouts=[4, 3, 2], text_buckets=64, attention=attention)
    torch.manual_seed(0)
    model = GraphModel(plan, spec).eval()
    nodes, anchors = np.arange(20), np.asarray(shop_stores.graph.node_time("customers"))[:20] + 10**8
    batch = next(iter(make_loader(shop_stores, spec, plan, nodes, anchors, batch_size=20)))
    assert batch.num_sampled_nodes["orders"][0] == 0 and len(batch.num_sampled_edges[spec.edge_types[0]]) == 3
    full = model.node_embeddings(batch, trim=False)
    trimmed = model.node_embeddings(batch, trim=True)
    assert trimmed["orders"].shape[0] < full["orders"].shape[0]
    assert torch.allclose(trimmed["customers"][:20], full["customers"][:20], atol=1e-5)
