"""The embedded launcher: each job is a local process (``python -m services.trainer --spec URI``).

A job runs in its own session (so cancel stops its whole process tree), with stdin closed and stdout and
stderr appended to ``<log_dir>/jobs/<name>.log``. At most ``max_concurrent`` jobs run at once; the others
wait as ``pending`` and start, oldest first, when a slot frees up.

Everything about a job lives in files under ``<run_dir>/jobs/``, so a new launcher (after a restart of the
process that holds it) picks up where the old one left off::

    <name>.json        the submission: spec URI, job id, labels, submit time
    <name>.pid         pid and start time (clock ticks) once started; its mtime is the start time
    <name>.exit        the exit status, written by a small ``sh`` wrapper when the entrypoint returns;
                       its mtime is the finish time
    <name>.cancelled   written by cancel; its mtime is the cancel time

Starting pending jobs is guarded by a file lock, so two launchers on one home never exceed the limit or
start a job twice.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from compute_engine.job_spec import JobSpec
from compute_engine.launchers.base import (
    JobExistsError,
    JobHandle,
    JobLauncher,
    JobNotFoundError,
    JobState,
    JobStatus,
    LauncherError,
)
from compute_engine.launchers.environment import settings_environment
from platform_core.object_store import ObjectStore
from platform_core.processes import PidRecord, process_start_ticks, record_alive, stop_process_group
from platform_core.settings import ENV_PREFIX, Settings

__all__ = ["LocalProcessLauncher", "trainer_command"]

# Runs the entrypoint and records its exit status; the status file appears atomically (rename).
_WRAPPER = 'exit_file=$1; shift; "$@"; code=$?; echo "$code" > "$exit_file.tmp" && mv "$exit_file.tmp" "$exit_file"; ' \
           'exit "$code"'


def trainer_command(python: str | None = None) -> list[str]:
    """The entrypoint's command line without the spec URI (which follows ``--spec``)."""
    return [python or sys.executable, "-m", "services.trainer", "--spec"]


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class _Files:
    record: Path
    pid: Path
    exit: Path
    cancelled: Path
    log: Path


class LocalProcessLauncher(JobLauncher):
    """Runs jobs as local processes, at most ``max_concurrent`` at a time.

    Args:
        settings: the platform settings; the jobs get them as ``PQ_*`` variables, logs go under
            ``settings.log_dir / "jobs"``, state under ``settings.run_dir / "jobs"``.
        store: the object store the specs are read from (default: the settings' store).
        max_concurrent: the most jobs running at once.
        command: the entrypoint without the spec URI (default: :func:`trainer_command`).
        cancel_grace_s: how long a cancelled job has after SIGTERM before SIGKILL.

    Raises:
        LauncherError: ``max_concurrent`` < 1 or a negative grace period.
    """

    backend = "local"

    def __init__(self, settings: Settings, store: ObjectStore | None = None, *, max_concurrent: int = 2,
                 command: Sequence[str] | None = None, cancel_grace_s: float = 10.0) -> None:
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise LauncherError(f"max_concurrent: expected a whole number >= 1, got {max_concurrent!r}")
        if not cancel_grace_s >= 0:
            raise LauncherError(f"cancel_grace_s: expected seconds >= 0, got {cancel_grace_s!r}")
        super().__init__(store or ObjectStore.from_settings(settings))
        self.settings = settings
        self.max_concurrent = max_concurrent
        self.command = list(command) if command is not None else trainer_command()
        self.cancel_grace_s = float(cancel_grace_s)
        self.state_dir = settings.run_dir / "jobs"
        self.log_dir = settings.log_dir / "jobs"
        self._lock = threading.Lock()
        self._children: dict[str, subprocess.Popen] = {}

    # ---- files ----------------------------------------------------------------------------------------
    def _files(self, name: str) -> _Files:
        d = self.state_dir
        return _Files(d / f"{name}.json", d / f"{name}.pid", d / f"{name}.exit", d / f"{name}.cancelled",
                      self.log_dir / f"{name}.log")

    def log_path(self, handle: JobHandle) -> Path:
        """The job's log file."""
        return self._files(self._check_handle(handle).name).log

    @staticmethod
    def _write_atomic(path: Path, text: str) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(text)
        tmp.replace(path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.state_dir / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _read_pid(path: Path) -> tuple[int, int | None] | None:
        try:
            parts = path.read_text().split()
            return int(parts[0]), (int(parts[1]) if len(parts) > 1 and parts[1] != "-" else None)
        except (FileNotFoundError, IndexError, ValueError):
            return None

    @staticmethod
    def _read_exit(path: Path) -> int | None:
        try:
            return int(path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _load(self, name: str) -> dict:
        try:
            return json.loads(self._files(name).record.read_text())
        except FileNotFoundError:
            raise JobNotFoundError(f"no local job {name!r} (state folder {self.state_dir})") from None

    # ---- scheduling -----------------------------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        for key, value in settings_environment(self.settings).items():
            if value is not None:
                env[key] = value
        return env

    def _running(self, files: _Files) -> bool:
        if files.exit.exists():
            return False
        pid = self._read_pid(files.pid)
        return pid is not None and record_alive(PidRecord(*pid))

    def _schedule(self) -> None:
        """Start pending jobs, oldest first, while fewer than ``max_concurrent`` run."""
        with self._locked():
            records = []
            for path in self.state_dir.glob("*.json"):
                try:
                    records.append(json.loads(path.read_text()))
                except (OSError, ValueError):
                    continue
            records.sort(key=lambda r: (r["submitted_ns"], r["name"]))
            running = 0
            pending = []
            for record in records:
                files = self._files(record["name"])
                if files.pid.exists():
                    running += self._running(files)
                elif not files.cancelled.exists():
                    pending.append(record)
            for record in pending[:max(0, self.max_concurrent - running)]:
                self._start(record)

    def _start(self, record: dict) -> None:
        name = record["name"]
        files = self._files(name)
        argv = [*self.command, record["spec_uri"]]
        files.log.parent.mkdir(parents=True, exist_ok=True)
        self.settings.home.mkdir(parents=True, exist_ok=True)
        with open(files.log, "ab") as log:
            stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            log.write(f"==> {stamp} job {name} starting: {' '.join(argv)}\n".encode())
            log.flush()
            try:
                process = subprocess.Popen(["/bin/sh", "-c", _WRAPPER, "pq-job", str(files.exit), *argv],
                                           stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                           env=self._environment(), cwd=self.settings.home,
                                           start_new_session=True, close_fds=True)
            except OSError as exc:
                # The job cannot start at all: it fails with the reason in its log, like any failed job.
                log.write(f"cannot start {argv[0]}: {exc.strerror or exc}\n".encode())
                self._write_atomic(files.pid, "0 -\n")
                self._write_atomic(files.exit, "127\n")
                return
        ticks = process_start_ticks(process.pid)
        self._write_atomic(files.pid, f"{process.pid} {ticks if ticks is not None else '-'}\n")
        self._children[name] = process
        threading.Thread(target=self._reap, args=(name, process), name=f"pq-job-{name}", daemon=True).start()

    def _reap(self, name: str, process: subprocess.Popen) -> None:
        process.wait()
        self._children.pop(name, None)
        try:
            self._schedule()
        except OSError:
            pass  # the next status/wait call schedules again

    # ---- hooks ----------------------------------------------------------------------------------------
    def _submit(self, spec_uri: str, spec: JobSpec, name: str, labels: dict[str, str]) -> JobHandle:
        files = self._files(name)
        with self._locked():
            if files.record.exists():
                raise JobExistsError(f"a local job named {name!r} exists already (see {files.record})")
            for stale in (files.pid, files.exit, files.cancelled):
                stale.unlink(missing_ok=True)
            record = {"name": name, "spec_uri": spec_uri, "job_id": spec.job_id, "kind": spec.kind,
                      "labels": labels, "submitted_ns": time.time_ns()}
            self._write_atomic(files.record, json.dumps(record, sort_keys=True))
        self._schedule()
        return JobHandle(name=name, backend=self.backend, spec_uri=spec_uri, job_id=spec.job_id, labels=labels)

    def _status(self, handle: JobHandle) -> JobStatus:
        self._load(handle.name)
        self._schedule()
        files = self._files(handle.name)
        code = self._read_exit(files.exit)
        pid = self._read_pid(files.pid)
        started = _mtime(files.pid) if pid is not None else None
        started_at = _utc(started) if started is not None else None
        cancelled_at = _mtime(files.cancelled)
        if code == 0:
            return JobStatus(JobState.SUCCEEDED, 0, started_at, _utc(_mtime(files.exit) or time.time()))
        if cancelled_at is not None:
            return JobStatus(JobState.CANCELLED, code, started_at, _utc(cancelled_at), "cancelled")
        if code is not None:
            return JobStatus(JobState.FAILED, code, started_at, _utc(_mtime(files.exit) or time.time()),
                             self._last_line(files.log))
        if pid is None:
            return JobStatus(JobState.PENDING, message=f"waiting for one of {self.max_concurrent} job slots")
        if record_alive(PidRecord(*pid)):
            return JobStatus(JobState.RUNNING, started_at=started_at)
        # The exit file may land between the two checks above: look once more before calling it lost.
        code = self._read_exit(files.exit)
        if code is not None:
            return self._status(handle)
        return JobStatus(JobState.FAILED, None, started_at, None,
                         "the job's process ended without reporting an exit status (killed?)")

    def _logs(self, handle: JobHandle, tail: int | None) -> str:
        self._load(handle.name)
        path = self._files(handle.name).log
        try:
            with open(path, "rb") as log:
                if tail is None:
                    return log.read().decode("utf-8", errors="replace")
                return _tail(log, tail)
        except FileNotFoundError:
            return ""

    def _cancel(self, handle: JobHandle) -> None:
        self._load(handle.name)
        files = self._files(handle.name)
        with self._locked():
            if files.exit.exists() or files.cancelled.exists():
                return
            self._write_atomic(files.cancelled, dt.datetime.now(dt.timezone.utc).isoformat())
            pid = self._read_pid(files.pid)
        if pid is not None and record_alive(PidRecord(*pid)):
            stop_process_group(pid[0], self.cancel_grace_s)
        child = self._children.get(handle.name)
        if child is not None:
            child.wait()

    @staticmethod
    def _last_line(path: Path) -> str:
        try:
            with open(path, "rb") as log:
                lines = [line.strip() for line in _tail(log, 20).splitlines() if line.strip()]
        except FileNotFoundError:
            return ""
        return lines[-1][:300] if lines else ""


def _tail(log, lines: int, block: int = 8192) -> str:
    """The last ``lines`` lines of an open binary file, reading backwards in blocks."""
    if lines == 0:
        return ""
    log.seek(0, os.SEEK_END)
    end = log.tell()
    data = b""
    position = end
    while position > 0 and data.count(b"\n") <= lines:
        step = min(block, position)
        position -= step
        log.seek(position)
        data = log.read(step) + data
    text = data.decode("utf-8", errors="replace")
    parts = text.splitlines(keepends=True)
    return "".join(parts[-lines:])
