"""Prediction heads: from the seed's embedding to the task's outputs, losses and predictions.

- binary: one logit, binary cross-entropy, a probability;
- multiclass: one logit per class, cross-entropy, class probabilities;
- multilabel: one logit per label, binary cross-entropy per label, label probabilities;
- regression and forecasting (``outputs`` = horizons): targets standardised with the training labels' mean
  and std (per horizon), Huber loss (robust to outliers), predictions mapped back and clamped to the
  training labels' range;
- link prediction (:class:`LinkHead`): the entity's query vector scored against target embeddings (a
  shallow ID embedding plus a popularity bias per target node) and, ID-aware, against the GNN embeddings of
  the target nodes found in the entity's own subgraph (what it bought before, what similar customers
  bought), trained with sampled softmax over in-batch and random negatives; top-k retrieval runs over all
  target nodes in chunks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from pql.task import TaskType

__all__ = ["mlp", "ClassificationHead", "RegressionHead", "LinkHead", "SubgraphTargets", "build_head"]


def mlp(in_channels: int, out_channels: int, dropout: float = 0.0) -> nn.Sequential:
    """A two-layer perceptron ``in -> in -> out`` with LayerNorm and ReLU."""
    return nn.Sequential(nn.LayerNorm(in_channels), nn.Linear(in_channels, in_channels), nn.ReLU(),
                         nn.Dropout(dropout), nn.Linear(in_channels, out_channels))


class ClassificationHead(nn.Module):
    """Binary, multiclass or multilabel logits.

    Args:
        task: binary, multiclass or multilabel classification.
        channels: width of the seed embedding.
        num_classes: classes (multiclass) or labels (multilabel); ignored for binary.
        dropout: dropout inside the MLP.
    """

    def __init__(self, task: TaskType, channels: int, num_classes: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        if task not in (TaskType.BINARY_CLASSIFICATION, TaskType.MULTICLASS_CLASSIFICATION,
                        TaskType.MULTILABEL_CLASSIFICATION):
            raise ValueError(f"ClassificationHead cannot serve {task}")
        if task is not TaskType.BINARY_CLASSIFICATION and num_classes < 1:
            raise ValueError(f"{task} needs num_classes >= 1, got {num_classes}")
        self.task = task
        self.outputs = 1 if task is TaskType.BINARY_CLASSIFICATION else int(num_classes)
        self.net = mlp(channels, self.outputs, dropout)

    def forward(self, h: Tensor) -> Tensor:
        """Logits: [B] for binary, [B, classes] otherwise."""
        out = self.net(h)
        return out.squeeze(-1) if self.task is TaskType.BINARY_CLASSIFICATION else out

    def loss(self, out: Tensor, target: Tensor) -> Tensor:
        """Args:
            out: logits from :meth:`forward`.
            target: binary: [B] 0/1; multiclass: [B] class indices; multilabel: [B, labels] 0/1.
        """
        out = out.float()
        if self.task is TaskType.MULTICLASS_CLASSIFICATION:
            return F.cross_entropy(out, target.long())
        return F.binary_cross_entropy_with_logits(out, target.float())

    def predict(self, out: Tensor) -> Tensor:
        """Probabilities: [B] (binary), [B, classes] summing to 1 (multiclass), [B, labels] (multilabel)."""
        out = out.float()
        return torch.softmax(out, -1) if self.task is TaskType.MULTICLASS_CLASSIFICATION else torch.sigmoid(out)


class RegressionHead(nn.Module):
    """Standardised regression (``outputs`` = 1) or forecasting (``outputs`` = horizons) with a Huber loss.

    Call :meth:`fit_targets` with the training labels before training: it sets the standardisation and the
    clamping range (buffers, so they travel with the state dict).
    """

    def __init__(self, task: TaskType, channels: int, outputs: int = 1, dropout: float = 0.0,
                 huber_delta: float = 1.0) -> None:
        super().__init__()
        if task not in (TaskType.REGRESSION, TaskType.FORECASTING):
            raise ValueError(f"RegressionHead cannot serve {task}")
        if outputs < 1 or (task is TaskType.REGRESSION and outputs != 1):
            raise ValueError(f"{task} with {outputs} outputs")
        self.task = task
        self.outputs = int(outputs)
        self.huber_delta = huber_delta
        self.net = mlp(channels, self.outputs, dropout)
        self.register_buffer("mean", torch.zeros(self.outputs))
        self.register_buffer("std", torch.ones(self.outputs))
        self.register_buffer("low", torch.full((self.outputs,), -torch.inf))
        self.register_buffer("high", torch.full((self.outputs,), torch.inf))

    def fit_targets(self, labels: Tensor) -> None:
        """Set standardisation and clamping from training labels ([N] or [N, outputs]); NaN are ignored.

        Raises:
            ValueError: no finite label.
        """
        y = labels.double().reshape(labels.shape[0], -1)
        if y.shape[1] != self.outputs:
            raise ValueError(f"labels have {y.shape[1]} columns, the head {self.outputs}")
        finite = torch.isfinite(y)
        if not finite.any(dim=0).all():
            raise ValueError("every output needs at least one finite training label")
        zero = torch.zeros_like(y)
        count = finite.sum(0)
        mean = torch.where(finite, y, zero).sum(0) / count
        var = torch.where(finite, (y - mean) ** 2, zero).sum(0) / count
        self.mean.copy_(mean.float())
        self.std.copy_(var.sqrt().clamp(min=1e-6).float())
        self.low.copy_(torch.where(finite, y, torch.full_like(y, torch.inf)).min(0).values.float())
        self.high.copy_(torch.where(finite, y, torch.full_like(y, -torch.inf)).max(0).values.float())

    def forward(self, h: Tensor) -> Tensor:
        """Standardised outputs: [B] for regression, [B, horizons] for forecasting."""
        out = self.net(h)
        return out.squeeze(-1) if self.task is TaskType.REGRESSION else out

    def loss(self, out: Tensor, target: Tensor) -> Tensor:
        """Huber loss between the outputs and the standardised targets (NaN targets are skipped)."""
        out = out.float().reshape(out.shape[0], -1)
        z = (target.float().reshape(out.shape[0], -1) - self.mean) / self.std
        keep = torch.isfinite(z)
        if not keep.any():
            return out.sum() * 0.0
        return F.huber_loss(out[keep], z[keep], delta=self.huber_delta)

    def predict(self, out: Tensor) -> Tensor:
        """Predictions in label units, clamped to the training labels' range."""
        value = out.float().reshape(out.shape[0], -1) * self.std + self.mean
        value = torch.maximum(torch.minimum(value, self.high), self.low)
        return value.squeeze(-1) if self.task is TaskType.REGRESSION else value


class SubgraphTargets:
    """The target-type nodes of a mini-batch's subgraphs and their GNN scores, for ID-aware scoring.

    Args:
        group: int64 [n] the seed each node belongs to.
        node: int64 [n] the node index of each.
        score: float [n] the learned score of each (from :meth:`LinkHead.subgraph_scores`).
        num_targets: target nodes in the graph.
    """

    def __init__(self, group: Tensor, node: Tensor, score: Tensor, num_targets: int) -> None:
        key = group * num_targets + node
        self.key, order = torch.sort(key)
        self.score = score[order]
        self.group, self.node = group, node
        self.raw_score = score
        self.num_targets = num_targets

    def lookup(self, rows: Tensor, candidates: Tensor) -> Tensor:
        """Scores of ``candidates`` [M] for the seeds ``rows`` [B]: [B, M], 0 where a candidate is absent."""
        if self.key.numel() == 0:
            return torch.zeros(rows.numel(), candidates.numel(), device=candidates.device, dtype=self.score.dtype)
        key = (rows.unsqueeze(1) * self.num_targets + candidates.unsqueeze(0)).reshape(-1)
        pos = torch.searchsorted(self.key, key).clamp(max=self.key.numel() - 1)
        hit = self.key[pos] == key
        return torch.where(hit, self.score[pos], torch.zeros_like(self.score[pos])).view(rows.numel(), -1)


class LinkHead(nn.Module):
    """Scores target nodes for each entity.

    Args:
        channels: width of the embeddings.
        num_targets: target nodes in the graph.
        shallow: learn an ID embedding and a popularity bias per target node.
        subgraph: score the target nodes inside the entity's subgraph from their GNN embeddings (ID-aware).
        dropout: dropout inside the query MLP.

    Raises:
        ValueError: neither ``shallow`` nor ``subgraph``, or no target node.
    """

    task = TaskType.LINK_PREDICTION

    def __init__(self, channels: int, num_targets: int, *, shallow: bool = True, subgraph: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if not (shallow or subgraph):
            raise ValueError("a link head needs shallow target embeddings, subgraph scoring or both")
        if num_targets < 1:
            raise ValueError("a link head needs at least one target node")
        self.num_targets = int(num_targets)
        self.query = mlp(channels, channels, dropout)
        self.target = nn.Embedding(num_targets, channels) if shallow else None
        self.bias = nn.Embedding(num_targets, 1) if shallow else None
        if shallow:
            nn.init.normal_(self.target.weight, std=0.05)
            nn.init.zeros_(self.bias.weight)
        self.subgraph_score = mlp(channels, 1, dropout) if subgraph else None
        if subgraph:
            # Subgraph scores start neutral, so early training does not drown the shallow scores.
            nn.init.zeros_(self.subgraph_score[-1].weight)
            nn.init.zeros_(self.subgraph_score[-1].bias)

    @property
    def uses_subgraph(self) -> bool:
        return self.subgraph_score is not None

    def forward(self, h: Tensor) -> Tensor:
        """The query vectors [B, channels] of the seeds."""
        return self.query(h)

    def subgraph_scores(self, h_targets: Tensor) -> Tensor:
        """ID-aware scores [n] of target nodes from their embeddings inside the seeds' subgraphs."""
        if self.subgraph_score is None:
            return h_targets.new_zeros(h_targets.shape[0])
        return self.subgraph_score(h_targets).squeeze(-1)

    def scores(self, query: Tensor, candidates: Tensor, subgraph: SubgraphTargets | None = None) -> Tensor:
        """Scores [B, M] of ``candidates`` [M] (target node indices) for every query row."""
        out = query.new_zeros(query.shape[0], candidates.numel())
        if self.target is not None:
            out = query @ self.target(candidates).t() + self.bias(candidates).view(1, -1)
        if subgraph is not None and self.uses_subgraph:
            rows = torch.arange(query.shape[0], device=query.device)
            out = out + subgraph.lookup(rows, candidates).to(out.dtype)
        return out

    def loss(self, scores: Tensor, positive: Tensor) -> Tensor:
        """Sampled softmax: each positive against all of its row's non-positive candidates.

        Args:
            scores: [B, M] candidate scores.
            positive: [B, M] bool, the candidates each row should rank first.

        Returns:
            Mean over positive pairs of ``softplus(logsumexp(negatives) - positive score)``; 0 without any.
        """
        scores = scores.float()
        if not positive.any():
            return scores.sum() * 0.0
        negative = scores.masked_fill(positive, -torch.inf)
        lse = torch.logsumexp(negative, dim=1, keepdim=True)
        lse = torch.where(torch.isfinite(lse), lse, torch.full_like(lse, -1e4))
        pair_loss = F.softplus(lse - scores)
        return pair_loss[positive].mean()

    @torch.no_grad()
    def top_k(self, query: Tensor, k: int, *, subgraph: SubgraphTargets | None = None,
              exclude_newer: Tensor | None = None, anchor: Tensor | None = None,
              chunk: int = 65_536) -> tuple[Tensor, Tensor]:
        """The k best target nodes per query over all target nodes, in chunks of ``chunk`` targets.

        Args:
            query: [B, channels] query vectors.
            k: how many targets per row.
            subgraph: ID-aware scores of targets inside each row's subgraph.
            exclude_newer: int64 [num_targets] target node times; targets newer than a row's anchor are
                never returned.
            anchor: int64 [B] the anchor time of each row (with ``exclude_newer``).
            chunk: targets scored at once.

        Returns:
            ``(indices, scores)``, both [B, min(k, num_targets)], best first.
        """
        k = min(int(k), self.num_targets)
        best_score = query.new_full((query.shape[0], 0), -torch.inf, dtype=torch.float32)
        best_index = torch.zeros((query.shape[0], 0), dtype=torch.long, device=query.device)
        for lo in range(0, self.num_targets, chunk):
            hi = min(lo + chunk, self.num_targets)
            ids = torch.arange(lo, hi, device=query.device)
            s = query.new_zeros(query.shape[0], hi - lo, dtype=torch.float32)
            if self.target is not None:
                s = (query @ self.target(ids).t() + self.bias(ids).view(1, -1)).float()
            if subgraph is not None and self.uses_subgraph and subgraph.node.numel():
                inside = (subgraph.node >= lo) & (subgraph.node < hi)
                s = s.index_put((subgraph.group[inside], subgraph.node[inside] - lo),
                                subgraph.raw_score[inside].float(), accumulate=True)
            if exclude_newer is not None and anchor is not None:
                newer = exclude_newer[lo:hi].unsqueeze(0) > anchor.unsqueeze(1)
                s = s.masked_fill(newer, -torch.inf)
            merged_score = torch.cat([best_score, s], dim=1)
            merged_index = torch.cat([best_index, ids.unsqueeze(0).expand(query.shape[0], -1)], dim=1)
            best_score, pos = merged_score.topk(min(k, merged_score.shape[1]), dim=1)
            best_index = merged_index.gather(1, pos)
        return best_index, best_score


def build_head(task: TaskType, channels: int, *, num_classes: int = 1, horizon: int = 1, num_targets: int = 0,
               shallow: bool = True, subgraph: bool = True, dropout: float = 0.0) -> nn.Module:
    """The head of ``task``.

    Raises:
        ValueError: a task's size argument is missing or invalid.
    """
    task = TaskType(task)
    if task in (TaskType.BINARY_CLASSIFICATION, TaskType.MULTICLASS_CLASSIFICATION,
                TaskType.MULTILABEL_CLASSIFICATION):
        return ClassificationHead(task, channels, num_classes, dropout)
    if task is TaskType.REGRESSION:
        return RegressionHead(task, channels, 1, dropout)
    if task is TaskType.FORECASTING:
        return RegressionHead(task, channels, horizon, dropout)
    return LinkHead(channels, num_targets, shallow=shallow, subgraph=subgraph, dropout=dropout)
