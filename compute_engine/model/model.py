"""The GNN model assembled from a :class:`ModelPlan` (hyper-parameters) and a :class:`ModelSpec` (the data).

Per sampled node: its table's column encoder plus the embedding of its age relative to the seed's anchor
time; then the heterogeneous GNN; then the task head on the seed nodes' embeddings. The seed nodes also get a
learned marker, so the GNN knows which node of each subgraph is the entity (what makes ID-aware link
prediction possible).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import Tensor, nn

from compute_engine.model.encoders import NodeBatch, TableEncoder, TableSpec
from compute_engine.model.gnn import AGGREGATIONS, HeteroGNN
from compute_engine.model.heads import LinkHead, SubgraphTargets, build_head
from compute_engine.model.temporal import RelativeTimeEncoder
from compute_engine.model.text import DEFAULT_BUCKETS
from pql.task import TaskType

__all__ = ["ModelPlan", "ModelSpec", "SubgraphBatch", "GraphModel", "PlanError"]

EdgeType = tuple[str, str, str]


class PlanError(ValueError):
    """A model plan or spec that cannot be built."""


@dataclass
class ModelPlan:
    """Hyper-parameters of one GNN training run (what AutoML searches over).

    Attributes:
        channels: embedding width.
        num_layers: message-passing layers (0 = the entity's own columns only).
        fanouts: neighbours sampled per hop, one entry per layer (default: 16 then 8 ...).
        aggr: neighbour aggregation (``sum``, ``mean``, ``max``).
        attention: GATv2 convolutions instead of GraphSAGE.
        heads: attention heads.
        dropout: dropout in the GNN and heads.
        lr, weight_decay: AdamW settings.
        epochs: the most training epochs.
        batch_size: seeds per mini-batch.
        patience: epochs without a better validation metric before stopping.
        strategy: neighbour sampling, ``uniform`` or ``last`` (the most recent).
        max_steps_per_epoch: cap on mini-batches per epoch (None: the whole training split).
        max_categories: categorical codes with their own embedding (the rarest share one).
        text_buckets: hash buckets per text column.
        link_shallow: ranking: ID embeddings of the target nodes.
        link_subgraph: ranking: ID-aware scores of the target nodes inside the entity's subgraph.
        negatives: ranking: random negative targets per mini-batch (besides the in-batch ones).
        grad_clip: gradient norm clipping (0: none).
        seed: random seed of initialisation, shuffling, sampling and dropout.
    """

    channels: int = 64
    num_layers: int = 2
    fanouts: list[int] | None = None
    aggr: str = "sum"
    attention: bool = False
    heads: int = 4
    dropout: float = 0.1
    lr: float = 3e-3
    weight_decay: float = 1e-5
    epochs: int = 20
    batch_size: int = 512
    patience: int = 4
    strategy: str = "uniform"
    max_steps_per_epoch: int | None = None
    max_categories: int = 10_000
    text_buckets: int = DEFAULT_BUCKETS
    link_shallow: bool = True
    link_subgraph: bool = True
    negatives: int = 256
    grad_clip: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.fanouts is None:
            self.fanouts = [max(16 >> (2 * i), 2) for i in range(self.num_layers)]
        self.fanouts = [int(f) for f in self.fanouts]
        self.validate()

    def validate(self) -> None:
        """Raises:
            PlanError: a value out of range.
        """
        if self.channels < 2 or self.channels % 2:
            raise PlanError(f"channels must be an even number >= 2, got {self.channels}")
        if self.num_layers < 0:
            raise PlanError(f"num_layers must be >= 0, got {self.num_layers}")
        if len(self.fanouts) != self.num_layers:
            raise PlanError(f"fanouts needs one entry per layer ({self.num_layers}), got {self.fanouts}")
        if any(f < -1 for f in self.fanouts):
            raise PlanError("fanouts must be -1 (all) or >= 0")
        if self.aggr not in AGGREGATIONS:
            raise PlanError(f"aggr must be one of {AGGREGATIONS}, got {self.aggr!r}")
        if self.attention and self.channels % self.heads:
            raise PlanError(f"channels ({self.channels}) must be divisible by heads ({self.heads})")
        if not 0 <= self.dropout < 1:
            raise PlanError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise PlanError("lr must be positive and weight_decay non-negative")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise PlanError("epochs, batch_size and patience must be >= 1")
        if self.strategy not in ("uniform", "last"):
            raise PlanError(f"strategy must be 'uniform' or 'last', got {self.strategy!r}")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            raise PlanError("max_steps_per_epoch must be >= 1 when set")
        if self.max_categories < 1 or self.text_buckets < 1 or self.negatives < 0:
            raise PlanError("max_categories and text_buckets must be >= 1, negatives >= 0")
        if not (self.link_shallow or self.link_subgraph):
            raise PlanError("link prediction needs link_shallow, link_subgraph or both")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "ModelPlan":
        """Build from a mapping; unknown keys are rejected.

        Raises:
            PlanError: an unknown key or a value out of range.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise PlanError(f"unknown model plan keys: {', '.join(sorted(unknown))}")
        return cls(**raw)


@dataclass
class ModelSpec:
    """The data a model is built for: graph shape, column statistics and task sizes (JSON-serialisable).

    Attributes:
        task_type: the task.
        entity_type: the node type of the entities (seeds).
        node_types, edge_types: the graph's types.
        node_time: whether each node type has node times.
        tables: per node type, its column metadata.
        num_classes: classes (multiclass) or labels (multilabel).
        horizon: forecast horizons.
        target_type: the node type ranked (link prediction).
        num_targets: nodes of ``target_type``.
        k: the ranking cut-off (RANK TOP k).
    """

    task_type: TaskType
    entity_type: str
    node_types: list[str]
    edge_types: list[EdgeType]
    node_time: dict[str, bool]
    tables: dict[str, TableSpec] = field(default_factory=dict)
    num_classes: int = 1
    horizon: int = 1
    target_type: str | None = None
    num_targets: int = 0
    k: int | None = None

    def __post_init__(self) -> None:
        self.task_type = TaskType(self.task_type)
        self.edge_types = [tuple(e) for e in self.edge_types]  # type: ignore[misc]
        if self.entity_type not in self.node_types:
            raise PlanError(f"entity type {self.entity_type!r} is not a node type of the graph")
        if self.task_type is TaskType.LINK_PREDICTION:
            if self.target_type not in self.node_types or self.num_targets < 1:
                raise PlanError("link prediction needs a target node type with at least one node")
            if not self.k or self.k < 1:
                raise PlanError("link prediction needs k >= 1")

    def to_json(self) -> str:
        raw = asdict(self)
        raw["task_type"] = self.task_type.value
        raw["edge_types"] = [list(e) for e in self.edge_types]
        raw["tables"] = {t: s.to_dict() for t, s in self.tables.items()}
        return json.dumps(raw)

    @classmethod
    def from_json(cls, text: str | bytes) -> "ModelSpec":
        raw = json.loads(text)
        raw["tables"] = {t: TableSpec.from_dict(s) for t, s in raw["tables"].items()}
        return cls(**raw)


@dataclass
class SubgraphBatch:
    """One mini-batch of disjoint temporal subgraphs, in the model's input layout.

    Attributes:
        nodes: node type -> its sampled nodes and features; the entity type's first ``batch_size`` nodes are
            the seeds, in order.
        edge_index: edge type -> [2, m] local (source, destination) positions.
        seed_time: int64 [batch_size] anchor time of each seed.
        input_id: int64 [batch_size] position of each seed in the example arrays.
        num_sampled_nodes, num_sampled_edges: nodes per hop of each node type and edges per hop of each edge
            type (nodes and edges ordered by hop), when known: the GNN then skips what cannot reach a seed.
    """

    nodes: dict[str, NodeBatch]
    edge_index: dict[EdgeType, Tensor]
    seed_time: Tensor
    input_id: Tensor
    num_sampled_nodes: dict[str, list[int]] | None = None
    num_sampled_edges: dict[EdgeType, list[int]] | None = None

    @property
    def batch_size(self) -> int:
        return int(self.seed_time.numel())

    def to(self, device: torch.device | str) -> "SubgraphBatch":
        return SubgraphBatch(nodes={t: n.to(device) for t, n in self.nodes.items()},
                             edge_index={e: ei.to(device, non_blocking=True) for e, ei in self.edge_index.items()},
                             seed_time=self.seed_time.to(device), input_id=self.input_id.to(device),
                             num_sampled_nodes=self.num_sampled_nodes, num_sampled_edges=self.num_sampled_edges)


class GraphModel(nn.Module):
    """Encoders + temporal encoding + heterogeneous GNN + task head.

    Args:
        plan: hyper-parameters.
        spec: what the model is built for.
    """

    def __init__(self, plan: ModelPlan, spec: ModelSpec) -> None:
        super().__init__()
        self.plan = plan
        self.spec = spec
        c = plan.channels
        missing = [t for t in spec.node_types if t not in spec.tables]
        if missing:
            raise PlanError(f"no column metadata for node types: {', '.join(missing)}")
        self.encoders = nn.ModuleDict({t: TableEncoder(spec.tables[t], c, max_categories=plan.max_categories,
                                                       text_buckets=plan.text_buckets) for t in spec.node_types})
        self.time_encoders = nn.ModuleDict({t: RelativeTimeEncoder(c) for t in spec.node_types})
        self.seed_marker = nn.Parameter(torch.zeros(c))
        self.gnn = HeteroGNN(spec.node_types, spec.edge_types, c, plan.num_layers, aggr=plan.aggr,
                             attention=plan.attention, heads=plan.heads, dropout=plan.dropout)
        self.head = build_head(spec.task_type, c, num_classes=spec.num_classes, horizon=spec.horizon,
                               num_targets=spec.num_targets, shallow=plan.link_shallow,
                               subgraph=plan.link_subgraph, dropout=plan.dropout)

    @property
    def task_type(self) -> TaskType:
        return self.spec.task_type

    @property
    def is_link(self) -> bool:
        return isinstance(self.head, LinkHead)

    def node_embeddings(self, batch: SubgraphBatch, *, trim: bool = True) -> dict[str, Tensor]:
        """Embeddings of the sampled nodes after message passing.

        Args:
            batch: the mini-batch.
            trim: skip, layer by layer, the nodes and edges that can no longer reach a seed (when the batch
                has per-hop counts for exactly ``num_layers`` hops); the seeds' embeddings are the same, but
                only nodes near the seeds are returned.
        """
        x = {}
        for t, nodes in batch.nodes.items():
            anchor = batch.seed_time[nodes.group] if nodes.num_nodes else batch.seed_time[:0]
            time = nodes.time if self.spec.node_time.get(t) else None
            x[t] = self.encoders[t](nodes, anchor) + self.time_encoders[t](anchor, time)
        entity = self.spec.entity_type
        marker = torch.zeros_like(x[entity])
        marker[:batch.batch_size] = self.seed_marker
        x[entity] = x[entity] + marker
        hops = {len(c) for c in (batch.num_sampled_edges or {}).values()}
        if trim and batch.num_sampled_nodes is not None and hops == {self.gnn.num_layers}:
            return self.gnn(x, batch.edge_index, num_sampled_nodes=batch.num_sampled_nodes,
                            num_sampled_edges=batch.num_sampled_edges)
        return self.gnn(x, batch.edge_index)

    def forward(self, batch: SubgraphBatch) -> tuple[Tensor, Tensor, SubgraphTargets | None]:
        """Run the model on a mini-batch.

        Returns:
            ``(out, embedding, subgraph)``: the head's raw output (logits, standardised values, or ranking
            query vectors), the seeds' embeddings [B, channels], and for link prediction with ID-aware scoring
            the scored target nodes of the subgraphs (else None).
        """
        id_aware = self.is_link and self.head.uses_subgraph
        # ID-aware scoring reads every target node of the subgraphs, so it needs the untrimmed embeddings.
        x = self.node_embeddings(batch, trim=not id_aware)
        h = x[self.spec.entity_type][:batch.batch_size]
        out = self.head(h)
        subgraph = None
        if id_aware:
            target = self.spec.target_type
            nodes = batch.nodes[target]
            scores = self.head.subgraph_scores(x[target])
            if target == self.spec.entity_type:
                # A seed is never its own recommendation through its subgraph.
                scores = scores.clone()
                scores[:batch.batch_size] = 0.0
            subgraph = SubgraphTargets(nodes.group, nodes.n_id, scores, self.spec.num_targets)
        return out, h, subgraph
