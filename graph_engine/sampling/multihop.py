"""The multi-hop heterogeneous sampling of one request in one compiled call per thread.

Terms (as in :mod:`graph_engine.sampling.kernels`): a *group* is one disjoint subgraph; an *expansion
type* ``t = (A, rel, B)`` is walked from a node of type ``A`` through its CSR row to neighbours of type
``B``, and the link found is reported under the reverse edge type, whose CSC layout is ``t``'s CSR.
Outputs come in *streams*: node stream ``a * (H + 1) + h`` holds the nodes of type ``a`` found at hop
``h`` (hop 0: the seeds), edge stream ``r * H + h`` the edges of reported type ``r`` sampled at hop
``h``; the final order is stream after stream, within a stream group after group, then discovery order.

:func:`sample_request` runs on the calling thread and wakes helper threads sleeping in :func:`helper_loop`;
they share a ``work`` array whose state says which step is open:

1. :func:`plan` (caller): group bounds and anchors, edge capacity per group from the fan-out bounds,
   *chunks* (runs of consecutive groups small enough for their working set to stay in the L2 cache) and
   each chunk's scratch *segment* per stream, sized by the bound of that stream.
2. Chunks (all threads): the caller takes chunks from the front, helpers from the back of the chunks
   left (so a thread that the OS holds back costs nothing but its current chunk, and each thread's chunks
   are contiguous in memory) and sample each chunk hop by hop, appending every node and edge
   straight to its stream segment. An edge refers to its end nodes by *code* ``stream << 40 | index
   within the chunk's segment``. A hop runs as loops over the chunk's (frontier node, expansion type)
   pairs, each prefetching what the next one reads, so that many independent cache misses are in flight
   at once: pairs and their prefetches; row bounds; time cut-offs; draws; neighbours.
3. :func:`_lay_out` (caller): prefix sums over (stream, chunk) give each segment's output position in
   a fresh output buffer.
4. :func:`_copy_out`: nodes are copied segment by segment, edges with their codes turned into positions
   within their node type, chunk by chunk (taken like chunks to sample). With helpers, a helper copies
   while the caller returns and makes its views of the output (tensors); the caller then completes the
   call (:func:`complete_request`), copying what is left.

Per-call arrays live in two buffers kept between calls (:func:`_carve`, :func:`_carve_segments`): a
dozen fewer allocations and arguments per call. The threads wait for each other by spinning a bounded
time, then asleep on a futex (the caller) or by leaving the rest to the caller (a helper).

Fast paths, chosen per pair (they give exactly what the general path gives):

- *back edge*: a node found through a foreign-key link, expanded through the reverse expansion type
  whose rows hold at most one edge (``MAX1``): its only neighbour is the node it was found from, through
  the same link at the same time (both directions of a link share it), so nothing is read but the
  position (nothing at all when rows hold exactly one edge, ``TOTAL1``).
- *one-edge rows* (``TOTAL1``): the row of node ``u`` is position ``u``: its time and neighbour are
  fetched at once, without the row pointer.
- *immediate pairs*: where :meth:`~graph_engine.sampling.subgraph.CsrGraph.pair_flags` proves that
  every pair of an expansion type at a hop is a back edge over a one-edge row, or a last-hop one-edge row
  with no cut-off feeding a node stream that no other kind of pair feeds, the pair's edge slot is taken in
  the first loop, in pair order, and the later loops never see it; the neighbours of such one-edge rows
  are read in a loop of their own, then de-duplicated (typically a fact's links at the last hop).
- *expanded at once* (``EXPAND_AT_ONCE``): where every pair of the next hop is immediate, loop D makes a new
  node's next-hop pairs as it finds the node, in discovery order as loop A would, so the node never joins the
  frontier (a customer's orders at the first of two hops: their back edge and product link). Where those
  pairs have one one-edge-row type besides the way back, its neighbours are read *through* the row the node
  was found in (``COL_THROUGH``: one entry per edge, the neighbour's neighbour), next to the node itself,
  instead of from the node's own row: one random read less per node (an order's product). When that type is
  the only one onward and nothing waits for loop O yet, loop D de-duplicates those neighbours itself, in the
  order loop O would, and they skip loop O's lists.
- *fresh pairs* (``FRESH``): where ``pair_flags`` proves that the neighbours a pair finds are new to their
  group (each lies in one row of the expansion type, whose reverse holds at most one edge per row, and
  nothing else in the group has their type) and that no later pair looks them up (only back edges reach
  their type afterwards), they skip the hash table: a customer's orders at the first hop.
- time cut-off: the visible edges of a row of up to ``_SHORT_ROW`` edges (most rows) are counted without a
  branch; a longer row whose last edge is no newer than the anchor is visible whole (no search); the
  times of rows of up to 32 edges are all prefetched before the cut. No cut-off at all, and no time
  read, for the row of a node found through an edge type whose edges are no older than their target
  (``NOT_OLDER_THAN_TARGET``: the node is no newer than that edge, hence than the anchor) when the row's
  edges are no newer than their source (``NOT_NEWER_THAN_SOURCE``): a fact's links to untimed tables.

Randomness is counter-based (a hash of the key, group, node and expansion type), and chunks are
independent, so the result depends neither on the number of threads nor on how groups fall into chunks.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from graph_engine.sampling.kernels import (
    INT64_MAX,
    compare_swap_i64,
    cycle_counter,
    data_address,
    draw_below,
    fetch_add_i64,
    futex_wait,
    futex_wake,
    int64_pointer,
    load_acquire_i64,
    load_i64,
    mix64,
    prefetch_i64,
    spin_pause,
    store_i64,
    store_release_i64,
    upper_bound,
)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# Spreads a group's keys away from the next group's in the hash table.
_SPREAD = np.uint64(0xD6E8FEB86659FD93)
_LOW32 = np.int64(0xFFFFFFFF)
_LOW40 = np.int64((1 << 40) - 1)

#: Columns of the per-expansion-type ``graph`` table. ``COL_THROUGH``: 0, or the address of the neighbours'
#: neighbours through the one-edge rows of expansion type ``COL_THROUGH_TYPE`` (``through[e]`` is the
#: neighbour, in that type, of edge ``e``'s neighbour: see ``CsrGraph.through``), which spares loop D the
#: random read of each neighbour's row when it expands neighbours at once.
COL_INDPTR, COL_INDICES, COL_TIME, COL_DST, COL_REVERSE, COL_FLAGS, COL_THROUGH, COL_THROUGH_TYPE = range(8)
GRAPH_COLUMNS = 8
#: Flags: the edge type has edge times; every row holds at most one edge; exactly one; every edge is no
#: newer than its source node; every edge is no older than its target node (the artifact's edge time is
#: the later of its two rows' times, which gives the last one always and the one before for the edges
#: of a fact row to an untimed table).
TIMED, MAX1, TOTAL1, NOT_NEWER_THAN_SOURCE, NOT_OLDER_THAN_TARGET = 1, 2, 4, 8, 16
#: Status codes of :func:`sample_request`.
OK, OVERFLOW, SCRATCH, SEED_OUT_OF_RANGE = 0, 1, 2, 3
#: Most seeds in a chunk of several groups (keeps a group's index within its chunk under 2**16).
CHUNK_SEEDS = 256
#: Slots of the ``work`` array shared by a request's threads: the chunks left (see :func:`_claim`), the
#: chunks done and the state (each a cache line apart), the number of chunks, the scratch a call needs (2),
#: whether the caller sleeps on the chunks done; the output buffer's address and its node and edge counts,
#: the chunks left to copy into it (taken like chunks to sample) and the chunks copied (each a cache line
#: apart), whether the caller sleeps on the latter.
(WORK_NEXT, WORK_DONE, WORK_STATE, WORK_CHUNKS, WORK_NEED, WORK_WAITER, WORK_FLAT, WORK_N, WORK_M, WORK_COPY_NEXT,
 WORK_COPIED, WORK_COPY_WAITER, WORK_SIZE) = (0, 8, 16, 24, 25, 27, 28, 29, 30, 32, 40, 41, 48)
#: States of a request (``work[WORK_STATE]``): planning, chunks open, output laid out (to copy), closed.
PLANNING, SAMPLING, COPYING, CLOSED = 0, 1, 2, -1
# Under a capped budget, a stream segment keeps at least this many slots per seed (if it may need them).
_FLOOR_PER_SEED = 16.0
# ``via`` of a seed (found by no expansion type).
_SEED = -1
#: Flags of an (expansion type, hop) pair (``CsrGraph.pair_flags``): finished in the first loop; its neighbours
#: are new to their group and no later pair looks them up (no hash table); the neighbours it adds make only
#: immediate pairs at the next hop, as every node expanded there does: they are expanded when found.
IMMEDIATE, FRESH, EXPAND_AT_ONCE = 1, 2, 4
# Pair kinds (low bits), and the bit of a pair whose row needs the time cut-off.
_ROW, _ONE, _BACK, _KIND, _CUT = 0, 1, 2, 3, 4
# Hash-table tags: stamp (15 bits) << 48 | group within chunk (16 bits) << 32 (values are codes, < 2**48).
_STAMP_LIMIT = 1 << 15
# Rows of at most this many edges get their time cut-off by a branch-free count (loop B2).
_SHORT_ROW = 8
# Loop C writes the positions of up to this many edges taken whole from a row in one fixed-width step.
_WIDE = 16
# Columns of loop D's per-expansion-type description of its one-pass path (``direct_of[t * _DIRECT_COLUMNS + column]``):
# taken or not; the neighbours' node stream and its segment (start, room); the onward link's edge stream and segment
# (start, end); the way back's (its stream -1 when not sampled); the onward neighbours' node type, stream, segment.
(_D_ON, _D_STREAM, _D_START, _D_ROOM, _D_STREAM_O, _D_START_O, _D_END_O, _D_STREAM_B, _D_START_B, _D_END_B, _D_VT2,
 _D_STREAM3, _D_START3, _D_ROOM3, _DIRECT_COLUMNS) = range(15)
# Initial hash-table entries (grown on demand, up to twice the nodes of the largest chunk so far).
_TABLE_START = 1024


@nb.njit(cache=True, inline="always")
def get(array, i):
    """``array[i]`` for ``0 <= i < len(array)``: an unsigned index spares the negative-index fix-up numba
    adds to every signed one (a shift, a mask and an add per access in the hot loops)."""
    return array[np.uint64(i)]


@nb.njit(cache=True, inline="always")
def put(array, i, value):
    """``array[i] = value`` for ``0 <= i < len(array)`` (see :func:`get`)."""
    array[np.uint64(i)] = value


@nb.njit(cache=True, inline="always")
def get2(array, i, j):
    """``array[i, j]`` with both indices in range (see :func:`get`)."""
    return array[np.uint64(i), np.uint64(j)]


@nb.njit(cache=True, inline="always")
def put2(array, i, j, value):
    """``array[i, j] = value`` with both indices in range (see :func:`get`)."""
    array[np.uint64(i), np.uint64(j)] = value


@nb.njit(cache=True, inline="always")
def _find_or_add(table, mask, tag, key, value):
    """Value stored for ``key`` in the group tagged ``tag``; stores ``value`` when absent.

    ``table`` is the address of an int64 array of (key, tag, value) triples (an address, not the array:
    an array argument of an inlined function costs two reference-count calls per lookup); an entry whose
    stamp (top bits of the tag) differs from ``tag``'s is empty, so a new chunk starts with an empty
    table without clearing it. The slot is a multiplicative hash (one multiplication: the keys are node
    indices, which that spreads well).

    Returns:
        (value, added).
    """
    h = (np.uint64(key) + np.uint64((tag >> 32) & 0xFFFF) * _SPREAD) * _GOLDEN
    slot = np.int64(h >> np.uint64(32)) & mask
    while True:
        held = load_i64(table, 3 * slot + 1)
        if (held >> 48) != (tag >> 48):
            store_i64(table, 3 * slot, key)
            store_i64(table, 3 * slot + 1, tag)
            store_i64(table, 3 * slot + 2, value)
            return value, True
        if held == tag and load_i64(table, 3 * slot) == key:
            return load_i64(table, 3 * slot + 2), False
        slot = (slot + 1) & mask


@nb.njit(cache=True)
def _grown(table, need, stamp, c, g0, num_node_types, width, node_seg, out_node, out_group, n_used):
    """A table with room for ``need`` entries holding chunk ``c``'s nodes listed so far.

    The table is sized by what chunks hold, not by their capacity (which bounds are far above): a
    small table stays in the cache. The nodes are read back from the chunk's segments.
    """
    size = table.shape[0] // 3
    while size < 2 * need:
        size *= 2
    grown = np.zeros(3 * size, np.int64)
    for s in range(n_used.shape[0]):
        vt = s // width
        start = node_seg[c, s]
        for idx in range(n_used[s]):
            tag = (stamp << 48) | ((out_group[start + idx] - g0) << 32)
            _find_or_add(data_address(grown), size - 1, tag, out_node[start + idx] * num_node_types + vt,
                         (s << 40) | idx)
    return grown


@nb.njit(cache=True, nogil=True)
def plan(group, seed_type, seed_time, node_bound, edge_bound, budget, caps_in, chunk_slots, group_ptr, group_time,
         caps, chunk_g, node_seg, edge_seg, largest):
    """Set-up of a validated request, written into the given arrays.

    Args:
        group, seed_type: int64 [S] seeds' groups (non-decreasing) and node types.
        seed_time: int64 [S] anchor times, or empty for no time limit.
        node_bound, edge_bound: float64 [T, node streams], [T, edge streams]: most nodes and edges one
            seed of each node type can put in each stream.
        budget: edge slots above which each group's capacity is capped (overflows are retried).
        caps_in: int64 [G] edge capacity per group from an earlier overflowed call, or empty.
        chunk_slots: edge slots per chunk.
        group_ptr [G+1], group_time [G], caps [G], chunk_g [G+1], node_seg [G, Sn+1], edge_seg [G, Se+1],
            largest [4]: written (G groups make at most G chunks).

    Returns:
        The number of chunks C. Written: the seeds of each group (``group_ptr``), its anchor and edge
        capacity, each chunk's first group (``chunk_g[:C+1]``), and ``node_seg[c, s]``, where chunk
        ``c``'s segment of node stream ``s`` starts in the node scratch (column ``Sn``: where the chunk's
        region ends), likewise for edges; ``largest[:3]`` holds the most node slots, edge slots and groups of
        one chunk.
    """
    S = group.shape[0]
    T, Sn = node_bound.shape
    Se = edge_bound.shape[1]
    G = get(group, S - 1) + 1 if S > 0 else 0
    group_ptr[:G + 1] = 0
    for s in range(S):
        put(group_ptr, get(group, s) + 1, get(group_ptr, get(group, s) + 1) + 1)
    for g in range(G):
        put(group_ptr, g + 1, get(group_ptr, g + 1) + get(group_ptr, g))
    group_time[:G] = INT64_MAX
    if seed_time.shape[0] > 0:
        for s in range(S):
            put(group_time, get(group, s), min(get(group_time, get(group, s)), get(seed_time, s)))
    per_seed = np.zeros(T, np.float64)
    for a in range(T):
        for x in range(Se):
            put(per_seed, a, get(per_seed, a) + edge_bound[a, x])
    wanted = np.zeros(G, np.float64)
    for s in range(S):
        put(wanted, get(group, s), get(wanted, get(group, s)) + get(per_seed, get(seed_type, s)))
    if caps_in.shape[0] == G:
        caps[:G] = caps_in
    else:
        limit = 1e300
        if wanted.sum() > budget:
            limit = float(max(budget // max(S, 1), 64))
        for g in range(G):
            seeds = get(group_ptr, g + 1) - get(group_ptr, g)
            put(caps, g, np.int64(np.ceil(min(get(wanted, g), limit * seeds, 4e18))))
    for g in range(G):  # room beyond a group's bound is never used
        put(caps, g, min(get(caps, g), np.int64(np.ceil(min(get(wanted, g), 4e18)))))
    # Chunks: consecutive groups with at most ``chunk_slots`` edge slots and CHUNK_SEEDS seeds (a
    # larger group makes a chunk of its own).
    C = 0
    acc_edges = acc_seeds = 0
    for g in range(G):
        size = get(group_ptr, g + 1) - get(group_ptr, g)
        if C == 0 or acc_edges + get(caps, g) > chunk_slots or acc_seeds + size > CHUNK_SEEDS:
            put(chunk_g, C, g)
            C += 1
            acc_edges = acc_seeds = 0
        acc_edges += get(caps, g)
        acc_seeds += size
    put(chunk_g, C, G)
    # Segments: a group at full capacity gets its seeds' bounds; a capped group a share of each bound.
    largest[:3] = 1
    node_cap = np.empty(Sn, np.float64)
    edge_cap = np.empty(Se, np.float64)
    full = np.empty(T, np.float64)
    wanted_n = np.empty(Sn, np.float64)
    wanted_e = np.empty(Se, np.float64)
    at_node = at_edge = 0
    for c in range(C):
        node_cap[:] = 0.0
        edge_cap[:] = 0.0
        full[:] = 0.0
        for g in range(get(chunk_g, c), get(chunk_g, c + 1)):
            if get(caps, g) >= get(wanted, g):
                for s in range(get(group_ptr, g), get(group_ptr, g + 1)):
                    put(full, get(seed_type, s), get(full, get(seed_type, s)) + 1.0)
                continue
            wanted_n[:] = 0.0
            wanted_e[:] = 0.0
            for s in range(group_ptr[g], group_ptr[g + 1]):
                wanted_n += node_bound[seed_type[s]]
                wanted_e += edge_bound[seed_type[s]]
            share = caps[g] / wanted[g]
            floor = _FLOOR_PER_SEED * (group_ptr[g + 1] - group_ptr[g])
            for x in range(Sn):
                node_cap[x] += np.ceil(min(wanted_n[x], max(share * wanted_n[x], min(wanted_n[x], floor))))
            for x in range(Se):
                edge_cap[x] += np.ceil(min(wanted_e[x], max(share * wanted_e[x], min(wanted_e[x], floor))))
        for a in range(T):
            if full[a] > 0:
                for x in range(Sn):
                    node_cap[x] += full[a] * node_bound[a, x]
                for x in range(Se):
                    edge_cap[x] += full[a] * edge_bound[a, x]
        for x in range(Sn):
            node_seg[c, x] = at_node
            at_node += np.int64(node_cap[x])
        node_seg[c, Sn] = at_node
        for x in range(Se):
            edge_seg[c, x] = at_edge
            at_edge += np.int64(edge_cap[x])
        edge_seg[c, Se] = at_edge
        largest[0] = max(largest[0], node_seg[c, Sn] - node_seg[c, 0])
        largest[1] = max(largest[1], edge_seg[c, Se] - edge_seg[c, 0])
        largest[2] = max(largest[2], chunk_g[c + 1] - chunk_g[c])
    return C


@nb.njit(cache=True, inline="always")
def _claim(address, from_back):
    """The next chunk to sample, taken from the front (the caller) or the back (helpers) of the chunks
    left, or -1 when none is: ``*address`` holds (next from the front) << 32 | (one past the last from the
    back). Each thread's chunks stay contiguous, so the threads share no cache line but where their chunks
    meet: with chunks handed out in turn, the lines at the edges of every chunk's segments and counts
    travelled between the cores (measured: ~5-10% of a call's time)."""
    while True:
        word = load_acquire_i64(address)
        front, back = word >> 32, word & _LOW32
        if front >= back:
            return -1
        if from_back:
            if compare_swap_i64(address, word, (front << 32) | (back - 1)) == word:
                return back - 1
        elif compare_swap_i64(address, word, ((front + 1) << 32) | back) == word:
            return front


@nb.njit(cache=True)
def _sample_taken(C, counter, from_back, graph, src_ptr, src_list, num_node_types, fanouts, pair_flags, last, key,
                  seed_node, seed_type, group_ptr, group_time, chunk_g, node_seg, edge_seg, out_node, out_group,
                  out_row, out_col, out_eid, node_count, edge_count, overflow, table, f_node, f_type, f_group, f_code,
                  f_parent, f_via, p_index, p_type, p_kind, p_lo, p_hi, p_q, p_edge, q_pos, n_used, e_used, o_at,
                  o_src, o_group, o_code, o_type, o_node):
    """Sample the chunks taken from the claim word at ``counter`` (see :func:`_claim`; from its back when
    ``from_back``) into their stream segments (see the module docstring), until none is left.

    One call for all of a thread's chunks: a call per chunk would cost two reference-count operations
    per array argument each time.
    """
    stamp = np.int64(0)
    done = 0
    E = fanouts.shape[0]
    # Per expansion type t, at entries t * E + j: the next hop's types of its neighbours (see loop D), looked up
    # once per chunk and hop (``ready_of[t] == token``), not once per pair.
    next_type, next_stream, next_indices = np.empty(E * E, np.int64), np.empty(E * E, np.int64), np.empty(E * E, np.int64)
    next_start, next_end, next_back = np.empty(E * E, np.int64), np.empty(E * E, np.int64), np.empty(E * E, np.bool_)
    ahead_of, others_of, ready_of = np.empty(E, np.int64), np.empty(E, np.int64), np.zeros(E, np.int64)
    direct_of = np.empty(E * _DIRECT_COLUMNS, np.int64)
    token = 0
    while True:
        c = _claim(counter + 8 * WORK_NEXT, from_back)
        if c < 0:
            break
        done += 1
        stamp += 1
        if stamp == _STAMP_LIMIT:
            table[:] = 0
            stamp = 1
        num_edge_types, num_hops = fanouts.shape
        width = num_hops + 1
        g0, g1 = get(chunk_g, c), get(chunk_g, c + 1)
        for s in range(n_used.shape[0]):
            put(n_used, s, 0)
        for s in range(e_used.shape[0]):
            put(e_used, s, 0)
        failed = False
        listed = get(group_ptr, g1) - get(group_ptr, g0)
        if 2 * listed > table.shape[0] // 3:
            table = _grown(table, listed, stamp, c, g0, num_node_types, width, node_seg, out_node, out_group, n_used)
        mask = table.shape[0] // 3 - 1
        table_at = data_address(table)
        # Seeds are always listed (a node type's first rows are the seeds in order); a repeated listing
        # in one group maps to the first and is not expanded again.
        f = 0
        for g in range(g0, g1):
            tag = (stamp << 48) | ((g - g0) << 32)
            for s in range(get(group_ptr, g), get(group_ptr, g + 1)):
                v, vt = get(seed_node, s), get(seed_type, s)
                stream = vt * width
                code = (stream << 40) | get(n_used, stream)
                _, added = _find_or_add(table_at, mask, tag, v * num_node_types + vt, code)
                put(out_node, get2(node_seg, c, stream) + get(n_used, stream), v)
                put(out_group, get2(node_seg, c, stream) + get(n_used, stream), g)
                put(n_used, stream, get(n_used, stream) + 1)
                if added:
                    put(f_node, f, v)
                    put(f_type, f, vt)
                    put(f_group, f, g)
                    put(f_code, f, code)
                    put(f_parent, f, -1)
                    put(f_via, f, _SEED)
                    f += 1
        begin, end = 0, f
        # Immediate one-edge rows of the hop (see loop O), listed by loop A, or by the hop before's loop D
        # when its nodes are expanded as they are found (EXPAND_AT_ONCE).
        ones = 0
        for h in range(num_hops):
            keep = h + 1 < num_hops  # nodes found now are expanded at the next hop
            # Loop A: one pair per (frontier node, expansion type with a fan-out); prefetch what loop B
            # (row bounds) or loop C (time and neighbour of a one-edge row) reads.
            pairs = 0
            for i in range(begin, end):
                g = get(f_group, i)
                u = get(f_node, i)
                ut = get(f_type, i)
                via = get(f_via, i)
                timed = get(group_time, g) != INT64_MAX
                # A node found through an edge no older than the node is itself no newer than the anchor,
                # and so are its edges of a type whose edges are no newer than their source: no cut-off.
                found_in_time = via >= 0 and (get2(graph, via, COL_FLAGS) & NOT_OLDER_THAN_TARGET) != 0
                for ti in range(get(src_ptr, ut), get(src_ptr, ut + 1)):
                    t = get(src_list, ti)
                    if get2(fanouts, t, h) == 0:
                        continue
                    if (get2(pair_flags, t, h) & IMMEDIATE) != 0:
                        # Every pair of this expansion type at this hop is a back edge over a one-edge row or
                        # a one-edge row with nothing to cut and no node to expand (see ``CsrGraph.pair_flags``):
                        # its slot is taken now, in pair order, and loops B to D never see it.
                        stream = get2(graph, t, COL_REVERSE) * num_hops + h
                        at = get2(edge_seg, c, stream) + get(e_used, stream)
                        if at >= get2(edge_seg, c, stream + 1):
                            failed = True
                            break
                        put(e_used, stream, get(e_used, stream) + 1)
                        if via >= 0 and get2(graph, via, COL_REVERSE) == t:
                            put(out_row, at, get(f_parent, i))
                            put(out_col, at, get(f_code, i))
                            put(out_eid, at, u)
                        else:
                            prefetch_i64(get2(graph, t, COL_INDICES), u)
                            put(o_at, ones, at)
                            put(o_src, ones, u)
                            put(o_group, ones, g)
                            put(o_code, ones, get(f_code, i))
                            put(o_type, ones, t)
                            put(o_node, ones, -1)  # read in loop O
                            ones += 1
                        continue
                    flags = get2(graph, t, COL_FLAGS)
                    if via >= 0 and get2(graph, via, COL_REVERSE) == t and (flags & MAX1) != 0:
                        kind = _BACK
                        if (flags & TOTAL1) == 0:
                            prefetch_i64(get2(graph, t, COL_INDPTR), u)
                    else:
                        cut = timed and (flags & TIMED) != 0 and not (found_in_time and (flags & NOT_NEWER_THAN_SOURCE) != 0)
                        if (flags & TOTAL1) != 0:
                            kind = _ONE
                            prefetch_i64(get2(graph, t, COL_INDICES), u)
                            if cut:
                                prefetch_i64(get2(graph, t, COL_TIME), u)
                        else:
                            kind = _ROW
                            prefetch_i64(get2(graph, t, COL_INDPTR), u)
                        if cut:
                            kind |= _CUT
                    put(p_index, pairs, i)
                    put(p_type, pairs, t)
                    put(p_kind, pairs, kind)
                    pairs += 1
                if failed:
                    break
            if failed:
                break
            # Loop O: the neighbours of the immediate one-edge rows (prefetched in loop A), de-duplicated per
            # group and appended to their node streams, which no other pair of this hop feeds.
            if ones > 0:
                listed += ones
                if 2 * listed > mask + 1:
                    table = _grown(table, listed, stamp, c, g0, num_node_types, width, node_seg, out_node, out_group,
                                   n_used)
                    mask = table.shape[0] // 3 - 1
                    table_at = data_address(table)
            # The neighbours are read in a loop of their own: their loads then overlap, where a load
            # feeding the hash probe and its branches would hold the next ones back.
            for o in range(ones):
                if get(o_node, o) < 0:  # not yet read (see COL_THROUGH)
                    put(o_node, o, load_i64(get2(graph, get(o_type, o), COL_INDICES), get(o_src, o)))
            for o in range(ones):
                t = get(o_type, o)
                u = get(o_src, o)
                g = get(o_group, o)
                vt = get2(graph, t, COL_DST)
                stream = vt * width + h + 1
                count = get(n_used, stream)
                v = get(o_node, o)
                row, added = _find_or_add(table_at, mask, (stamp << 48) | ((g - g0) << 32), v * num_node_types + vt,
                                          (stream << 40) | count)
                if added:
                    if count == get2(node_seg, c, stream + 1) - get2(node_seg, c, stream):
                        failed = True
                        break
                    put(out_node, get2(node_seg, c, stream) + count, v)
                    put(out_group, get2(node_seg, c, stream) + count, g)
                    put(n_used, stream, count + 1)
                at = get(o_at, o)
                put(out_row, at, row)
                put(out_col, at, get(o_code, o))
                put(out_eid, at, u)
            ones = 0
            if failed:
                break
            # Loop B: row bounds; prefetch the times the cut-off reads.
            for p in range(pairs):
                t = get(p_type, p)
                u = get(f_node, get(p_index, p))
                kind = get(p_kind, p) & _KIND
                if kind == _ONE:
                    lo = u
                    hi = u + 1
                elif kind == _BACK:
                    lo = u if (get2(graph, t, COL_FLAGS) & TOTAL1) != 0 else load_i64(get2(graph, t, COL_INDPTR), u)
                    hi = lo + 1
                else:
                    address = get2(graph, t, COL_INDPTR)
                    lo = load_i64(address, u)
                    hi = load_i64(address, u + 1)
                    time_address = get2(graph, t, COL_TIME)
                    if hi > lo and (get(p_kind, p) & _CUT) != 0:
                        if hi - lo <= 32:
                            # Every line of the row: its first and last edges' lines (all of a row of up to 8
                            # edges, most rows), then any between, in a loop most rows skip.
                            prefetch_i64(time_address, lo)
                            for j in range(lo + 8, hi - 1, 8):
                                prefetch_i64(time_address, j)
                        else:  # the first three levels of the search's probes (see upper_bound)
                            m1 = (lo + hi - 1) >> 1
                            left, right = (lo + m1) >> 1, (m1 + hi) >> 1
                            prefetch_i64(time_address, m1)
                            prefetch_i64(time_address, left)
                            prefetch_i64(time_address, right)
                            prefetch_i64(time_address, (lo + left) >> 1)
                            prefetch_i64(time_address, (left + 1 + m1) >> 1)
                            prefetch_i64(time_address, (m1 + 1 + right) >> 1)
                            prefetch_i64(time_address, (right + hi) >> 1)
                        prefetch_i64(time_address, hi - 1)
                put(p_lo, p, lo)
                put(p_hi, p, hi)
            # Loop B2: time cut-offs. A row whose last edge is newer than the anchor is searched, one row
            # after the other: the out-of-order core overlaps the rows' probes (their times were prefetched
            # in loop B when the row is short), where interleaving the searches cost more in bookkeeping.
            for p in range(pairs):
                lo, hi = get(p_lo, p), get(p_hi, p)
                if (get(p_kind, p) & _CUT) == 0 or hi <= lo:
                    continue
                anchor = get(group_time, get(f_group, get(p_index, p)))
                time_address = get2(graph, get(p_type, p), COL_TIME)
                n = hi - lo
                if n <= _SHORT_ROW:
                    # A short row (most rows): its visible edges counted without a branch (each probe of a
                    # search, and the whole-row check, is a branch the predictor misses half the time).
                    # Positions past the row read its last edge again, counted only within the row.
                    visible = 0
                    for j in range(_SHORT_ROW):
                        at_j = lo + (j if j < n else n - 1)
                        visible += (j < n) & (load_i64(time_address, at_j) <= anchor)
                    put(p_hi, p, lo + visible)
                    continue
                if load_i64(time_address, hi - 1) <= anchor:
                    continue
                put(p_hi, p, upper_bound(time_address, lo, hi - 1, anchor))
            # Loop C: positions drawn, room reserved in the edge segment; prefetch the neighbours.
            q = 0
            for p in range(pairs):
                put(p_q, p, q)
                if failed:
                    continue
                t = get(p_type, p)
                kind = get(p_kind, p) & _KIND
                i = get(p_index, p)
                g = get(f_group, i)
                lo, hi = get(p_lo, p), get(p_hi, p)
                cnt = hi - lo
                k = get2(fanouts, t, h)
                take = cnt if (k < 0 or k >= cnt) else k
                if take <= 0:
                    continue
                stream = get2(graph, t, COL_REVERSE) * num_hops + h
                if get2(edge_seg, c, stream) + get(e_used, stream) + take > get2(edge_seg, c, stream + 1):
                    failed = True
                    continue
                at = get2(edge_seg, c, stream) + get(e_used, stream)
                put(e_used, stream, get(e_used, stream) + take)
                if kind == _BACK:  # known in full: written now, loop D skips it
                    put(out_row, at, get(f_parent, i))
                    put(out_col, at, get(f_code, i))
                    put(out_eid, at, lo)
                    continue
                put(p_edge, p, at)
                address = get2(graph, t, COL_INDICES)
                through = get2(graph, t, COL_THROUGH)
                if take == cnt or last:
                    first = hi - take
                    # A fixed number of positions written (``q_pos`` has room past its end), where a loop of
                    # ``take`` steps would end in a branch the predictor misses: ``take`` varies from pair to pair.
                    if take <= _WIDE:
                        for j in range(_WIDE):
                            put(q_pos, q + j, first + j)
                    else:
                        for j in range(take):
                            put(q_pos, q + j, first + j)
                    if kind == _ROW:  # a one-edge row's neighbour was prefetched in loop A
                        # The first and last neighbours' lines are every line of up to 8 neighbours (most rows).
                        prefetch_i64(address, first)
                        prefetch_i64(address, hi - 1)
                        if through != 0:
                            prefetch_i64(through, first)
                            prefetch_i64(through, hi - 1)
                        for j in range(first + 8, hi - 1, 8):
                            prefetch_i64(address, j)
                            if through != 0:
                                prefetch_i64(through, j)
                else:
                    # Floyd's algorithm: ``take`` distinct positions of ``cnt``. A draw is compared with the ones
                    # before it only when a 64-bit mask of their positions (mod 64) says it may repeat one.
                    gkey = mix64(key ^ mix64(np.uint64(g) + _GOLDEN))
                    base = mix64(gkey ^ mix64(np.uint64(get(f_node, i)) * np.uint64(num_edge_types) + np.uint64(t)))
                    m = 0
                    seen = np.uint64(0)
                    for j in range(cnt - take, cnt):
                        r = lo + draw_below(base, j, j + 1)
                        if (seen >> np.uint64(r & 63)) & np.uint64(1):
                            for x in range(m):
                                if get(q_pos, q + x) == r:
                                    r = lo + j
                                    break
                        seen |= np.uint64(1) << np.uint64(r & 63)
                        put(q_pos, q + m, r)
                        prefetch_i64(address, r)
                        if through != 0:
                            prefetch_i64(through, r)
                        m += 1
                q += take
            put(p_q, pairs, q)
            if failed:
                break
            # Loop D: neighbours read, de-duplicated per group, appended to their segments with the edges.
            fill = end
            token += 1
            for p in range(pairs):
                q0, q1 = get(p_q, p), get(p_q, p + 1)
                if q0 == q1:
                    continue
                i = get(p_index, p)
                col = get(f_code, i)
                at = get(p_edge, p)
                t = get(p_type, p)
                g = get(f_group, i)
                nt = t * E
                b = t * _DIRECT_COLUMNS
                if get(ready_of, t) != token:
                    # What this chunk and hop's pairs of type t share, looked up once for all of them. With
                    # EXPAND_AT_ONCE, the next hop's expansion types of the neighbours (``ahead`` of them): edge
                    # stream and its segment, back edge or not, neighbours; and whether the pairs take the
                    # one-pass path below (``direct``), with what it writes to.
                    vt = get2(graph, t, COL_DST)
                    ahead = others = 0  # others: those that are not the way back
                    onward = np.int64(-1)
                    if keep and (get2(pair_flags, t, h) & EXPAND_AT_ONCE) != 0:
                        for ti in range(get(src_ptr, vt), get(src_ptr, vt + 1)):
                            t2 = get(src_list, ti)
                            if get2(fanouts, t2, h + 1) != 0:
                                put(next_type, nt + ahead, t2)
                                stream2 = get2(graph, t2, COL_REVERSE) * num_hops + h + 1
                                put(next_stream, nt + ahead, stream2)
                                put(next_start, nt + ahead, get2(edge_seg, c, stream2))
                                put(next_end, nt + ahead, get2(edge_seg, c, stream2 + 1))
                                put(next_back, nt + ahead, get2(graph, t, COL_REVERSE) == t2)
                                put(next_indices, nt + ahead, get2(graph, t2, COL_INDICES))
                                if not get2(graph, t, COL_REVERSE) == t2:
                                    others += 1
                                    onward = t2
                                ahead += 1
                    put(ahead_of, t, ahead)
                    put(others_of, t, others)
                    put(ready_of, t, token)
                    through = get2(graph, t, COL_THROUGH)
                    # The one-pass path: every neighbour new to its group (FRESH), expanded at once into the way
                    # back (when sampled) and one onward link read through this row, at the hop before the last.
                    direct = ((get2(pair_flags, t, h) & FRESH) != 0 and ahead > 0 and others == 1 and through != 0
                              and onward == get2(graph, t, COL_THROUGH_TYPE) and h + 2 == num_hops)
                    put(direct_of, b + _D_ON, 1 if direct else 0)
                    if direct:
                        stream = vt * width + h + 1
                        put(direct_of, b + _D_STREAM, stream)
                        put(direct_of, b + _D_START, get2(node_seg, c, stream))
                        put(direct_of, b + _D_ROOM, get2(node_seg, c, stream + 1) - get2(node_seg, c, stream))
                        jo = 1 if ahead == 2 and get(next_back, nt) else 0
                        put(direct_of, b + _D_STREAM_O, get(next_stream, nt + jo))
                        put(direct_of, b + _D_START_O, get(next_start, nt + jo))
                        put(direct_of, b + _D_END_O, get(next_end, nt + jo))
                        put(direct_of, b + _D_STREAM_B, get(next_stream, nt + 1 - jo) if ahead == 2 else -1)
                        put(direct_of, b + _D_START_B, get(next_start, nt + 1 - jo) if ahead == 2 else 0)
                        put(direct_of, b + _D_END_B, get(next_end, nt + 1 - jo) if ahead == 2 else 0)
                        vt2 = get2(graph, onward, COL_DST)
                        stream3 = vt2 * width + h + 2
                        put(direct_of, b + _D_VT2, vt2)
                        put(direct_of, b + _D_STREAM3, stream3)
                        put(direct_of, b + _D_START3, get2(node_seg, c, stream3))
                        put(direct_of, b + _D_ROOM3, get2(node_seg, c, stream3 + 1) - get2(node_seg, c, stream3))
                n = q1 - q0
                if get(direct_of, b + _D_ON) != 0 and ones == 0:
                    stream = get(direct_of, b + _D_STREAM)
                    count = get(n_used, stream)
                    stream_o = get(direct_of, b + _D_STREAM_O)
                    at_o = get(direct_of, b + _D_START_O) + get(e_used, stream_o)
                    stream_b = get(direct_of, b + _D_STREAM_B)
                    back = stream_b >= 0
                    at_b = get(direct_of, b + _D_START_B) + (get(e_used, stream_b) if back else 0)
                    if (count + n <= get(direct_of, b + _D_ROOM) and at_o + n <= get(direct_of, b + _D_END_O)
                            and (not back or at_b + n <= get(direct_of, b + _D_END_B))):
                        # A fact's row, its way back (when sampled) and its one onward link, read through the row,
                        # in one pass, so a pair pays one loop exit (a branch the predictor misses: pairs hold a
                        # few neighbours each) instead of one per pass. The onward links are de-duplicated here, as
                        # loop O would (at the last hop, in the same order: nothing is waiting for loop O yet),
                        # sparing their list entries. Every slot and list entry lands where the loop below would
                        # leave it.
                        listed += 2 * n
                        if 2 * listed > mask + 1:
                            table = _grown(table, listed, stamp, c, g0, num_node_types, width, node_seg, out_node,
                                           out_group, n_used)
                            mask = table.shape[0] // 3 - 1
                            table_at = data_address(table)
                        put(e_used, stream_o, get(e_used, stream_o) + n)
                        if back:
                            put(e_used, stream_b, get(e_used, stream_b) + n)
                        address = get2(graph, t, COL_INDICES)
                        through = get2(graph, t, COL_THROUGH)
                        tag = (stamp << 48) | ((g - g0) << 32)
                        code = (stream << 40) | count
                        node_at = get(direct_of, b + _D_START) + count
                        vt2 = get(direct_of, b + _D_VT2)
                        stream3 = get(direct_of, b + _D_STREAM3)
                        start3 = get(direct_of, b + _D_START3)
                        room3 = get(direct_of, b + _D_ROOM3)
                        count3 = get(n_used, stream3)
                        for k in range(n):
                            pos = get(q_pos, q0 + k)
                            v = load_i64(address, pos)
                            v2 = load_i64(through, pos)
                            put(out_node, node_at + k, v)
                            put(out_group, node_at + k, g)
                            put(out_row, at + k, code + k)
                            put(out_col, at + k, col)
                            put(out_eid, at + k, pos)
                            if back:
                                put(out_row, at_b + k, col)
                                put(out_col, at_b + k, code + k)
                                put(out_eid, at_b + k, v)
                            row2, added = _find_or_add(table_at, mask, tag, v2 * num_node_types + vt2,
                                                       (stream3 << 40) | count3)
                            if added:
                                if count3 == room3:
                                    failed = True
                                    break
                                put(out_node, start3 + count3, v2)
                                put(out_group, start3 + count3, g)
                                count3 += 1
                            put(out_row, at_o + k, row2)
                            put(out_col, at_o + k, code + k)
                            put(out_eid, at_o + k, v)
                        put(n_used, stream3, count3)
                        put(n_used, stream, count + n)
                        if failed:
                            break
                        continue
                listed += q1 - q0
                if 2 * listed > mask + 1:
                    table = _grown(table, listed, stamp, c, g0, num_node_types, width, node_seg, out_node, out_group,
                                   n_used)
                    mask = table.shape[0] // 3 - 1
                    table_at = data_address(table)
                address = get2(graph, t, COL_INDICES)
                vt = get2(graph, t, COL_DST)
                tag = (stamp << 48) | ((g - g0) << 32)
                stream = vt * width + h + 1
                start = get2(node_seg, c, stream)
                room = get2(node_seg, c, stream + 1) - start
                count = get(n_used, stream)
                fresh = (get2(pair_flags, t, h) & FRESH) != 0
                at_once = keep and (get2(pair_flags, t, h) & EXPAND_AT_ONCE) != 0
                through, through_type = get2(graph, t, COL_THROUGH), get2(graph, t, COL_THROUGH_TYPE)
                ahead, others = get(ahead_of, t), get(others_of, t)
                n = q1 - q0
                bulk = fresh and count + n <= room
                for j in range(ahead):
                    if get(next_start, nt + j) + get(e_used, get(next_stream, nt + j)) + n > get(next_end, nt + j):
                        bulk = False
                if bulk:
                    # Every neighbour is new (FRESH) and there is room for all: what the loop below does per
                    # neighbour, done step by step over all of them (tight loops, no per-neighbour branches),
                    # leaving every slot and list entry where that loop would.
                    code = (stream << 40) | count
                    node_at = start + count
                    for k in range(n):
                        pos = get(q_pos, q0 + k)
                        v = load_i64(address, pos)
                        put(out_node, node_at + k, v)
                        put(out_group, node_at + k, g)
                        put(out_row, at + k, code + k)
                        put(out_col, at + k, col)
                        put(out_eid, at + k, pos)
                    jj = 0  # among the next hop's types that are not the way back
                    for j in range(ahead):
                        stream2 = get(next_stream, nt + j)
                        at2 = get(next_start, nt + j) + get(e_used, stream2)
                        put(e_used, stream2, get(e_used, stream2) + n)
                        if get(next_back, nt + j):
                            for k in range(n):
                                put(out_row, at2 + k, col)
                                put(out_col, at2 + k, code + k)
                                put(out_eid, at2 + k, get(out_node, node_at + k))
                            continue
                        indices, t2 = get(next_indices, nt + j), get(next_type, nt + j)
                        read_through = through != 0 and t2 == through_type
                        for k in range(n):
                            v = get(out_node, node_at + k)
                            o = ones + k * others + jj  # neighbour after neighbour, type after type
                            if read_through:  # the neighbour's neighbour, in the row order
                                put(o_node, o, load_i64(through, get(q_pos, q0 + k)))
                            else:
                                prefetch_i64(indices, v)
                                put(o_node, o, -1)  # read in loop O
                            put(o_at, o, at2 + k)
                            put(o_src, o, v)
                            put(o_group, o, g)
                            put(o_code, o, code + k)
                            put(o_type, o, t2)
                        jj += 1
                    ones += n * others
                    if keep and not at_once:
                        for k in range(n):
                            put(f_node, fill + k, get(out_node, node_at + k))
                            put(f_type, fill + k, vt)
                            put(f_group, fill + k, g)
                            put(f_code, fill + k, code + k)
                            put(f_parent, fill + k, col)
                            put(f_via, fill + k, t)
                        fill += n
                    count += n
                    at += n
                    n = 0  # nothing left for the loop below
                for x in range(q1 - n, q1):
                    pos = get(q_pos, x)
                    v = load_i64(address, pos)
                    if fresh:
                        row, added = (stream << 40) | count, True
                    else:
                        row, added = _find_or_add(table_at, mask, tag, v * num_node_types + vt,
                                                  (stream << 40) | count)
                    if added:
                        if count == room:
                            failed = True
                            break
                        put(out_node, start + count, v)
                        put(out_group, start + count, g)
                        count += 1
                        if at_once:
                            # The node's pairs at the next hop, all immediate, done now as loop A does them
                            # (from the types looked up above): it skips the frontier and the next hop's first
                            # loop. (Loop A's lines, not a shared function: an inlined function taking arrays
                            # costs reference counts on shared arrays per pair, which both threads contend for.)
                            for j in range(ahead):
                                stream2 = get(next_stream, nt + j)
                                at2 = get(next_start, nt + j) + get(e_used, stream2)
                                if at2 >= get(next_end, nt + j):
                                    failed = True
                                    break
                                put(e_used, stream2, get(e_used, stream2) + 1)
                                if get(next_back, nt + j):  # the way back: a back edge
                                    put(out_row, at2, col)
                                    put(out_col, at2, row)
                                    put(out_eid, at2, v)
                                else:
                                    if through != 0 and get(next_type, nt + j) == through_type:
                                        put(o_node, ones, load_i64(through, pos))
                                    else:
                                        prefetch_i64(get(next_indices, nt + j), v)
                                        put(o_node, ones, -1)  # read in loop O
                                    put(o_at, ones, at2)
                                    put(o_src, ones, v)
                                    put(o_group, ones, g)
                                    put(o_code, ones, row)
                                    put(o_type, ones, get(next_type, nt + j))
                                    ones += 1
                            if failed:
                                break
                        elif keep:
                            put(f_node, fill, v)
                            put(f_type, fill, vt)
                            put(f_group, fill, g)
                            put(f_code, fill, row)
                            put(f_parent, fill, col)
                            put(f_via, fill, t)
                            fill += 1
                    put(out_row, at, row)
                    put(out_col, at, col)
                    put(out_eid, at, pos)
                    at += 1
                put(n_used, stream, count)
                if failed:
                    break
            if failed:
                break
            begin, end = end, fill
        if failed:
            # Room is shared by the chunk's groups: every capped one gets more on the retry.
            overflow[g0:g1] = 1
        for s in range(n_used.shape[0]):
            put2(node_count, c, s, get(n_used, s))
        for s in range(e_used.shape[0]):
            put2(edge_count, c, s, get(e_used, s))
    # Once per thread, not per chunk: the counter's cache line would travel between the threads each time.
    _add_and_wake(counter + 8 * WORK_DONE, done, counter + 8 * WORK_WAITER)


@nb.njit(cache=True)
def plan_size(G, Sn, Se):
    """int64 slots of the per-call buffer :func:`_carve` lays out for G groups and Sn/Se streams."""
    return 2 * (G + 1) + 4 * G + 4 + G * (Sn + 1) + G * (Se + 1) + 3 * G * Sn + 2 * G * Se


@nb.njit(cache=True, inline="always")
def _carve(buf, G, Sn, Se):
    """The per-call arrays as views of one buffer (``plan_size(G, Sn, Se)`` slots; G groups make at most G
    chunks): ``(group_ptr [G+1], chunk_g [G+1], group_time [G], caps [G], overflow [G], largest [4],
    node_seg [G, Sn+1], edge_seg [G, Se+1], node_count, node_base, offset [G, Sn], edge_count, edge_base
    [G, Se])``. One buffer kept between calls spares a dozen allocations and arguments per call."""
    at = 0
    group_ptr = buf[at:at + G + 1]
    at += G + 1
    chunk_g = buf[at:at + G + 1]
    at += G + 1
    group_time = buf[at:at + G]
    at += G
    caps = buf[at:at + G]
    at += G
    overflow = buf[at:at + G]
    at += G
    largest = buf[at:at + 4]  # [3]: the number of chunks (see _sample_steps)
    at += 4
    node_seg = buf[at:at + G * (Sn + 1)].reshape((G, Sn + 1))
    at += G * (Sn + 1)
    edge_seg = buf[at:at + G * (Se + 1)].reshape((G, Se + 1))
    at += G * (Se + 1)
    node_count = buf[at:at + G * Sn].reshape((G, Sn))
    at += G * Sn
    node_base = buf[at:at + G * Sn].reshape((G, Sn))
    at += G * Sn
    offset = buf[at:at + G * Sn].reshape((G, Sn))
    at += G * Sn
    edge_count = buf[at:at + G * Se].reshape((G, Se))
    at += G * Se
    edge_base = buf[at:at + G * Se].reshape((G, Se))
    return (group_ptr, chunk_g, group_time, caps, overflow, largest, node_seg, edge_seg, node_count, node_base, offset,
            edge_count, edge_base)


@nb.njit(cache=True, inline="always")
def _carve_segments(seg, node_cap, edge_cap):
    """The segment scratch as views of one buffer: ``(node, group [node_cap], row, col, eid [edge_cap])``."""
    return (seg[:node_cap], seg[node_cap:2 * node_cap], seg[2 * node_cap:2 * node_cap + edge_cap],
            seg[2 * node_cap + edge_cap:2 * node_cap + 2 * edge_cap],
            seg[2 * node_cap + 2 * edge_cap:2 * node_cap + 3 * edge_cap])


@nb.njit(cache=True)
def _take_chunks(C, from_back, graph, src_ptr, src_list, num_node_types, fanouts, pair_flags, last, key, seed_node,
                 seed_type, buf, G, seg, node_cap, edge_cap, work):
    """Sample chunks claimed from ``work[WORK_NEXT]`` (from its back when ``from_back``) until none is left.

    Any number of threads may run this at once on the same arguments (each chunk is sampled once);
    ``work[WORK_DONE]`` counts the chunks finished (each thread adds its count when it runs out).
    ``pair_flags`` [E, H] marks the (expansion type, hop) pairs finished in the first loop (``IMMEDIATE``) and
    those whose neighbours are new to their group (``FRESH``; see the module docstring). Written: the
    segments, and per chunk its node and edge counts per stream and ``overflow`` (groups that ran out of room).
    """
    (group_ptr, chunk_g, group_time, caps, overflow, largest, node_seg, edge_seg, node_count, node_base, offset,
     edge_count, edge_base) = _carve(buf, G, (num_node_types * (fanouts.shape[1] + 1)),
                                     fanouts.shape[0] * fanouts.shape[1])
    out_node, out_group, out_row, out_col, out_eid = _carve_segments(seg, node_cap, edge_cap)
    max_nodes, max_edges = largest[0], largest[1]
    max_out = 1
    for a in range(src_ptr.shape[0] - 1):
        max_out = max(max_out, src_ptr[a + 1] - src_ptr[a])
    pair_cap = max_nodes * max_out
    table = np.zeros(3 * _TABLE_START, np.int64)
    f_node = np.empty(max_nodes, np.int64)
    f_type = np.empty(max_nodes, np.int64)
    f_group = np.empty(max_nodes, np.int64)
    f_code = np.empty(max_nodes, np.int64)
    f_parent = np.empty(max_nodes, np.int64)
    f_via = np.empty(max_nodes, np.int64)
    p_index = np.empty(pair_cap, np.int64)
    p_type = np.empty(pair_cap, np.int64)
    p_kind = np.empty(pair_cap, np.int64)
    p_lo = np.empty(pair_cap, np.int64)
    p_hi = np.empty(pair_cap, np.int64)
    p_q = np.empty(pair_cap + 1, np.int64)
    p_edge = np.empty(pair_cap, np.int64)
    q_pos = np.empty(max_edges + 1 + _WIDE, np.int64)  # room for loop C's fixed-width writes
    o_at = np.empty(pair_cap, np.int64)
    o_src = np.empty(pair_cap, np.int64)
    o_group = np.empty(pair_cap, np.int64)
    o_code = np.empty(pair_cap, np.int64)
    o_type = np.empty(pair_cap, np.int64)
    o_node = np.empty(pair_cap, np.int64)
    n_used = np.empty(node_count.shape[1], np.int64)
    e_used = np.empty(edge_count.shape[1], np.int64)
    _sample_taken(
        C, data_address(work), from_back, graph, src_ptr, src_list, num_node_types, fanouts, pair_flags, last, key,
        seed_node, seed_type, group_ptr, group_time, chunk_g, node_seg, edge_seg, out_node, out_group, out_row, out_col,
        out_eid, node_count, edge_count, overflow, table, f_node, f_type, f_group, f_code, f_parent, f_via, p_index,
        p_type, p_kind, p_lo, p_hi, p_q, p_edge, q_pos, n_used, e_used, o_at, o_src, o_group, o_code, o_type, o_node)


@nb.njit(cache=True, inline="always")
def _wait_while(address, value, spin):
    """Wait until ``*address != value`` or ``spin`` pauses have passed; returns the value last read."""
    held = load_acquire_i64(address)
    n = 0
    while held == value and n < spin:
        spin_pause()
        held = load_acquire_i64(address)
        n += 1
    return held


@nb.njit(cache=True)
def _wait_until(address, target, waiter, spin):
    """Wait until ``*address >= target``: ``spin`` pauses, then asleep on the word at ``address`` until the
    thread that adds to it wakes this one, which it does when ``*waiter`` is set. (Not a yielding loop: on a
    busy machine the thread waited for may need the core such a loop would keep busy.)"""
    n = 0
    while True:
        held = load_acquire_i64(address)
        if held >= target:
            return
        if n < spin:
            spin_pause()
            n += 1
            continue
        # A thread that adds after this add sees the flag and wakes this one; one that added before it
        # changed the word, so the wait returns at once.
        fetch_add_i64(waiter, 1)
        held = load_acquire_i64(address)
        if held < target:
            futex_wait(address, held)
        fetch_add_i64(waiter, -1)


@nb.njit(cache=True, inline="always")
def _add_and_wake(address, count, waiter):
    """Add ``count`` to ``*address`` and wake the thread asleep on it in :func:`_wait_until`, if ``*waiter``
    says one is (the other half of that wait)."""
    fetch_add_i64(address, count)
    if load_acquire_i64(waiter) != 0:
        futex_wake(address, 1)


@nb.njit(cache=True)
def _layout(C, num_hops, node_count, edge_count, node_base, edge_base, offset, node_totals, edge_totals):
    """Output position of every [chunk, stream] segment (stream-major, then chunk order) into
    ``node_base``/``edge_base``, each node segment's shift from output positions to positions within its
    node type into ``offset``, and the per-stream totals into ``node_totals`` [T, H+1] and ``edge_totals``
    [E, H]. Returns (nodes, edges) in all."""
    width = num_hops + 1
    Sn, Se = node_count.shape[1], edge_count.shape[1]
    at = 0
    type_start = 0
    for s in range(Sn):
        if s % width == 0:
            type_start = at
        first = at
        for c in range(C):
            put2(node_base, c, s, at)
            put2(offset, c, s, at - type_start)
            at += get2(node_count, c, s)
        put2(node_totals, s // width, s % width, at - first)
    N = at
    at = 0
    for s in range(Se):
        first = at
        for c in range(C):
            put2(edge_base, c, s, at)
            at += get2(edge_count, c, s)
        put2(edge_totals, s // num_hops, s % num_hops, at - first)
    return N, at


@nb.njit(cache=True)
def _lay_out(C, num_node_types, num_edge_types, num_hops, buf, G):
    """Lay the output out: each segment's position (:func:`_layout`) and a fresh output buffer (not yet
    filled: see :func:`_copy_out`). Returns ``(status, flat, node_totals, edge_totals)`` as
    :func:`sample_request` does."""
    Sn, Se = num_node_types * (num_hops + 1), num_edge_types * num_hops
    (group_ptr, chunk_g, group_time, caps, overflow, largest, node_seg, edge_seg, node_count, node_base, offset,
     edge_count, edge_base) = _carve(buf, G, Sn, Se)
    node_totals = np.zeros((num_node_types, num_hops + 1), np.int64)
    edge_totals = np.zeros((num_edge_types, num_hops), np.int64)
    if overflow.any():
        return OVERFLOW, np.empty(0, np.int64), node_totals, edge_totals
    N, M = _layout(C, num_hops, node_count, edge_count, node_base, edge_base, offset, node_totals, edge_totals)
    # One buffer, node | batch | row | col | eid: the caller makes one tensor of it, split in one call.
    return OK, np.empty(2 * N + 3 * M, np.int64), node_totals, edge_totals


@nb.njit(cache=True)
def _copy_out(work, graph, num_node_types, num_edge_types, num_hops, buf, G, seg, node_cap, edge_cap, from_back):
    """Copy chunks' segments into the output buffer laid out by :func:`_lay_out` (its address and sizes in
    ``work``), edges with their codes turned into positions within their node type: the chunks taken from
    ``work[WORK_COPY_NEXT]`` (from its back when ``from_back``: a helper, which sampled those) until none
    is left; ``work[WORK_COPIED]`` counts the chunks copied.

    A helper copies while the caller turns the output into tensors, and the caller takes what is left
    then. (Copying is bound by memory bandwidth: both threads copying from the start gave the same wall
    time and more CPU time.) Unsigned indices let the plain copies vectorize.
    """
    work_at = data_address(work)
    C, N, M = load_i64(work_at, WORK_CHUNKS), load_i64(work_at, WORK_N), load_i64(work_at, WORK_M)
    flat = nb.carray(int64_pointer(load_i64(work_at, WORK_FLAT)), 2 * N + 3 * M)
    node, batch = flat[:N], flat[N:2 * N]
    row, col, eid = flat[2 * N:2 * N + M], flat[2 * N + M:2 * N + 2 * M], flat[2 * N + 2 * M:]
    Sn, Se = num_node_types * (num_hops + 1), num_edge_types * num_hops
    (group_ptr, chunk_g, group_time, caps, overflow, largest, node_seg, edge_seg, node_count, node_base, offset,
     edge_count, edge_base) = _carve(buf, G, Sn, Se)
    out_node, out_group, out_row, out_col, out_eid = _carve_segments(seg, node_cap, edge_cap)
    done = 0
    while True:
        c = _claim(work_at + 8 * WORK_COPY_NEXT, from_back)
        if c < 0:
            break
        done += 1
        for s in range(Sn):
            n, src = np.uint64(get2(node_count, c, s)), np.uint64(get2(node_seg, c, s))
            dst = np.uint64(get2(node_base, c, s))
            for j in range(n):
                node[dst + j] = out_node[src + j]
                batch[dst + j] = out_group[src + j]
        for s in range(Se):
            if get2(edge_count, c, s) == 0:  # most streams of a chunk (types, hops) are empty
                continue
            n, src = np.uint64(get2(edge_count, c, s)), np.uint64(get2(edge_seg, c, s))
            dst = np.uint64(get2(edge_base, c, s))
            for j in range(n):
                eid[dst + j] = out_eid[src + j]
            # An edge's column is the node it was found from, a node of the hop's frontier: all columns of
            # the stream point into one node stream, so a shift turns them into positions (a loop that
            # vectorizes).
            col_stream = get2(graph, s // num_hops, COL_DST) * (num_hops + 1) + s % num_hops
            shift = get2(offset, c, col_stream) - (col_stream << 40)
            for j in range(n):
                col[dst + j] = out_col[src + j] + shift
            # Rows may point into any node stream, but nearly always into one (the hop's new nodes): then a
            # shift too, found by a first pass over the (then cached) codes; else one lookup per row.
            low, high = INT64_MAX, np.int64(-1)
            for j in range(n):
                r = out_row[src + j] >> 40
                low, high = min(low, r), max(high, r)
            if low == high:
                shift = get2(offset, c, low) - (low << 40)
                for j in range(n):
                    row[dst + j] = out_row[src + j] + shift
            else:
                for j in range(n):
                    r = out_row[src + j]
                    row[dst + j] = get2(offset, c, r >> 40) + (r & _LOW40)
    _add_and_wake(work_at + 8 * WORK_COPIED, done, work_at + 8 * WORK_COPY_WAITER)


@nb.njit(cache=True)
def _sample_steps(graph, src_ptr, src_list, num_node_types, fanouts, pair_flags, last, key, seed_node, seed_type,
                  seed_time, group, node_bound, edge_bound, budget, caps_in, chunk_slots, buf, G, seg, node_cap,
                  edge_cap, work, spin, same_plan, defer_copy, seed_count):
    """The caller's steps of :func:`sample_request`."""
    work_at = data_address(work)
    num_edge_types, num_hops = fanouts.shape
    Sn, Se = num_node_types * (num_hops + 1), num_edge_types * num_hops
    (group_ptr, chunk_g, group_time, caps, overflow, largest, node_seg, edge_seg, node_count, node_base, offset,
     edge_count, edge_base) = _carve(buf, G, Sn, Se)
    if same_plan:  # one seed per group: only the anchors differ from the plan ``buf`` holds
        C = largest[3]
        if seed_time.shape[0] > 0:
            group_time[:] = seed_time
        else:
            group_time[:] = INT64_MAX
    else:
        C = plan(group, seed_type, seed_time, node_bound, edge_bound, budget, caps_in, chunk_slots, group_ptr,
                 group_time, caps, chunk_g, node_seg, edge_seg, largest)
        largest[3] = C
    overflow[:] = 0
    if seed_count >= 0:  # checked here, not before the call: the kernel reads the seeds next anyway
        bad = first_out_of_range(seed_node, seed_count)
        if bad >= 0:
            store_i64(work_at, WORK_NEED, bad)
            store_release_i64(work_at + 8 * WORK_STATE, CLOSED)
            return SEED_OUT_OF_RANGE, np.empty(0, np.int64), np.empty((0, 0), np.int64), np.empty((0, 0), np.int64)
    need_nodes = node_seg[C - 1, Sn] if C else 0
    need_edges = edge_seg[C - 1, Se] if C else 0
    if need_nodes > node_cap or need_edges > edge_cap:
        store_i64(work_at, WORK_NEED, need_nodes)
        store_i64(work_at, WORK_NEED + 1, need_edges)
        store_release_i64(work_at + 8 * WORK_STATE, CLOSED)
        return SCRATCH, np.empty(0, np.int64), np.empty((0, 0), np.int64), np.empty((0, 0), np.int64)
    store_i64(work_at, WORK_CHUNKS, C)
    store_i64(work_at, WORK_NEXT, C)  # front 0, back C (see _claim)
    store_release_i64(work_at + 8 * WORK_STATE, SAMPLING)
    _take_chunks(C, False, graph, src_ptr, src_list, num_node_types, fanouts, pair_flags, last, key, seed_node,
                 seed_type, buf, G, seg, node_cap, edge_cap, work)
    _wait_until(work_at + 8 * WORK_DONE, C, work_at + 8 * WORK_WAITER, spin)
    out = _lay_out(C, num_node_types, num_edge_types, num_hops, buf, G)
    if out[0] != OK:
        store_release_i64(work_at + 8 * WORK_STATE, CLOSED)
        return out
    store_i64(work_at, WORK_FLAT, data_address(out[1]))
    store_i64(work_at, WORK_N, out[2].sum())
    store_i64(work_at, WORK_M, out[3].sum())
    store_i64(work_at, WORK_COPY_NEXT, C)  # front 0, back C (see _claim)
    if defer_copy:  # a helper may copy while the caller goes on (see complete_request)
        store_release_i64(work_at + 8 * WORK_STATE, COPYING)
    else:
        store_release_i64(work_at + 8 * WORK_STATE, CLOSED)
        _copy_out(work, graph, num_node_types, num_edge_types, num_hops, buf, G, seg, node_cap, edge_cap, False)
    return out


@nb.njit(cache=True, nogil=True)
def sample_request(graph, src_ptr, src_list, num_node_types, fanouts, pair_flags, last, key, seed_node, seed_type,
                   seed_time, group, node_bound, edge_bound, budget, caps_in, chunk_slots, buf, G, seg, node_cap,
                   edge_cap, work, mail, seats, spin, same_plan, seed_count):
    """Sample a validated request on the calling thread and ``seats`` helper threads (see :func:`helper_loop`).

    Steps: :func:`plan`; the chunks, taken from a shared counter by the caller and the helpers
    (``work[WORK_STATE]`` tells a helper when the plan is ready); :func:`_lay_out`; :func:`_copy_out`.
    Helpers are woken first thing (waking a sleeping thread takes longer than planning); one that arrives
    late finds the chunks taken. With helpers, an OK call returns as soon as the output is laid out: a
    helper copies the segments into it meanwhile, so the caller can make its views (tensors) at the same
    time, and the caller must then call :func:`complete_request` (which copies the chunks left and
    returns once every chunk is copied and every helper that joined the call has left) before reading the
    output or reusing any array of the call. Without helpers, or when not OK, the call is complete when
    it returns.

    Args:
        graph ... seed_type: as :func:`_take_chunks`, but ``key`` as an int64 holding its 64 bits (a Python
            int above 2**63 would make numba compile a second variant); seed_time, group, node_bound ...
            chunk_slots: as :func:`plan`.
        buf: int64 [``plan_size(G, Sn, Se)``] per-call scratch for G groups (see :func:`_carve`).
        seg: int64 [2 * node_cap + 3 * edge_cap] segment scratch (see :func:`_carve_segments`).
        work: int64 [WORK_SIZE] zeros (a fresh one per call).
        mail: int64 [MAIL_SIZE] the helpers' mailbox; seats: how many helpers may join (0: none).
        spin: pauses to wait for another thread before sleeping until it wakes this one.
        same_plan: ``buf`` holds the plan of a call that differed only in its seeds' nodes and anchors, with
            one seed per group (G seeds), no ``caps_in`` and the same seed type, bounds, budget and
            chunk_slots: planning is skipped but for the anchors.
        seed_count: -1, or the number of nodes of the seeds' one type, when their range is still to check.

    Returns:
        ``(status, flat, node_totals, edge_totals)``: OK with ``flat`` holding, one after the other, the
        N nodes and their N groups, and the M edges' rows, columns (positions within their node type) and
        edge ids (int64), node_totals [T, H+1] and edge_totals [E, H] (nodes per node type and hop, edges
        per edge type and hop; N and M their sums). (Few return values: each array returned costs about a
        microsecond to hand to Python.) Otherwise an empty ``flat`` and: OVERFLOW when a group ran out of
        room (retry with :func:`next_caps`); SCRATCH when the segment scratch needs
        ``work[WORK_NEED:WORK_NEED+2]`` node and edge slots; SEED_OUT_OF_RANGE when seed
        ``work[WORK_NEED]`` lies outside ``0..seed_count-1`` (nothing sampled; the plan in ``buf`` stands).
    """
    random_key = np.uint64(key)  # passed as its int64 bits: one compiled variant whatever the key
    mail_at = data_address(mail)
    if seats > 0:
        _publish(mail_at, seats, graph, src_ptr, src_list, num_node_types, fanouts, pair_flags, last, random_key,
                 seed_node, seed_type, buf, G, seg, node_cap, edge_cap, work, spin)
    out = _sample_steps(graph, src_ptr, src_list, num_node_types, fanouts, pair_flags, last, random_key, seed_node,
                        seed_type, seed_time, group, node_bound, edge_bound, budget, caps_in, chunk_slots, buf, G, seg,
                        node_cap, edge_cap, work, spin, same_plan, seats > 0, seed_count)
    if seats > 0 and out[0] != OK:
        _close(mail_at, spin)
    return out


@nb.njit(cache=True, nogil=True)
def complete_request(graph, num_node_types, fanouts, buf, G, seg, node_cap, edge_cap, work, mail, seats, spin):
    """Finish an OK :func:`sample_request` (same arguments): copy the chunks no helper has taken, wait for
    those a helper is copying, and with helpers, close the call and wait until every helper that joined it
    has left. Call once per OK call."""
    work_at = data_address(work)
    num_edge_types, num_hops = fanouts.shape
    _copy_out(work, graph, num_node_types, num_edge_types, num_hops, buf, G, seg, node_cap, edge_cap, False)
    _wait_until(work_at + 8 * WORK_COPIED, load_i64(work_at, WORK_CHUNKS), work_at + 8 * WORK_COPY_WAITER, spin)
    if seats > 0:
        _close(data_address(mail), spin)


@nb.njit(cache=True, nogil=True)
def next_caps(buf, G, Sn, Se):
    """Edge capacities for the retry of an OVERFLOW: four times as much (at least 64) for the groups that
    ran out of room (their chunks' room is shared, so every group of such a chunk is marked)."""
    (group_ptr, chunk_g, group_time, caps, overflow, largest, node_seg, edge_seg, node_count, node_base, offset,
     edge_count, edge_base) = _carve(buf, G, Sn, Se)
    return np.where(overflow != 0, np.maximum(caps * 4, 64), caps)


#: Slots of the helpers' mailbox (one per process): the call's sequence number (helpers sleep on it),
#: helpers that left and joined (ever; the caller sleeps on the first), whether the call is open, whether
#: the caller sleeps, stop, seats, helpers running their loop, helpers asleep on the sequence number, the
#: call's arguments (as addresses and sizes), and from MAIL_IN on, one flag per helper that says it has
#: joined the open call.
(MAIL_SEQ, MAIL_LEFT, MAIL_JOINED, MAIL_OPEN, MAIL_WAITER, MAIL_STOP, MAIL_SEATS, MAIL_RUNNING, MAIL_SLEEPERS,
 MAIL_ARGS, MAIL_IN, MAIL_SIZE) = (0, 8, 16, 24, 32, 40, 41, 42, 43, 48, 128, 192)
#: Most helper threads a mailbox serves.
MAX_HELPERS = MAIL_SIZE - MAIL_IN
# An idle helper spins _IDLE_SPIN pauses for the next call, and longer, twice the gap it saw before the
# last call, when that gap was short (at most _LINGER_MAX time-stamp counts, ~200 us at 2.6 GHz): waking
# a sleeping helper costs the caller a system call (~13 us measured in a VM: an inter-processor interrupt)
# and the helper ~15 us to get going. Back-to-back calls (a sampling loop) skip both; calls far apart (a
# trainer's step between batches) cost the short spin only.
_IDLE_SPIN, _LINGER_MAX = 64, 1 << 19
# A helper woken with no call published yet (see nudge_helpers) spins this many time-stamp counts (~200 us) for
# the call before it sleeps again.
_NUDGE_LINGER = 1 << 19


@nb.njit(cache=True)
def _publish(mail_at, seats, graph, src_ptr, src_list, num_node_types, fanouts, pair_flags, last, key, seed_node,
             seed_type, buf, G, seg, node_cap, edge_cap, work, spin):
    """Write a call's arguments into the mailbox, open the call and wake ``seats`` helpers (those asleep)."""
    a = MAIL_ARGS
    store_i64(mail_at, a, data_address(graph))
    store_i64(mail_at, a + 1, graph.shape[0])
    store_i64(mail_at, a + 2, data_address(src_ptr))
    store_i64(mail_at, a + 3, src_ptr.shape[0])
    store_i64(mail_at, a + 4, data_address(src_list))
    store_i64(mail_at, a + 5, num_node_types)
    store_i64(mail_at, a + 6, data_address(fanouts))
    store_i64(mail_at, a + 7, fanouts.shape[1])
    store_i64(mail_at, a + 8, data_address(pair_flags))
    store_i64(mail_at, a + 9, 1 if last else 0)
    store_i64(mail_at, a + 10, np.int64(key))
    store_i64(mail_at, a + 11, data_address(seed_node))
    store_i64(mail_at, a + 12, seed_node.shape[0])
    store_i64(mail_at, a + 13, data_address(seed_type))
    store_i64(mail_at, a + 14, data_address(buf))
    store_i64(mail_at, a + 15, buf.shape[0])
    store_i64(mail_at, a + 16, G)
    store_i64(mail_at, a + 17, data_address(seg))
    store_i64(mail_at, a + 18, seg.shape[0])
    store_i64(mail_at, a + 19, node_cap)
    store_i64(mail_at, a + 20, edge_cap)
    store_i64(mail_at, a + 21, data_address(work))
    store_i64(mail_at, a + 22, spin)
    store_i64(mail_at, MAIL_SEATS, seats)
    store_release_i64(mail_at + 8 * MAIL_OPEN, 1)
    fetch_add_i64(mail_at + 8 * MAIL_SEQ, 1)
    # A system call only for helpers asleep (see helper_loop): lingering ones see the new number.
    _wake_sleepers(mail_at, seats)


@nb.njit(cache=True, inline="always")
def _wake_sleepers(mail_at, count):
    """Wake up to ``count`` helpers asleep on the mailbox's sequence number, if any sleeps (a read-modify-write
    of their count, ordered with theirs: see helper_loop); returns whether any did."""
    if fetch_add_i64(mail_at + 8 * MAIL_SLEEPERS, 0) == 0:
        return False
    futex_wake(mail_at + 8 * MAIL_SEQ, count)
    return True


@nb.njit(cache=True)
def _close(mail_at, spin):
    """Close the open call and wait until every helper that joined it has left (spinning, then asleep)."""
    fetch_add_i64(mail_at + 8 * MAIL_OPEN, -1)
    joined = load_acquire_i64(mail_at + 8 * MAIL_JOINED)
    _wait_until(mail_at + 8 * MAIL_LEFT, joined, mail_at + 8 * MAIL_WAITER, spin)


@nb.njit(cache=True)
def _help_from_mail(mail_at):
    """Run a helper's part of the open call whose arguments the mailbox holds."""
    a = MAIL_ARGS
    E = load_i64(mail_at, a + 1)
    H = load_i64(mail_at, a + 7)
    S = load_i64(mail_at, a + 12)
    graph = nb.carray(int64_pointer(load_i64(mail_at, a)), (E, GRAPH_COLUMNS))
    src_ptr = nb.carray(int64_pointer(load_i64(mail_at, a + 2)), load_i64(mail_at, a + 3))
    src_list = nb.carray(int64_pointer(load_i64(mail_at, a + 4)), E)
    fanouts = nb.carray(int64_pointer(load_i64(mail_at, a + 6)), (E, H))
    pair_flags = nb.carray(int64_pointer(load_i64(mail_at, a + 8)), (E, H))
    seed_node = nb.carray(int64_pointer(load_i64(mail_at, a + 11)), S)
    seed_type = nb.carray(int64_pointer(load_i64(mail_at, a + 13)), S)
    buf = nb.carray(int64_pointer(load_i64(mail_at, a + 14)), load_i64(mail_at, a + 15))
    seg = nb.carray(int64_pointer(load_i64(mail_at, a + 17)), load_i64(mail_at, a + 18))
    work = nb.carray(int64_pointer(load_i64(mail_at, a + 21)), WORK_SIZE)
    _help(graph, src_ptr, src_list, load_i64(mail_at, a + 5), fanouts, pair_flags, load_i64(mail_at, a + 9) != 0,
          np.uint64(load_i64(mail_at, a + 10)), seed_node, seed_type, buf, load_i64(mail_at, a + 16), seg,
          load_i64(mail_at, a + 19), load_i64(mail_at, a + 20), work, load_i64(mail_at, a + 22))


@nb.njit(cache=True)
def _help(graph, src_ptr, src_list, num_node_types, fanouts, pair_flags, last, key, seed_node, seed_type, buf, G, seg,
          node_cap, edge_cap, work, spin):
    """A helper's part of :func:`sample_request` (same arrays): wait (at most ``spin`` pauses) for the plan,
    take chunks until none is left, wait (as long) for the output to be laid out and copy chunks of it until
    none is left."""
    work_at = data_address(work)
    state = _wait_while(work_at + 8 * WORK_STATE, PLANNING, spin)
    if state == SAMPLING:
        _take_chunks(load_i64(work_at, WORK_CHUNKS), True, graph, src_ptr, src_list, num_node_types, fanouts,
                     pair_flags, last, key, seed_node, seed_type, buf, G, seg, node_cap, edge_cap, work)
        state = _wait_while(work_at + 8 * WORK_STATE, SAMPLING, spin)
    if state == COPYING:
        _copy_out(work, graph, num_node_types, fanouts.shape[0], fanouts.shape[1], buf, G, seg, node_cap, edge_cap,
                  True)


@nb.njit(cache=True, nogil=True)
def helper_loop(mail, index):
    """A helper thread's life: sleep on the mailbox until a call is published, join it if ``index`` is below
    its seats, help, leave; until ``mail[MAIL_STOP]`` is set. Never takes the GIL, so a helper costs the
    calling thread nothing (no job queue, no Python call per request, no GIL hand-over), and a helper that
    wakes late simply finds the current call (or none) open."""
    mail_at = data_address(mail)
    seen = load_acquire_i64(mail_at + 8 * MAIL_SEQ)
    fetch_add_i64(mail_at + 8 * MAIL_RUNNING, 1)
    linger = 0
    while True:
        n = 0
        idle_since = cycle_counter()
        woken = 0  # when this helper last woke with no call published (0: not since the last call)
        seq = load_acquire_i64(mail_at + 8 * MAIL_SEQ)
        while seq == seen:
            if load_acquire_i64(mail_at + 8 * MAIL_STOP) != 0:
                fetch_add_i64(mail_at + 8 * MAIL_RUNNING, -1)
                return
            if (n < _IDLE_SPIN or cycle_counter() - idle_since < linger
                    or (woken != 0 and cycle_counter() - woken < _NUDGE_LINGER)):
                spin_pause()
                n += 1
            else:
                # Counted before the sequence number is read again (both read-modify-writes, so ordered):
                # a caller that publishes after that read sees the count and wakes this helper.
                fetch_add_i64(mail_at + 8 * MAIL_SLEEPERS, 1)
                if fetch_add_i64(mail_at + 8 * MAIL_SEQ, 0) == seen:
                    futex_wait(mail_at + 8 * MAIL_SEQ, seen)
                fetch_add_i64(mail_at + 8 * MAIL_SLEEPERS, -1)
                # Woken before a call is published (by a caller about to publish one, see nudge_helpers, or
                # spuriously): spin a while for it, then sleep again. (Not counted as idle time ending: the
                # linger after the call still follows the whole gap since the last one.)
                woken = cycle_counter()
            seq = load_acquire_i64(mail_at + 8 * MAIL_SEQ)
        seen = seq
        gap = cycle_counter() - idle_since
        linger = 2 * gap if 0 < gap <= _LINGER_MAX else 0
        if index >= load_i64(mail_at, MAIL_SEATS):
            continue
        store_i64(mail_at, MAIL_IN + index, 1)
        fetch_add_i64(mail_at + 8 * MAIL_JOINED, 1)
        # Checked after joining: a caller that closes after this join waits for the leave below.
        if load_acquire_i64(mail_at + 8 * MAIL_OPEN) == 1:
            _help_from_mail(mail_at)
        leave(mail, index)


@nb.njit(cache=True, nogil=True)
def nudge_helpers(mail):
    """Wake the helpers of ``mail`` that sleep, ahead of a call about to be published: they spin for it (a
    while) instead of sleeping, so their wake-up (tens of microseconds in a VM) overlaps the caller's
    preparations and the call itself wakes nobody. Returns whether any slept. (A helper falling asleep just
    as this wakes may miss it: the call then wakes it, as without a nudge.)"""
    return _wake_sleepers(data_address(mail), MAX_HELPERS)


@nb.njit(cache=True, nogil=True)
def leave(mail, index):
    """Helper ``index`` leaves the call it joined (if any), waking a caller that sleeps on it."""
    mail_at = data_address(mail)
    if load_i64(mail_at, MAIL_IN + index) == 0:
        return
    store_i64(mail_at, MAIL_IN + index, 0)
    _add_and_wake(mail_at + 8 * MAIL_LEFT, 1, mail_at + 8 * MAIL_WAITER)


@nb.njit(cache=True, nogil=True)
def stop_helpers(mail):
    """Make every helper of ``mail`` return from :func:`helper_loop`."""
    mail_at = data_address(mail)
    store_release_i64(mail_at + 8 * MAIL_STOP, 1)
    store_release_i64(mail_at + 8 * MAIL_SEQ, load_i64(mail_at, MAIL_SEQ) + 1)
    futex_wake(mail_at + 8 * MAIL_SEQ, MAX_HELPERS)


@nb.njit(cache=True, nogil=True)
def time_order(indptr, indices, time, source_time, target_time):
    """How one timed edge type's edge times relate to its end nodes' times.

    Args:
        indptr, indices, time: the edge type's CSR and edge times.
        source_time, target_time: node times of the source and target node types (empty: untimed).

    Returns:
        (every edge is no newer than its source node, every edge is no older than its target node); an
        untimed source node type gives False, an untimed target type True.
    """
    not_newer = source_time.shape[0] > 0
    not_older = True
    if not_newer:
        for u in range(indptr.shape[0] - 1):
            for j in range(indptr[u], indptr[u + 1]):
                if time[j] > source_time[u]:
                    not_newer = False
                    break
            if not not_newer:
                break
    if target_time.shape[0] > 0:
        for j in range(indices.shape[0]):
            if time[j] < target_time[indices[j]]:
                not_older = False
                break
    return not_newer, not_older


@nb.njit(cache=True)
def first_out_of_range(node, count):
    """Position of the first entry of ``node`` outside ``0..count-1``, or -1 when every one lies inside."""
    for s in range(node.shape[0]):
        if node[s] < 0 or node[s] >= count:
            return s
    return -1


@nb.njit(cache=True)
def check_request(node, node_type, group, fanouts, num_nodes):
    """Problems of a request's arrays, as a code: 0 none, 1 a node type out of range, 2 a node index out
    of range for its type, 3 groups that do not rise from 0 in steps of 0 or 1, 4 a fan-out below -1.

    Returns:
        (code, the seeds' node type when they all have one, else -1, the number of groups).
    """
    for t in range(fanouts.shape[0]):
        for h in range(fanouts.shape[1]):
            if fanouts[t, h] < -1:
                return 4, -1, 0
    num_types = num_nodes.shape[0]
    single = node_type[0] if node.shape[0] > 0 else -1
    for s in range(node.shape[0]):
        a = node_type[s]
        if a < 0 or a >= num_types:
            return 1, -1, 0
        if node[s] < 0 or node[s] >= num_nodes[a]:
            return 2, -1, 0
        previous = group[s - 1] if s > 0 else np.int64(-1)
        if (group[s] != previous and group[s] != previous + 1) or (s == 0 and group[0] != 0):
            return 3, -1, 0
        if a != single:
            single = -1
    return 0, single, group[-1] + 1 if node.shape[0] > 0 else 0
