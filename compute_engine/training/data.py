"""Training inputs: the examples adapter, the stores, and mini-batch loaders over sampled subgraphs.

A training table (entity key, anchor time, label, split) reaches the trainer as :class:`TrainingExamples`:
node indices of the entities (the node index artifact maps keys to them), anchor times in unix seconds,
labels already in numeric form (see :class:`TrainingExamples`) and the split of each row. Loaders sample one
disjoint temporal subgraph per example (no neighbour newer than its anchor time), fetch the sampled nodes'
features from the feature store and hand the model a :class:`~compute_engine.model.SubgraphBatch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch_geometric.loader import NodeLoader

from compute_engine.model.encoders import NodeBatch, TableSpec
from compute_engine.model.model import ModelPlan, ModelSpec, SubgraphBatch
from compute_engine.model.text import HashedText, hash_text
from graph_engine.graph_store import SamplingGraphStore
from graph_engine.sampling.sampler import TemporalNeighborSampler
from platform_core.errors import UserFacingError
from pql.task import TaskType, default_metrics

__all__ = ["ExamplesError", "RaggedLabels", "Task", "TrainingExamples", "Stores", "build_spec", "make_loader",
           "SPLITS"]

SPLITS = ("train", "val", "holdout")


class ExamplesError(UserFacingError, ValueError):
    """Training examples that do not fit the task or the graph."""


@dataclass(frozen=True)
class RaggedLabels:
    """One list of integers per example (multilabel class codes, or target node indices for ranking).

    Attributes:
        offsets: int64 [N + 1]; example ``i``'s values are ``values[offsets[i]:offsets[i + 1]]``.
        values: int64 [nnz].
    """

    offsets: np.ndarray
    values: np.ndarray

    @classmethod
    def from_lists(cls, lists: Iterable[Sequence[int] | np.ndarray | None]) -> "RaggedLabels":
        """Build from per-example lists (None counts as empty)."""
        arrays = [np.asarray([] if v is None else v, dtype=np.int64).reshape(-1) for v in lists]
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum([a.size for a in arrays], out=offsets[1:])
        values = np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
        return cls(offsets, values.astype(np.int64))

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    def row(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i]:self.offsets[i + 1]]

    def take(self, index: np.ndarray) -> "RaggedLabels":
        """The lists of the examples at ``index``, in that order."""
        return RaggedLabels.from_lists([self.row(int(i)) for i in np.asarray(index)])

    def to_lists(self) -> list[np.ndarray]:
        return [self.row(i) for i in range(len(self))]

    def multi_hot(self, index: np.ndarray, width: int) -> torch.Tensor:
        """[len(index), width] float 0/1 rows of the examples at ``index``."""
        index = np.asarray(index, dtype=np.int64)
        out = torch.zeros(index.size, width)
        lengths = self.offsets[index + 1] - self.offsets[index]
        rows = np.repeat(np.arange(index.size), lengths)
        cols = np.concatenate([self.row(int(i)) for i in index]) if index.size else np.zeros(0, np.int64)
        out[torch.from_numpy(rows), torch.from_numpy(cols.astype(np.int64))] = 1.0
        return out


@dataclass(frozen=True)
class Task:
    """What is predicted, for which entities.

    Attributes:
        task_type: the task type.
        entity_type: the node type of the entities.
        num_classes: classes (multiclass) or labels (multilabel).
        horizon: forecast horizons.
        target_type: the ranked node type (link prediction).
        k: the ranking cut-off.
        class_names: names of the classes or labels, for reports (optional).
        hidden_columns: table -> columns the label is read from (a static query's target), which the model
            must read as missing.
    """

    task_type: TaskType
    entity_type: str
    num_classes: int = 1
    horizon: int = 1
    target_type: str | None = None
    k: int | None = None
    class_names: tuple[Any, ...] | None = None
    hidden_columns: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "task_type", TaskType(self.task_type))

    @property
    def metrics(self) -> tuple[str, ...]:
        """The default metrics, the model-selection metric first."""
        return default_metrics(self.task_type, self.k)


@dataclass
class TrainingExamples:
    """Examples of a training table as arrays.

    Attributes:
        node_index: int64 [N] entity node indices.
        anchor_time: int64 [N] anchor times (unix seconds).
        label: per task type: binary: [N] 0/1 (or bool); multiclass: [N] int class codes; multilabel:
            :class:`RaggedLabels` of class codes; regression: [N] float; forecasting: [N, horizon] float;
            link prediction: :class:`RaggedLabels` of target node indices. None for prediction-only inputs.
        split: [N] ``train`` / ``val`` / ``holdout`` (None: all rows are one split).
    """

    node_index: np.ndarray
    anchor_time: np.ndarray
    label: np.ndarray | RaggedLabels | None = None
    split: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.node_index = np.ascontiguousarray(self.node_index, dtype=np.int64).reshape(-1)
        anchor = np.asarray(self.anchor_time)
        if np.issubdtype(anchor.dtype, np.datetime64):
            anchor = anchor.astype("datetime64[s]").astype(np.int64)
        self.anchor_time = np.ascontiguousarray(anchor, dtype=np.int64).reshape(-1)
        if self.label is not None and not isinstance(self.label, RaggedLabels):
            self.label = np.asarray(self.label)
        if self.split is not None:
            self.split = np.asarray(self.split).astype(str)

    def __len__(self) -> int:
        return int(self.node_index.size)

    def validate(self, task: Task, num_nodes: int, *, labelled: bool = True) -> None:
        """Check sizes and label layout against ``task``.

        Raises:
            ExamplesError: the first mismatch found.
        """
        n = len(self)
        if self.anchor_time.size != n:
            raise ExamplesError(f"{n} node indices but {self.anchor_time.size} anchor times")
        if n and (self.node_index.min() < 0 or self.node_index.max() >= num_nodes):
            raise ExamplesError(f"entity node indices must lie in [0, {num_nodes}) of {task.entity_type!r}")
        if self.split is not None:
            if self.split.size != n:
                raise ExamplesError(f"{n} examples but {self.split.size} split values")
            unknown = set(np.unique(self.split)) - set(SPLITS)
            if unknown:
                raise ExamplesError(f"unknown split values {sorted(unknown)} (expected {SPLITS})")
        if not labelled:
            return
        if self.label is None:
            raise ExamplesError("training examples need labels")
        if len(self.label) != n:
            raise ExamplesError(f"{n} examples but {len(self.label)} labels")
        t = task.task_type
        ragged = t in (TaskType.MULTILABEL_CLASSIFICATION, TaskType.LINK_PREDICTION)
        if ragged != isinstance(self.label, RaggedLabels):
            raise ExamplesError(f"{t.value} labels must {'' if ragged else 'not '}be RaggedLabels")
        if t is TaskType.BINARY_CLASSIFICATION and not np.isin(self.label, (0, 1)).all():
            raise ExamplesError("binary labels must be 0/1 or booleans")
        if t in (TaskType.MULTICLASS_CLASSIFICATION, TaskType.MULTILABEL_CLASSIFICATION):
            codes = self.label.values if ragged else self.label
            if codes.size and (codes.min() < 0 or codes.max() >= task.num_classes):
                raise ExamplesError(f"class codes must lie in [0, {task.num_classes})")
        if t is TaskType.FORECASTING and (self.label.ndim != 2 or self.label.shape[1] != task.horizon):
            raise ExamplesError(f"forecasting labels must be [N, {task.horizon}], got {self.label.shape}")

    def take(self, index: np.ndarray) -> "TrainingExamples":
        """The examples at ``index``."""
        label = self.label
        if isinstance(label, RaggedLabels):
            label = label.take(index)
        elif label is not None:
            label = label[index]
        return TrainingExamples(self.node_index[index], self.anchor_time[index], label,
                                None if self.split is None else self.split[index])

    def select(self, split: str) -> "TrainingExamples":
        """The examples of one split (all of them when ``split`` is None)."""
        if self.split is None:
            raise ExamplesError("these examples carry no split")
        return self.take(np.flatnonzero(self.split == split))

    def targets(self, task: Task, index: np.ndarray) -> torch.Tensor | None:
        """The labels of the examples at ``index`` as the head's training target (None for ranking)."""
        t = task.task_type
        if t is TaskType.LINK_PREDICTION:
            return None
        if t is TaskType.MULTILABEL_CLASSIFICATION:
            return self.label.multi_hot(index, task.num_classes)
        values = np.asarray(self.label)[index]
        if t is TaskType.MULTICLASS_CLASSIFICATION:
            return torch.from_numpy(values.astype(np.int64))
        return torch.from_numpy(values.astype(np.float32))


@dataclass
class Stores:
    """The graph store and feature store a model reads, plus per-table caches derived from them.

    Args:
        graph: the graph store (in-process or remote).
        features: a feature store with ``table_info(table)`` and ``text(table)`` (in-process or remote).
    """

    graph: SamplingGraphStore
    features: Any
    _text: dict[tuple[str, int], HashedText] = field(default_factory=dict, repr=False)
    _tables: set[str] | None = field(default=None, repr=False)

    @property
    def schema(self):
        return self.graph.schema

    def has_features(self, table: str) -> bool:
        if self._tables is None:
            self._tables = {a.group_name for a in self.features.get_all_tensor_attrs()} | set(
                getattr(self.features, "tables", {}))
        return table in self._tables

    def table_spec(self, table: str) -> TableSpec:
        """The column metadata of ``table`` (no columns when the store has no features for it)."""
        if not self.has_features(table):
            return TableSpec(table=table)
        return TableSpec.from_info(self.features.table_info(table))

    def hashed_text(self, table: str, buckets: int) -> HashedText:
        """The hashed text of ``table`` (computed on first use, then cached)."""
        key = (table, int(buckets))
        if key not in self._text:
            self._text[key] = hash_text(self.features.text(table), buckets)
        return self._text[key]


def build_spec(task: Task, stores: Stores) -> ModelSpec:
    """The :class:`ModelSpec` of ``task`` over the stores' graph and features.

    Raises:
        ExamplesError: the entity or target type is not a node type of the graph.
    """
    schema = stores.schema
    for role, name in (("entity", task.entity_type), ("target", task.target_type)):
        if name is not None and name not in schema.node_types:
            raise ExamplesError(f"{role} type {name!r} is not a node type of the graph "
                                f"(known: {', '.join(schema.node_types)})")
    return ModelSpec(task_type=task.task_type, entity_type=task.entity_type, node_types=list(schema.node_types),
                     edge_types=[tuple(e) for e in schema.edge_types], node_time=dict(schema.node_time),
                     tables={t: _with_hidden(stores.table_spec(t), task.hidden_columns.get(t, ()))
                             for t in schema.node_types},
                     num_classes=task.num_classes, horizon=task.horizon, target_type=task.target_type,
                     num_targets=schema.num_nodes[task.target_type] if task.target_type else 0, k=task.k)


def _with_hidden(spec: TableSpec, columns) -> TableSpec:
    known = {*spec.numerical, *spec.categorical, *spec.multicategorical, *spec.timestamp, *spec.text}
    spec.hidden = sorted(c for c in columns if c in known)
    return spec


class _ToSubgraphBatch:
    """Turns PyG's sampled ``HeteroData`` into the model's :class:`SubgraphBatch`."""

    def __init__(self, stores: Stores, spec: ModelSpec, text_buckets: int) -> None:
        self.stores = stores
        self.spec = spec
        self.text_buckets = text_buckets

    def __call__(self, data) -> SubgraphBatch:
        entity = self.spec.entity_type
        seeds = data[entity]
        nodes = {}
        for t in self.spec.node_types:
            store = data[t]
            n_id = store.n_id if "n_id" in store else torch.zeros(0, dtype=torch.long)
            group = store.batch if "batch" in store else torch.zeros_like(n_id)
            time = None
            if self.spec.node_time.get(t):
                if "time" in store:
                    time = store.time
                else:
                    all_times = self.stores.graph.node_time(t)
                    time = torch.from_numpy(np.asarray(all_times)[n_id.numpy()])
            table = self.spec.tables[t]
            text = self.stores.hashed_text(t, self.text_buckets).gather(n_id) if table.text else None
            nodes[t] = NodeBatch(n_id=n_id, group=group, time=time,
                                 numerical=store.get("numerical"), categorical=store.get("categorical"),
                                 timestamp=store.get("timestamp"), multicategorical=store.get("multicategorical"),
                                 text=text)
        empty = torch.zeros((2, 0), dtype=torch.long)
        edges = {tuple(e): data[e].edge_index if "edge_index" in data[e] else empty for e in self.spec.edge_types}
        counts_n = {t: list(data[t].num_sampled_nodes) for t in self.spec.node_types
                    if "num_sampled_nodes" in data[t]}
        counts_e = {tuple(e): list(data[e].num_sampled_edges) for e in self.spec.edge_types
                    if "num_sampled_edges" in data[e]}
        complete = len(counts_n) == len(self.spec.node_types) and len(counts_e) == len(self.spec.edge_types)
        return SubgraphBatch(nodes=nodes, edge_index=edges, seed_time=seeds.seed_time, input_id=seeds.input_id,
                             num_sampled_nodes=counts_n if complete else None,
                             num_sampled_edges=counts_e if complete else None)


def make_loader(stores: Stores, spec: ModelSpec, plan: ModelPlan, node_index: np.ndarray, anchor_time: np.ndarray,
                *, shuffle: bool = False, seed: int = 0, batch_size: int | None = None) -> NodeLoader:
    """A loader of :class:`~compute_engine.model.SubgraphBatch` objects: one disjoint temporal subgraph per
    (node, anchor time).

    Args:
        stores: the graph and feature stores.
        spec: the model's spec (entity type, tables, edge types).
        plan: fan-outs, sampling strategy, batch size and text buckets.
        node_index: int64 entity node indices.
        anchor_time: int64 anchor times (unix seconds), one per node.
        shuffle: shuffle the examples every epoch (seeded by ``seed``).
        seed: seeds the shuffling and the sampler.
        batch_size: overrides ``plan.batch_size``.

    Returns:
        A PyG ``NodeLoader``; each batch's ``input_id`` indexes ``node_index``.
    """
    fanouts = plan.fanouts if plan.num_layers else [0]
    sampler = TemporalNeighborSampler(stores.graph, fanouts, strategy=plan.strategy, disjoint=True, seed=seed)
    generator = torch.Generator().manual_seed(int(seed))
    return NodeLoader((stores.features, stores.graph), sampler,
                      input_nodes=(spec.entity_type, torch.from_numpy(np.asarray(node_index, dtype=np.int64))),
                      input_time=torch.from_numpy(np.asarray(anchor_time, dtype=np.int64)),
                      transform=_ToSubgraphBatch(stores, spec, plan.text_buckets),
                      batch_size=batch_size or plan.batch_size, shuffle=shuffle, generator=generator)
