"""Detached processes with pid files, process-group shutdown and port checks.

A part is started in its own session (so it outlives ``pq up`` and its whole process tree shares one process
group), with stdin closed and stdout/stderr appended to its log file. Its pid file holds the pid on the first
line and, where ``/proc`` exists, the process start time on the second, so that a pid reused by an unrelated
process after a crash is never mistaken for the part (and never signalled).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from platform_core.errors import UserFacingError

PROC = Path("/proc")


class PortInUseError(UserFacingError):
    """A port a part needs is taken; the message names the part, the port and the setting to change."""


@dataclass(frozen=True)
class PidRecord:
    """What a pid file says: the pid and, when known, the process start time (clock ticks since boot)."""

    pid: int
    start_ticks: int | None = None


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now.

    Tries to bind every address ``host`` resolves to, with ``SO_REUSEADDR`` as servers set it, so a port
    held only by connections in TIME_WAIT counts as free. Addresses this machine does not have (e.g. ``::1``
    without IPv6) are skipped.

    Args:
        host: a host name or IP address.
        port: the TCP port.

    Returns:
        False when any address of ``host`` has the port taken.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return True
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return False
                if exc.errno not in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    raise
    return True


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports that nothing listens on at ``host`` right now (chosen by the kernel).

    Each is held until all are chosen: ports taken one after the other could repeat.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(socket.socket(family, socket.SOCK_STREAM))
            sockets[-1].bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on at ``host`` right now (chosen by the kernel)."""
    return free_ports(1, host)[0]


def require_free_port(part: str, host: str, port: int, setting: str) -> None:
    """Raise unless ``host:port`` is free.

    Args:
        part: the part that needs the port (for the message).
        host: the host it binds.
        port: the port.
        setting: the environment variable that changes the port.

    Raises:
        PortInUseError: ``"<part>: port <port> on <host> is already in use (set <setting>)"``.
    """
    if not port_is_free(host, port):
        raise PortInUseError(f"{part}: port {port} on {host} is already in use (set {setting})")


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, or None when there is no such process."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    return raw[raw.rindex(")") + 2 :].split()


def process_start_ticks(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot, or None where ``/proc`` cannot tell."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None


def _proc_available() -> bool:
    return (PROC / "self" / "stat").exists()


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    if pid <= 0:
        return False
    if _proc_available():
        fields = _proc_stat(pid)
        return fields is not None and fields[0] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_pid_file(path: Path, pid: int) -> PidRecord:
    """Record ``pid`` (and its start time) in ``path``, atomically.

    Returns:
        What was written.
    """
    record = PidRecord(pid, process_start_ticks(pid))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    lines = [str(record.pid)] + ([str(record.start_ticks)] if record.start_ticks is not None else [])
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return record


def read_pid_file(path: Path) -> PidRecord | None:
    """The record in ``path``, or None when the file is missing or does not hold a pid."""
    try:
        lines = path.read_text().split()
    except (FileNotFoundError, IsADirectoryError):
        return None
    try:
        pid = int(lines[0])
        ticks = int(lines[1]) if len(lines) > 1 else None
    except (IndexError, ValueError):
        return None
    return PidRecord(pid, ticks) if pid > 0 else None


def record_alive(record: PidRecord) -> bool:
    """Whether the process a pid file names is still that process (same pid and start time) and running."""
    if not pid_alive(record.pid):
        return False
    if record.start_ticks is None:
        return True
    return process_start_ticks(record.pid) in (None, record.start_ticks)


def live_pid(path: Path) -> int | None:
    """The pid in ``path`` when that process is still running, else None."""
    record = read_pid_file(path)
    return record.pid if record is not None and record_alive(record) else None


def start_detached(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen:
    """Start ``argv`` in a new session, stdin closed, stdout and stderr appended to ``log_path``.

    Args:
        argv: the command.
        log_path: its log file (created with its folder).
        env: its environment (default: this process's).
        cwd: its working folder (default: this process's).

    Returns:
        The started process; it keeps running after this process exits.

    Raises:
        OSError: the command could not be executed.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )


def group_alive(pgid: int) -> bool:
    """Whether any running (not zombie) process is left in process group ``pgid``."""
    if not _proc_available():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        # Fields after the name: state, ppid, pgrp, ...
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _wait_group(pgid: int, timeout_s: float, poll_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def stop_process_group(pid: int, grace_s: float = 10.0) -> bool:
    """Stop the process group led by ``pid``: SIGTERM, wait up to ``grace_s``, then SIGKILL.

    The parts are started as session leaders, so their process group id is their pid and every child they
    spawned is stopped with them.

    Args:
        pid: the pid of the group leader.
        grace_s: how long the group has to exit after SIGTERM.

    Returns:
        True when the group exited on SIGTERM, False when it had to be killed.
    """
    pgid = pid
    if not group_alive(pgid):
        return True
    _signal_group(pgid, signal.SIGTERM)
    if _wait_group(pgid, grace_s):
        return True
    _signal_group(pgid, signal.SIGKILL)
    _wait_group(pgid, 5.0)
    return False


def stop_recorded(record: PidRecord, grace_s: float = 10.0) -> bool:
    """Stop the process group of a pid-file record, unless its pid now belongs to another process.

    While any process of a group lives the kernel does not hand its id out again, so a pid that runs with
    another start time means the recorded group is gone: nothing is signalled then.

    Args:
        record: what the part's pid file says.
        grace_s: how long the group has to exit after SIGTERM.

    Returns:
        True when something of the part was running and has been stopped.
    """
    if pid_alive(record.pid) and not record_alive(record):
        return False
    if not group_alive(record.pid):
        return False
    stop_process_group(record.pid, grace_s)
    return True


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created with its folder), waiting for it if taken.

    Two ``pq up`` (or ``pq down``) runs on one home then take turns instead of starting a part twice.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
