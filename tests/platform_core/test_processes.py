"""Port checks, pid files and process-group shutdown of the stack launcher, on real processes and sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from platform_core.errors import UserFacingError
from services.stack.launcher import LOG_HEADER, last_log_line
from platform_core.processes import (
    PidRecord,
    PortInUseError,
    exclusive_lock,
    free_port,
    free_ports,
    group_alive,
    live_pid,
    pid_alive,
    port_is_free,
    read_pid_file,
    record_alive,
    require_free_port,
    start_detached,
    stop_process_group,
    stop_recorded,
    write_pid_file,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def listening_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def _wait_until(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_port_taken_by_a_listener_is_not_free(listening_socket):
    port = listening_socket.getsockname()[1]
    assert not port_is_free("127.0.0.1", port)
    # "localhost" resolves to 127.0.0.1 (among others): still taken.
    assert not port_is_free("localhost", port)


def test_port_is_free_again_once_the_listener_closes(listening_socket):
    port = listening_socket.getsockname()[1]
    listening_socket.close()
    assert port_is_free("127.0.0.1", port)


def test_free_port_can_be_bound():
    port = free_port()
    assert 0 < port < 65536
    assert port_is_free("127.0.0.1", port)


def test_free_ports_are_distinct_and_free():
    ports = free_ports(8)
    assert len(set(ports)) == 8
    assert all(port_is_free("127.0.0.1", port) for port in ports)


def test_require_free_port_names_part_port_and_setting(listening_socket):
    port = listening_socket.getsockname()[1]
    with pytest.raises(PortInUseError) as caught:
        require_free_port("api", "127.0.0.1", port, "PQ_API_PORT")
    assert isinstance(caught.value, UserFacingError)
    assert str(caught.value) == f"api: port {port} on 127.0.0.1 is already in use (set PQ_API_PORT)"


def test_require_free_port_passes_for_a_free_port():
    require_free_port("api", "127.0.0.1", free_port(), "PQ_API_PORT")


def test_pid_file_round_trip(tmp_path):
    path = tmp_path / "run" / "part.pid"
    written = write_pid_file(path, os.getpid())
    assert read_pid_file(path) == written
    assert written.pid == os.getpid()
    assert written.start_ticks is not None  # Linux: the start time guards against pid reuse
    assert path.read_text().splitlines()[0] == str(os.getpid())
    assert live_pid(path) == os.getpid()


@pytest.mark.parametrize("content", ["", "abc\n", "-5\n", "12 x\n"])
def test_unreadable_pid_files_read_as_none(tmp_path, content):
    path = tmp_path / "part.pid"
    path.write_text(content)
    assert read_pid_file(path) is None
    assert live_pid(path) is None


def test_missing_pid_file_reads_as_none(tmp_path):
    assert read_pid_file(tmp_path / "absent.pid") is None


def test_exited_process_is_not_alive_even_as_a_zombie(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    path = tmp_path / "child.pid"
    write_pid_file(path, child.pid)
    # Not reaped yet: the child lingers as a zombie, which must not count as running.
    assert _wait_until(lambda: not pid_alive(child.pid))
    assert live_pid(path) is None
    child.wait()


def test_reused_pid_is_not_taken_for_the_recorded_process():
    mine = PidRecord(os.getpid(), start_ticks=1)  # this pid, but "started" at another time
    assert not record_alive(mine)
    # ...and stopping that record must not signal this test process.
    assert stop_recorded(mine, grace_s=0.1) is False


def test_start_detached_runs_in_its_own_session_and_logs(tmp_path):
    log = tmp_path / "logs" / "echo.log"
    process = start_detached([sys.executable, "-c", "import os; print('hello', os.getsid(0))"], log)
    assert process.wait(timeout=30) == 0
    word, sid = log.read_text().split()
    assert word == "hello"
    assert int(sid) == process.pid != os.getsid(0)


def test_stop_process_group_stops_children_too(tmp_path):
    log = tmp_path / "tree.log"
    leader = start_detached(["sh", "-c", "sleep 60 & echo $!; wait"], log)
    assert _wait_until(lambda: log.read_text().strip() != "")
    child = int(log.read_text().split()[0])
    assert pid_alive(child) and os.getpgid(child) == leader.pid
    assert stop_process_group(leader.pid, grace_s=5) is True
    leader.wait(timeout=5)
    assert not pid_alive(child)
    assert not group_alive(leader.pid)


def test_stop_process_group_kills_what_ignores_sigterm(tmp_path):
    log = tmp_path / "stubborn.log"
    stubborn = start_detached(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
        log,
    )
    assert _wait_until(lambda: "ready" in log.read_text())
    assert stop_process_group(stubborn.pid, grace_s=0.3) is False
    assert stubborn.wait(timeout=5) == -signal.SIGKILL


def test_stop_recorded_stops_a_live_part_and_ignores_a_gone_one(tmp_path):
    process = start_detached(["sleep", "60"], tmp_path / "sleep.log")
    record = write_pid_file(tmp_path / "sleep.pid", process.pid)
    assert stop_recorded(record, grace_s=5) is True
    assert process.wait(timeout=5) == -signal.SIGTERM
    assert stop_recorded(record, grace_s=5) is False


def test_last_log_line_skips_blank_lines(tmp_path):
    log = tmp_path / "part.log"
    assert last_log_line(log) == ""
    log.write_text("first\nlast one\n\n  \n")
    assert last_log_line(log) == "last one"
    log.write_text("x" * 1000 + "\n")
    assert last_log_line(log, max_chars=50) == "x" * 50


def test_last_log_line_only_counts_the_latest_start(tmp_path):
    log = tmp_path / "part.log"
    log.write_text(f"{LOG_HEADER} 1 starting: a\nold run said this\n{LOG_HEADER} 2 starting: a\n")
    assert last_log_line(log) == ""
    log.write_text(log.read_text() + "new run said this\n")
    assert last_log_line(log) == "new run said this"


def test_exclusive_lock_is_exclusive_across_processes(tmp_path):
    lock = tmp_path / "run" / "stack.lock"
    try_lock = (
        "import fcntl, sys\n"
        "with open(sys.argv[1], 'a') as f:\n"
        "    try:\n"
        "        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
        "    except BlockingIOError:\n"
        "        print('taken')\n"
    )
    take_lock = (
        "import sys, pathlib; from platform_core.processes import exclusive_lock\n"
        "with exclusive_lock(pathlib.Path(sys.argv[1])): print('got it')\n"
    )

    def run(code: str) -> str:
        return subprocess.run([sys.executable, "-c", code, str(lock)], capture_output=True, text=True, timeout=60).stdout

    with exclusive_lock(lock):
        assert run(try_lock) == "taken\n"
    assert run(take_lock) == "got it\n"
    assert run(try_lock) == "free\n"
