"""Node reordering for locality: store neighbours close together, so sampled batches read fewer pages.

A sampled subgraph reads the feature rows of a seed's neighbours. Fact tables usually arrive in time order
(or in an order hashed by the ingest), so one customer's orders are spread over the whole table and a batch
touches about one page (and one cache line run) per row. Sorting each fact table by the foreign key it is
sampled through puts one entity's facts next to each other: a batch then reads runs of neighbouring rows.

:func:`node_order` computes a :class:`NodeOrder` (one permutation per table) with one of
:data:`STRATEGIES`; :func:`permute_graph` and :func:`permute_features` apply it to the pieces the writers
take (:mod:`data_engine.artifact_formats`), so it is applied when writing the artifacts; the graph stays
the same graph (isomorphic: every edge and every feature row moves with its node).
:func:`write_node_order` keeps the permutation next to the artifacts, to map node indices back to rows
of the source tables (predictions are reported for the source rows). ``bench/locality.py`` measures the
effect on feature gathers for sampled batches.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from data_engine.artifact_formats.features import FeatureBlocks
from data_engine.artifact_formats.graph import Link, NodeTable
from platform_core.artifacts import Artifact, ArtifactStore
from platform_core.errors import UserFacingError

#: ``identity`` keeps the order; ``time`` sorts each table by its row time; ``fk`` sorts each fact table by
#: the foreign key it is sampled through (then time); ``random`` shuffles (a stand-in for hashed ingests).
STRATEGIES = ("identity", "time", "fk", "random")
FORMAT = "pq.node_order"
FORMAT_VERSION = 1


class LocalityError(UserFacingError, ValueError):
    """A reordering cannot be computed or applied (unknown strategy, wrong sizes, not a permutation)."""


@dataclass(frozen=True)
class NodeOrder:
    """One permutation per table: row ``i`` of a reordered table is row ``old_of_new[table][i]`` of the original.

    Attributes:
        old_of_new: table -> int64 permutation of ``range(num_rows)``.
        strategy: how it was computed.
    """

    old_of_new: dict[str, np.ndarray]
    strategy: str = "identity"
    _new_of_old: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for table, perm in self.old_of_new.items():
            perm = np.asarray(perm)
            if perm.ndim != 1 or not np.issubdtype(perm.dtype, np.integer):
                raise LocalityError(f"order of {table!r}: expected a 1-D integer permutation")
            seen = np.zeros(perm.size, dtype=np.bool_)
            inside = (perm >= 0) & (perm < perm.size)
            seen[perm[inside]] = True
            if not inside.all() or not seen.all():
                raise LocalityError(f"order of {table!r} is not a permutation of its {perm.size} rows")
            self.old_of_new[table] = perm.astype(np.int64, copy=False)

    def new_of_old(self, table: str) -> np.ndarray:
        """The inverse permutation: where each original row of ``table`` went."""
        if table not in self._new_of_old:
            perm = self._perm(table)
            inverse = np.empty_like(perm)
            inverse[perm] = np.arange(perm.size, dtype=np.int64)
            self._new_of_old[table] = inverse
        return self._new_of_old[table]

    def to_new(self, table: str, rows: np.ndarray) -> np.ndarray:
        """Original row indices of ``table`` -> reordered ones."""
        return self.new_of_old(table)[np.asarray(rows, dtype=np.int64)]

    def to_old(self, table: str, rows: np.ndarray) -> np.ndarray:
        """Reordered row indices of ``table`` -> original ones (e.g. to report predictions)."""
        return self._perm(table)[np.asarray(rows, dtype=np.int64)]

    def _perm(self, table: str) -> np.ndarray:
        try:
            return self.old_of_new[table]
        except KeyError:
            raise LocalityError(f"the node order has no table {table!r}") from None


def _fact_keys(nodes: Sequence[NodeTable], links: Sequence[Link], keys: Mapping[str, str] | None) -> dict[str, Link]:
    """The link each fact table is sorted by: as given, else the one to the table with the most rows."""
    sizes = {t.name: t.num_nodes for t in nodes}
    chosen: dict[str, Link] = {}
    for link in links:
        if keys and link.fact in keys:
            if link.column == keys[link.fact]:
                chosen[link.fact] = link
            continue
        best = chosen.get(link.fact)
        if best is None or sizes[link.target] > sizes[best.target]:
            chosen[link.fact] = link
    for table, column in (keys or {}).items():
        if table not in chosen:
            raise LocalityError(f"no link {table}.{column} to sort {table!r} by")
    return chosen


def node_order(nodes: Sequence[NodeTable], links: Sequence[Link], strategy: str = "fk", *,
               keys: Mapping[str, str] | None = None, seed: int = 0) -> NodeOrder:
    """Compute a reordering of every table of a graph.

    Args:
        nodes: the graph's tables (as given to the graph writer).
        links: its foreign key links.
        strategy: one of :data:`STRATEGIES`.
        keys: for ``fk``, fact table -> the foreign key column to sort it by (default: the link to the
            largest table, the one whose entities are sampled as seeds most often).
        seed: for ``random``.

    Returns:
        The :class:`NodeOrder`. With ``fk``, tables that hold no foreign key are sorted by time (when they
        have one) and each fact table by (its key's target row, time, original row).

    Raises:
        LocalityError: an unknown strategy or key.
    """
    if strategy not in STRATEGIES:
        raise LocalityError(f"unknown reordering {strategy!r} (expected one of {', '.join(STRATEGIES)})")
    rng = np.random.default_rng(seed)
    order: dict[str, np.ndarray] = {}
    by_time = {t.name: (np.argsort(np.asarray(t.time), kind="stable") if t.time is not None
                        else np.arange(t.num_nodes, dtype=np.int64)) for t in nodes}
    if strategy == "fk":
        facts = _fact_keys(nodes, links, keys)
        for table in nodes:
            if table.name not in facts:
                order[table.name] = by_time[table.name].astype(np.int64)
        pending = [t for t in nodes if t.name in facts]
        while pending:
            # A fact table whose key points at another fact table waits until that one is ordered
            # (chains such as items -> orders -> customers); a cycle falls back to the target's time order.
            ready = [t for t in pending if facts[t.name].target in order] or pending[:1]
            for table in ready:
                link = facts[table.name]
                target_order = order.get(link.target, by_time[link.target])
                target_rank = np.empty(target_order.size, dtype=np.int64)
                target_rank[target_order] = np.arange(target_order.size)
                # Facts without a key (a null foreign key) go last, in time order.
                target = np.full(table.num_nodes, np.iinfo(np.int64).max, dtype=np.int64)
                target[np.asarray(link.src)] = target_rank[np.asarray(link.dst)]
                time = np.asarray(table.time) if table.time is not None else np.zeros(table.num_nodes, np.int64)
                order[table.name] = np.lexsort((np.arange(table.num_nodes), time, target)).astype(np.int64)
                pending.remove(table)
    else:
        for table in nodes:
            if strategy == "identity":
                order[table.name] = np.arange(table.num_nodes, dtype=np.int64)
            elif strategy == "time":
                order[table.name] = by_time[table.name].astype(np.int64)
            else:
                order[table.name] = rng.permutation(table.num_nodes).astype(np.int64)
    return NodeOrder(order, strategy)


def permute_graph(nodes: Sequence[NodeTable], links: Sequence[Link],
                  order: NodeOrder) -> tuple[list[NodeTable], list[Link]]:
    """The same graph with every table's rows reordered (node times move with their nodes, edges are remapped).

    Raises:
        LocalityError: the order does not fit the tables.
    """
    for table in nodes:
        if order._perm(table.name).size != table.num_nodes:
            raise LocalityError(f"the order of {table.name!r} has {order._perm(table.name).size} rows, "
                                f"the table {table.num_nodes}")
    new_nodes = [NodeTable(t.name, t.num_nodes, None if t.time is None else np.asarray(t.time)[order.old_of_new[t.name]])
                 for t in nodes]
    new_links = [Link(l.fact, l.column, l.target, order.to_new(l.fact, l.src), order.to_new(l.target, l.dst))
                 for l in links]
    return new_nodes, new_links


def take_ragged_rows(offset: np.ndarray, values: np.ndarray, rows: np.ndarray,
                     width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``rows`` of a ragged block (pytorch-frame's layout: row ``r``, column ``c`` holds
    ``values[offset[r * width + c] : offset[r * width + c + 1]]``), vectorised.

    Returns:
        The selected rows' ``(offset, values)`` in the same layout.
    """
    rows = np.asarray(rows, dtype=np.int64)
    offset = np.asarray(offset)
    cells = offset[rows[:, None] * width + np.arange(width + 1)]  # [n, width + 1] cell bounds per row
    starts, lengths = cells[:, 0], cells[:, -1] - cells[:, 0]
    row_start = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=row_start[1:])
    new_offset = np.empty(rows.size * width + 1, dtype=np.int64)
    new_offset[:-1] = (cells[:, :-1] - starts[:, None] + row_start[:-1, None]).reshape(-1)
    new_offset[-1] = row_start[-1]
    source = np.repeat(starts - row_start[:-1], lengths) + np.arange(row_start[-1], dtype=np.int64)
    return new_offset, np.asarray(values)[source]


def permute_features(blocks: FeatureBlocks, order: NodeOrder) -> FeatureBlocks:
    """One table's feature blocks with their rows reordered like the table's nodes.

    Vocabularies and statistics do not depend on row order and are kept.

    Raises:
        LocalityError: the order does not fit the table.
    """
    perm = order._perm(blocks.table)
    if perm.size != blocks.num_rows:
        raise LocalityError(f"the order of {blocks.table!r} has {perm.size} rows, the features {blocks.num_rows}")
    out = dataclasses.replace(blocks, columns={g: list(c) for g, c in blocks.columns.items()})
    for name in ("numerical", "categorical", "timestamp", "time"):
        block = getattr(blocks, name)
        if block is not None:
            setattr(out, name, np.ascontiguousarray(np.asarray(block)[perm]))
    if blocks.multicategorical_offsets is not None:
        width = len(blocks.columns["multicategorical"])
        out.multicategorical_offsets, out.multicategorical_values = take_ragged_rows(
            blocks.multicategorical_offsets, blocks.multicategorical_values, perm, width)
        out.multicategorical_values = out.multicategorical_values.astype(np.int32, copy=False)
    if blocks.text is not None:
        out.text = blocks.text.take(perm)
    return out


def write_node_order(artifacts: ArtifactStore, uri: str, order: NodeOrder, *,
                     inputs: dict | None = None) -> Artifact:
    """Keep a node order as an artifact: ``<table>.npy`` holds ``old_of_new`` of each table.

    Returns:
        The committed artifact.
    """
    with artifacts.writer(uri, producer="graph_engine.locality", inputs=inputs or {}) as writer:
        for table, perm in order.old_of_new.items():
            writer.write_numpy(f"{table}.npy", perm)
        writer.metadata.update({"format": FORMAT, "format_version": FORMAT_VERSION, "strategy": order.strategy,
                                "tables": sorted(order.old_of_new)})
    return artifacts.open(writer.uri)


def read_node_order(artifacts: ArtifactStore, uri: str) -> NodeOrder:
    """The node order kept at ``uri``.

    Raises:
        ArtifactError: no artifact there.
        LocalityError: it is not a node order.
    """
    art = artifacts.open(uri)
    meta = art.manifest.metadata
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise LocalityError(f"{uri}: not a node order artifact")
    return NodeOrder({t: np.asarray(art.read_numpy(f"{t}.npy", mmap=False)) for t in meta["tables"]},
                     meta.get("strategy", "identity"))


def pages_touched(rows: np.ndarray, row_bytes: int, page_bytes: int = 4096) -> int:
    """How many distinct pages a gather of ``rows`` from a row-major block reads (its I/O on a cold store)."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    if rows.size == 0:
        return 0
    first = rows * row_bytes // page_bytes
    last = (rows * row_bytes + row_bytes - 1) // page_bytes
    pages = np.unique(np.concatenate([first, last]))
    spans = last - first
    # Rows wider than two pages touch the pages in between as well.
    return int(pages.size + np.maximum(spans - 1, 0).sum()) if spans.max() > 1 else int(pages.size)
