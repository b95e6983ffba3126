"""Start and stop the store servers as local processes: how the orchestrator and ``pq graph`` run them.

Each server is a named, detached process (``python -m services.graph_store_server`` or
``python -m services.feature_store_server``) in its own session, with its files under the home::

    <run_dir>/stores/<name>.pid    pid and start time (see platform_core.processes)
    <run_dir>/stores/<name>.json   kind, address and artifacts it serves
    <log_dir>/stores/<name>.log    its stdout and stderr

:func:`start_server` returns once the server answers its health check (or raises, naming the log);
starting a name that already runs with the same artifacts returns the running server. :func:`stop_server`
sends SIGTERM (the server finishes requests in flight), then SIGKILL after a grace period.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

from graph_engine.service.connection import FlightConnection
from graph_engine.service.errors import StoreServiceError, StoreStartError

# Process handling is shared with the embedded stack (pid files with start times, process groups, ports).
from platform_core.processes import (
    exclusive_lock,
    read_pid_file,
    record_alive,
    require_free_port,
    start_detached,
    stop_recorded,
    write_pid_file,
)
from platform_core.settings import ENV_PREFIX, Settings

Kind = Literal["graph", "features"]
ENTRYPOINTS: dict[str, tuple[str, str]] = {
    "graph": ("services.graph_store_server", "--graph"),
    "features": ("services.feature_store_server", "--features"),
}
DEFAULT_NAMES = {"graph": "graph-store", "features": "feature-store"}
POLL_S = 0.2
STOP_GRACE_S = 10.0
#: Starts each stretch of a server's log written since it was started.
LOG_HEADER = "==> pq store:"
#: The line a server writes once it listens (see graph_engine.service.server.serve_until_stopped).
ANNOUNCED = re.compile(r" serving at (grpc://\S+) \(pid \d+\)")


@dataclass(frozen=True)
class ServerRecord:
    """A store server started by :func:`start_server`.

    Attributes:
        name: its name (one server per name and home).
        kind: ``"graph"`` or ``"features"``.
        address: where clients connect (``grpc://host:port``).
        artifacts: the artifact URIs it serves, as given.
        pid: its process id.
        log_file: its stdout and stderr.
    """

    name: str
    kind: str
    address: str
    artifacts: list[str]
    pid: int
    log_file: Path


@dataclass(frozen=True)
class ServerStatus:
    """One started server and whether it answers."""

    record: ServerRecord
    running: bool
    health: dict[str, Any] | None
    detail: str


def _files(settings: Settings, name: str) -> tuple[Path, Path, Path]:
    if not name or "/" in name or name.startswith("."):
        raise StoreServiceError(f"server name {name!r}: expected a plain name such as 'graph-store'")
    run = settings.run_dir / "stores"
    return run / f"{name}.pid", run / f"{name}.json", settings.log_dir / "stores" / f"{name}.log"


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a server process gets: this one's, with every setting as its ``PQ_*`` variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update({name: value for name, value in settings.to_environment().items() if value is not None})
    return env


def server_command(kind: str, artifacts: Sequence[str], host: str, port: int, python: str | None = None) -> list[str]:
    """The command line of a server process."""
    module, flag = ENTRYPOINTS[kind]
    return [python or sys.executable, "-m", module, flag, *artifacts, "--host", host, "--port", str(port)]


def _read_record(settings: Settings, name: str) -> ServerRecord | None:
    _, info, _ = _files(settings, name)
    try:
        raw = json.loads(info.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return ServerRecord(**{**raw, "log_file": Path(raw["log_file"])})


def _since_start(path: Path) -> str:
    """What the server wrote to its log since it was last started (after the last ``==>`` header line)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return text.rsplit(LOG_HEADER, 1)[1].partition("\n")[2] if LOG_HEADER in text else text


def _log_tail(path: Path, lines: int = 3) -> str:
    """The last lines the server wrote since it was last started."""
    kept = [line.strip() for line in _since_start(path).splitlines() if line.strip()]
    return " | ".join(kept[-lines:])[-400:]


def health(address: str, timeout_s: float = 2.0) -> dict[str, Any]:
    """Ask the server at ``address`` for its health report.

    Raises:
        StoreUnavailableError: nothing answers there.
        StoreServiceError: something answers that is not a store server.
    """
    connection = FlightConnection(address, "store server", timeout_s)
    try:
        return connection.action("health")
    finally:
        connection.close()


def start_server(settings: Settings, kind: Kind, artifacts: Sequence[str], *, name: str | None = None,
                 host: str = "127.0.0.1", port: int | None = None, timeout_s: float | None = None,
                 python: str | None = None) -> ServerRecord:
    """Start a store server as a detached local process and wait until it answers.

    Args:
        settings: the platform settings (the server gets them as ``PQ_*`` variables; files go under its home).
        kind: ``"graph"`` (one graph artifact) or ``"features"`` (feature artifacts or folders of them).
        artifacts: the artifact URIs (or keys under the store root).
        name: the server's name (default ``graph-store`` / ``feature-store``).
        host: the interface it listens on.
        port: its port (default: one the server binds itself, read back from what it announces).
        timeout_s: how long it may take to answer (default: ``settings.startup_timeout_s``).
        python: the interpreter (default: this one).

    Returns:
        Its record; the running one when a server of that name already serves the same artifacts.

    Raises:
        StoreServiceError: an unknown kind, no artifacts, or the name runs with other artifacts.
        PortInUseError: the port is taken.
        StoreStartError: the process exited or did not answer in time; the message names its log.
    """
    if kind not in ENTRYPOINTS:
        raise StoreServiceError(f"unknown store server kind {kind!r} (expected graph or features)")
    artifacts = [str(a) for a in artifacts]
    if not artifacts or (kind == "graph" and len(artifacts) != 1):
        raise StoreServiceError(f"a {kind} server needs {'one graph artifact' if kind == 'graph' else 'feature artifacts'}")
    name = name or DEFAULT_NAMES[kind]
    pid_file, info_file, log_file = _files(settings, name)
    deadline = time.monotonic() + (timeout_s if timeout_s is not None else settings.startup_timeout_s)
    process = None
    with exclusive_lock(pid_file.with_suffix(".lock")):
        running = _running(settings, name)
        if running is not None:
            if running.kind != kind or running.artifacts != artifacts:
                raise StoreServiceError(f"{name} already runs (pid {running.pid}) serving "
                                        f"{', '.join(running.artifacts)}; stop it first (pq graph stop {name})")
            record = running
        else:
            if port:
                require_free_port(name, host, int(port), "--port")
            log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(log_file, "a") as log:
                log.write(f"{LOG_HEADER} {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}\n")
            # Without a port the server binds port 0 itself and announces the one it got: a port picked here
            # and handed over could be taken by another process in between.
            process = start_detached(server_command(kind, artifacts, host, int(port or 0), python), log_file,
                                     env=settings_env(settings))
            write_pid_file(pid_file, process.pid)
            address = f"grpc://{host}:{port}" if port else _announced_address(settings, name, process, log_file,
                                                                               deadline)
            record = ServerRecord(name, kind, address, artifacts, process.pid, log_file)
            info_file.write_text(json.dumps({**asdict(record), "log_file": str(log_file)}))
    # A server another caller started may still be starting: wait for it as for our own.
    while True:
        exited = process.poll() is not None if process is not None else _running(settings, name) is None
        if exited:
            if process is not None:
                _forget(settings, name)
            raise _exited_while_starting(name, process, record.log_file)
        try:
            health(record.address, timeout_s=2.0)
            return record
        except StoreServiceError:
            pass
        if time.monotonic() > deadline:
            if process is not None:
                stop_server(settings, name)
            raise StoreStartError(f"{name} did not answer at {record.address} in time (log: {record.log_file})")
        time.sleep(POLL_S)


def _exited_while_starting(name: str, process: Any, log_file: Path) -> StoreStartError:
    status = f" with status {process.returncode}" if process is not None else ""
    return StoreStartError(f"{name} exited{status} while starting: {_log_tail(log_file) or 'no output'} "
                           f"(log: {log_file})")


def _announced_address(settings: Settings, name: str, process: Any, log_file: Path, deadline: float) -> str:
    """The address a server started on port 0 announces in its log (``... serving at grpc://host:port``).

    Raises:
        StoreStartError: it exited or announced nothing before ``deadline`` (then it is stopped).
    """
    while True:
        found = ANNOUNCED.search(_since_start(log_file))
        if found:
            return found.group(1)
        if process.poll() is not None:
            _forget(settings, name)
            raise _exited_while_starting(name, process, log_file)
        if time.monotonic() > deadline:
            stop_server(settings, name)
            raise StoreStartError(f"{name} did not announce its address in time (log: {log_file})")
        time.sleep(POLL_S / 4)


def start_graph_server(settings: Settings, graph_uri: str, **kwargs: Any) -> ServerRecord:
    """:func:`start_server` for one graph artifact."""
    return start_server(settings, "graph", [graph_uri], **kwargs)


def start_feature_server(settings: Settings, feature_uris: Sequence[str] | str, **kwargs: Any) -> ServerRecord:
    """:func:`start_server` for feature artifacts (or folders of them)."""
    uris = [feature_uris] if isinstance(feature_uris, str) else list(feature_uris)
    return start_server(settings, "features", uris, **kwargs)


def _running(settings: Settings, name: str) -> ServerRecord | None:
    pid_file, _, _ = _files(settings, name)
    pid_record = read_pid_file(pid_file)
    record = _read_record(settings, name)
    if pid_record is None or record is None or not record_alive(pid_record):
        return None
    return record


def _forget(settings: Settings, name: str) -> None:
    for path in _files(settings, name)[:2]:
        path.unlink(missing_ok=True)


def stop_server(settings: Settings, name: str, *, grace_s: float = STOP_GRACE_S) -> bool:
    """Stop the named server: SIGTERM (requests in flight finish), SIGKILL after ``grace_s``.

    Returns:
        True when it was running and has been stopped; False when it was not running.
    """
    pid_file, _, _ = _files(settings, name)
    record = read_pid_file(pid_file)
    stopped = record is not None and stop_recorded(record, grace_s)
    _forget(settings, name)
    return stopped


def server_names(settings: Settings) -> list[str]:
    """Names of the servers started under this home (running or not)."""
    folder = settings.run_dir / "stores"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []


def server_status(settings: Settings, name: str) -> ServerStatus | None:
    """Whether the named server runs and answers, or None when no server of that name was started."""
    record = _read_record(settings, name)
    if record is None:
        return None
    if _running(settings, name) is None:
        return ServerStatus(record, False, None, "not running")
    try:
        return ServerStatus(record, True, health(record.address), "healthy")
    except StoreServiceError as exc:
        return ServerStatus(record, True, None, str(exc))
