"""Helper threads that join the calling thread in a compiled work-sharing loop.

The sampler's helper step (:func:`graph_engine.sampling.multihop.help_request`) releases the GIL and
takes work from shared atomic counters, so any number of threads can run it on the same arguments.
The calling thread does the same work in its own call and never waits for a helper to *start*: a helper the OS has not
scheduled yet finds no work left and returns at once. The caller only waits for chunks a helper has
already taken. This keeps a busy, shared machine from stalling a call, which a fork-join parallel
region (numba's ``prange``) does whenever one of its threads is descheduled, and it saves that region's
launch (tens of microseconds of CPU on every call).
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Any, Callable


class HelperThreads:
    """A lazily started set of daemon threads running posted calls (recreated after a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._count = 0

    def post(self, fn: Callable[..., Any], args: tuple, helpers: int) -> list[threading.Event]:
        """Have ``helpers`` threads each call ``fn(*args)``; returns one event per call, set when it returns.

        Args:
            fn: a function that is safe to run on several threads at once with the same arguments.
            args: its arguments.
            helpers: how many helper calls to post (threads are started as needed).
        """
        self._ensure(helpers)
        events = []
        for _ in range(helpers):
            done = threading.Event()
            self._jobs.put((fn, args, done))
            events.append(done)
        return events

    def _ensure(self, count: int) -> None:
        with self._lock:
            if self._pid != os.getpid():  # threads do not survive a fork (e.g. into DataLoader workers)
                self._pid, self._jobs, self._count = os.getpid(), queue.SimpleQueue(), 0
            while self._count < count:
                threading.Thread(target=self._serve, args=(self._jobs,), name=f"pq-sampler-{self._count}",
                                 daemon=True).start()
                self._count += 1

    @staticmethod
    def _serve(jobs: queue.SimpleQueue) -> None:
        while True:
            fn, args, done = jobs.get()
            try:
                fn(*args)
            except BaseException:  # noqa: BLE001 - the caller sees the unfinished work and raises
                pass
            finally:
                done.set()
                del fn, args, done  # drop references to the call's arrays while idle


HELPERS = HelperThreads()
