"""Memory of a process as the kernel reports it (``/proc/<pid>/status``), for health checks and benchmarks."""

from __future__ import annotations

import os
import resource
from pathlib import Path

_FIELDS = {"VmRSS": "rss_bytes", "VmHWM": "peak_rss_bytes", "RssAnon": "anon_bytes", "RssFile": "file_bytes",
           "RssShmem": "shmem_bytes"}


def process_memory(pid: int | None = None) -> dict[str, int]:
    """Resident memory of ``pid`` (default: this process) in bytes.

    Keys: ``rss_bytes`` (now), ``peak_rss_bytes`` (high-water mark), ``anon_bytes`` (private memory) and
    ``file_bytes`` (pages of mapped files, e.g. memory-mapped artifacts, shared through the page cache
    with every process that maps them). Where ``/proc`` is missing only this process's peak is known.

    Raises:
        ProcessLookupError: no process ``pid``.
    """
    path = Path("/proc") / str(pid or os.getpid()) / "status"
    try:
        text = path.read_text()
    except FileNotFoundError:
        if pid not in (None, os.getpid()):
            raise ProcessLookupError(pid) from None
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {"rss_bytes": peak, "peak_rss_bytes": peak}
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in _FIELDS:
            out[_FIELDS[key]] = int(value.split()[0]) * 1024
    return out


def mib(value: int | None) -> float | None:
    """Bytes as MiB, rounded to 0.1."""
    return None if value is None else round(value / (1 << 20), 1)
