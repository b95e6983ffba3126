"""``pq up`` / ``pq status`` / ``pq down`` for real: Temporal dev server, API and worker as processes.

The stack is started once for the module under a temporary PQ_HOME, on free ports chosen at run time, and
always torn down (``pq down``, then SIGKILL of whatever a pid file still names) even when a test fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from control_plane.workflows.health import HealthCheckResult, run_health_check
from control_plane.workflows.task_queues import ENGINE_TASK_QUEUES
from platform_core.processes import free_ports

pytestmark = pytest.mark.integration

PARTS = ("temporal", "api", "worker")
PQ = shutil.which("pq", path=str(Path(sys.executable).parent))


def _process_state(pid: int) -> str | None:
    """The state letter of ``pid`` from /proc (``Z`` for a zombie), None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return raw[raw.rindex(")") + 2 :].split()[0]


def _running(pid: int) -> bool:
    return _process_state(pid) not in (None, "Z")


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            fields = raw[raw.rindex(")") + 2 :].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Stack:
    home: Path
    api_port: int
    temporal_port: int
    ui_port: int
    env: dict[str, str]

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def ports(self) -> list[int]:
        return [self.api_port, self.temporal_port, self.ui_port]

    def pq(self, *args: str, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess:
        env = {**self.env, **extra_env}
        return subprocess.run(
            [PQ, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=self.home.parent
        )

    def pid(self, part: str) -> int | None:
        path = self.home / "run" / f"{part}.pid"
        return int(path.read_text().split()[0]) if path.exists() else None

    def kill_leftovers(self) -> None:
        """Last resort after ``pq down``: SIGKILL every process group a pid file still names."""
        for part in PARTS:
            pid = self.pid(part)
            if pid is not None and _group_members(pid):
                os.killpg(pid, signal.SIGKILL)


def _make_stack(root: Path, name: str) -> Stack:
    home = root / name
    api_port, temporal_port, ui_port = free_ports(3)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PQ_")}
    env.update(
        PQ_HOME=str(home),
        PQ_API_PORT=str(api_port),
        PQ_TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
        PQ_TEMPORAL_UI_PORT=str(ui_port),
        PQ_STARTUP_TIMEOUT_S="90",
        COLUMNS="200",
    )
    return Stack(home, api_port, temporal_port, ui_port, env)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    assert PQ is not None, "the pq console script is not installed next to this Python"
    made = _make_stack(tmp_path_factory.mktemp("stack"), "home")
    try:
        started = made.pq("up")
        assert started.returncode == 0, started.stdout + started.stderr
        made.up_output = started.stdout
        yield made
    finally:
        made.pq("down")
        made.kill_leftovers()


@pytest.fixture
def scratch(tmp_path):
    """A second, never-started stack with its own home and ports, cleaned up after the test."""
    made = _make_stack(tmp_path, "scratch")
    try:
        yield made
    finally:
        made.pq("down")
        made.kill_leftovers()


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


async def _check_through_temporal(address: str) -> tuple[HealthCheckResult, list[int], WorkflowExecutionStatus]:
    client = await Client.connect(address)
    assert await client.service_client.check_health()
    workflow_id = f"test-health-{uuid.uuid4().hex}"
    result = await run_health_check(client, timeout_s=10, workflow_id=workflow_id)
    handle = client.get_workflow_handle(workflow_id)
    history = await handle.fetch_history()
    description = await handle.describe()
    return result, [event.event_type for event in history.events], description.status


# --- the running stack -------------------------------------------------------------------------------


def test_up_reports_where_everything_is(stack):
    assert f"http://127.0.0.1:{stack.api_port}" in stack.up_output
    assert stack.temporal_address in stack.up_output
    assert f"http://127.0.0.1:{stack.ui_port}" in stack.up_output
    for part in PARTS:
        pid = stack.pid(part)
        assert pid is not None and _running(pid), part
        assert (stack.home / "logs" / f"{part}.log").stat().st_size > 0
    assert (stack.home / "temporal.db").exists()


def test_up_prints_a_working_first_admin_key_once(stack):
    keys = re.findall(r"^first admin key: (pq_\S+) \(store it now", stack.up_output, re.MULTILINE)
    assert len(keys) == 1, stack.up_output
    me = httpx.get(f"http://127.0.0.1:{stack.api_port}/v1/api-keys/me",
                   headers={"Authorization": f"Bearer {keys[0]}"}, timeout=10)
    assert me.status_code == 200 and me.json()["role"] == "admin"
    anonymous = httpx.get(f"http://127.0.0.1:{stack.api_port}/v1/projects", timeout=10)
    assert anonymous.status_code == 401


def test_health_workflow_answers_on_every_queue_and_its_history_is_visible(stack):
    result, events, status = asyncio.run(_check_through_temporal(stack.temporal_address))
    assert result.healthy, result
    assert [answer.task_queue for answer in result.answers] == list(ENGINE_TASK_QUEUES)
    assert {answer.pid for answer in result.answers} == {stack.pid("worker")}
    assert status == WorkflowExecutionStatus.COMPLETED
    assert events.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == len(ENGINE_TASK_QUEUES)
    assert events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


def test_health_workflow_names_a_queue_nobody_serves(stack):
    async def check() -> HealthCheckResult:
        client = await Client.connect(stack.temporal_address)
        return await run_health_check(client, timeout_s=1.0, task_queues=["control", "nobody-polls-this"])

    result = asyncio.run(check())
    assert not result.healthy
    assert result.missing == ["nobody-polls-this"]
    assert result.answers[0].answered and result.answers[0].pid == stack.pid("worker")
    assert result.answers[1].error


def test_api_health_sees_temporal(stack):
    response = httpx.get(f"http://127.0.0.1:{stack.api_port}/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["temporal"] == "ok"


def test_temporal_ui_serves(stack):
    assert httpx.get(f"http://127.0.0.1:{stack.ui_port}/", timeout=10).status_code == 200


def test_status_shows_every_part_healthy(stack):
    result = stack.pq("status")
    assert result.returncode == 0, result.stdout + result.stderr
    for part in PARTS:
        row = next(line for line in result.stdout.splitlines() if f" {part} " in line)
        assert "healthy" in row and str(stack.pid(part)) in row


def test_up_again_leaves_healthy_parts_alone(stack):
    before = {part: stack.pid(part) for part in PARTS}
    result = stack.pq("up")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("already running") == len(PARTS)
    assert "first admin key" not in result.stdout
    assert {part: stack.pid(part) for part in PARTS} == before


def test_a_dead_worker_shows_as_down_and_up_restarts_only_it(stack):
    before = {part: stack.pid(part) for part in PARTS}
    os.killpg(before["worker"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _running(before["worker"]) and time.monotonic() < deadline:
        time.sleep(0.05)

    status = stack.pq("status")
    assert status.returncode == 1, status.stdout + status.stderr
    worker_row = next(line for line in status.stdout.splitlines() if " worker " in line)
    assert "down" in worker_row
    assert "Traceback" not in status.stdout + status.stderr

    restarted = stack.pq("up")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    after = {part: stack.pid(part) for part in PARTS}
    assert after["temporal"] == before["temporal"] and after["api"] == before["api"]
    assert after["worker"] != before["worker"] and _running(after["worker"])
    result, _, _ = asyncio.run(_check_through_temporal(stack.temporal_address))
    assert {answer.pid for answer in result.answers} == {after["worker"]}


def test_down_stops_everything_and_frees_the_ports(stack):
    pids = {part: stack.pid(part) for part in PARTS}
    result = stack.pq("down")
    assert result.returncode == 0, result.stdout + result.stderr
    for part, pid in pids.items():
        assert not _running(pid), part
        assert _group_members(pid) == [], part
        assert stack.pid(part) is None, part
    assert all(_port_free(port) for port in stack.ports)
    again = stack.pq("down")
    assert again.returncode == 0 and "not running" in again.stdout


# --- failures: one line, exit 2, nothing left running ----------------------------------------------------


def test_busy_api_port_is_one_line_and_starts_nothing(scratch):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", scratch.api_port))
        squatter.listen()
        line = _one_error_line(scratch.pq("up"))
    assert f"port {scratch.api_port}" in line and "PQ_API_PORT" in line and line.startswith("pq: error: api:")
    assert all(scratch.pid(part) is None for part in PARTS)
    assert _port_free(scratch.temporal_port) and _port_free(scratch.ui_port)


def test_part_that_does_not_get_healthy_in_time_is_named_with_its_log(scratch):
    line = _one_error_line(scratch.pq("up", PQ_STARTUP_TIMEOUT_S="0.01"))
    log = scratch.home.resolve() / "logs" / "temporal.log"
    assert line.startswith("pq: error: temporal failed to start (not healthy after 0.01 s")
    assert f"see {log}" in line
    assert all(scratch.pid(part) is None for part in PARTS)
    assert all(_port_free(port) for port in scratch.ports)


def test_part_that_exits_is_named_with_its_log_and_last_line(scratch):
    scratch.home.mkdir(parents=True)
    (scratch.home / "temporal.db").write_bytes(b"this is not an SQLite database" * 200)
    line = _one_error_line(scratch.pq("up"))
    log = scratch.home.resolve() / "logs" / "temporal.log"
    assert line.startswith("pq: error: temporal failed to start (exited with status")
    assert f"see {log}; last log line: " in line
    last = line.rpartition("last log line: ")[2]
    assert last and last in log.read_text()
    assert all(scratch.pid(part) is None for part in PARTS)
    assert all(_port_free(port) for port in scratch.ports)


@pytest.mark.parametrize(
    "variable, value, named",
    [("PQ_API_PROT", "1", "PQ_API_PORT"), ("PQ_API_PORT", "abc", "PQ_API_PORT"), ("PQ_JOB_LAUNCHER", "nope", "PQ_JOB_LAUNCHER")],
)
def test_bad_settings_are_one_line(scratch, variable, value, named):
    line = _one_error_line(scratch.pq("up", **{variable: value}))
    assert variable in line and named in line
    assert all(scratch.pid(part) is None for part in PARTS)


def test_status_with_nothing_running_is_a_table_and_non_zero(scratch):
    result = scratch.pq("status")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for part in PARTS:
        row = next(line for line in result.stdout.splitlines() if f" {part} " in line)
        assert "down" in row
    assert f"temporal: not reachable at {scratch.temporal_address}" in result.stdout
