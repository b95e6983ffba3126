"""The compiled sampler against a plain-Python reference of its documented semantics, exactly.

The reference walks each group breadth-first with the same counter-based random draws and no fast path,
so any difference in a back-edge, one-edge-row, time cut-off, chunking, hash-table growth or threading
path of :mod:`graph_engine.sampling.multihop` shows up as a different node, edge or order.
"""

import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graph_engine.sampling.subgraph as subgraph
from data_engine.artifact_formats.graph import Link, NodeTable, write_graph_artifact
from graph_engine.graph_store import ArtifactGraphStore
from graph_engine.sampling import multihop
from graph_engine.sampling.sampler import mix64
from graph_engine.sampling.subgraph import SubgraphRequest
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore

pytestmark = pytest.mark.unit

GOLDEN = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1


def draw_below(base: int, j: int, n: int) -> int:
    return ((mix64((base + (j + 1) * GOLDEN) & MASK) >> 32) * n) >> 32


def reference(store: ArtifactGraphStore, request: SubgraphRequest) -> dict:
    """The subgraph by the book: per group, hop by hop, frontier node by node, edge type by edge type."""
    schema = store.schema
    types, edges = list(schema.node_types), list(schema.edge_types)
    T, (E, H) = len(types), request.fanouts.shape
    csr = [store.graph.csr(e) for e in edges]
    walk_order = sorted(range(E), key=lambda t: (types.index(edges[t][0]), t))
    key = int(request.key) & MASK
    node_streams = [[[] for _ in range(H + 1)] for _ in range(T)]  # [type][hop] -> [(group, node)]
    edge_streams = [[[] for _ in range(H)] for _ in range(E)]  # [reported type][hop] -> [(group, v, u, eid)]
    groups = int(request.group[-1]) + 1 if request.group.size else 0
    for g in range(groups):
        members = np.flatnonzero(request.group == g)
        anchor = int(request.time[members].min()) if request.time is not None else None
        seen: dict[tuple[int, int], tuple[int, int]] = {}  # (type, node) -> (hop, index in group's stream)
        local: dict[tuple[int, int], list] = {}
        frontier = []
        for s in members:
            v, vt = int(request.node[s]), int(request.node_type[s])
            local.setdefault((vt, 0), []).append(v)
            if (vt, v) not in seen:
                seen[(vt, v)] = (0, len(local[(vt, 0)]) - 1)
                frontier.append((vt, v))
        for h in range(H):
            found = []
            for ut, u in frontier:
                for t in walk_order:
                    if types.index(edges[t][0]) != ut or request.fanouts[t, h] == 0:
                        continue
                    c = csr[t]
                    lo, hi = int(c.indptr[u]), int(c.indptr[u + 1])
                    if c.time is not None and anchor is not None:
                        hi = lo + int(np.searchsorted(c.time[lo:hi], anchor, side="right"))
                    cnt, k = hi - lo, int(request.fanouts[t, h])
                    take = cnt if (k < 0 or k >= cnt) else k
                    if take == cnt or request.strategy == "last":
                        positions = list(range(hi - take, hi))
                    else:
                        gkey = mix64(key ^ mix64(g + GOLDEN))
                        base = mix64(gkey ^ mix64(u * E + t))
                        positions = []
                        for j in range(cnt - take, cnt):
                            r = lo + draw_below(base, j, j + 1)
                            positions.append(lo + j if r in positions else r)
                    vt = types.index(edges[t][2])
                    for pos in positions:
                        v = int(c.indices[pos])
                        if (vt, v) not in seen:
                            local.setdefault((vt, h + 1), []).append(v)
                            seen[(vt, v)] = (h + 1, len(local[(vt, h + 1)]) - 1)
                            found.append((vt, v))
                        reported = edges.index(schema.reverse(edges[t]))
                        edge_streams[reported][h].append((g, (vt, v), (ut, u), pos))
            frontier = found
        for (vt, hop), nodes in local.items():
            node_streams[vt][hop].extend((g, v) for v in nodes)
    # Positions within each node type: streams hop by hop, groups in order within a stream.
    where: dict[tuple[int, int, int], int] = {}
    node_out, batch_out = [], []
    for vt in range(T):
        count = 0
        for hop in range(H + 1):
            for g, v in node_streams[vt][hop]:
                where.setdefault((g, vt, v), count)  # a repeated seed listing maps to its first listing
                node_out.append(v)
                batch_out.append(g)
                count += 1
    row, col, eid = [], [], []
    for reported in range(E):
        for hop in range(H):
            for g, (vt, v), (ut, u), pos in edge_streams[reported][hop]:
                row.append(where[(g, vt, v)])
                col.append(where[(g, ut, u)])
                eid.append(pos)
    return {
        "node": node_out, "batch": batch_out, "row": row, "col": col, "edge": eid,
        "node_counts": [[len(node_streams[a][h]) for h in range(H + 1)] for a in range(T)],
        "edge_counts": [[len(edge_streams[r][h]) for h in range(H)] for r in range(E)],
    }


def assert_matches(store: ArtifactGraphStore, request: SubgraphRequest) -> int:
    got = store.sample_subgraph(request)
    expected = reference(store, request)
    assert got.node_counts.tolist() == expected["node_counts"]
    assert got.edge_counts.tolist() == expected["edge_counts"]
    for name in ("node", "batch", "row", "col", "edge"):
        assert getattr(got, name).tolist() == expected[name], name
    return len(expected["edge"])


def _request(store, node_type: str, nodes, fanouts, times=None, groups=None, strategy="uniform", key=7):
    nodes = np.asarray(nodes, dtype=np.int64)
    return SubgraphRequest(
        node=nodes, node_type=np.full(nodes.size, store.schema.node_type_index(node_type)),
        group=np.arange(nodes.size) if groups is None else np.asarray(groups, dtype=np.int64),
        fanouts=np.asarray(fanouts, dtype=np.int64), time=None if times is None else np.asarray(times, np.int64),
        strategy=strategy, key=key)


@contextlib.contextmanager
def _artifact_graph(nodes: list[NodeTable], links: list[Link]) -> Iterator[ArtifactGraphStore]:
    """The in-process store over a graph artifact of ``nodes`` and ``links``, written to a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        store = ObjectStore(Path(tmp).as_uri())
        write_graph_artifact(ArtifactStore(store), "g", nodes, links)
        yield ArtifactGraphStore.open(store, "g")


def test_edge_type_flags_pick_the_fast_paths(graph_store):
    engine = graph_store.engine
    flags = dict(zip(graph_store.schema.edge_types, engine.flags.tolist()))
    one = multihop.TIMED | multihop.MAX1 | multihop.TOTAL1
    older, newer = multihop.NOT_NEWER_THAN_SOURCE, multihop.NOT_OLDER_THAN_TARGET
    # One customer per order: position = order. An order's edges are no older than the customer (its
    # time is the later of the two) and no newer than the order (orders follow sign-up).
    assert flags[("orders", "customer_id", "customers")] == one | older | newer
    assert flags[("orders", "product_id", "products")] == one | older | newer  # products have no time
    # A customer has many orders; its edges are no older than those orders, but newer than the customer.
    assert flags[("customers", "rev_customer_id", "orders")] == multihop.TIMED | newer
    assert flags[("products", "rev_product_id", "orders")] == multihop.TIMED | newer


@pytest.mark.parametrize("strategy", ["uniform", "last"])
@pytest.mark.parametrize("timed", [True, False])
def test_shop_matches_the_reference(graph_store, customer_seeds, strategy, timed):
    nodes, times = customer_seeds
    E = len(graph_store.schema.edge_types)
    fanouts = np.tile([[4, 3, 2]], (E, 1))
    fanouts[0, 1] = -1  # all of one edge type at one hop
    fanouts[3, 2] = 0
    request = _request(graph_store, "customers", nodes.numpy(), fanouts, times.numpy() if timed else None,
                       strategy=strategy)
    assert assert_matches(graph_store, request) > 500


def test_link_groups_repeated_seeds_and_one_shared_group_match_the_reference(graph_store):
    schema = graph_store.schema
    orders = graph_store.graph.csr(("orders", "customer_id", "customers"))
    picked = np.arange(0, 3000, 97)
    customers = orders.indices[picked]
    # Link-style groups: an order and its customer per group, anchored at the order's time.
    node = np.stack([picked, customers], axis=1).reshape(-1)
    node_type = np.tile([schema.node_type_index("orders"), schema.node_type_index("customers")], picked.size)
    group = np.repeat(np.arange(picked.size), 2)
    time = np.repeat(orders.time[picked], 2)
    fanouts = np.full((len(schema.edge_types), 2), 3)
    request = SubgraphRequest(node=node, node_type=node_type, group=group, fanouts=fanouts, time=time, key=11)
    assert assert_matches(graph_store, request) > 100
    # One group for the whole batch, a seed listed twice (it is expanded once).
    shared = _request(graph_store, "customers", [5, 9, 5, 40], fanouts, groups=[0, 0, 0, 0], key=3)
    assert assert_matches(graph_store, shared) > 10


def test_chunking_threads_and_table_growth_do_not_change_the_result(graph_store, customer_seeds, monkeypatch):
    nodes, times = customer_seeds
    fanouts = np.full((len(graph_store.schema.edge_types), 2), -1)
    request = _request(graph_store, "customers", nodes.numpy(), fanouts, times.numpy(), key=5)
    reference_edges = assert_matches(graph_store, request)
    before = numba.get_num_threads()
    try:
        for threads, chunk_slots in ((1, 1), (2, 1), (2, 1 << 20)):
            numba.set_num_threads(threads)
            # chunk_slots=1: one group per chunk; 1<<20: one chunk, whose hash table must grow many times.
            monkeypatch.setattr(subgraph, "CHUNK_SLOTS", chunk_slots)
            assert assert_matches(graph_store, request) == reference_edges
    finally:
        numba.set_num_threads(before)


def test_batches_of_one_seed_per_group_reuse_the_plan_and_match_the_reference(graph_store, monkeypatch):
    """Batches of one size and seed type (a NodeLoader's) reuse the plan of the batch before but for the
    anchors; another size, or a retry after running out of room (capped groups), plans afresh."""
    engine = graph_store.engine
    scratch = lambda: engine._local.scratch  # noqa: E731 - the calling thread's scratch
    fanouts = np.full((len(graph_store.schema.edge_types), 2), 3)
    customers = graph_store.num_nodes("customers")
    rng = np.random.default_rng(3)
    signup = np.asarray(graph_store.node_time("customers"))
    reused = []
    for size in (40, 40, 40, 25, 40):
        nodes = rng.integers(0, customers, size)
        times = signup[nodes] + rng.integers(0, 400 * 86_400, size)
        request = _request(graph_store, "customers", nodes, fanouts, times, key=int(size) + len(reused))
        before = getattr(engine._local, "scratch", None)
        held = None if before is None else before.plan_key
        assert_matches(graph_store, request)
        reused.append(held is not None and held == scratch().plan_key)
    assert reused == [False, True, True, False, False]
    # Capped slots: calls run out of room and retry with grown capacities, which the next call must not reuse.
    retries = []
    next_caps = multihop.next_caps
    monkeypatch.setattr(multihop, "next_caps", lambda *args: retries.append(1) or next_caps(*args))
    monkeypatch.setattr(subgraph, "SLOT_BUDGET", 1)
    for key in (1, 2):
        request = _request(graph_store, "customers", np.arange(40), np.full_like(fanouts, -1), key=key)
        assert_matches(graph_store, request)
        assert retries and scratch().plan_key is None
        retries.clear()


def test_a_call_that_never_fits_raises_instead_of_retrying_forever(graph_store, monkeypatch):
    """Retries quadruple the room of the groups that ran out, so any request fits within a few dozen; were the
    engine to overflow again and again (a fault), the call raises instead of spinning."""
    fanouts = np.full((len(graph_store.schema.edge_types), 2), -1)
    request = _request(graph_store, "customers", np.arange(40), fanouts, key=3)
    monkeypatch.setattr(subgraph, "SLOT_BUDGET", 1)
    retries = []
    monkeypatch.setattr(multihop, "next_caps", lambda buf, G, Sn, Se: retries.append(1) or np.full(G, 1, np.int64))
    with pytest.raises(RuntimeError, match="ran out of room"):
        graph_store.sample_subgraph(request)
    assert len(retries) == subgraph._MAX_RETRIES


def test_helpers_that_are_late_or_give_up_do_not_change_the_result(graph_store, customer_seeds, monkeypatch):
    """No spinning at all (spin 0): a helper that arrives before the plan is ready gives up, and the caller
    sleeps at once while a helper holds a chunk (the helper wakes it) and while a helper has not left.
    Which of these happens depends on timing; every call must give the reference's subgraph."""
    nodes, times = customer_seeds
    fanouts = np.full((len(graph_store.schema.edge_types), 2), 4)
    request = _request(graph_store, "customers", nodes.numpy(), fanouts, times.numpy(), key=9)
    expected = assert_matches(graph_store, request)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(2)
        monkeypatch.setattr(subgraph, "CHUNK_SLOTS", 1)  # one group per chunk: many hand-offs
        monkeypatch.setattr(subgraph, "_SPIN", 0)
        for _ in range(20):
            assert assert_matches(graph_store, request) == expected
    finally:
        numba.set_num_threads(before)


def _eventually(condition, seconds: float, pause: float = 0.0) -> bool:
    """Whether ``condition()`` holds within ``seconds``, checked every ``pause`` seconds (0: without a break, for
    a state that may hold only for microseconds)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        if pause:
            time.sleep(pause)
    return False


def _mail_counts(mail):
    return {name: int(mail[getattr(multihop, f"MAIL_{name.upper()}")]) for name in ("joined", "left", "open")}


def test_a_helper_joins_the_open_call_and_the_call_waits_for_it_to_leave(graph_store, customer_seeds):
    """The mailbox hand-off between calls: each helper joins a published call at most once and has left by
    the time the call returns; a late wake-up with no call open joins nothing it can touch."""
    from graph_engine.sampling.helpers import HelperThreads

    nodes, times = customer_seeds
    fanouts = np.full((len(graph_store.schema.edge_types), 2), 3)
    request = _request(graph_store, "customers", nodes.numpy(), fanouts, times.numpy(), key=4).validate(
        graph_store.schema)
    engine = graph_store.engine
    T = len(graph_store.schema.node_types)
    node_bound, edge_bound = engine.stream_bounds(request.fanouts)
    Sn, Se = node_bound.shape[1], edge_bound.shape[1]
    G = request.group_count
    pair_flags = engine.pair_flags(request.fanouts, request.node_type[:1], True)
    buf = np.empty(multihop.plan_size(G, Sn, Se), np.int64)
    seg = np.empty(5 * 100_000, np.int64)
    pool = HelperThreads()
    try:
        mail, seats = pool.mailbox(2)
        # The helpers' first call may load or compile their loop.
        assert _eventually(lambda: mail[multihop.MAIL_RUNNING] == 2, 30, pause=0.01)
        results = []
        for seats_wanted in (2, 0, 1):
            work = np.zeros(multihop.WORK_SIZE, np.int64)
            out = multihop.sample_request(
                engine.graph, engine.src_ptr, engine.src_list, T, request.fanouts, pair_flags, False,
                subgraph.kernel_key(request.key), request.node, request.node_type, request.time, request.group,
                node_bound, edge_bound, subgraph.SLOT_BUDGET, np.empty(0, np.int64), 64, buf, G, seg, 100_000, 100_000,
                work, mail, min(seats, seats_wanted), 1000, False, -1)
            assert out[0] == multihop.OK
            # Laid out; a helper may be copying it: completing copies (or waits for the copy) and closes.
            multihop.complete_request(engine.graph, T, request.fanouts, buf, G, seg, 100_000, 100_000, work, mail,
                                      min(seats, seats_wanted), 1000)
            assert work[multihop.WORK_COPIED] == work[multihop.WORK_CHUNKS] > 0  # every chunk copied once
            results.append([a.tolist() for a in out[1:]])
            counts = _mail_counts(mail)
            assert counts["left"] == counts["joined"] and counts["open"] == 0
        assert results[0] == results[1] == results[2]
        # The helpers did join some call: a helper woken for a call may run only after it returned (the OS
        # schedules it late on a busy machine); it then joins that closed call and leaves.
        assert _eventually(lambda: _mail_counts(mail)["joined"] >= 1, 5, pause=0.01)
        # Stopping wakes the helpers with no call open: one that was asleep joins, finds it closed and
        # leaves; one that was still spinning sees the stop first; one the OS held back (three threads on
        # two cores) may first find the number of the last call it sat out, and join that too, closed.
        # Either way nothing is left joined.
        joined = _mail_counts(mail)["joined"]
        mail[multihop.MAIL_SEATS] = 2
        threads = list(pool._threads)
    finally:
        pool.stop()
    assert len(threads) == 2 and not any(t.is_alive() for t in threads) and mail[multihop.MAIL_RUNNING] == 0
    counts = _mail_counts(mail)
    assert joined <= counts["joined"] <= joined + 2 * 2 and counts["left"] == counts["joined"]


def test_a_nudge_wakes_a_sleeping_helper_ahead_of_the_call(graph_store, customer_seeds):
    """Before a call, the in-process store wakes helpers that sleep (they take tens of microseconds to get
    going), which then spin for the call instead of sleeping again; the call finds them awake."""
    from graph_engine.sampling.helpers import HelperThreads

    assert not multihop.nudge_helpers(np.zeros(multihop.MAIL_SIZE, np.int64))  # nobody sleeps: no wake-up
    pool = HelperThreads()
    try:
        mail, _ = pool.mailbox(1)

        def seen(slot: int, value: int, seconds: float) -> bool:
            return _eventually(lambda: mail[slot] == value, seconds)

        # Started (the first call may load or compile the loop), then asleep after its short idle spin.
        assert seen(multihop.MAIL_RUNNING, 1, 30) and seen(multihop.MAIL_SLEEPERS, 1, 30)
        # Awake, spinning for the call. A nudge that lands between the helper counting itself asleep and its
        # wait is lost (the call then wakes it, as without one): nudge again.
        assert any(multihop.nudge_helpers(mail) and seen(multihop.MAIL_SLEEPERS, 0, 0.5) for _ in range(20))
    finally:
        pool.stop()
    nodes, times = customer_seeds
    request = _request(graph_store, "customers", nodes.numpy(), np.full((len(graph_store.schema.edge_types), 2), 3),
                       times.numpy(), key=6)
    assert assert_matches(graph_store, request) > 0  # through sample_subgraph, which nudges first


def test_a_forked_child_samples_with_its_own_helpers(graph_store, customer_seeds):
    """DataLoader workers are forked: the helper threads do not survive a fork, so the child starts its
    own and samples the same subgraph as the parent."""
    nodes, times = customer_seeds
    fanouts = np.full((len(graph_store.schema.edge_types), 2), 3)
    request = _request(graph_store, "customers", nodes.numpy(), fanouts, times.numpy(), key=2)
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        expected = graph_store.sample_subgraph(request).row.tolist()  # the parent's helpers are running
        pid = os.fork()
        if pid == 0:  # the child: exit status 0 when it samples the same rows
            code = 1
            try:
                code = 0 if graph_store.sample_subgraph(request).row.tolist() == expected else 2
                helpers = subgraph.HELPERS._threads
                code = code or (0 if helpers and all(t.is_alive() for t in helpers) else 3)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        numba.set_num_threads(before)


@st.composite
def random_graphs(draw):
    """Tables ``a`` (timed, nullable self link), ``b`` (untimed), ``f`` (timed; ``a_id`` always set, so its
    rows hold exactly one edge; ``b_id`` nullable, at most one), and a random request on them."""
    n_a, n_b, n_f = draw(st.integers(1, 12)), draw(st.integers(1, 6)), draw(st.integers(1, 50))
    times = st.integers(0, 100)
    a_time = np.array(draw(st.lists(times, min_size=n_a, max_size=n_a)), dtype=np.int64)
    f_time = np.array(draw(st.lists(times, min_size=n_f, max_size=n_f)), dtype=np.int64)
    f_a = np.array(draw(st.lists(st.integers(0, n_a - 1), min_size=n_f, max_size=n_f)), dtype=np.int64)
    f_b = np.array(draw(st.lists(st.integers(-1, n_b - 1), min_size=n_f, max_size=n_f)), dtype=np.int64)
    parent = np.array(draw(st.lists(st.integers(-1, n_a - 1), min_size=n_a, max_size=n_a)), dtype=np.int64)
    nodes = [NodeTable("a", n_a, a_time), NodeTable("b", n_b), NodeTable("f", n_f, f_time)]
    links = [Link("f", "a_id", "a", np.arange(n_f), f_a),
             Link("f", "b_id", "b", np.flatnonzero(f_b >= 0), f_b[f_b >= 0]),
             Link("a", "parent_id", "a", np.flatnonzero(parent >= 0), parent[parent >= 0])]
    seeds = draw(st.lists(st.tuples(st.sampled_from(["a", "b", "f"]), st.integers(0, 1000)), min_size=1, max_size=10))
    steps = draw(st.lists(st.integers(0, 1), min_size=len(seeds) - 1, max_size=len(seeds) - 1))
    hops = draw(st.integers(1, 3))
    fanouts = draw(st.lists(st.lists(st.integers(-1, 3), min_size=hops, max_size=hops), min_size=6, max_size=6))
    timed = draw(st.booleans())
    anchors = draw(st.lists(times, min_size=len(seeds), max_size=len(seeds))) if timed else None
    return nodes, links, seeds, np.cumsum([0] + steps), fanouts, anchors, draw(st.sampled_from(["uniform", "last"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=random_graphs(), key=st.integers(0, 2**64 - 1))
def test_random_graphs_match_the_reference(case, key):
    nodes, links, seeds, groups, fanouts, anchors, strategy = case
    with _artifact_graph(nodes, links) as graph:
        schema = graph.schema
        size = {t.name: t.num_nodes for t in nodes}
        request = SubgraphRequest(
            node=np.array([i % size[t] for t, i in seeds], dtype=np.int64),
            node_type=np.array([schema.node_type_index(t) for t, _ in seeds], dtype=np.int64),
            group=np.asarray(groups, dtype=np.int64), fanouts=np.asarray(fanouts, dtype=np.int64),
            time=None if anchors is None else np.asarray(anchors, dtype=np.int64), strategy=strategy, key=key)
        flags = dict(zip(schema.edge_types, graph.engine.flags.tolist()))
        assert flags[("f", "a_id", "a")] & multihop.TOTAL1 and flags[("a", "parent_id", "a")] & multihop.MAX1
        assert_matches(graph, request)


def _engines(graph_store, shift_product_edges: int = 0):
    """Engines over the shop's arrays, with and without node times; ``shift_product_edges`` moves the
    times of the order -> product edges (making them inconsistent with the orders' times)."""
    schema = graph_store.schema
    arrays = []
    for edge_type in schema.edge_types:
        csr = graph_store.graph.csr(edge_type)
        time = np.asarray(csr.time) if csr.time is not None else None
        if edge_type == ("orders", "product_id", "products") and shift_product_edges:
            time = time + shift_product_edges
        arrays.append((np.asarray(csr.indptr), np.asarray(csr.indices), time))
    node_time = [graph_store.node_time(t) for t in schema.node_types]
    return subgraph.CsrGraph(schema, arrays), subgraph.CsrGraph(schema, arrays, node_time)


def _same(a, b) -> None:
    for name in ("node", "batch", "row", "col", "edge", "node_counts", "edge_counts"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist(), name


def test_rows_known_visible_skip_the_cut_off_with_the_same_result(graph_store, customer_seeds):
    nodes, times = customer_seeds
    plain, with_times = _engines(graph_store)
    flags = dict(zip(graph_store.schema.edge_types, with_times.flags.tolist()))
    assert flags[("orders", "product_id", "products")] & multihop.NOT_NEWER_THAN_SOURCE
    assert flags[("customers", "rev_customer_id", "orders")] & multihop.NOT_OLDER_THAN_TARGET
    assert not plain.flags.tolist() == with_times.flags.tolist()
    for strategy in ("uniform", "last"):
        request = _request(graph_store, "customers", nodes.numpy(), np.full((len(plain.flags), 3), 4),
                           times.numpy(), strategy=strategy)
        _same(plain.sample(request), with_times.sample(request))


def test_edges_newer_than_their_source_are_still_cut_off(graph_store, customer_seeds):
    nodes, times = customer_seeds
    ten_years = 10 * 365 * 86_400
    plain, with_times = _engines(graph_store, shift_product_edges=ten_years)
    flags = dict(zip(graph_store.schema.edge_types, with_times.flags.tolist()))
    assert not flags[("orders", "product_id", "products")] & multihop.NOT_NEWER_THAN_SOURCE
    request = _request(graph_store, "customers", nodes.numpy(), np.full((len(plain.flags), 2), 5), times.numpy())
    result = with_times.sample(request)
    _same(plain.sample(request), result)
    split = result.split(graph_store.schema)
    # Every order -> product edge now lies in the future of every anchor: none may be sampled.
    assert split.row[("products", "rev_product_id", "orders")].size == 0
    assert split.row[("orders", "customer_id", "customers")].size > 0


def test_time_order_of_edge_times():
    indptr = np.array([0, 2, 3], dtype=np.int64)
    indices = np.array([0, 1, 1], dtype=np.int64)
    time = np.array([5, 7, 9], dtype=np.int64)
    none = np.empty(0, dtype=np.int64)
    assert multihop.time_order(indptr, indices, time, np.array([7, 9]), np.array([5, 7])) == (True, True)
    assert multihop.time_order(indptr, indices, time, np.array([6, 9]), np.array([5, 8])) == (False, False)
    assert multihop.time_order(indptr, indices, time, none, none) == (False, True)


def _immediate(flags: np.ndarray) -> np.ndarray:
    return flags & multihop.IMMEDIATE


def test_immediate_pairs_are_the_last_hop_links_of_facts_and_back_edges(graph_store):
    """Customers -> facts -> (customer back edge, product link): the second hop is finished in the first loop."""
    schema, engine = graph_store.schema, graph_store.engine
    fanouts = np.full((len(schema.edge_types), 2), 3)
    immediate = _immediate(engine.pair_flags(fanouts, [schema.node_type_index("customers")], timed=True))
    walked = {schema.edge_types[t]: immediate[t].tolist() for t in range(len(schema.edge_types))}
    assert walked[("orders", "customer_id", "customers")] == [0, 1]  # back edges
    assert walked[("orders", "product_id", "products")] == [0, 1]  # a link to an untimed table, no cut-off
    assert walked[("customers", "rev_customer_id", "orders")] == [0, 0]  # rows with a cut-off and draws
    # A fact seed's own links at hop 0: found through no edge, so a timed request cuts them off.
    orders = [schema.node_type_index("orders")]
    assert _immediate(engine.pair_flags(fanouts[:, :1], orders, timed=True)).sum() == 0
    untimed = engine.pair_flags(fanouts[:, :1], orders, timed=False)
    assert untimed[schema.edge_types.index(("orders", "product_id", "products")), 0] == multihop.IMMEDIATE
    # Not the last hop: the products found would be expanded, so the pair stays in the general loops.
    assert _immediate(engine.pair_flags(np.full((len(schema.edge_types), 2), 3), orders, timed=False))[:, 0].sum() == 0


def test_fresh_pairs_are_first_finds_that_no_later_pair_looks_up(graph_store):
    """A customer's orders and reviews at hop 0 are new to its subgraph (each order has one customer) and,
    with two hops, only back edges reach them again: no hash table. With three hops, a product's orders may
    be the customer's own, so the first hop's orders must be found again; and a seed order makes them not new."""
    schema, engine = graph_store.schema, graph_store.engine
    E = len(schema.edge_types)
    customers, orders = [schema.node_type_index("customers")], [schema.node_type_index("orders")]
    fresh = {schema.edge_types[t]: (engine.pair_flags(np.full((E, 2), 3), customers, timed=True)[t]
                                    & multihop.FRESH).tolist() for t in range(E)}
    assert fresh[("customers", "rev_customer_id", "orders")] == [multihop.FRESH, 0]
    assert fresh[("customers", "rev_customer_id", "reviews")] == [multihop.FRESH, 0]
    assert fresh[("orders", "product_id", "products")] == [0, 0]  # one product, many orders: de-duplicated
    three = engine.pair_flags(np.full((E, 3), 3), customers, timed=True) & multihop.FRESH
    assert three[schema.edge_types.index(("customers", "rev_customer_id", "orders")), 0] == 0
    seeded = engine.pair_flags(np.full((E, 2), 3), customers + orders, timed=True) & multihop.FRESH
    assert seeded[schema.edge_types.index(("customers", "rev_customer_id", "orders")), 0] == 0


def test_nodes_whose_next_hop_is_all_immediate_are_expanded_when_found(graph_store, customer_seeds, monkeypatch):
    """With two hops from customers, the facts found at hop 0 only make immediate pairs at hop 1 (the back
    edge, the product link): they are expanded as they are found, not through the frontier. With three hops
    the product links are expanded further, so nothing is. Either way, and when a capped call runs out of
    room while expanding them, the sample is the reference's."""
    schema, engine = graph_store.schema, graph_store.engine
    E = len(schema.edge_types)
    customers = [schema.node_type_index("customers")]
    at_once = engine.pair_flags(np.full((E, 2), 3), customers, timed=True) & multihop.EXPAND_AT_ONCE
    walked = {schema.edge_types[t]: at_once[t].tolist() for t in range(E)}
    assert walked[("customers", "rev_customer_id", "orders")] == [multihop.EXPAND_AT_ONCE, 0]
    assert walked[("customers", "rev_customer_id", "reviews")] == [multihop.EXPAND_AT_ONCE, 0]
    assert at_once.sum() == 2 * multihop.EXPAND_AT_ONCE
    assert not (engine.pair_flags(np.full((E, 3), 3), customers, timed=True) & multihop.EXPAND_AT_ONCE).any()
    nodes, times = customer_seeds
    for fanouts in (np.full((E, 2), 3), np.full((E, 3), 2)):
        assert assert_matches(graph_store, _request(graph_store, "customers", nodes.numpy(), fanouts, times.numpy(),
                                                    key=4)) > 0
    retries = []
    next_caps = multihop.next_caps
    monkeypatch.setattr(multihop, "next_caps", lambda *args: retries.append(1) or next_caps(*args))
    monkeypatch.setattr(subgraph, "SLOT_BUDGET", 1)
    assert assert_matches(graph_store, _request(graph_store, "customers", np.arange(40), np.full((E, 2), -1),
                                                key=8)) > 0
    assert retries


def test_links_of_facts_expanded_when_found_are_read_through_the_row_they_were_found_in(graph_store,
                                                                                       customer_seeds):
    """A customer's orders expanded when found (two hops) take their product from ``through`` (one entry per
    customer-to-order edge, in that row's order) instead of the order's own row; the sample stays the
    reference's, uniform and last, and with one product link among several onward types none is used."""
    schema, engine = graph_store.schema, graph_store.engine
    E = len(schema.edge_types)
    walk = schema.edge_type_index(("customers", "rev_customer_id", "orders"))
    link = schema.edge_type_index(("orders", "product_id", "products"))
    fanouts = np.full((E, 2), 3)
    customers = [schema.node_type_index("customers")]
    table = engine._graph_for(fanouts, engine.pair_flags(fanouts, customers, timed=True))
    assert table[walk, multihop.COL_THROUGH_TYPE] == link
    through = engine.through(walk, link)
    assert table[walk, multihop.COL_THROUGH] == through.ctypes.data
    orders = graph_store.graph.csr(("customers", "rev_customer_id", "orders"))
    products = graph_store.graph.csr(("orders", "product_id", "products"))
    assert np.array_equal(through, np.asarray(products.indices)[np.asarray(orders.indices)])
    assert engine.through(walk, link) is through  # made once
    # Three hops: nothing is expanded when found, so no table of this shape reads through.
    deeper = np.full((E, 3), 2)
    assert (engine._graph_for(deeper, engine.pair_flags(deeper, customers, timed=True))[:, multihop.COL_THROUGH]
            == 0).all()
    nodes, times = customer_seeds
    for strategy in ("uniform", "last"):
        assert assert_matches(graph_store, _request(graph_store, "customers", nodes.numpy(), fanouts, times.numpy(),
                                                    strategy=strategy, key=6)) > 0
    # Orders' product and customer links both onward (seeds are products): the way back is the product link,
    # the customer link the one onward type, read through.
    from_products = np.full((E, 2), 4)
    seeds = _request(graph_store, "products", np.arange(0, graph_store.num_nodes("products"), 3), from_products,
                     key=2)
    assert assert_matches(graph_store, seeds) > 0


def test_facts_with_several_links_expanded_when_found_keep_the_reference_order(monkeypatch):
    """Facts ``f`` with three links to untimed tables besides their owner ``a``, two of them to ``b``: found at
    hop 0, each makes a back edge and three one-edge-row pairs at hop 1, listed fact after fact, link after
    link, so ``b`` nodes are found in the reference's order; also when a capped call runs out of room."""
    rng = np.random.default_rng(3)
    n_a, n_f = 7, 60
    f_time = np.sort(rng.integers(0, 100, n_f))
    nodes = [NodeTable("a", n_a, np.zeros(n_a, dtype=np.int64)), NodeTable("b", 4), NodeTable("c", 5),
             NodeTable("f", n_f, f_time)]
    links = [Link("f", "a_id", "a", np.arange(n_f), rng.integers(0, n_a, n_f)),
             Link("f", "b_id", "b", np.arange(n_f), rng.integers(0, 4, n_f)),
             Link("f", "other_b_id", "b", np.arange(n_f), rng.integers(0, 4, n_f)),
             Link("f", "c_id", "c", np.arange(n_f), rng.integers(0, 5, n_f))]
    with _artifact_graph(nodes, links) as graph:
        schema = graph.schema
        E = len(schema.edge_types)
        a, a_to_f = schema.node_type_index("a"), schema.edge_types.index(("a", "rev_a_id", "f"))
        flags = graph.engine.pair_flags(np.full((E, 2), 4), [a], timed=True)
        assert flags[a_to_f, 0] & multihop.EXPAND_AT_ONCE and flags[a_to_f, 0] & multihop.FRESH
        assert _immediate(flags)[:, 1].sum() == 4  # the way back, b twice and c
        seeds = np.array([0, 1, 2, 3, 4, 5, 6, 1, 3])
        for fanouts, groups in ((np.full((E, 2), 4), None), (np.full((E, 2), -1), None),
                                (np.full((E, 2), 3), [0, 1, 2, 3, 4, 5, 6, 7, 8])):
            assert assert_matches(graph, _request(graph, "a", seeds, fanouts, rng.integers(0, 120, seeds.size),
                                                  groups=groups, key=5)) > 0
        monkeypatch.setattr(subgraph, "SLOT_BUDGET", 1)  # capped: segments run out of room and are retried
        assert assert_matches(graph, _request(graph, "a", seeds, np.full((E, 2), -1), np.full(seeds.size, 200),
                                              key=6)) > 0


def test_a_node_stream_fed_by_rows_keeps_its_one_edge_links_in_the_general_loops():
    """``f -> a`` (one edge per row) and ``a -> a`` (nullable self link) both find ``a`` nodes at one hop:
    only when no seed of ``a`` is expanded is ``f -> a`` finished in the first loop; either way the
    sample is the reference's."""
    nodes = [NodeTable("a", 6, np.arange(6, dtype=np.int64)), NodeTable("f", 8, np.arange(8, dtype=np.int64))]
    links = [Link("f", "a_id", "a", np.arange(8), np.array([0, 1, 1, 2, 3, 3, 4, 5])),
             Link("a", "parent_id", "a", np.array([1, 2, 4]), np.array([0, 0, 3]))]
    with _artifact_graph(nodes, links) as graph:
        schema = graph.schema
        f_to_a = schema.edge_types.index(("f", "a_id", "a"))
        fanouts = np.full((len(schema.edge_types), 1), 2)
        a, f = schema.node_type_index("a"), schema.node_type_index("f")
        assert _immediate(graph.engine.pair_flags(fanouts, [f], timed=False))[f_to_a, 0] == 1
        assert _immediate(graph.engine.pair_flags(fanouts, [a, f], timed=False))[f_to_a, 0] == 0
        for types in ([f, f, f], [f, a, f, a]):
            request = SubgraphRequest(node=np.array([5, 2, 4, 1])[:len(types)], node_type=np.array(types),
                                      group=np.array([0, 0, 1, 1])[:len(types)], fanouts=fanouts, key=9)
            assert assert_matches(graph, request) > 0


def test_owners_of_several_fact_tables_some_without_onward_links_match_the_reference():
    """Customers ``a`` own three fact tables: ``f`` and ``g`` link on to products ``b`` (read through the row
    and de-duplicated in the first hop's last loop), ``s`` links only back; seeded at ``a``, the facts of all
    three are found at hop 0 and expanded at once, pair after pair of alternating types; also with the way
    back not sampled at hop 1 (the product link then the facts' only next-hop pair)."""
    rng = np.random.default_rng(11)
    n_a, n_b, n_f, n_g, n_s = 30, 9, 400, 120, 300
    nodes = [NodeTable("a", n_a, np.zeros(n_a, dtype=np.int64)), NodeTable("b", n_b),
             NodeTable("f", n_f, np.sort(rng.integers(0, 100, n_f))),
             NodeTable("g", n_g, np.sort(rng.integers(0, 100, n_g))),
             NodeTable("s", n_s, np.sort(rng.integers(0, 100, n_s)))]
    links = [Link("f", "a_id", "a", np.arange(n_f), rng.integers(0, n_a, n_f)),
             Link("f", "b_id", "b", np.arange(n_f), rng.integers(0, n_b, n_f)),
             Link("g", "a_id", "a", np.arange(n_g), rng.integers(0, n_a, n_g)),
             Link("g", "b_id", "b", np.arange(n_g), rng.integers(0, n_b, n_g)),
             Link("s", "a_id", "a", np.arange(n_s), rng.integers(0, n_a, n_s))]
    with _artifact_graph(nodes, links) as graph:
        E = len(graph.schema.edge_types)
        seeds = rng.integers(0, n_a, 64)
        no_way_back = np.tile(np.array([16, 4]), (E, 1))
        for fact in ("f", "g", "s"):
            no_way_back[graph.schema.edge_type_index((fact, "a_id", "a")), 1] = 0
        for fanouts in [*(np.tile(np.array(f), (E, 1)) for f in ([16, 4], [4, 2], [-1, -1])), no_way_back]:
            for strategy in ("uniform", "last"):
                request = _request(graph, "a", seeds, fanouts, rng.integers(0, 120, seeds.size),
                                   groups=np.arange(seeds.size), strategy=strategy, key=9)
                assert assert_matches(graph, request) > 0


def test_threads_racing_to_make_a_through_array_all_get_the_one_kept(graph_store, monkeypatch):
    """Two threads (a store server's) both find no ``through`` array and both make one: each must get the array
    the engine keeps, whose address graph tables hold (a replaced one would be freed under them)."""
    schema = graph_store.schema
    walk = schema.edge_type_index(("customers", "rev_customer_id", "orders"))
    link = schema.edge_type_index(("orders", "product_id", "products"))
    engine = _engines(graph_store)[0]
    both_inside = threading.Barrier(2, timeout=30)
    make = subgraph.CsrGraph._make_through

    def make_together(self, t, t2):
        made = make(self, t, t2)
        both_inside.wait()  # neither stores its array before the other has made one
        return made

    monkeypatch.setattr(subgraph.CsrGraph, "_make_through", make_together)
    got = [None, None]

    def call(i):
        got[i] = engine.through(walk, link)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got[0] is got[1] is engine.through(walk, link)
