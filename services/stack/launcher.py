"""Bring the embedded stack up, down, and report on it.

``up`` starts each part that is not healthy yet, in order, and waits for it to be healthy; a part that is
already healthy is left alone, so ``up`` can be run again at any time. If a part cannot start, the parts this
call started are stopped again and the error names the part and its log file. ``down`` stops the parts this
home started, in reverse order. ``status`` checks every part.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from platform_core.settings import Settings
from services.stack.parts import Health, Part, StackError, TemporalPart, WorkerPart, stack_parts
from platform_core.processes import (
    PidRecord,
    exclusive_lock,
    live_pid,
    port_is_free,
    read_pid_file,
    record_alive,
    require_free_port,
    start_detached,
    stop_recorded,
    write_pid_file,
)

#: How long one health check may take in ``status`` and between start-up polls.
CHECK_TIMEOUT_S = 3.0
#: How long ``up`` asks something already listening on a part's port whether it is that part.
INSPECT_TIMEOUT_S = 1.0
#: How long a part has to exit after SIGTERM before it is killed.
STOP_GRACE_S = 10.0
POLL_INTERVAL_S = 0.25
#: Starts each stretch of a log that ``pq up`` began, followed by the time and the command line.
LOG_HEADER = "==> pq up:"

Report = Callable[[str], None]


class PartStartError(StackError):
    """A part exited or did not become healthy in time; the message names it and its log file."""


@dataclass(frozen=True)
class PartStatus:
    """One row of ``pq status``.

    Attributes:
        name: the part.
        pid: its pid when this home started it and it runs, else None.
        address: where it serves.
        health: whether it answers, and why not.
        log_file: its log file.
    """

    name: str
    pid: int | None
    address: str
    health: Health
    log_file: Path

    @property
    def healthy(self) -> bool:
        return self.health.healthy


def _silent(_: str) -> None:
    pass


def _lock_file(settings: Settings) -> Path:
    return settings.run_dir / "stack.lock"


def last_log_line(path: Path, max_chars: int = 300) -> str:
    """The last non-empty line a part wrote to its log (shortened), or ``""`` when there is none.

    Only what the part wrote since ``pq up`` last started it counts (the header line ``pq up`` writes
    before each start is not the part's).
    """
    try:
        with open(path, "rb") as log:
            log.seek(0, 2)
            size = log.tell()
            log.seek(max(0, size - 16384))
            tail = log.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    lines = tail.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(LOG_HEADER)]
    lines = [line.strip() for line in lines[starts[-1] + 1 if starts else 0 :] if line.strip()]
    return lines[-1][:max_chars] if lines else ""


def _start_failure(part: Part, reason: str) -> PartStartError:
    last = last_log_line(part.log_file)
    shown = f"; last log line: {last}" if last else ""
    return PartStartError(f"{part.name} failed to start ({reason}); see {part.log_file}{shown}")


async def part_status(part: Part, timeout_s: float = CHECK_TIMEOUT_S) -> PartStatus:
    """Check one part.

    Args:
        part: the part.
        timeout_s: the time budget of its health check.

    Returns:
        Its pid (when started by this home and running), address, health and log file.
    """
    health = await part.check(timeout_s)
    return PartStatus(part.name, live_pid(part.pid_file), part.address(), health, part.log_file)


async def stack_status(settings: Settings, timeout_s: float = CHECK_TIMEOUT_S) -> list[PartStatus]:
    """Check every part of the stack; the worker is only asked through Temporal when Temporal answers.

    Args:
        settings: the platform settings.
        timeout_s: the time budget of each health check.

    Returns:
        One :class:`PartStatus` per part, in start order.
    """
    rows: list[PartStatus] = []
    temporal_up = True
    for part in stack_parts(settings):
        if isinstance(part, WorkerPart) and not temporal_up:
            health = Health(False, f"Temporal unreachable at {settings.temporal_address}")
            rows.append(PartStatus(part.name, live_pid(part.pid_file), part.address(), health, part.log_file))
            continue
        row = await part_status(part, timeout_s)
        if isinstance(part, TemporalPart):
            temporal_up = row.healthy
        rows.append(row)
    return rows


def _check_ports(parts: list[Part]) -> None:
    for part in parts:
        for need in part.ports():
            require_free_port(part.name, need.host, need.port, need.setting)


async def _wait_healthy(part: Part, exited: Callable[[], str | None], timeout_s: float) -> Health:
    """Poll ``part`` until it is healthy; fail as soon as its process is gone or time is up."""
    deadline = time.monotonic() + timeout_s
    health = Health(False, "not checked yet")
    while True:
        gone = exited()
        if gone is not None:
            raise _start_failure(part, gone)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _start_failure(part, f"not healthy after {timeout_s:g} s: {health.detail}")
        health = await part.check(min(CHECK_TIMEOUT_S, max(remaining, 0.1)))
        if health.healthy:
            return health
        await asyncio.sleep(min(POLL_INTERVAL_S, max(deadline - time.monotonic(), 0)))


def _start(part: Part) -> subprocess.Popen:
    argv = part.command()
    part.log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(part.log_file, "a") as log:
        log.write(f"\n{LOG_HEADER} {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n")
    try:
        process = start_detached(argv, part.log_file, env=part.environment())
    except OSError as exc:
        raise StackError(f"{part.name}: cannot run {argv[0]}: {exc.strerror or exc}") from None
    write_pid_file(part.pid_file, process.pid)
    return process


def _exit_watch(process: subprocess.Popen) -> Callable[[], str | None]:
    def exited() -> str | None:
        code = process.poll()
        return None if code is None else f"exited with status {code}"

    return exited


def _record_watch(record: PidRecord) -> Callable[[], str | None]:
    def exited() -> str | None:
        return None if record_alive(record) else "its process exited"

    return exited


def _stop_part(part: Part) -> bool:
    record = read_pid_file(part.pid_file)
    stopped = stop_recorded(record, STOP_GRACE_S) if record is not None else False
    part.pid_file.unlink(missing_ok=True)
    return stopped


@dataclass(frozen=True)
class _Found:
    """What ``up`` finds before starting anything: a running process of this home, and its health."""

    running: PidRecord | None
    health: Health | None


async def _inspect(part: Part) -> _Found:
    record = read_pid_file(part.pid_file)
    running = record if record is not None and record_alive(record) else None
    # A worker without a live pid is simply started: asking Temporal first would cost a full check
    # timeout (no worker answers), and a second worker on the same queues does no harm.
    if running is None and isinstance(part, WorkerPart):
        return _Found(None, None)
    # Nothing can answer on ports nobody listens on; a listener that is not the part might never answer.
    if running is None and all(port_is_free(need.host, need.port) for need in part.ports()):
        return _Found(None, None)
    return _Found(running, await part.check(CHECK_TIMEOUT_S if running is not None else INSPECT_TIMEOUT_S))


async def _bring_up(part: Part, found: _Found, settings: Settings, report: Report) -> tuple[PartStatus, bool]:
    """Make ``part`` healthy; return its status and whether this call started it."""
    running = found.running
    if found.health is not None and found.health.healthy:
        owner = "" if running is not None else " (not started by pq)"
        report(f"{part.name}: already running{owner} at {part.address()}")
        pid = running.pid if running is not None else None
        return PartStatus(part.name, pid, part.address(), found.health, part.log_file), False
    if running is not None:
        report(f"{part.name}: running (pid {running.pid}), waiting until it is healthy")
        health = await _wait_healthy(part, _record_watch(running), settings.startup_timeout_s)
        return PartStatus(part.name, running.pid, part.address(), health, part.log_file), False
    _check_ports([part])
    process = _start(part)
    report(f"{part.name}: started (pid {process.pid}), waiting until it is healthy")
    try:
        health = await _wait_healthy(part, _exit_watch(process), settings.startup_timeout_s)
    except BaseException:
        _stop_part(part)
        raise
    report(f"{part.name}: healthy at {part.address()}")
    return PartStatus(part.name, process.pid, part.address(), health, part.log_file), True


async def stack_up(settings: Settings, report: Report = _silent) -> list[PartStatus]:
    """Start every part that is not healthy yet and wait for each to be healthy.

    Args:
        settings: the platform settings.
        report: called with one line per step (for the CLI).

    Returns:
        The status of every part, all healthy.

    Raises:
        PortInUseError: a port a part to start needs is taken (nothing is started then).
        PartStartError: a part exited or did not become healthy within ``settings.startup_timeout_s``;
            the parts this call started are stopped again.
        StackError: a part's program cannot be run.
    """
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(_lock_file(settings)):
        return await _stack_up(settings, report)


async def _stack_up(settings: Settings, report: Report) -> list[PartStatus]:
    parts = stack_parts(settings)
    found = [await _inspect(part) for part in parts]
    # Every part that will be started has its ports checked before any is started, so a taken port
    # leaves nothing half-started behind.
    _check_ports([p for p, f in zip(parts, found) if f.running is None and not (f.health and f.health.healthy)])
    started: list[Part] = []
    rows = []
    try:
        for part, state in zip(parts, found):
            row, did_start = await _bring_up(part, state, settings, report)
            rows.append(row)
            if did_start:
                started.append(part)
    except BaseException:
        for part in reversed(started):
            _stop_part(part)
        raise
    return rows


def bootstrap_admin_key(settings: Settings) -> str | None:
    """Make the first admin key when the metadata database has no active one, under the stack lock.

    Returns:
        The new key (to show once), or None when an admin key already exists.
    """
    from control_plane.auth import create_first_admin_key

    with exclusive_lock(_lock_file(settings)):
        return create_first_admin_key(settings)


def stack_down(settings: Settings, report: Report = _silent) -> list[str]:
    """Stop the parts this home started, worker first, and remove their pid files.

    Safe to run when nothing runs.

    Args:
        settings: the platform settings.
        report: called with one line per part.

    Returns:
        The names of the parts that were running and have been stopped.
    """
    stopped: list[str] = []
    if not settings.run_dir.is_dir():
        for part in reversed(stack_parts(settings)):
            report(f"{part.name}: not running")
        return stopped
    with exclusive_lock(_lock_file(settings)):
        for part in reversed(stack_parts(settings)):
            record = read_pid_file(part.pid_file)
            if _stop_part(part):
                stopped.append(part.name)
                report(f"{part.name}: stopped (pid {record.pid})")
            else:
                report(f"{part.name}: not running")
    return stopped
