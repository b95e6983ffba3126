"""Compiled building blocks of the neighbour sampler (numba), and the negative-node draw.

Terms used across the sampling kernels: a *group* is one disjoint subgraph (one seed, or one
positive/negative link, or the whole batch when sampling is not disjoint). An *expansion type*
``t = (A, rel, B)`` is an edge type of the graph artifact walked from a node of type ``A`` through its
CSR row to neighbours of type ``B``. The sampled link ``v -> u`` (``v`` of type ``B`` found from ``u``)
carries messages towards the seed, so it is reported under the reverse edge type ``(B, rev, A)``, whose
CSC layout is ``t``'s CSR; its edge id is the position in that CSR.

Randomness is counter-based: every draw is a hash of (request key, group, node, expansion type, draw
number), so results do not depend on thread scheduling or on how groups are split among threads.
The multi-hop sampler itself is :mod:`graph_engine.sampling.multihop`.
"""

from __future__ import annotations

import platform
import sys

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.extending import intrinsic

INT64_MAX = np.iinfo(np.int64).max
_MACHINE = platform.machine().lower()
_X86 = _MACHINE in ("x86_64", "amd64", "i386", "i686", "x86")
# Linux system call number of futex on the machine's architecture.
_SYSCALLS = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}
#: Whether threads can sleep and wake each other from compiled code here (Linux futexes); without it the
#: sampler runs on the calling thread alone.
NATIVE_WAIT = sys.platform.startswith("linux") and _MACHINE in _SYSCALLS
_SYS_FUTEX = _SYSCALLS.get(_MACHINE, -1)
_FUTEX_WAIT_PRIVATE, _FUTEX_WAKE_PRIVATE = 128, 129
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _int64_ptr(builder, address):
    """LLVM ``(int64 *) address`` for the intrinsics below (``address`` an i64 value)."""
    return builder.inttoptr(address, ir.IntType(64).as_pointer())


@intrinsic
def load_i64(typingctx, address, index):
    """``((int64 *) address)[index]``: reads the arrays of many edge types without per-access boxing.

    Numba's typed lists cost a call and a reference count per element access, an order of magnitude
    more than the memory access itself; the caller keeps the arrays alive while their addresses are used.
    """
    if not (isinstance(address, types.Integer) and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        pointer = _int64_ptr(builder, args[0])
        return builder.load(builder.gep(pointer, [args[1]]))

    return types.int64(address, index), codegen


@intrinsic
def store_i64(typingctx, address, index, value):
    """``((int64 *) address)[index] = value``, the write counterpart of :func:`load_i64`."""
    if not all(isinstance(a, types.Integer) for a in (address, index, value)):
        return None

    def codegen(context, builder, signature, args):
        pointer = _int64_ptr(builder, args[0])
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store(value, builder.gep(pointer, [args[1]]))
        return context.get_dummy_value()

    return types.void(address, index, value), codegen


@intrinsic
def prefetch_i64(typingctx, address, index):
    """Hint the CPU to fetch ``((int64 *) address)[index]`` into the cache (never faults).

    Issued as soon as a lookup's position is known, so many cache misses are in flight at once instead
    of one per dependent load.
    """
    if not (isinstance(address, types.Integer) and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        pointer = _int64_ptr(builder, args[0])
        target = builder.bitcast(builder.gep(pointer, [args[1]]), i8p)
        hint = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                              "llvm.prefetch.p0")
        builder.call(hint, [target, i32(0), i32(3), i32(1)])  # read, keep in all cache levels, data
        return context.get_dummy_value()

    return types.void(address, index), codegen


@intrinsic
def fetch_add_i64(typingctx, address, value):
    """Atomically add ``value`` to ``*(int64 *) address``; returns the previous value. Sequentially
    consistent: a counter of work done also publishes the work, and two threads that each add to one
    word and then read the other's (joining a call / closing it) cannot both miss the other's add."""
    if not (isinstance(address, types.Integer) and isinstance(value, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        pointer = _int64_ptr(builder, args[0])
        return builder.atomic_rmw("add", pointer, args[1], "seq_cst")

    return types.int64(types.int64, types.int64), codegen


@intrinsic
def load_acquire_i64(typingctx, address):
    """``*(int64 *) address`` as an atomic load with acquire ordering: a value another thread publishes
    with :func:`store_release_i64` is read afresh on every call (a plain load could be hoisted out of a
    waiting loop), and what that thread wrote before publishing is visible after it."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        pointer = _int64_ptr(builder, args[0])
        return builder.load_atomic(pointer, "acquire", 8)

    return types.int64(address), codegen


@intrinsic
def store_release_i64(typingctx, address, value):
    """``*(int64 *) address = value`` as an atomic store with release ordering (see :func:`load_acquire_i64`)."""
    if not (isinstance(address, types.Integer) and isinstance(value, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        pointer = _int64_ptr(builder, args[0])
        value = context.cast(builder, args[1], signature.args[1], types.int64)
        builder.store_atomic(value, pointer, "release", 8)
        return context.get_dummy_value()

    return types.void(address, value), codegen


@intrinsic
def spin_pause(typingctx):
    """One step of a busy-waiting loop: x86's ``pause`` (frees the core's resources for the other thread
    and avoids the memory-order flush when the wait ends); nothing elsewhere (the waiting loop's atomic
    load keeps it a loop)."""

    def codegen(context, builder, signature, args):
        if _X86:
            pause = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                   "llvm.x86.sse2.pause")
            builder.call(pause, [])
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def cycle_counter(typingctx):
    """The processor's time-stamp counter (x86's ``rdtsc``: a constant rate on current processors), for
    telling short waits from long ones; 0 elsewhere (AArch64's cycle counter may trap in user mode)."""

    def codegen(context, builder, signature, args):
        if _X86:
            read = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []),
                                                  "llvm.readcyclecounter")
            return builder.call(read, [])
        return context.get_constant(types.int64, 0)

    return types.int64(), codegen


@intrinsic
def int64_pointer(typingctx, address):
    """``(int64 *) address``, for ``numba.carray``: a view of an array another thread published by address."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return _int64_ptr(builder, args[0])

    return types.CPointer(types.int64)(address), codegen


@intrinsic
def _syscall4(typingctx, number, a, b, c, d):
    """``syscall(number, a, b, c, d)`` from libc (resolved by name, so cached code works in any process)."""
    if not all(isinstance(x, types.Integer) for x in (number, a, b, c, d)):
        return None

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        call = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [i64], var_arg=True), "syscall")
        return builder.call(call, [context.cast(builder, v, t, types.int64) for v, t in zip(args, signature.args)])

    return types.int64(number, a, b, c, d), codegen


@nb.njit(cache=True, inline="always")
def futex_wait(address, expected):
    """Sleep while the 32-bit word at ``address`` (the low half of an int64 slot) holds ``expected``'s low
    32 bits, until :func:`futex_wake` or a signal; returns at once when it holds something else."""
    _syscall4(_SYS_FUTEX, address, _FUTEX_WAIT_PRIVATE, expected & 0xFFFFFFFF, 0)


@nb.njit(cache=True, inline="always")
def futex_wake(address, count):
    """Wake up to ``count`` threads sleeping in :func:`futex_wait` on ``address``."""
    _syscall4(_SYS_FUTEX, address, _FUTEX_WAKE_PRIVATE, count, 0)


@intrinsic
def compare_swap_i64(typingctx, address, expected, value):
    """Atomically: if ``*(int64 *) address == expected``, store ``value``; returns the value found."""
    if not all(isinstance(a, types.Integer) for a in (address, expected, value)):
        return None

    def codegen(context, builder, signature, args):
        pointer = _int64_ptr(builder, args[0])
        expected = context.cast(builder, args[1], signature.args[1], types.int64)
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        pair = builder.cmpxchg(pointer, expected, value, "seq_cst", "seq_cst")
        return builder.extract_value(pair, 0)

    return types.int64(address, expected, value), codegen


@intrinsic
def data_address(typingctx, array):
    """The address of an array's first element (``array.ctypes.data`` would keep callers from caching)."""
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, signature, args):
        data = cgutils.create_struct_proxy(signature.args[0])(context, builder, value=args[0]).data
        return builder.ptrtoint(data, ir.IntType(64))

    return types.int64(array), codegen


@nb.njit(cache=True, inline="always")
def mix64(x):
    """SplitMix64's finaliser: a bijective 64-bit hash (``x`` is a uint64)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@nb.njit(cache=True, inline="always")
def draw_below(base, j, n):
    """The ``j``-th pseudo-random integer in ``[0, n)`` of the stream ``base`` (``n < 2**32``)."""
    return np.int64(((mix64(base + np.uint64(j + 1) * _GOLDEN) >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


@nb.njit(cache=True, inline="always")
def upper_bound(address, lo, hi, x):
    """First position in the sorted int64 array at ``address``, within ``[lo, hi)``, whose value is > ``x``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if load_i64(address, mid) <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True, nogil=True)
def draw_nodes(num_nodes, count, node_time, anchor, cdf, key, tries):
    """Draw ``count`` node indices in ``[0, num_nodes)`` per anchor, uniformly or by a weight CDF.

    Serial: a batch's negatives take microseconds, less than starting a parallel region would.

    With node times, a draw newer than its anchor is redrawn up to ``tries`` times, then replaced by
    the oldest node (which is the only valid choice left to guarantee the time constraint holds when
    any node does). Returns an int64 array ``[len(anchor) * count]``, anchor-major.
    """
    n_anchor = anchor.shape[0]
    out = np.empty(n_anchor * count, np.int64)
    timed = node_time.shape[0] > 0
    weighted = cdf.shape[0] > 0
    oldest = 0
    if timed:
        oldest = np.int64(np.argmin(node_time))
    for a in range(n_anchor):
        for j in range(count):
            base = mix64(key ^ mix64(np.uint64(a) * np.uint64(count) + np.uint64(j)))
            pick = oldest
            for attempt in range(tries):
                if weighted:
                    r = (mix64(base + np.uint64(attempt + 1) * _GOLDEN) >> np.uint64(11)) * (1.0 / 9007199254740992.0)
                    v = np.int64(np.searchsorted(cdf, r * cdf[-1], side="right"))
                    v = min(v, num_nodes - 1)
                else:
                    v = draw_below(base, attempt, num_nodes)
                if not timed or node_time[v] <= anchor[a]:
                    pick = v
                    break
            out[a * count + j] = pick
    return out
