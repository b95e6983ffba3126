"""The worker process: one Temporal worker per engine task queue, all in this process.

Run it with ``python -m services.worker``; it reads only the settings (``PQ_*``). The ``control`` queue runs
the workflows; every queue runs the activities of its engine, and all of them answer the health ping that
``HealthCheckWorkflow`` sends, so ``pq status`` can prove each queue is served. SIGTERM or SIGINT stops
polling, lets running activities finish (up to a grace period) and exits 0.

The job workflows (TrainPQuery, Predict, IncrementalUpdate and the shared-artifact builds) run on
``control``; their activities run on the queue of their engine (:mod:`control_plane.activities`). Activities
run concurrently: async ones on the event loop (their engine calls in threads), sync ones in a thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from control_plane.workflows.artifacts import BuildArtifactWorkflow
from control_plane.workflows.health import HealthCheckWorkflow, health_ping
from control_plane.workflows.incremental_update import IncrementalUpdateWorkflow
from control_plane.workflows.predict import PredictWorkflow
from control_plane.workflows.task_queues import CONTROL, ENGINE_TASK_QUEUES
from control_plane.workflows.train_pquery import TrainPQueryWorkflow
from platform_core.errors import UserFacingError
from platform_core.settings import Settings, load_settings

log = logging.getLogger("services.worker")

SHUTDOWN_GRACE = timedelta(seconds=10)
#: Threads for synchronous activities (DB writes, model selection) per queue.
ACTIVITY_THREADS = 16
#: Heartbeats reach the server at least this often, so a cancellation reaches an activity within it.
HEARTBEAT_THROTTLE = timedelta(seconds=1)
JOB_WORKFLOWS: tuple[type, ...] = (TrainPQueryWorkflow, PredictWorkflow, IncrementalUpdateWorkflow,
                                   BuildArtifactWorkflow)


def queue_registrations(settings: Settings | None = None, **launcher_options) -> dict[str, tuple[list[type], list[Callable]]]:
    """The workflows and activities each task queue serves.

    Args:
        settings: the settings the job activities are bound to; without them only the health check is
            served (the job workflows are registered either way).
        launcher_options: keyword arguments for the compute engine's job launcher.

    Returns:
        ``{task queue: (workflow classes, activity callables)}`` for every engine queue.
    """
    registrations: dict[str, tuple[list[type], list[Callable]]] = {
        queue: ([], [health_ping]) for queue in ENGINE_TASK_QUEUES
    }
    registrations[CONTROL][0].extend([HealthCheckWorkflow, *JOB_WORKFLOWS])
    if settings is not None:
        from control_plane.activities import all_activities

        for queue, activities in all_activities(settings, **launcher_options).items():
            registrations[queue][1].extend(activities)
    return registrations


async def connect(settings: Settings, *, attempts: int = 10, delay_s: float = 0.5) -> Client:
    """Connect to Temporal, retrying briefly so a server that is still starting is waited for.

    Args:
        settings: where Temporal is (``temporal_address``, ``temporal_namespace``).
        attempts: how many times to try.
        delay_s: the pause between tries.

    Returns:
        A connected client.

    Raises:
        RuntimeError: the last connection attempt failed.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
        except RuntimeError:
            if attempt == attempts:
                raise
            log.info("Temporal at %s not reachable yet (try %d/%d)", settings.temporal_address, attempt, attempts)
            await asyncio.sleep(delay_s)
    raise AssertionError("unreachable")


def build_workers(client: Client, queues: Sequence[str] = ENGINE_TASK_QUEUES, *, settings: Settings | None = None,
                  executor: ThreadPoolExecutor | None = None, **launcher_options) -> list[Worker]:
    """One :class:`Worker` per task queue, each with the workflows and activities registered for it.

    Args:
        client: the connected client the workers poll with.
        queues: the task queues to serve.
        settings: the settings the job activities use (None: health check only).
        executor: the thread pool of synchronous activities (default: one per worker); the caller shuts a
            given pool down.
        launcher_options: keyword arguments for the compute engine's job launcher.

    Returns:
        Workers, not yet running.
    """
    registrations = queue_registrations(settings, **launcher_options)
    workers = []
    for queue in queues:
        workflows, activities = registrations[queue]
        workers.append(
            Worker(
                client,
                task_queue=queue,
                workflows=workflows,
                activities=activities,
                activity_executor=executor or ThreadPoolExecutor(ACTIVITY_THREADS, thread_name_prefix=f"pq-{queue}"),
                max_concurrent_activities=ACTIVITY_THREADS,
                max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
                default_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
                graceful_shutdown_timeout=SHUTDOWN_GRACE,
            )
        )
    return workers


async def run_workers(settings: Settings, stop: asyncio.Event) -> None:
    """Serve every engine task queue until ``stop`` is set, then shut the workers down gracefully.

    Args:
        settings: the platform settings.
        stop: set it to stop.

    Raises:
        RuntimeError: Temporal could not be reached, or a worker failed.
    """
    client = await connect(settings)
    workers = build_workers(client, settings=settings)
    runs = [asyncio.create_task(worker.run(), name=f"worker-{worker.task_queue}") for worker in workers]
    log.info(
        "worker pid %d polling %s on %s (namespace %s)",
        os.getpid(),
        ", ".join(w.task_queue for w in workers),
        settings.temporal_address,
        settings.temporal_namespace,
    )
    stopping = asyncio.create_task(stop.wait(), name="stop")
    done, _ = await asyncio.wait([stopping, *runs], return_when=asyncio.FIRST_COMPLETED)
    failed = next((task for task in done if task is not stopping), None)
    log.info("shutting down" if failed is None else "a worker stopped; shutting down the others")
    await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
    await asyncio.gather(*runs, return_exceptions=True)
    stopping.cancel()
    if failed is not None:
        failed.result()
        raise RuntimeError(f"the worker for task queue {failed.get_name()} stopped unexpectedly")


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run_workers(settings, stop)


def main() -> None:
    """Entry point of ``python -m services.worker``: exit 0 on a signal, 1 when it cannot serve."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        asyncio.run(_serve(settings))
    except UserFacingError as exc:
        log.error("%s", exc)
        raise SystemExit(1) from None
    except RuntimeError as exc:
        log.error("worker stopped: %s", exc)
        raise SystemExit(1) from None
    log.info("stopped")


if __name__ == "__main__":
    main()
