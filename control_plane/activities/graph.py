"""Activities of the ``graph`` task queue: the graph and feature store servers of a materialized graph.

Stores are shared: every job training on the same graph uses the same two servers, named after the graph
folder's content key. A job *holds* the stores while it uses them (a file per holder under
``<run_dir>/stores/holders/<name>/``); releasing the last hold stops the servers. Starting and releasing
take one lock per graph, so a job that starts while another releases never finds half-stopped servers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from temporalio import activity

from control_plane.activities.common import run_blocking
from control_plane.workflows.messages import MaterializeOutcome, StoresOutcome, StoresRequest
from control_plane.workflows.policies import RELEASE_STORES, START_STORES
from platform_core.processes import exclusive_lock
from platform_core.settings import Settings

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def stores_name(graph: MaterializeOutcome) -> str:
    """The base name of a graph's store servers (``graph-<name>`` and ``features-<name>``)."""
    return hashlib.sha256(graph.output_uri.encode()).hexdigest()[:16]


class GraphActivities:
    """The graph engine's activities, bound to the worker's settings.

    Args:
        settings: the platform settings (the servers' home, object store, start-up timeout).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _holders(self, name: str) -> Path:
        return self.settings.run_dir / "stores" / "holders" / name

    def _lock(self, name: str) -> Path:
        return self.settings.run_dir / "stores" / "holders" / f"{name}.lock"

    def holders(self, graph: MaterializeOutcome) -> list[str]:
        """Who holds the stores of ``graph`` now."""
        folder = self._holders(stores_name(graph))
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    def _start(self, request: StoresRequest) -> StoresOutcome:
        from graph_engine.service.launch import server_status, start_feature_server, start_graph_server

        name = stores_name(request.graph)
        features = sorted(request.graph.feature_uris.values())
        with exclusive_lock(self._lock(name)):
            running = server_status(self.settings, f"graph-{name}")
            graph = start_graph_server(self.settings, request.graph.graph_uri, name=f"graph-{name}")
            feature = start_feature_server(self.settings, features, name=f"features-{name}")
            folder = self._holders(name)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / _SAFE.sub("_", request.holder)).write_text(f"{graph.pid} {feature.pid}\n")
        return StoresOutcome(graph_store_address=graph.address, feature_store_address=feature.address,
                             reused=running is not None and running.running)

    def _release(self, request: StoresRequest) -> bool:
        from graph_engine.service.launch import stop_server

        name = stores_name(request.graph)
        with exclusive_lock(self._lock(name)):
            folder = self._holders(name)
            (folder / _SAFE.sub("_", request.holder)).unlink(missing_ok=True)
            if folder.exists() and any(folder.iterdir()):
                return False
            stop_server(self.settings, f"graph-{name}")
            stop_server(self.settings, f"features-{name}")
            return True

    @activity.defn(name=START_STORES)
    async def start_stores(self, request: StoresRequest) -> StoresOutcome:
        """Start (or join) the graph and feature store servers of a graph, and hold them for the job.

        Returns:
            Their addresses; ``reused`` when they were already running for another job.
        """
        return await run_blocking(lambda: self._start(request), on_cancel=lambda: self._release(request))

    @activity.defn(name=RELEASE_STORES)
    async def release_stores(self, request: StoresRequest) -> bool:
        """Drop the job's hold on the stores; stop them when nobody holds them any more.

        Returns:
            Whether the servers were stopped.
        """
        return await run_blocking(lambda: self._release(request))

    def activities(self) -> list[Callable]:
        """The activities to register on the ``graph`` queue."""
        return [self.start_stores, self.release_stores]
