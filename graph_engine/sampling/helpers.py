"""Helper threads that join the calling thread in the sampler's compiled work-sharing loops.

Each helper runs :func:`graph_engine.sampling.multihop.helper_loop` for its whole life: compiled code that
never takes the GIL, sleeping on a futex in the process's *mailbox* until a sampling call is published
there, then taking chunks and copies from the call's shared counters. The calling thread does the same
work in its own call and never waits for a helper to *start*: a helper the OS has not scheduled yet finds
no work left. The caller only waits for work a helper has already taken, and for the helpers that joined
to leave before it returns. This keeps a busy, shared machine from stalling a call, which a fork-join
parallel region (numba's ``prange``) does whenever one of its threads is descheduled; and unlike helpers
fed through a Python queue, these cost the caller no Python call and no GIL hand-over per request, and a
helper that falls behind cannot pile up stale jobs.
"""

from __future__ import annotations

import os
import threading
import weakref

import numba
import numpy as np
from numba.np.ufunc import parallel as _numba_parallel

from graph_engine.sampling import multihop
from graph_engine.sampling.kernels import NATIVE_WAIT


class HelperThreads:
    """A lazily started set of daemon threads serving one mailbox (recreated after a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mail = np.zeros(multihop.MAIL_SIZE, np.int64)
        self._threads: list[threading.Thread] = []
        forget = weakref.WeakMethod(self._forget)
        os.register_at_fork(after_in_child=lambda: (method := forget()) is not None and method())

    def _forget(self) -> None:
        """In a forked child: threads do not survive a fork (e.g. into DataLoader workers), so start afresh."""
        self._lock = threading.Lock()  # a thread of the parent may have held it at the fork
        self._mail, self._threads = np.zeros(multihop.MAIL_SIZE, np.int64), []

    def mailbox(self, helpers: int) -> tuple[np.ndarray, int]:
        """The mailbox to pass to :func:`multihop.sample_request` and how many helpers it may seat.

        Args:
            helpers: how many helper threads the call wants (started as needed).
        """
        helpers = min(helpers, multihop.MAX_HELPERS) if NATIVE_WAIT else 0
        if len(self._threads) < helpers:
            self._ensure(helpers)
        return self._mail, helpers

    def nudge(self) -> None:
        """Wake sleeping helpers ahead of a call (see :func:`multihop.nudge_helpers`); nothing when none sleeps
        or none has started."""
        # A plain read of the sleepers' count first, sparing the compiled call when helpers linger between
        # back-to-back calls: a nudge is only a head start (a stale read misses one, and the call still wakes
        # any helper asleep).
        if self._threads and self._mail[multihop.MAIL_SLEEPERS]:
            multihop.nudge_helpers(self._mail)

    def _ensure(self, count: int) -> None:
        with self._lock:
            while len(self._threads) < count:
                thread = threading.Thread(target=_serve, args=(self._mail, len(self._threads)),
                                          name=f"pq-sampler-{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        """Stop the helper threads (they are daemons: only tests and clean shutdowns need this)."""
        with self._lock:
            if self._threads:
                multihop.stop_helpers(self._mail)
                for thread in self._threads:
                    thread.join()
            self._mail, self._threads = np.zeros(multihop.MAIL_SIZE, np.int64), []


def thread_count() -> int:
    """``numba.get_num_threads()`` (the calling thread's setting), read without the locks that call takes every
    time (a few microseconds per sampling call) once numba's threading layer is up."""
    if getattr(_numba_parallel, "_is_initialized", False):  # numba's private state: any change falls back
        read = getattr(_numba_parallel, "_get_num_threads", None)
        count = read() if callable(read) else 0
        if count > 0:
            return count
    return numba.get_num_threads()


def _serve(mail: np.ndarray, index: int) -> None:
    try:
        multihop.helper_loop(mail, index)
    finally:
        # An error in the compiled loop (none is expected) must not leave a caller waiting for this
        # helper: leave the call it joined. The slot's later calls go on without it.
        multihop.leave(mail, index)


HELPERS = HelperThreads()
