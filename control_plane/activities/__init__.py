"""Activity implementations of the job workflows, one module per engine task queue.

- :mod:`.control`: compile the query, record progress and results in the metadata DB, await shared builds;
- :mod:`.data`: ingestion, materialization, training and prediction tables (Spark);
- :mod:`.graph`: the graph and feature store servers;
- :mod:`.compute`: trainer jobs (trials, baseline, prediction) and model selection.

Activities call the engines; the engines never import the control plane. :func:`all_activities` binds them
to a worker's settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from platform_core.settings import Settings


def all_activities(settings: Settings, **launcher_options: Any) -> dict[str, list[Callable]]:
    """Every job activity by task queue, bound to ``settings``.

    Args:
        settings: the platform settings.
        launcher_options: keyword arguments for the compute engine's job launcher.

    Returns:
        ``{task queue: activities}`` for the control, data, graph and compute queues.
    """
    from control_plane.activities.compute import ComputeActivities
    from control_plane.activities.control import ControlActivities
    from control_plane.activities.data import DataActivities
    from control_plane.activities.graph import GraphActivities
    from control_plane.workflows.task_queues import COMPUTE, CONTROL, DATA, GRAPH

    return {CONTROL: ControlActivities(settings).activities(), DATA: DataActivities(settings).activities(),
            GRAPH: GraphActivities(settings).activities(),
            COMPUTE: ComputeActivities(settings, **launcher_options).activities()}
