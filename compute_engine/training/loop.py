"""The training loop: mini-batches of temporal subgraphs, early stopping on validation, holdout metrics.

:func:`train` builds the model for the task and the stores, trains it on the ``train`` split with AdamW,
evaluates the ``val`` split after every epoch with the task's model-selection metric (the first of
:func:`pql.task.default_metrics`), keeps the best state in memory, stops after ``patience`` epochs without
improvement, restores the best state and scores the ``holdout`` split. Everything random is seeded from the
plan's seed (initialisation, dropout, shuffling, neighbour sampling, negatives), so one seed gives one result
on one device. On CUDA the forward pass runs under bf16 autocast.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from compute_engine.model.heads import LinkHead, RegressionHead
from compute_engine.model.model import GraphModel, ModelPlan, ModelSpec, SubgraphBatch
from compute_engine.training.data import (ExamplesError, RaggedLabels, Stores, Task, TrainingExamples, build_spec,
                                          make_loader)
from compute_engine.training.predict import Predictions, autocast, predict, resolve_device
from pql.task import TaskType

__all__ = ["ProgressEvent", "EpochRecord", "TrainingResult", "train", "evaluate_predictions", "higher_is_better"]

log = logging.getLogger("compute_engine.training")

_LOWER_IS_BETTER = ("mae", "rmse", "mae_per_horizon")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (errors are smaller-is-better)."""
    return metric not in _LOWER_IS_BETTER and not metric.startswith("mae_h")


@dataclass(frozen=True)
class ProgressEvent:
    """One training step, as reported to the caller.

    Attributes:
        epoch: 1-based epoch.
        step: 1-based step within the epoch.
        steps: steps in the epoch.
        loss: this step's training loss.
        seeds_per_s: seeds trained per second so far in this epoch (sampling and feature fetches included).
    """

    epoch: int
    step: int
    steps: int
    loss: float
    seeds_per_s: float


@dataclass
class EpochRecord:
    """What one epoch did, for plots.

    Attributes:
        epoch: 1-based epoch.
        train_loss: mean training loss over the epoch's steps.
        val_metrics: validation metrics after the epoch (empty without a validation split).
        seconds: wall time of the epoch's training steps.
        seeds_per_s: training throughput of the epoch.
    """

    epoch: int
    train_loss: float
    val_metrics: dict[str, float]
    seconds: float
    seeds_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "train_loss": self.train_loss, "val_metrics": dict(self.val_metrics),
                "seconds": self.seconds, "seeds_per_s": self.seeds_per_s}


@dataclass
class TrainingResult:
    """A trained model and how it got there.

    Attributes:
        model: the model with the best validation state loaded.
        plan, spec, task: what it was built from.
        best_epoch: the epoch whose state was kept.
        selection_metric: the metric the epochs were compared on.
        history: one record per epoch run.
        val_metrics: validation metrics of the kept state.
        holdout_metrics: holdout metrics of the kept state (empty without holdout examples).
        holdout_predictions: the holdout predictions (None without holdout examples).
        seeds_per_s: training throughput over all epochs.
        device: where it trained.
    """

    model: GraphModel
    plan: ModelPlan
    spec: ModelSpec
    task: Task
    best_epoch: int
    selection_metric: str
    history: list[EpochRecord] = field(default_factory=list)
    val_metrics: dict[str, float] = field(default_factory=dict)
    holdout_metrics: dict[str, float] = field(default_factory=dict)
    holdout_predictions: Predictions | None = None
    seeds_per_s: float = 0.0
    device: str = "cpu"

    def summary(self) -> dict[str, Any]:
        """A JSON-serialisable summary: selection, metrics, per-epoch history and throughput."""
        return {"task_type": self.task.task_type.value, "selection_metric": self.selection_metric,
                "best_epoch": self.best_epoch, "val_metrics": dict(self.val_metrics),
                "holdout_metrics": dict(self.holdout_metrics), "history": [r.to_dict() for r in self.history],
                "seeds_per_s": self.seeds_per_s, "device": self.device, "plan": self.plan.to_dict()}


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def evaluate_predictions(task: Task, examples: TrainingExamples, predictions: Predictions) -> dict[str, float]:
    """The task's default metrics of ``predictions`` against the examples' labels.

    Returns:
        ``{metric: value}`` from :func:`compute_engine.metrics.evaluate` (the selection metric first).
    """
    from compute_engine.metrics import evaluate

    t = task.task_type
    if t is TaskType.LINK_PREDICTION:
        return evaluate(t, examples.label.to_lists(), list(predictions.top_k), k=task.k)
    if t is TaskType.MULTILABEL_CLASSIFICATION:
        y_true = examples.label.multi_hot(np.arange(len(examples)), task.num_classes).numpy()
        return evaluate(t, y_true, predictions.scores)
    y_true = np.asarray(examples.label)
    if t is TaskType.BINARY_CLASSIFICATION:
        y_true = y_true.astype(np.int8)
    return evaluate(t, y_true, predictions.scores)


def _link_loss(model: GraphModel, out: torch.Tensor, subgraph, labels: RaggedLabels, rows: np.ndarray,
               negatives: int, generator: torch.Generator) -> torch.Tensor:
    """Sampled-softmax loss over the batch's positives, random negatives and the subgraphs' target nodes."""
    head: LinkHead = model.head
    device = out.device
    lengths = labels.offsets[rows + 1] - labels.offsets[rows]
    positives = (np.concatenate([labels.row(int(r)) for r in rows]) if rows.size else np.zeros(0, np.int64))
    pos = torch.from_numpy(positives.astype(np.int64)).to(device)
    pos_rows = torch.from_numpy(np.repeat(np.arange(rows.size), lengths)).to(device)
    parts = [pos, torch.randint(head.num_targets, (negatives,), generator=generator).to(device)]
    if subgraph is not None:
        parts.append(subgraph.node)
    candidates = torch.unique(torch.cat(parts))
    mask = torch.zeros(rows.size, candidates.numel(), dtype=torch.bool, device=device)
    mask[pos_rows, torch.searchsorted(candidates, pos)] = True
    scores = head.scores(out, candidates, subgraph)
    return head.loss(scores, mask)


def _loss(model: GraphModel, batch: SubgraphBatch, out, subgraph, examples: TrainingExamples, task: Task,
          plan: ModelPlan, generator: torch.Generator) -> torch.Tensor:
    rows = batch.input_id.cpu().numpy()
    if task.task_type is TaskType.LINK_PREDICTION:
        # Scores are computed outside autocast: the query may be bf16, the target table is float32.
        return _link_loss(model, out.float(), subgraph, examples.label, rows, plan.negatives, generator)
    target = examples.targets(task, rows).to(out.device)
    return model.head.loss(out, target)


def _better(value: float, best: float | None, higher: bool) -> bool:
    if value is None or math.isnan(value):
        return best is None
    if best is None or math.isnan(best):
        return True
    return value > best if higher else value < best


def train(plan: ModelPlan, examples: TrainingExamples, stores: Stores, task: Task, *,
          progress: Callable[[ProgressEvent], None] | None = None, device: str | torch.device = "auto",
          evaluate_holdout: bool = True) -> TrainingResult:
    """Train a GNN for ``task`` on the ``train`` split, select on ``val``, report ``holdout``.

    Args:
        plan: hyper-parameters.
        examples: all examples with labels and splits.
        stores: the graph and feature stores.
        task: what is predicted for which entities.
        progress: called after every training step.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        evaluate_holdout: score the holdout split at the end.

    Returns:
        The :class:`TrainingResult` with the best validation state loaded.

    Raises:
        ExamplesError: examples that do not fit the task or the graph, or no training example.
    """
    dev = resolve_device(device)
    spec = build_spec(task, stores)
    examples.validate(task, stores.schema.num_nodes[task.entity_type])
    if examples.split is None:
        raise ExamplesError("training examples need a split column (train / val / holdout)")
    train_set, val_set, holdout_set = (examples.select(s) for s in ("train", "val", "holdout"))
    if len(train_set) == 0:
        raise ExamplesError("there are no training examples (split 'train' is empty)")

    seed_everything(plan.seed)
    model = GraphModel(plan, spec)
    if isinstance(model.head, RegressionHead):
        model.head.fit_targets(torch.as_tensor(np.asarray(train_set.label, dtype=np.float64)))
    model.to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=plan.lr, weight_decay=plan.weight_decay)
    negatives = torch.Generator().manual_seed(plan.seed + 1)
    metric = task.metrics[0]
    higher = higher_is_better(metric)

    history: list[EpochRecord] = []
    best_value: float | None = None
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch, best_val, stale = 0, {}, 0
    total_seeds, total_seconds = 0, 0.0
    for epoch in range(1, plan.epochs + 1):
        model.train()
        loader = make_loader(stores, spec, plan, train_set.node_index, train_set.anchor_time, shuffle=True,
                             seed=plan.seed * 1_000_003 + epoch)
        steps = len(loader) if plan.max_steps_per_epoch is None else min(len(loader), plan.max_steps_per_epoch)
        losses, seeds, start = [], 0, time.perf_counter()
        for step, batch in enumerate(loader, start=1):
            if step > steps:
                break
            batch = batch.to(dev)
            with autocast(dev):
                out, _, subgraph = model(batch)
            loss = _loss(model, batch, out, subgraph, train_set, task, plan, negatives)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if plan.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), plan.grad_clip)
            optimizer.step()
            losses.append(float(loss.detach()))
            seeds += batch.batch_size
            if progress is not None:
                elapsed = time.perf_counter() - start
                progress(ProgressEvent(epoch, step, steps, losses[-1], seeds / max(elapsed, 1e-9)))
        seconds = time.perf_counter() - start
        total_seeds, total_seconds = total_seeds + seeds, total_seconds + seconds
        train_loss = float(np.mean(losses)) if losses else math.nan
        val_metrics: dict[str, float] = {}
        if len(val_set):
            val_metrics = evaluate_predictions(task, val_set, predict(model, stores, val_set.node_index,
                                                                      val_set.anchor_time, k=task.k,
                                                                      embeddings=False, device=dev))
            value, is_higher = val_metrics[metric], higher
        else:
            value, is_higher = train_loss, False
        history.append(EpochRecord(epoch, train_loss, val_metrics, seconds, seeds / max(seconds, 1e-9)))
        log.info("epoch %d: loss %.4f, %s %s, %.0f seeds/s", epoch, train_loss, metric, val_metrics.get(metric),
                 history[-1].seeds_per_s)
        if _better(value, best_value, is_higher):
            best_value, best_epoch, best_val, stale = value, epoch, val_metrics, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= plan.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()

    result = TrainingResult(model=model, plan=plan, spec=spec, task=task, best_epoch=best_epoch,
                            selection_metric=metric, history=history, val_metrics=best_val,
                            seeds_per_s=total_seeds / max(total_seconds, 1e-9), device=str(dev))
    if evaluate_holdout and len(holdout_set):
        result.holdout_predictions = predict(model, stores, holdout_set.node_index, holdout_set.anchor_time,
                                             k=task.k, device=dev)
        result.holdout_metrics = evaluate_predictions(task, holdout_set, result.holdout_predictions)
    return result
