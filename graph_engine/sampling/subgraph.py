"""Subgraph sampling requests and results, and the in-process engine that serves them.

A :class:`SubgraphRequest` is what a sampler sends to a graph store (in-process or remote): flat seed
arrays, their groups (one disjoint subgraph each) and anchor times, the fan-outs and a random key.
A :class:`SubgraphResult` is the sampled subgraph in flat arrays plus per-type, per-hop counts, so it
travels as a handful of buffers; :meth:`SubgraphResult.split` gives PyG's per-type dictionaries.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from graph_engine.sampling import kernels, multihop
from graph_engine.sampling.helpers import HELPERS, thread_count
from graph_engine.schema import EdgeType, GraphSchema

INT64_MAX = np.iinfo(np.int64).max
STRATEGIES = ("uniform", "last")
# Edge slots reserved per call before falling back to capped slots with a retry on overflow.
SLOT_BUDGET = 1 << 24
# Edge slots per chunk of groups: small enough for a chunk's working set to stay in the L2 cache,
# large enough for many independent lookups per loop.
CHUNK_SLOTS = 2048
_EMPTY = np.zeros(1, dtype=np.int64)
_NO_TIME = np.empty(0, dtype=np.int64)
_NO_CAPS = np.empty(0, dtype=np.int64)
_INT64 = np.dtype(np.int64)
# Pauses (about 25 ns each) a thread spins for another before it sleeps (waits are a chunk at most, ~10 us;
# spinning longer would take a core from whatever the late thread waits for on a busy machine).
_SPIN = 2_000
# Retries of a call that ran out of room (see CsrGraph.sample).
_MAX_RETRIES = 64
# One sampling call or compiled parallel kernel at a time per process: each already uses every core
# (the sampler through its helper threads), and numba's workqueue threading layer does not support
# concurrent launches from several Python threads.
KERNEL_LOCK = threading.Lock()


def kernel_key(key: int) -> int:
    """A 64-bit random key as :func:`multihop.sample_request` takes it: the int64 with the same bits (a Python int
    of 2**63 or more would make numba compile a second variant of the kernel)."""
    return key - (1 << 64) if key >> 63 else key


class SamplingError(ValueError):
    """A sampling request is malformed (unknown types, bad shapes, bad fan-outs)."""


_REQUEST_PROBLEMS = {1: "node_type out of range", 2: "seed node index out of range for its node type",
                     3: "group must rise from 0 in steps of 0 or 1", 4: "fan-outs must be -1 (all), 0 or positive"}


@dataclass
class SubgraphRequest:
    """Seeds and settings of one sampling call.

    Attributes:
        node: int64 [S] seed node indices.
        node_type: int64 [S] index of each seed's node type in the schema's ``node_types``.
        group: int64 [S] non-decreasing disjoint-subgraph id of each seed, ``0..G-1``.
        time: int64 [S] anchor time of each seed (unix seconds), or None for no time limit. A group's
            anchor is the earliest of its seeds' times.
        fanouts: int64 [E, H] neighbours per hop through each schema edge type (-1: all, 0: none).
        strategy: ``"uniform"`` (without replacement) or ``"last"`` (the most recent ones).
        key: the 64-bit random key; the same request with the same key gives the same subgraph.
    """

    node: np.ndarray
    node_type: np.ndarray
    group: np.ndarray
    fanouts: np.ndarray
    time: np.ndarray | None = None
    strategy: str = "uniform"
    key: int = 0
    #: Set by :meth:`validate`: the seeds' node type when they all have one, -1 when they do not (-2: not
    #: validated yet), and the number of groups.
    single_type: int = field(default=-2, init=False, repr=False, compare=False)
    group_count: int = field(default=0, init=False, repr=False, compare=False)

    def validate(self, schema: GraphSchema) -> "SubgraphRequest":
        """Check shapes, ranges and settings against ``schema``; returns self with normalized dtypes.

        Raises:
            SamplingError: naming the first problem.
        """
        self.node = np.ascontiguousarray(self.node, dtype=np.int64)
        self.node_type = np.ascontiguousarray(self.node_type, dtype=np.int64)
        self.group = np.ascontiguousarray(self.group, dtype=np.int64)
        self.fanouts = np.ascontiguousarray(self.fanouts, dtype=np.int64)
        size = self.node.shape
        if self.node.ndim != 1 or self.node_type.shape != size or self.group.shape != size:
            raise SamplingError("node, node_type and group must be 1-D arrays of one length")
        if self.time is not None:
            self.time = np.ascontiguousarray(self.time, dtype=np.int64)
            if self.time.shape != size:
                raise SamplingError("time must have one entry per seed")
        _check_settings(schema, self.fanouts, self.strategy)
        problem, self.single_type, self.group_count = multihop.check_request(
            self.node, self.node_type, self.group, self.fanouts, schema.node_counts)
        if problem:
            raise SamplingError(_REQUEST_PROBLEMS[problem])
        self.key = int(self.key) & 0xFFFF_FFFF_FFFF_FFFF
        return self


class SubgraphResult:
    """A sampled subgraph in flat arrays, ordered per type, then hop, then group, then discovery.

    Made from its arrays, or with :meth:`of_flat` from one buffer that holds them one after the other (as
    the in-process engine makes it), whose parts are then views made on first use.

    Attributes:
        node: int64 sampled nodes of all node types, node type after node type (schema order).
        batch: int64 group of each node in ``node``.
        node_counts: int64 [T, H+1] nodes per node type and hop.
        row: int64 source of each sampled edge, as a position within its node type's nodes.
        col: int64 destination of each sampled edge, likewise.
        edge: int64 edge id: position in the CSC layout of the edge type (the CSR of its reverse).
        edge_counts: int64 [E, H] edges per edge type (schema order) and hop.
        flat: ``node``, ``batch``, ``row``, ``col`` and ``edge`` as one array, when made with :meth:`of_flat`,
            else None.
    """

    __slots__ = ("node_counts", "edge_counts", "flat", "_parts")

    def __init__(self, node: np.ndarray, batch: np.ndarray, node_counts: np.ndarray, row: np.ndarray,
                 col: np.ndarray, edge: np.ndarray, edge_counts: np.ndarray) -> None:
        self.node_counts, self.edge_counts = node_counts, edge_counts
        self.flat: np.ndarray | None = None
        self._parts: tuple[np.ndarray, ...] | None = (node, batch, row, col, edge)

    @classmethod
    def of_flat(cls, flat: np.ndarray, node_counts: np.ndarray, edge_counts: np.ndarray) -> "SubgraphResult":
        """The result whose arrays are consecutive parts of ``flat`` (sized by the counts' sums)."""
        result = cls.__new__(cls)
        result.node_counts, result.edge_counts, result.flat, result._parts = node_counts, edge_counts, flat, None
        return result

    def _part(self, index: int) -> np.ndarray:
        if self._parts is None:
            flat = self.flat
            N, M = int(self.node_counts.sum()), int(self.edge_counts.sum())
            self._parts = (flat[:N], flat[N:2 * N], flat[2 * N:2 * N + M], flat[2 * N + M:2 * N + 2 * M],
                           flat[2 * N + 2 * M:])
        return self._parts[index]

    def __repr__(self) -> str:
        return (f"SubgraphResult(nodes={self.node_counts.tolist()}, edges={self.edge_counts.tolist()}, "
                f"flat={self.flat is not None})")

    node = property(lambda self: self._part(0), doc="int64 sampled nodes, node type after node type.")
    batch = property(lambda self: self._part(1), doc="int64 group of each node.")
    row = property(lambda self: self._part(2), doc="int64 source of each edge (position within its node type).")
    col = property(lambda self: self._part(3), doc="int64 destination of each edge, likewise.")
    edge = property(lambda self: self._part(4), doc="int64 edge id of each edge.")

    def split(self, schema: GraphSchema) -> "SplitSubgraph":
        """Per-type views (no copies) keyed by node type and edge type."""
        out = SplitSubgraph()
        node_total = self.node_counts.sum(axis=1)
        start = 0
        for t, name in enumerate(schema.node_types):
            stop = start + int(node_total[t])
            out.node[name] = self.node[start:stop]
            out.batch[name] = self.batch[start:stop]
            out.num_sampled_nodes[name] = [int(c) for c in self.node_counts[t]]
            start = stop
        edge_total = self.edge_counts.sum(axis=1)
        start = 0
        for e, edge_type in enumerate(schema.edge_types):
            stop = start + int(edge_total[e])
            out.row[edge_type] = self.row[start:stop]
            out.col[edge_type] = self.col[start:stop]
            out.edge[edge_type] = self.edge[start:stop]
            out.num_sampled_edges[edge_type] = [int(c) for c in self.edge_counts[e]]
            start = stop
        return out


@dataclass
class SplitSubgraph:
    """A :class:`SubgraphResult` as PyG-style dictionaries of NumPy arrays."""

    node: dict[str, np.ndarray] = field(default_factory=dict)
    batch: dict[str, np.ndarray] = field(default_factory=dict)
    num_sampled_nodes: dict[str, list[int]] = field(default_factory=dict)
    row: dict[EdgeType, np.ndarray] = field(default_factory=dict)
    col: dict[EdgeType, np.ndarray] = field(default_factory=dict)
    edge: dict[EdgeType, np.ndarray] = field(default_factory=dict)
    num_sampled_edges: dict[EdgeType, list[int]] = field(default_factory=dict)


def _check_settings(schema: GraphSchema, fanouts: np.ndarray, strategy: str) -> None:
    """Check the shape of int64 ``fanouts`` and the strategy (fan-out values are checked by the compiled checks)."""
    if fanouts.ndim != 2 or fanouts.shape[0] != len(schema.edge_types) or fanouts.shape[1] < 1:
        raise SamplingError(f"fanouts must be [{len(schema.edge_types)} edge types, hops >= 1], got {fanouts.shape}")
    if strategy not in STRATEGIES:
        raise SamplingError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


def _int64_array(array: np.ndarray) -> np.ndarray:
    out = np.asarray(array)
    if out.dtype != np.int64 or out.ndim != 1 or not out.flags.c_contiguous:
        out = np.ascontiguousarray(out, dtype=np.int64).reshape(-1)
    return out


def _address(array: np.ndarray | None) -> int:
    if array is None or array.size == 0:
        return 0 if array is None else _EMPTY.ctypes.data
    return array.ctypes.data


class _Scratch:
    """Scratch reused between calls (fresh pages on every call would cost page faults): the per-call
    buffer of :func:`multihop.sample_request` (``plan``, for up to ``groups`` groups) and the segments
    (``seg``: ``node_cap`` node slots and ``edge_cap`` edge slots). ``plan_key`` says what plan the buffer
    holds, when a later call may reuse it (see ``same_plan`` of :func:`multihop.sample_request`)."""

    def __init__(self) -> None:
        self.plan = np.empty(0, np.int64)
        self.shape = (-1, -1, -1)  # (groups, Sn, Se) the plan buffer is laid out for
        self.plan_key: tuple | None = None
        self.seg = np.empty(0, np.int64)
        self.node_cap = self.edge_cap = 0

    def ensure_plan(self, groups: int, Sn: int, Se: int) -> np.ndarray:
        held, held_Sn, held_Se = self.shape
        if (Sn, Se) != (held_Sn, held_Se):  # another layout: sized for this call
            self.shape = (groups, Sn, Se)
        elif groups > held:  # the same layout, grown (at least doubled)
            self.shape = (max(groups, 2 * held), Sn, Se)
        else:
            return self.plan
        self.plan = np.empty(multihop.plan_size(*self.shape), np.int64)
        self.plan_key = None
        return self.plan

    def ensure_segments(self, nodes: int, edges: int) -> None:
        if nodes > self.node_cap:
            self.node_cap = max(nodes, 2 * self.node_cap)
        if edges > self.edge_cap:
            self.edge_cap = max(edges, 2 * self.edge_cap)
        self.seg = np.empty(2 * self.node_cap + 3 * self.edge_cap, np.int64)


class CsrGraph:
    """The sampling engine over one graph's CSR arrays (memory maps are used in place).

    Args:
        schema: node and edge types of the graph.
        csr: per edge type of ``schema.edge_types``: (indptr, indices, time or None).
        node_time: per node type of ``schema.node_types``: node times or None. With them, rows whose
            edges are known to be no newer than the anchor skip the time cut-off (same result, fewer
            memory reads).
    """

    def __init__(self, schema: GraphSchema, csr: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
                 node_time: Sequence[np.ndarray | None] | None = None) -> None:
        if len(csr) != len(schema.edge_types):
            raise SamplingError("one CSR per edge type is needed")
        self.schema = schema
        node_index = {name: i for i, name in enumerate(schema.node_types)}
        edge_index = {e: i for i, e in enumerate(schema.edge_types)}
        # The kernels read the arrays through their addresses; self._arrays keeps them alive.
        self._arrays = [tuple(_int64_array(a) if a is not None else None for a in triple) for triple in csr]
        self.addresses = np.array([[_address(p), _address(i), _address(t)] for p, i, t in self._arrays],
                                  dtype=np.int64).reshape(len(csr), 3)
        E = len(schema.edge_types)
        self.et_src = np.array([node_index[e[0]] for e in schema.edge_types], dtype=np.int64)
        self.et_dst = np.array([node_index[e[2]] for e in schema.edge_types], dtype=np.int64)
        self.et_out = np.array([edge_index[schema.reverse(e)] for e in schema.edge_types], dtype=np.int64)
        order = np.argsort(self.et_src, kind="stable")
        self.src_list = order.astype(np.int64)
        self.src_ptr = np.zeros(len(schema.node_types) + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.et_src, minlength=len(schema.node_types)), out=self.src_ptr[1:])
        self.max_degree = np.array([int(np.diff(p).max()) if p.shape[0] > 1 else 0 for p, _, _ in self._arrays],
                                   dtype=np.int64)
        assert self.max_degree.shape == (E,)
        times = [None] * len(schema.node_types) if node_time is None else list(node_time)
        if len(times) != len(schema.node_types):
            raise SamplingError("one node time array (or None) per node type is needed")
        times = [_NO_TIME if t is None else _int64_array(t) for t in times]
        self.flags = np.array([self._flags(p, i, t, int(d), times[a], times[b])
                               for (p, i, t), d, a, b in zip(self._arrays, self.max_degree, self.et_src, self.et_dst)],
                              dtype=np.int64)
        # One row per expansion type, the layout multihop.COL_* names.
        no_through = np.stack([np.zeros(E, np.int64), np.full(E, -1, np.int64)], axis=1)
        self.graph = np.concatenate([self.addresses, self.et_dst[:, None], self.et_out[:, None], self.flags[:, None],
                                     no_through], axis=1).reshape(E, multihop.GRAPH_COLUMNS)
        self._local = threading.local()
        self._bounds: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self._pair_flags: dict[tuple, np.ndarray] = {}
        self._prepared: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray, tuple, np.ndarray]] = {}
        self._through: dict[tuple[int, int], np.ndarray] = {}
        self._graphs: dict[tuple, np.ndarray] = {}  # see _graph_for

    @staticmethod
    def _flags(indptr: np.ndarray, indices: np.ndarray, time: np.ndarray | None, max_degree: int,
               source_time: np.ndarray, target_time: np.ndarray) -> int:
        """Kernel flags of one edge type: timed, rows of at most one edge, of exactly one edge, and how
        edge times relate to node times (see :mod:`.multihop`)."""
        flags = multihop.TIMED if time is not None else 0
        if time is not None:
            not_newer, not_older = multihop.time_order(indptr, indices, time, source_time, target_time)
            flags |= (multihop.NOT_NEWER_THAN_SOURCE if not_newer else 0) | (
                multihop.NOT_OLDER_THAN_TARGET if not_older else 0)
        if max_degree <= 1:
            flags |= multihop.MAX1
            if int(indptr[-1]) == indptr.shape[0] - 1:  # n rows, n edges, none with two: one each
                flags |= multihop.TOTAL1
        return flags

    # ---- capacity planning -----------------------------------------------------------------
    def edge_bound(self, fanouts: np.ndarray) -> np.ndarray:
        """Most edges one seed of each node type can produce with these fan-outs (float64 [T])."""
        return self.stream_bounds(fanouts)[1].sum(axis=1)

    def stream_bounds(self, fanouts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Most nodes and edges one seed of each node type can put in each output stream.

        Returns:
            float64 ``[T, T * (H + 1)]`` per node stream (node type, hop) and ``[T, E * H]`` per edge
            stream (reported edge type, hop); see :mod:`.multihop`.
        """
        cache_key = fanouts.tobytes() + bytes(fanouts.shape[1:])
        bounds = self._bounds.get(cache_key)
        if bounds is None:
            bounds = self._bounds[cache_key] = self._stream_bounds(fanouts)
        return bounds

    def _stream_bounds(self, fanouts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        T, (E, H) = len(self.schema.node_types), fanouts.shape
        per_edge = np.where(fanouts < 0, self.max_degree[:, None], np.minimum(fanouts, self.max_degree[:, None]))
        nodes = np.zeros((T, T, H + 1), dtype=np.float64)
        edges = np.zeros((T, E, H), dtype=np.float64)
        for seed_type in range(T):
            frontier = np.zeros(T, dtype=np.float64)
            frontier[seed_type] = 1.0
            nodes[seed_type, seed_type, 0] = 1.0
            for h in range(H):
                produced = frontier[self.et_src] * per_edge[:, h]  # per expansion type
                edges[seed_type, self.et_out, h] = produced
                frontier = np.bincount(self.et_dst, weights=produced, minlength=T)
                nodes[seed_type, :, h + 1] = frontier
        return nodes.reshape(T, -1), edges.reshape(T, -1)

    def pair_flags(self, fanouts: np.ndarray, seed_types: Sequence[int], timed: bool) -> np.ndarray:
        """Fast paths the kernel may take per (expansion type ``t``, hop ``h``) pair (int64 [E, H] of flags).

        ``IMMEDIATE``: finished in the kernel's first pass. When every node that can be expanded through ``t``
        at ``h`` (found through any expansion type active at the hop before, or a seed at hop 0) makes a pair
        that needs neither row bounds nor a time cut-off nor a draw: a back edge over a one-edge row
        (``TOTAL1``: its edge id is the node), or, at the last hop, a one-edge row with no cut-off (its
        neighbour is found but never expanded) whose node stream no other kind of pair of that hop feeds, so
        nodes keep their discovery order.

        ``FRESH``: the neighbours found skip the hash table that de-duplicates a group's nodes. When they
        cannot be in their group yet: each lies in one row of ``t`` (its reverse holds at most one edge per
        row: ``MAX1``), the nodes expanded are distinct and draws take distinct edges; no seed has their type,
        and no other pair finds that type at ``h`` or before. And when no later pair looks them up: after
        ``h``, only back edges (which refer to the node they came from) reach their type.

        ``EXPAND_AT_ONCE``: the nodes found through ``t`` at ``h`` make their pairs of hop ``h + 1`` as they are
        found, instead of joining the frontier for the next hop's first loop. When every pair of hop ``h + 1``
        is ``IMMEDIATE``: then no other node is expanded at ``h + 1``, and each edge and one-edge row of that hop
        is still taken in discovery order.

        Args:
            fanouts: int64 [E, H] fan-outs per expansion type.
            seed_types: the node types of the seeds.
            timed: the request has anchor times.
        """
        cache_key = (fanouts.tobytes(), fanouts.shape[1], tuple(sorted({int(a) for a in seed_types})), timed)
        held = self._pair_flags.get(cache_key)
        if held is not None:
            return held
        E, H = fanouts.shape
        flags = self.flags
        vias: dict[int, set[int]] = {int(a): {-1} for a in cache_key[2]}
        kinds: dict[tuple[int, int], set[str]] = {}
        backs: set[tuple[int, int]] = set()  # every pair is a back edge
        for h in range(H):
            found: dict[int, set[int]] = {}
            for t in range(E):
                a = int(self.et_src[t])
                if fanouts[t, h] == 0 or a not in vias:
                    continue
                seen = kinds[(t, h)] = set()
                if all(via >= 0 and self.et_out[via] == t and flags[t] & multihop.MAX1 for via in vias[a]):
                    backs.add((t, h))
                for via in vias[a]:
                    if via >= 0 and self.et_out[via] == t and flags[t] & multihop.MAX1:
                        seen.add("back" if flags[t] & multihop.TOTAL1 else "other")
                    elif flags[t] & multihop.TOTAL1:
                        cut = timed and flags[t] & multihop.TIMED and not (
                            via >= 0 and flags[via] & multihop.NOT_OLDER_THAN_TARGET
                            and flags[t] & multihop.NOT_NEWER_THAN_SOURCE)
                        seen.add("other" if cut else "one")
                    else:
                        seen.add("other")
                found.setdefault(int(self.et_dst[t]), set()).add(t)
            vias = found
        chosen = {(t, h) for (t, h), seen in kinds.items()
                  if seen <= {"back", "one"} and ("one" not in seen or h == H - 1)}
        # A node stream that a pair left in the general loops feeds at a hop keeps its one-edge feeders there
        # too, so the stream's nodes keep their discovery order (dropping them affects no other stream).
        deferred = {(int(self.et_dst[t]), h) for (t, h), seen in kinds.items()
                    if seen != {"back"} and (t, h) not in chosen}
        chosen = {(t, h) for t, h in chosen if "one" not in kinds[(t, h)] or (int(self.et_dst[t]), h) not in deferred}
        out = np.zeros((E, H), dtype=np.int64)
        for t, h in chosen:
            out[t, h] = multihop.IMMEDIATE
        for h in range(H - 1):
            if all((t, k) in chosen for t, k in kinds if k == h + 1):
                for t, k in kinds:
                    if k == h:
                        out[t, h] |= multihop.EXPAND_AT_ONCE
        seeded = set(cache_key[2])
        for (t, h) in kinds:
            b = int(self.et_dst[t])
            if (t, h) in chosen or b in seeded or not flags[self.et_out[t]] & multihop.MAX1:
                continue
            if all(int(self.et_dst[u]) != b or (u, k) == (t, h) or (k > h and (u, k) in backs) for u, k in kinds):
                out[t, h] |= multihop.FRESH
        self._pair_flags[cache_key] = out
        return out

    def through(self, t: int, t2: int) -> np.ndarray:
        """The neighbours' neighbours of expansion type ``t`` through the one-edge rows of ``t2`` (which starts
        where ``t`` ends): int64, one per edge ``e`` of ``t``, the neighbour through ``t2`` of ``e``'s
        neighbour. Made on first use and kept (8 bytes per edge of ``t``): with it the kernel reads a fact's
        link (an order's product) from the row it found the fact in, instead of one random read per fact.
        """
        held = self._through.get((t, t2))
        if held is None:
            # Callers racing to make it (a store server's threads) all get the array kept, the first one stored:
            # graph tables hold its address, not a reference, so an array replaced in the dictionary would be
            # freed under them (and the kernel would read freed memory as node indices).
            held = self._through.setdefault((t, t2), self._make_through(t, t2))
        return held

    def _make_through(self, t: int, t2: int) -> np.ndarray:
        return np.asarray(self._arrays[t2][1])[np.asarray(self._arrays[t][1])]

    def _graph_for(self, fanouts: np.ndarray, pair_flags: np.ndarray) -> np.ndarray:
        """The kernel's graph table for a request shape: :attr:`graph`, with ``COL_THROUGH`` set (see
        :meth:`through`) for each expansion type whose neighbours are expanded at once (``EXPAND_AT_ONCE``)
        into pairs of one one-edge-row type besides the way back. Kept per shape (requests of several seed
        types do not keep their prepared shape)."""
        cache_key = (fanouts.tobytes(), fanouts.shape[1], pair_flags.tobytes())
        held = self._graphs.get(cache_key)
        if held is not None:
            return held
        E, H = fanouts.shape
        graph = self.graph
        for t in range(E):
            hops = [h for h in range(H - 1) if pair_flags[t, h] & multihop.EXPAND_AT_ONCE]
            onward = {t2 for h in hops for t2 in range(E) if self.et_src[t2] == self.et_dst[t]
                      and fanouts[t2, h + 1] != 0 and t2 != self.et_out[t]}
            if len(onward) != 1:
                continue
            t2 = onward.pop()
            if not self.flags[t2] & multihop.TOTAL1:
                continue
            if graph is self.graph:
                graph = self.graph.copy()
            graph[t, multihop.COL_THROUGH] = _address(self.through(t, t2))
            graph[t, multihop.COL_THROUGH_TYPE] = t2
        if len(self._graphs) > 64:
            self._graphs.clear()
        self._graphs[cache_key] = graph
        return graph

    def _prepared_for(self, fanouts: np.ndarray, single: int, seed_types: np.ndarray,
                      timed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple, np.ndarray]:
        """Stream bounds, pair flags, the key of a request shape (fan-outs, seed type, timed) and the kernel's
        graph table for it (see :meth:`_graph_for`), kept for the next request of that shape (one dictionary
        lookup per call instead of a few).

        Args:
            single: the seeds' node type when they all have one, else -1 (such requests are not kept: they
                differ in their seed types).
        """
        cache_key = (fanouts.tobytes(), fanouts.shape[1], single, timed)
        held = self._prepared.get(cache_key)
        if held is None:
            T = len(self.schema.node_types)
            types = [single] if single >= 0 else np.flatnonzero(np.bincount(seed_types, minlength=T))
            pair_flags = self.pair_flags(fanouts, types, timed)
            held = (*self.stream_bounds(fanouts), pair_flags, cache_key, self._graph_for(fanouts, pair_flags))
            if single >= 0:
                if len(self._prepared) > 64:
                    self._prepared.clear()
                self._prepared[cache_key] = held
        return held

    def sample(self, request: SubgraphRequest, *, validated: bool = False,
               build: Callable[[SubgraphResult], Any] | None = None) -> Any:
        """Sample the subgraph of ``request`` (see :mod:`.multihop`), on ``numba.get_num_threads()`` threads.

        Args:
            request: seeds and settings.
            validated: the request already passed :meth:`SubgraphRequest.validate` for this schema.
            build: called with the result while a helper thread may still be filling its arrays (it may
                read the counts and make views, not read the arrays, and must not sample: it runs under
                ``KERNEL_LOCK``); its value is returned, once they are filled. None: the result is returned.

        Raises:
            SamplingError: a malformed request.
        """
        if not validated or request.single_type == -2:  # -2: validation's findings are needed below
            request.validate(self.schema)
        time = _NO_TIME if request.time is None else request.time
        prepared = self._prepared_for(request.fanouts, request.single_type, request.node_type, time is not _NO_TIME)
        return self._run(request.node, request.node_type, request.group, time, request.fanouts, prepared,
                         request.group_count, request.single_type, request.strategy == "last", kernel_key(request.key),
                         build)

    def seed_batches(self, node_type: int, fanouts: np.ndarray, strategy: str, timed: bool) -> "SeedBatches":
        """A sampler of one disjoint subgraph per seed, for seeds of one node type and these settings (what
        a NodeLoader asks for batch after batch): the settings are checked once, each batch only its seeds.

        Args:
            node_type: index of the seeds' node type in the schema's ``node_types``.
            fanouts: int64 [E, H] as in :class:`SubgraphRequest`.
            strategy: as in :class:`SubgraphRequest`.
            timed: whether the batches come with anchor times.

        Raises:
            SamplingError: a node type out of range, malformed fan-outs or an unknown strategy.
        """
        return SeedBatches(self, node_type, fanouts, strategy, timed)

    def _run(self, node: np.ndarray, node_type: np.ndarray, group: np.ndarray, time: np.ndarray, fanouts: np.ndarray,
             prepared: tuple, G: int, single: int, last: bool, key: int, build: Callable[[SubgraphResult], Any] | None,
             seed_count: int = -1) -> Any:
        """Sample checked seed arrays (``time``: ``_NO_TIME`` for none) with the engine's prepared bounds (see
        :meth:`_prepared_for`), G groups, the seeds' single node type (or -1) and the kernel's key; see
        :meth:`sample` for ``build``. ``seed_count``: -1 when the seeds' range is checked, else the number of
        nodes of their single type, which the kernel checks them against.

        Raises:
            SamplingError: a seed outside ``0..seed_count-1``.
        """
        node_bound, edge_bound, pair_flags, shape, graph = prepared
        T = len(self.schema.node_types)
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = _Scratch()
        caps = _NO_CAPS
        S = node.shape[0]
        Sn, Se = node_bound.shape[1], edge_bound.shape[1]
        # A helper arriving before the plan is ready waits for it (the plan takes ~12 ns per seed).
        spin = _SPIN + 2 * S
        # A plan depends on the seeds' groups and types, not their nodes and anchors: with one seed per group
        # (a NodeLoader's batches) it is the same for every batch of a size.
        reusable = (S, shape, SLOT_BUDGET, CHUNK_SLOTS) if G == S and single >= 0 else None
        with KERNEL_LOCK:
            plan = scratch.ensure_plan(G, Sn, Se)
            mail, seats = HELPERS.mailbox(min(thread_count() - 1, G - 1))
            # Each retry at least quadruples the room of the groups that ran out, up to their bound, so a few
            # dozen retries reach any request's bound; one that still does not fit is a fault of the engine.
            for _ in range(_MAX_RETRIES):
                leaves = reusable if caps is _NO_CAPS else None  # the plan this call leaves in the buffer
                same_plan = leaves is not None and scratch.plan_key == leaves
                scratch.plan_key = None
                work = np.zeros(multihop.WORK_SIZE, np.int64)
                status, flat, node_counts, edge_counts = multihop.sample_request(
                    graph, self.src_ptr, self.src_list, T, fanouts, pair_flags, last, key, node, node_type, time,
                    group, node_bound, edge_bound, SLOT_BUDGET, caps, CHUNK_SLOTS, plan, G, scratch.seg,
                    scratch.node_cap, scratch.edge_cap, work, mail, seats, spin, same_plan, seed_count)
                scratch.plan_key = leaves
                if status == multihop.OK:
                    result = SubgraphResult.of_flat(flat, node_counts, edge_counts)
                    try:
                        return result if build is None else build(result)
                    finally:
                        multihop.complete_request(graph, T, fanouts, plan, G, scratch.seg, scratch.node_cap,
                                                  scratch.edge_cap, work, mail, seats, spin)
                if status == multihop.SEED_OUT_OF_RANGE:
                    bad = int(work[multihop.WORK_NEED])
                    raise SamplingError(f"{_REQUEST_PROBLEMS[2]}: seed {bad} is node {int(node[bad])} of "
                                        f"{self.schema.node_types[single]!r}, which has {seed_count}")
                if status == multihop.SCRATCH:
                    scratch.ensure_segments(int(work[multihop.WORK_NEED]), int(work[multihop.WORK_NEED + 1]))
                    continue
                # Out of room: the groups of the chunks that ran out get four times as much, then again.
                caps = multihop.next_caps(plan, G, Sn, Se)
            raise RuntimeError(f"the sampler ran out of room {_MAX_RETRIES} times for {G} groups: a fault of the "
                               "engine, not of the request")

    def draw_nodes(self, node_type: str, count: int, anchor: np.ndarray | None, key: int, *,
                   weight: np.ndarray | None = None, node_time: np.ndarray | None = None,
                   tries: int = 8) -> np.ndarray:
        """Draw ``count`` nodes of ``node_type`` per anchor (e.g. negatives), no newer than the anchor.

        Args:
            node_type: the node type drawn from.
            count: draws per anchor.
            anchor: int64 anchor times, or None for one untimed batch of ``count`` draws.
            key: the random key.
            weight: optional non-negative per-node weights (uniform otherwise).
            node_time: the node type's times, when draws must respect anchors.
            tries: redraws of a too-new node before falling back to the oldest node.

        Returns:
            int64 node indices, anchor-major.
        """
        num_nodes = self.schema.num_nodes[node_type]
        if num_nodes == 0:
            raise SamplingError(f"node type {node_type!r} has no nodes to draw from")
        timed = anchor is not None and node_time is not None
        anchors = np.ascontiguousarray(anchor, np.int64) if anchor is not None else np.zeros(1, np.int64)
        cdf = np.empty(0, np.float64)
        if weight is not None:
            weight = np.asarray(weight, dtype=np.float64)
            if weight.shape != (num_nodes,) or np.any(weight < 0) or weight.sum() <= 0:
                raise SamplingError(f"weights must be {num_nodes} non-negative numbers with a positive sum")
            cdf = np.cumsum(weight)
        times = np.ascontiguousarray(node_time, np.int64) if timed else np.empty(0, np.int64)
        with KERNEL_LOCK:
            return kernels.draw_nodes(num_nodes, int(count), times, anchors, cdf,
                                      np.uint64(int(key) & 0xFFFF_FFFF_FFFF_FFFF), int(tries))


class SeedBatches:
    """One disjoint subgraph per seed, for batch after batch of seeds of one node type sampled with the same
    settings (a NodeLoader's batches); made by :meth:`CsrGraph.seed_batches`.

    The settings are checked and the engine's bounds looked up once; a batch checks only its seeds' range
    and its anchors' shape, and goes straight to the kernel (each Python step costs a few microseconds
    between kernel calls, a tenth of a batch's time in all through the general path). A batch gives exactly
    what :meth:`CsrGraph.sample` gives for the request with one group per seed and the same key.
    """

    def __init__(self, engine: CsrGraph, node_type: int, fanouts: np.ndarray, strategy: str, timed: bool) -> None:
        schema = engine.schema
        if not 0 <= node_type < len(schema.node_types):
            raise SamplingError(_REQUEST_PROBLEMS[1])
        fanouts = np.ascontiguousarray(fanouts, dtype=np.int64)
        _check_settings(schema, fanouts, strategy)
        if (fanouts < -1).any():
            raise SamplingError(_REQUEST_PROBLEMS[4])
        self._engine = engine
        self._node_type = node_type
        self._num_nodes = int(schema.node_counts[node_type])
        self._fanouts = fanouts
        self._strategy = strategy
        self._timed = timed
        self._prepared = engine._prepared_for(fanouts, node_type, np.full(1, node_type, np.int64), timed)
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # batch size -> (seed types, groups)

    def sample(self, node: np.ndarray, time: np.ndarray | None, key: int,
               build: Callable[[SubgraphResult], Any] | None = None) -> Any:
        """Sample one subgraph per seed.

        Args:
            node: int64 [S] seed node indices.
            time: int64 [S] anchor times when the batches were set up as timed, else None.
            key: the 64-bit random key.
            build: as in :meth:`CsrGraph.sample`.

        Raises:
            SamplingError: seeds out of range, or anchors missing, superfluous or not one per seed.
        """
        HELPERS.nudge()  # sleeping helpers take tens of microseconds to wake: wake them while the batch is checked
        # Identity checks first (the usual arrays pass them); any other array takes the converting path.
        if type(node) is not np.ndarray or node.dtype is not _INT64 or node.ndim != 1 or not node.flags.c_contiguous:
            node = np.ascontiguousarray(node, dtype=np.int64)
            if node.ndim != 1:
                raise SamplingError("seed nodes must be a 1-D array")
        if time is not None and type(time) is not np.ndarray:
            time = np.asarray(time)
        if self._timed:
            if time is None or time.shape != node.shape:
                raise SamplingError("time must have one entry per seed")
            if time.dtype is not _INT64 or not time.flags.c_contiguous:
                time = np.ascontiguousarray(time, dtype=np.int64)
        elif time is not None:
            raise SamplingError("these batches were set up without anchor times")
        S = node.shape[0]
        arrays = self._arrays.get(S)
        if arrays is None:
            if S == 0:  # the general path's answer for no seeds
                request = SubgraphRequest(node=node, node_type=node, group=node, fanouts=self._fanouts, time=time,
                                          strategy=self._strategy, key=key)
                return self._engine.sample(request, build=build)
            if len(self._arrays) > 64:
                self._arrays.clear()
            arrays = self._arrays[S] = (np.full(S, self._node_type, np.int64), np.arange(S, dtype=np.int64))
        return self._engine._run(node, arrays[0], arrays[1], _NO_TIME if time is None else time, self._fanouts,
                                 self._prepared, S, self._node_type, self._strategy == "last",
                                 kernel_key(key & 0xFFFF_FFFF_FFFF_FFFF), build, self._num_nodes)
