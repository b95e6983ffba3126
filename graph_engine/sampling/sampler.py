"""The temporal heterogeneous neighbour sampler, a PyG ``BaseSampler`` for NodeLoader and LinkLoader.

It builds a :class:`~graph_engine.sampling.subgraph.SubgraphRequest` from PyG's sampler inputs, lets
the graph store (in-process or remote) sample it with the compiled kernels, and returns PyG's
``HeteroSamplerOutput`` with the metadata NodeLoader and LinkLoader expect.

Semantics, as in PyG's ``NeighborSampler``: ``num_neighbors[(src, rel, dst)][h]`` is how many ``src``
neighbours each ``dst`` node of hop ``h`` draws through that edge type; sampled edges carry messages
towards the seeds. With anchor times, only neighbours whose edge time is at or before the seed's anchor
are seen (``"uniform"``: a uniform draw among them; ``"last"``: the most recent ones), which requires
``disjoint=True``: every seed (or link) gets its own subgraph and ``batch`` says which.

Randomness: each call draws from a 64-bit key derived from ``seed``, the DataLoader worker id and the
call count (SplitMix64's sequence from a per-worker start), so the same seed and the same sequence of
calls give the same subgraphs, whatever the number of threads.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import get_worker_info
from torch_geometric.sampler import (
    BaseSampler,
    EdgeSamplerInput,
    HeteroSamplerOutput,
    NegativeSampling,
    NodeSamplerInput,
)
from torch_geometric.sampler.base import NumNeighbors

from graph_engine.graph_store import SamplingGraphStore
from graph_engine.sampling.subgraph import STRATEGIES, SamplingError, SubgraphRequest, SubgraphResult
from graph_engine.schema import EdgeType

_MASK = 0xFFFF_FFFF_FFFF_FFFF
_UNSET = object()
# NumPy's int64 dtype: an identity check first (a comparison with ``np.int64`` costs ~0.2 us per call).
_INT64 = np.dtype(np.int64)
_GOLDEN = 0x9E3779B97F4A7C15


def mix64(x: int) -> int:
    """SplitMix64's finaliser on a Python int (the same hash as the kernels use)."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _numpy(tensor: torch.Tensor | None) -> np.ndarray | None:
    if tensor is None:
        return None
    try:  # a CPU tensor without grad: one call (each attribute read of a tensor costs about as much)
        array = tensor.numpy()
    except (RuntimeError, TypeError):
        array = tensor.detach().cpu().numpy()
    return array if array.dtype is _INT64 or array.dtype == np.int64 else array.astype(np.int64)


@functools.lru_cache(maxsize=64)
def _arange(size: int) -> np.ndarray:
    """``0..size-1``, shared between calls (batches repeat their sizes): the engine only reads it.

    (Not flagged read-only: compiled kernels would then need a second variant for such arrays.)
    """
    return np.arange(size, dtype=np.int64)


@functools.lru_cache(maxsize=64)
def _filled(size: int, value: int) -> np.ndarray:
    """``size`` copies of ``value``, shared between calls like :func:`_arange`."""
    return np.full(size, value, dtype=np.int64)


class TemporalNeighborSampler(BaseSampler):
    """Heterogeneous multi-hop neighbour sampling over a :class:`SamplingGraphStore`.

    Args:
        data: the graph store, or PyG's ``(feature_store, graph_store)`` pair.
        num_neighbors: fan-outs per hop: one list for every edge type, a dict per edge type (missing
            types get ``default``), or a PyG ``NumNeighbors``. -1 takes all neighbours.
        strategy: ``"uniform"`` or ``"last"`` (the most recent neighbours before the anchor).
        disjoint: one subgraph per seed; required when seeds carry times.
        seed: random seed; None takes one from torch's generator (so ``torch.manual_seed`` applies).
        default: fan-outs of edge types missing from a ``num_neighbors`` dict (default: none sampled).

    Raises:
        SamplingError: unknown edge types, unequal hop counts or an unknown strategy.
    """

    def __init__(self, data: SamplingGraphStore | tuple[Any, SamplingGraphStore],
                 num_neighbors: Sequence[int] | dict[EdgeType, Sequence[int]] | NumNeighbors, *,
                 strategy: str = "uniform", disjoint: bool = True, seed: int | None = None,
                 default: Sequence[int] | None = None) -> None:
        store = data[1] if isinstance(data, (tuple, list)) else data
        if not isinstance(store, SamplingGraphStore):
            raise SamplingError(f"expected a SamplingGraphStore, got {type(store).__name__}")
        if strategy not in STRATEGIES:
            raise SamplingError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        self.graph_store = store
        self.schema = store.schema
        self.strategy = strategy
        self.disjoint = disjoint
        self.seed = int(torch.randint(0, 2**62, ()).item()) if seed is None else int(seed)
        self._mixed_seed = mix64(self.seed)
        self.fanouts = self._fanouts(num_neighbors, default)
        self.num_hops = int(self.fanouts.shape[1])
        self._calls = 0
        self._worker, self._stream = -1, 0  # the worker whose key sequence _stream starts
        # (seed node type, timed) -> the store's SeedBatches for them, or None (the store has none).
        self._batches: dict[tuple[str, bool], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_batches"] = {}  # the store's seed samplers hold its engine: made again where the copy runs
        return state

    # ---- configuration -------------------------------------------------------------------------
    def _fanouts(self, num_neighbors: Any, default: Sequence[int] | None) -> np.ndarray:
        """[E, H] fan-outs indexed by the edge type walked (the reverse of the one reported)."""
        if isinstance(num_neighbors, NumNeighbors):
            default = num_neighbors.default if default is None else default
            num_neighbors = num_neighbors.values
        edge_types = self.schema.edge_types
        if isinstance(num_neighbors, dict):
            values = {}
            for key, hops in num_neighbors.items():
                edge_type = tuple(key.split("__")) if isinstance(key, str) else tuple(key)
                if edge_type not in edge_types:
                    raise SamplingError(f"num_neighbors names an unknown edge type {edge_type}")
                values[edge_type] = list(hops)
            hops = {len(v) for v in values.values()} | ({len(default)} if default is not None else set())
            if len(hops) != 1:
                raise SamplingError("every edge type needs the same number of hops in num_neighbors")
            width = hops.pop()
            fallback = list(default) if default is not None else [0] * width
            per_type = [values.get(e, fallback) for e in edge_types]
        else:
            per_type = [list(num_neighbors)] * len(edge_types)
        reported = np.asarray(per_type, dtype=np.int64).reshape(len(edge_types), -1)
        if reported.shape[1] == 0:
            raise SamplingError("num_neighbors needs at least one hop")
        if np.any(reported < -1):
            raise SamplingError("fan-outs must be -1 (all), 0 or positive")
        walked = [self.schema.edge_type_index(self.schema.reverse(e)) for e in edge_types]
        fanouts = np.empty_like(reported)
        fanouts[walked] = reported
        return fanouts

    def _next_key(self) -> int:
        info = get_worker_info()
        worker = 0 if info is None else info.id + 1
        if worker != self._worker:
            self._worker, self._stream = worker, mix64(self._mixed_seed ^ mix64(worker << 40))
        self._calls += 1
        return mix64(self._stream + self._calls * _GOLDEN)

    # ---- PyG BaseSampler --------------------------------------------------------------------
    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs: Any) -> HeteroSamplerOutput:
        """Sample one subgraph per seed node (disjoint) or one for the batch.

        Raises:
            SamplingError: no input type, or seed times without ``disjoint``.
        """
        if index.input_type is None:
            raise SamplingError("seeds need a node type: pass input_nodes=(node_type, index)")
        node = _numpy(index.node)
        time = _numpy(index.time)
        if time is not None and not self.disjoint:
            raise SamplingError("temporal sampling needs disjoint=True")
        if self.disjoint:
            batches = self._batches.get((index.input_type, time is not None), _UNSET)
            if batches is _UNSET:
                batches = self._batches[index.input_type, time is not None] = self.graph_store.seed_batches(
                    index.input_type, self.fanouts, self.strategy, time is not None)
            if batches is not None:  # the store's quicker way for such batches (in-process stores)
                out = batches.sample(node, time, self._next_key(), self._output)
                out.metadata = (index.input_id, index.time)
                return out
        type_id = self.schema.node_type_index(index.input_type)
        groups = _arange(node.size) if self.disjoint else _filled(node.size, 0)
        out = self._sample(node, _filled(node.size, type_id), groups, time)
        out.metadata = (index.input_id, index.time)
        return out

    def sample_from_edges(self, index: EdgeSamplerInput,
                          neg_sampling: NegativeSampling | None = None) -> HeteroSamplerOutput:
        """Sample subgraphs around seed links, with optional negative sampling (PyG's conventions).

        Returns:
            The subgraph; its metadata is ``(input_id, edge_label_index, edge_label, edge_label_time)``
            for binary or no negative sampling, ``(input_id, src_index, dst_pos_index, dst_neg_index,
            seed_time)`` for triplet negative sampling.

        Raises:
            SamplingError: no input type, or seed times without ``disjoint``.
        """
        if index.input_type is None:
            raise SamplingError("seed links need an edge type: pass edge_label_index=(edge_type, index)")
        src_type, _, dst_type = index.input_type
        src, dst = _numpy(index.row), _numpy(index.col)
        label, time = index.label, _numpy(index.time)
        if time is not None and not self.disjoint:
            raise SamplingError("temporal sampling needs disjoint=True")
        num_pos = src.size
        key = self._next_key()
        neg = NegativeSampling.cast(neg_sampling) if neg_sampling is not None else None
        src_time = dst_time = time
        if neg is not None and neg.is_binary():
            num_neg = math.ceil(num_pos * neg.amount)
            src = np.concatenate([src, self._negatives(src_type, num_neg, time, mix64(key ^ 1), neg.src_weight)])
            dst = np.concatenate([dst, self._negatives(dst_type, num_neg, time, mix64(key ^ 2), neg.dst_weight)])
            label = torch.ones(num_pos) if label is None else label
            label = torch.cat([label, label.new_zeros((num_neg,) + label.shape[1:])])
            if time is not None:
                src_time = dst_time = time[np.arange(num_pos + num_neg) % num_pos]
        elif neg is not None:
            num_neg = num_pos * int(neg.amount)
            dst = np.concatenate([dst, self._negatives(dst_type, num_neg, time, mix64(key ^ 2), neg.dst_weight)])
            if time is not None:
                dst_time = time[np.arange(dst.size) % num_pos]

        src_id, dst_id = self.schema.node_type_index(src_type), self.schema.node_type_index(dst_type)
        if src_type != dst_type:
            if self.disjoint:
                src_seed, dst_seed = src, dst
                nodes = np.concatenate([src_seed, dst_seed])
                groups = np.concatenate([np.arange(src.size), np.arange(dst.size)])
            else:
                src_seed, inverse_src = np.unique(src, return_inverse=True)
                dst_seed, inverse_dst = np.unique(dst, return_inverse=True)
                nodes = np.concatenate([src_seed, dst_seed])
                groups = np.zeros(nodes.size, np.int64)
            types = np.concatenate([np.full(src_seed.size, src_id), np.full(dst_seed.size, dst_id)])
            times = None if time is None else np.concatenate([src_time, dst_time])
            order = np.argsort(groups, kind="stable")
            out = self._sample(nodes[order], types[order], groups[order], None if times is None else times[order],
                               key=key)
        else:
            seed = np.concatenate([src, dst])
            if not self.disjoint:
                seed, inverse_seed = np.unique(seed, return_inverse=True)
            groups = np.arange(seed.size) if self.disjoint else np.zeros(seed.size, np.int64)
            times = None if time is None else np.concatenate([src_time, dst_time])
            out = self._sample(seed, np.full(seed.size, src_id), groups, times, key=key)
        if self.disjoint:
            out.batch = {k: v % num_pos for k, v in out.batch.items()}

        out_time = None if src_time is None else torch.from_numpy(np.ascontiguousarray(src_time))
        input_id = index.input_id
        if neg is None or neg.is_binary():
            total = src.size
            if self.disjoint:
                if src_type != dst_type:
                    edge_label_index = torch.arange(total).repeat(2).view(2, -1)
                else:
                    edge_label_index = torch.arange(2 * total).view(2, -1)
            elif src_type != dst_type:
                edge_label_index = torch.stack([torch.from_numpy(inverse_src), torch.from_numpy(inverse_dst)])
            else:
                edge_label_index = torch.from_numpy(inverse_seed).view(2, -1)
            out.metadata = (input_id, edge_label_index, label, out_time)
        else:
            if self.disjoint:
                src_index = torch.arange(num_pos)
                if src_type != dst_type:
                    dst_pos_index = torch.arange(num_pos)
                    dst_neg_index = torch.arange(num_pos, dst.size).view(-1, num_pos).t()
                else:
                    dst_pos_index = torch.arange(num_pos, 2 * num_pos)
                    dst_neg_index = torch.arange(2 * num_pos, src.size + dst.size).view(-1, num_pos).t()
            elif src_type != dst_type:
                src_index = torch.from_numpy(inverse_src)
                dst_pos_index = torch.from_numpy(inverse_dst[:num_pos])
                dst_neg_index = torch.from_numpy(inverse_dst[num_pos:])
            else:
                inverse = torch.from_numpy(inverse_seed)
                src_index, dst_pos_index = inverse[:num_pos], inverse[num_pos:2 * num_pos]
                dst_neg_index = inverse[2 * num_pos:]
            dst_neg_index = dst_neg_index.reshape(num_pos, -1).squeeze(-1)
            out.metadata = (input_id, src_index, dst_pos_index, dst_neg_index, out_time)
        return out

    # ---- helpers ------------------------------------------------------------------------------
    def _negatives(self, node_type: str, count: int, time: np.ndarray | None, key: int,
                   weight: torch.Tensor | None) -> np.ndarray:
        """``count`` random nodes; with times, negative ``m`` is no newer than seed ``m % num_pos``."""
        w = None if weight is None else weight.detach().cpu().numpy()
        if time is None or not self.schema.node_time[node_type]:
            return self.graph_store.draw_nodes(node_type, count, None, key, w)
        anchors = time[np.arange(count) % time.size]
        return self.graph_store.draw_nodes(node_type, 1, anchors, key, w)

    def _sample(self, node: np.ndarray, node_type: np.ndarray, group: np.ndarray, time: np.ndarray | None,
                key: int | None = None) -> HeteroSamplerOutput:
        request = SubgraphRequest(node=node, node_type=node_type, group=group, fanouts=self.fanouts, time=time,
                                  strategy=self.strategy, key=self._next_key() if key is None else key)
        # Built while the store may still be copying the sampled arrays: views only, no values read.
        return self.graph_store.sample_subgraph(request, build=self._output)

    def _output(self, result: SubgraphResult) -> HeteroSamplerOutput:
        """PyG's output over ``result``'s arrays (views; their values are not read)."""
        node_counts, edge_counts = result.node_counts.tolist(), result.edge_counts.tolist()
        node_sizes, edge_sizes = list(map(sum, node_counts)), list(map(sum, edge_counts))
        node_types, edge_types = self.schema.node_types, self.schema.edge_types
        # Views, not copies, made in as few calls as possible (each tensor costs ~0.5 us, each call more):
        # split_with_sizes, as Tensor.split's Python wrapper costs more than the views it makes; its unsafe_
        # form, which skips autograd's view bookkeeping (~20% of the call): these are integer tensors that
        # never take part in autograd, and the array split is not touched again.
        if result.flat is not None:
            parts = torch.from_numpy(result.flat).unsafe_split_with_sizes(node_sizes * 2 + edge_sizes * 3)
        else:
            parts = sum((torch.from_numpy(array).unsafe_split_with_sizes(sizes) for array, sizes in (
                (result.node, node_sizes), (result.batch, node_sizes), (result.row, edge_sizes),
                (result.col, edge_sizes), (result.edge, edge_sizes))), ())
        # One pass over the parts in their order (zip stops at the end of the keys, before taking another part).
        taken = iter(parts)
        node, batch = dict(zip(node_types, taken)), dict(zip(node_types, taken))
        row, col, edge = dict(zip(edge_types, taken)), dict(zip(edge_types, taken)), dict(zip(edge_types, taken))
        return HeteroSamplerOutput(
            node=node, row=row, col=col, edge=edge, batch=batch if self.disjoint else None,
            num_sampled_nodes=dict(zip(node_types, node_counts)),
            num_sampled_edges=dict(zip(edge_types, edge_counts)),
        )
