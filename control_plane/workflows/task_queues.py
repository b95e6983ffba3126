"""The names of the Temporal task queues: one per engine, defined in one place.

Workflows run on :data:`CONTROL`; each activity runs on the queue of the engine that implements it.
The worker process (``services.worker``) polls every queue listed in :data:`ENGINE_TASK_QUEUES`.
"""

from __future__ import annotations

CONTROL = "control"
DATA = "data"
GRAPH = "graph"
COMPUTE = "compute"

ENGINE_TASK_QUEUES: tuple[str, ...] = (CONTROL, DATA, GRAPH, COMPUTE)
