"""The mini-batch fetcher shared by trainers: features fetched ahead, hot rows kept, batches fetched together.

:class:`MiniBatchFetcher` wraps a PyG ``NodeLoader`` or ``LinkLoader`` over ``(feature_store, graph_store)``
(in-process or remote) and yields the same ``HeteroData`` batches, in the same order, as iterating the
loader itself, while it

- **prefetches**: background threads prepare the next batches while the trainer works on the current one
  (``prefetch`` batches ahead); one samples (the graph store works), the other fetches features and
  builds the batches (the feature store works), so the two stores and the trainer work at the same time;
- **fetches several batches in one round trip**: the feature rows of ``batches_per_fetch`` batches are
  asked for in one ``multi_get_tensor`` call, each node once per table however many batches (or disjoint
  subgraphs) hold it;
- **caches hot rows**: a :class:`RowCache` keeps recently used feature rows per ``(table, node index)``,
  so popular nodes (high degree, sampled again and again) travel once; :attr:`MiniBatchFetcher.stats`
  counts hits.

How it hooks in: the loader's filter step (PyG's ``filter_fn``, which builds each ``HeteroData`` and asks
the feature store for its rows) is moved out of the loader's workers (``filter_per_worker=False``) and the
loader's feature store is wrapped by one that answers from rows staged by the fetcher. Rows asked for in
any other way go to the real store, so results never depend on the staging.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
from torch_geometric.data import FeatureStore, TensorAttr
from torch_geometric.sampler import HeteroSamplerOutput

from graph_engine.graph_store import ReadOnlyStoreError
from graph_engine.locality import take_ragged_rows
from platform_core.errors import UserFacingError

#: Attributes whose rows have a fixed width and can be cached; ragged ones are always fetched.
RAGGED = ("multicategorical",)


class FetcherError(UserFacingError, ValueError):
    """The fetcher cannot serve this loader (wrong data, wrong settings)."""


@dataclass
class FetchStats:
    """What the fetcher did so far.

    Attributes:
        batches: batches yielded.
        round_trips: feature store calls made (one per group of ``batches_per_fetch`` batches).
        rows_requested: feature rows the batches hold, counted per table (what the loader alone fetches).
        rows_unique: rows left after de-duplication across the batches of each fetch.
        rows_fetched: rows whose fixed-width attributes were fetched from the store (cache misses).
        cache_hits: unique rows found in the cache.
        cache_misses: unique rows looked up in the cache and not found.
    """

    batches: int = 0
    round_trips: int = 0
    rows_requested: int = 0
    rows_unique: int = 0
    rows_fetched: int = 0
    cache_hits: int = 0
    cache_misses: int = 0

    @property
    def hit_rate(self) -> float:
        """Cache hits / lookups (0 when nothing was looked up)."""
        lookups = self.cache_hits + self.cache_misses
        return self.cache_hits / lookups if lookups else 0.0

    @property
    def dedup_ratio(self) -> float:
        """Rows requested / unique rows (1 when nothing was shared)."""
        return self.rows_requested / self.rows_unique if self.rows_unique else 1.0


class _TableCache:
    """The cached rows of one table: a dense node -> slot map and per-attribute row blocks."""

    def __init__(self, num_rows: int, capacity: int) -> None:
        self.capacity = capacity
        self.slot_of = np.full(num_rows, -1, dtype=np.int64)
        self.node_of = np.full(capacity, -1, dtype=np.int64)
        self.last_used = np.zeros(capacity, dtype=np.int64)
        self.free = np.arange(capacity - 1, -1, -1, dtype=np.int64)  # a stack: the last entry is taken first
        self.blocks: dict[str, torch.Tensor] = {}


class RowCache:
    """Feature rows kept on the trainer, keyed by ``(table, node index)``, least recently used evicted first.

    Lookups, reads and inserts work on whole index arrays (no per-row Python). Recency is counted per call,
    and eviction frees at least an eighth of a full table's slots at once, so its cost is spread out.

    Args:
        capacity: rows kept per table.

    Raises:
        FetcherError: a negative capacity.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise FetcherError(f"cache capacity must not be negative, got {capacity}")
        self.capacity = int(capacity)
        self.hits = 0
        self.misses = 0
        self._tables: dict[str, _TableCache] = {}
        self._tick = 0

    def __len__(self) -> int:
        return sum(int((t.node_of >= 0).sum()) for t in self._tables.values())

    @property
    def hit_rate(self) -> float:
        """Hits / lookups so far (0 before any lookup)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def _table(self, table: str, num_rows: int) -> _TableCache:
        entry = self._tables.get(table)
        if entry is None or entry.slot_of.shape[0] != num_rows:
            entry = self._tables[table] = _TableCache(num_rows, self.capacity)
        return entry

    def lookup(self, table: str, nodes: np.ndarray, num_rows: int) -> np.ndarray:
        """Slots of ``nodes`` (unique int64 node indices) in the cache, -1 for a miss; hits count as used now.

        Args:
            table: the table.
            nodes: unique node indices in ``[0, num_rows)``.
            num_rows: rows of the table.
        """
        entry = self._table(table, num_rows)
        slots = entry.slot_of[nodes]
        hit = slots >= 0
        self._tick += 1
        entry.last_used[slots[hit]] = self._tick
        found = int(hit.sum())
        self.hits += found
        self.misses += int(nodes.size) - found
        return slots

    def read(self, table: str, attr: str, slots: np.ndarray) -> torch.Tensor:
        """Cached rows of ``attr`` at ``slots`` (all hits)."""
        return self._tables[table].blocks[attr].index_select(0, torch.from_numpy(slots))

    def cached_attrs(self, table: str) -> set[str]:
        """Attributes held for ``table``."""
        entry = self._tables.get(table)
        return set(entry.blocks) if entry is not None else set()

    def insert(self, table: str, nodes: np.ndarray, rows: dict[str, torch.Tensor], num_rows: int) -> None:
        """Keep the rows of ``nodes`` (unique, not cached yet), evicting the least recently used if full.

        Args:
            table: the table.
            nodes: unique node indices that missed.
            rows: attribute -> rows of ``nodes`` (same order), fixed-width attributes only.
            num_rows: rows of the table.
        """
        if self.capacity == 0 or nodes.size == 0:
            return
        entry = self._table(table, num_rows)
        if nodes.size > self.capacity:
            nodes = nodes[: self.capacity]
            rows = {a: r[: self.capacity] for a, r in rows.items()}
        for attr, block in rows.items():
            if attr not in entry.blocks:
                entry.blocks[attr] = torch.empty((self.capacity,) + tuple(block.shape[1:]), dtype=block.dtype)
        if entry.free.size < nodes.size:
            self._evict(entry, max(nodes.size - entry.free.size, self.capacity // 8))
        slots = entry.free[entry.free.size - nodes.size:][::-1].copy()
        entry.free = entry.free[: entry.free.size - nodes.size]
        entry.node_of[slots] = nodes
        entry.slot_of[nodes] = slots
        self._tick += 1
        entry.last_used[slots] = self._tick
        index = torch.from_numpy(slots)
        for attr, block in rows.items():
            # index_copy_ rather than item assignment: the latter takes a slow general path in torch.
            entry.blocks[attr].index_copy_(0, index, block)

    @staticmethod
    def _evict(entry: _TableCache, count: int) -> None:
        used = np.flatnonzero(entry.node_of >= 0)
        count = min(count, used.size)
        victims = used[np.argpartition(entry.last_used[used], count - 1)[:count]] if count < used.size else used
        entry.slot_of[entry.node_of[victims]] = -1
        entry.node_of[victims] = -1
        entry.free = np.concatenate([victims, entry.free])


class StagedFeatureStore(FeatureStore):
    """The feature store a fetched loader sees: rows staged for the batch being built, else the real store.

    Staging is per thread (the fetcher builds batches in its own thread), and a staged tensor is used only
    for the very index tensor it was staged for.

    Args:
        inner: the real feature store.
    """

    def __init__(self, inner: FeatureStore) -> None:
        super().__init__()
        self.inner = inner
        self._local = threading.local()

    def stage(self, staged: dict[str, tuple[torch.Tensor, dict[str, Any]]] | None) -> None:
        """Rows to serve in this thread: table -> (the batch's node tensor, attribute -> rows)."""
        self._local.staged = staged

    def get_all_tensor_attrs(self) -> list[TensorAttr]:
        return self.inner.get_all_tensor_attrs()

    def _get_tensor_size(self, attr: TensorAttr) -> tuple[int, ...] | None:
        return self.inner.get_tensor_size(attr)

    def _get_tensor(self, attr: TensorAttr) -> Any:
        return self._multi_get_tensor([attr])[0]

    def _multi_get_tensor(self, attrs: list[TensorAttr]) -> list[Any]:
        staged = getattr(self._local, "staged", None) or {}
        out: list[Any] = [None] * len(attrs)
        rest = []
        for i, attr in enumerate(attrs):
            entry = staged.get(attr.group_name)
            if entry is not None and entry[0] is attr.index and attr.attr_name in entry[1]:
                out[i] = entry[1][attr.attr_name]
            else:
                rest.append(i)
        if rest:
            for i, tensor in zip(rest, self.inner.multi_get_tensor([attrs[i] for i in rest])):
                out[i] = tensor
        return out

    def _put_tensor(self, tensor: Any, attr: TensorAttr) -> bool:
        raise ReadOnlyStoreError("feature stores are read-only: write new feature artifacts instead")

    def _remove_tensor(self, attr: TensorAttr) -> bool:
        raise ReadOnlyStoreError("feature stores are read-only: write new feature artifacts instead")

    def __getattr__(self, name: str) -> Any:
        # table_info(), text(), ... of the real store stay reachable through the loader's data.
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __getstate__(self) -> dict[str, Any]:
        return {"inner": self.inner}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["inner"])  # type: ignore[misc]


_END = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class MiniBatchFetcher:
    """Iterates a loader's batches with their features fetched ahead, de-duplicated and cached.

    The batches are those the loader yields by itself, in the same order (the same sampler calls are
    made in the same order). The loader is changed in place: its filter step runs in the fetcher and its
    feature store is wrapped in a :class:`StagedFeatureStore`; iterating it directly still gives the same
    batches.

    Args:
        loader: a ``NodeLoader`` or ``LinkLoader`` over ``(feature_store, graph_store)``.
        prefetch: batches prepared ahead by background threads; 0 prepares them in the caller's thread.
        batches_per_fetch: batches whose features are fetched in one round trip.
        cache_rows: rows per table kept in a :class:`RowCache` (0: no cache).

    Raises:
        FetcherError: the loader does not load from a (feature store, graph store) pair, or bad settings.
    """

    def __init__(self, loader: Any, *, prefetch: int = 2, batches_per_fetch: int = 1, cache_rows: int = 0) -> None:
        data = getattr(loader, "data", None)
        if not (isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], FeatureStore)):
            raise FetcherError("the fetcher needs a loader over (feature_store, graph_store)")
        if prefetch < 0 or batches_per_fetch < 1:
            raise FetcherError(f"prefetch must be >= 0 and batches_per_fetch >= 1, got {prefetch}, {batches_per_fetch}")
        self.loader = loader
        if isinstance(data[0], StagedFeatureStore):
            self.staged = data[0]
        else:
            self.staged = StagedFeatureStore(data[0])
            loader.data = (self.staged, data[1])
        loader.filter_per_worker = False
        self.feature_store = self.staged.inner
        self.prefetch = int(prefetch)
        self.batches_per_fetch = int(batches_per_fetch)
        self.cache = RowCache(cache_rows) if cache_rows else None
        self.stats = FetchStats()
        self._attrs: dict[str, list[str]] | None = None

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        if self.prefetch == 0:
            for group in self._groups(threading.Event()):
                yield from self._build(group)
            return
        # Two stages, each in its own thread, so the graph store samples the next group while the feature
        # store serves the current one (and both work while the trainer computes).
        stop = threading.Event()
        groups: queue.Queue = queue.Queue(maxsize=max(1, self.prefetch // self.batches_per_fetch))
        ready: queue.Queue = queue.Queue(maxsize=self.prefetch)
        threads = [
            threading.Thread(target=self._pump, args=(self._groups(stop), groups, stop), name="pq-fetcher-sample",
                             daemon=True),
            threading.Thread(target=self._pump, args=(self._built(groups, stop), ready, stop),
                             name="pq-fetcher-features", daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            while True:
                item = ready.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
        finally:
            stop.set()
            for thread, source in zip(threads, (groups, ready)):
                while thread.is_alive():
                    try:  # unblock a stage waiting for room
                        source.get(timeout=0.05)
                    except queue.Empty:
                        pass
                thread.join()

    # ---- producing ----------------------------------------------------------------------------
    @staticmethod
    def _pump(items: Iterator[Any], sink: queue.Queue, stop: threading.Event) -> None:
        """Move ``items`` into ``sink`` until exhausted (then _END) or stopped; a failure travels as _Failure."""
        def put(item: Any) -> bool:
            while not stop.is_set():
                try:
                    sink.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:
            put(_Failure(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def _groups(self, stop: threading.Event) -> Iterator[list[Any]]:
        """The loader's raw sampler outputs, ``batches_per_fetch`` at a time."""
        iterator = iter(self.loader)
        # PyG's iterator applies filter_fn itself; the raw sampler outputs are one level down.
        raw = getattr(iterator, "iterator", iterator)
        try:
            while not stop.is_set():
                group = []
                for out in raw:
                    group.append(out)
                    if len(group) == self.batches_per_fetch:
                        break
                if not group:
                    return
                yield group
                if len(group) < self.batches_per_fetch:
                    return
        finally:
            del raw, iterator

    def _built(self, groups: queue.Queue, stop: threading.Event) -> Iterator[Any]:
        while not stop.is_set():
            group = groups.get()
            if group is _END:
                return
            if isinstance(group, _Failure):
                raise group.exc
            yield from self._build(group)

    def _build(self, group: list[Any]) -> Iterator[Any]:
        """The batches of a group of sampler outputs, their features fetched in one round trip."""
        for out, staged in zip(group, self._fetch(group)):
            self.staged.stage(staged)
            try:
                batch = self.loader.filter_fn(out)
            finally:
                self.staged.stage(None)
            self.stats.batches += 1
            yield batch

    def _served_attrs(self) -> dict[str, list[str]]:
        if self._attrs is None:
            attrs: dict[str, list[str]] = {}
            for attr in self.feature_store.get_all_tensor_attrs():
                attrs.setdefault(attr.group_name, []).append(attr.attr_name)
            self._attrs = attrs
        return self._attrs

    def _num_rows(self, table: str, attrs: list[str]) -> int:
        return int(self.feature_store.get_tensor_size(table, attrs[0])[0])

    def _fetch(self, group: list[Any]) -> list[dict[str, tuple[torch.Tensor, dict[str, Any]]]]:
        """Fetch the features of a group of sampler outputs in one round trip; per output, its staged rows."""
        for out in group:
            if not isinstance(out, HeteroSamplerOutput):
                raise FetcherError(f"the fetcher serves heterogeneous sampler outputs, got {type(out).__name__}")
        served = self._served_attrs()
        plans = {}
        requests: list[TensorAttr] = []
        for table, names in served.items():
            nodes = [out.node[table] for out in group if table in out.node]
            if not nodes:
                continue
            flat = torch.cat(nodes).numpy() if len(nodes) > 1 else nodes[0].numpy()
            unique, inverse = np.unique(flat, return_inverse=True)
            self.stats.rows_requested += int(flat.size)
            self.stats.rows_unique += int(unique.size)
            dense = [n for n in names if n not in RAGGED]
            ragged = [n for n in names if n in RAGGED]
            slots = None
            missing = unique
            num_rows = self._num_rows(table, names)
            if self.cache is not None and dense:
                slots = self.cache.lookup(table, unique, num_rows)
                missing = unique[slots < 0]
                self.stats.cache_hits += int(unique.size - missing.size)
                self.stats.cache_misses += int(missing.size)
            self.stats.rows_fetched += int(missing.size)
            missing_t, unique_t = torch.from_numpy(missing), torch.from_numpy(unique)
            first = len(requests)
            requests += [TensorAttr(table, n, missing_t) for n in dense]
            requests += [TensorAttr(table, n, unique_t) for n in ragged]
            plans[table] = (dense, ragged, unique, inverse, slots, missing, first, num_rows)
        results = self.feature_store.multi_get_tensor(requests) if requests else []
        self.stats.round_trips += 1 if requests else 0

        rows: dict[str, dict[str, Any]] = {}
        for table, (dense, ragged, unique, inverse, slots, missing, first, num_rows) in plans.items():
            fetched = dict(zip(dense + ragged, results[first:first + len(dense) + len(ragged)]))
            table_rows: dict[str, Any] = {n: fetched[n] for n in ragged}
            if slots is None or missing.size == unique.size:
                table_rows.update({n: fetched[n] for n in dense})
            else:
                hit = slots >= 0
                hit_at, miss_at = torch.from_numpy(np.flatnonzero(hit)), torch.from_numpy(np.flatnonzero(~hit))
                for name in dense:
                    block = torch.empty((unique.size,) + tuple(fetched[name].shape[1:]), dtype=fetched[name].dtype)
                    block.index_copy_(0, hit_at, self.cache.read(table, name, slots[hit]))  # type: ignore[union-attr]
                    block.index_copy_(0, miss_at, fetched[name])
                    table_rows[name] = block
            if self.cache is not None and dense:
                self.cache.insert(table, missing, {n: fetched[n] for n in dense}, num_rows)
            rows[table] = {"inverse": inverse, "rows": table_rows}

        staged: list[dict[str, tuple[torch.Tensor, dict[str, Any]]]] = []
        offsets = {table: 0 for table in rows}
        for out in group:
            batch: dict[str, tuple[torch.Tensor, dict[str, Any]]] = {}
            for table, entry in rows.items():
                if table not in out.node:
                    continue
                nodes = out.node[table]
                start = offsets[table]
                offsets[table] = start + nodes.numel()
                position = torch.from_numpy(entry["inverse"][start:start + nodes.numel()].astype(np.int64, copy=False))
                batch[table] = (nodes, {name: _take(block, position) for name, block in entry["rows"].items()})
            staged.append(batch)
        return staged


def _take(block: Any, position: torch.Tensor) -> Any:
    """Rows ``position`` of a tensor or a MultiNestedTensor."""
    if isinstance(block, torch.Tensor):
        return block.index_select(0, position)
    from torch_frame.data import MultiNestedTensor

    offset, values = take_ragged_rows(block.offset.numpy(), block.values.numpy(), position.numpy(), block.num_cols)
    return MultiNestedTensor(num_rows=position.numel(), num_cols=block.num_cols, values=torch.from_numpy(values),
                             offset=torch.from_numpy(offset))

