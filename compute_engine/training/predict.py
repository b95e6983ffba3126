"""Scoring: predictions and entity embeddings for (entity node, anchor time) pairs.

The same function scores validation and holdout examples during training and every entity at an anchor time
at inference. Sampling is seeded by the model's plan, so the same model, stores and inputs always give the
same predictions.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from compute_engine.model.heads import LinkHead
from compute_engine.model.model import GraphModel, SubgraphBatch
from compute_engine.training.data import Stores, make_loader
from pql.task import TaskType

__all__ = ["Predictions", "predict", "predict_all", "entities_at", "resolve_device", "autocast"]

#: Seed of the sampler when scoring (a constant, so scoring is repeatable).
SCORING_SEED = 7_919


@dataclass
class Predictions:
    """Model outputs for N (entity, anchor time) pairs, in input order.

    Attributes:
        node_index: int64 [N] entity node indices.
        anchor_time: int64 [N] anchor times.
        scores: binary: [N] probabilities; multiclass: [N, classes] probabilities; multilabel: [N, labels]
            probabilities; regression: [N] values; forecasting: [N, horizons] values; ranking: None.
        top_k: ranking: [N, k] target node indices, best first (else None).
        top_k_scores: ranking: [N, k] their scores (else None).
        embeddings: [N, channels] entity embeddings (None when not asked for).
    """

    node_index: np.ndarray
    anchor_time: np.ndarray
    scores: np.ndarray | None = None
    top_k: np.ndarray | None = None
    top_k_scores: np.ndarray | None = None
    embeddings: np.ndarray | None = None

    @property
    def predicted_class(self) -> np.ndarray:
        """Multiclass: the most probable class of each row.

        Raises:
            ValueError: the scores are not class probabilities.
        """
        if self.scores is None or self.scores.ndim != 2:
            raise ValueError("predicted_class needs [N, classes] probabilities")
        return self.scores.argmax(axis=1)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; nothing on CPU."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _target_times(model: GraphModel, stores: Stores, device: torch.device) -> torch.Tensor | None:
    target = model.spec.target_type
    if not model.spec.node_time.get(target):
        return None
    return torch.from_numpy(np.array(stores.graph.node_time(target), dtype=np.int64)).to(device)


@torch.no_grad()
def predict(model: GraphModel, stores: Stores, node_index: np.ndarray, anchor_time: np.ndarray, *,
            k: int | None = None, embeddings: bool = True, batch_size: int | None = None,
            device: str | torch.device = "auto",
            on_batch: Callable[[int, int], None] | None = None) -> Predictions:
    """Score ``(node_index[i], anchor_time[i])`` pairs.

    Args:
        model: a trained model.
        stores: the graph and feature stores to sample from (no data newer than each anchor is read).
        node_index: int64 [N] entity node indices.
        anchor_time: int64 [N] anchor times (unix seconds).
        k: ranking: list length (default: the spec's k).
        embeddings: also return entity embeddings.
        batch_size: seeds per mini-batch (default: the plan's).
        device: ``auto``, ``cpu`` or ``cuda``.
        on_batch: called with (rows done, rows total) after each mini-batch.

    Returns:
        :class:`Predictions` in input order.
    """
    dev = resolve_device(device)
    node_index = np.asarray(node_index, dtype=np.int64).reshape(-1)
    anchor_time = np.asarray(anchor_time, dtype=np.int64).reshape(-1)
    was_training = model.training
    model.eval().to(dev)
    is_link = isinstance(model.head, LinkHead)
    k = int(k or model.spec.k or 1)
    newer = _target_times(model, stores, dev) if is_link else None
    scores, top, top_scores, embs = [], [], [], []
    done = 0
    loader = make_loader(stores, model.spec, model.plan, node_index, anchor_time, shuffle=False, seed=SCORING_SEED,
                         batch_size=batch_size)
    try:
        for batch in loader:
            batch: SubgraphBatch = batch.to(dev)
            with autocast(dev):
                out, h, subgraph = model(batch)
            if is_link:
                index, value = model.head.top_k(out.float(), k, subgraph=subgraph, exclude_newer=newer,
                                                anchor=batch.seed_time)
                top.append(index.cpu().numpy())
                top_scores.append(value.float().cpu().numpy())
            else:
                scores.append(model.head.predict(out).float().cpu().numpy())
            if embeddings:
                embs.append(h.float().cpu().numpy())
            done += batch.batch_size
            if on_batch is not None:
                on_batch(done, node_index.size)
    finally:
        model.train(was_training)
    result = Predictions(node_index=node_index, anchor_time=anchor_time)
    if is_link:
        width = min(k, model.spec.num_targets)
        result.top_k = np.concatenate(top) if top else np.zeros((0, width), np.int64)
        result.top_k_scores = np.concatenate(top_scores) if top_scores else np.zeros((0, width), np.float32)
    else:
        result.scores = np.concatenate(scores) if scores else _empty_scores(model)
    if embeddings:
        result.embeddings = np.concatenate(embs) if embs else np.zeros((0, model.plan.channels), np.float32)
    return result


def _empty_scores(model: GraphModel) -> np.ndarray:
    t = model.spec.task_type
    if t in (TaskType.BINARY_CLASSIFICATION, TaskType.REGRESSION):
        return np.zeros(0, np.float32)
    width = model.spec.horizon if t is TaskType.FORECASTING else model.spec.num_classes
    return np.zeros((0, width), np.float32)


def entities_at(stores: Stores, entity_type: str, anchor_time: int) -> np.ndarray:
    """The entity nodes that exist at ``anchor_time`` (all of them for a table without time)."""
    times = stores.graph.node_time(entity_type)
    if times is None:
        return np.arange(stores.schema.num_nodes[entity_type], dtype=np.int64)
    return np.flatnonzero(np.asarray(times) <= int(anchor_time)).astype(np.int64)


def predict_all(model: GraphModel, stores: Stores, anchor_time: int, **kwargs) -> Predictions:
    """Score every entity that exists at ``anchor_time`` (the inference of a predictive query).

    Args:
        model: a trained model.
        stores: the graph and feature stores.
        anchor_time: the anchor time (unix seconds) of every prediction.
        **kwargs: as for :func:`predict` (``k``, ``embeddings``, ``batch_size``, ``device``, ``on_batch``).

    Returns:
        :class:`Predictions` for the entities in node order.
    """
    nodes = entities_at(stores, model.spec.entity_type, anchor_time)
    return predict(model, stores, nodes, np.full(nodes.size, int(anchor_time), dtype=np.int64), **kwargs)
