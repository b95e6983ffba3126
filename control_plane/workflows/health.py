"""A workflow that proves the whole worker side answers: one ping activity per engine task queue.

``HealthCheckWorkflow`` runs on the ``control`` queue and schedules :func:`health_ping` on each queue it
is asked about, all at once. Every ping reports the queue and the process that answered it; a queue that
no worker polls within the timeout is reported as not answering instead of failing the workflow, so one
run tells exactly which queues are served.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from control_plane.workflows.task_queues import CONTROL, ENGINE_TASK_QUEUES

HEALTH_PING_ACTIVITY = "health_ping"


@dataclass
class HealthCheckInput:
    """What to check.

    Attributes:
        task_queues: the queues that must answer (default: every engine queue).
        timeout_s: how long each queue has to pick up and answer its ping.
    """

    task_queues: list[str] = field(default_factory=lambda: list(ENGINE_TASK_QUEUES))
    timeout_s: float = 5.0


@dataclass
class QueueAnswer:
    """The outcome of one ping.

    Attributes:
        task_queue: the queue the ping was scheduled on.
        answered: whether a worker on that queue ran the ping.
        pid: the process id of the worker that answered (None when it did not).
        hostname: the host of that worker (None when it did not).
        error: why the queue did not answer (None when it did).
    """

    task_queue: str
    answered: bool
    pid: int | None = None
    hostname: str | None = None
    error: str | None = None


@dataclass
class HealthCheckResult:
    """Every queue's answer, in the order they were asked for."""

    answers: list[QueueAnswer]

    @property
    def healthy(self) -> bool:
        """True when every queue answered."""
        return bool(self.answers) and all(answer.answered for answer in self.answers)

    @property
    def missing(self) -> list[str]:
        """The queues that did not answer."""
        return [answer.task_queue for answer in self.answers if not answer.answered]


@activity.defn(name=HEALTH_PING_ACTIVITY)
async def health_ping() -> QueueAnswer:
    """Answer for the task queue this activity was delivered on.

    Returns:
        The queue, pid and hostname of the worker that ran it.
    """
    info = activity.info()
    return QueueAnswer(task_queue=info.task_queue, answered=True, pid=os.getpid(), hostname=socket.gethostname())


@workflow.defn(name="HealthCheckWorkflow")
class HealthCheckWorkflow:
    """Ping every requested task queue in parallel and report which answered."""

    @workflow.run
    async def run(self, request: HealthCheckInput) -> HealthCheckResult:
        """Schedule one :func:`health_ping` per queue.

        Args:
            request: the queues and the per-queue timeout.

        Returns:
            One :class:`QueueAnswer` per requested queue; queues that timed out have ``answered=False``.
        """
        timeout = timedelta(seconds=request.timeout_s)
        pings = [
            workflow.execute_activity(
                HEALTH_PING_ACTIVITY,
                task_queue=queue,
                schedule_to_close_timeout=timeout,
                retry_policy=RetryPolicy(maximum_attempts=1),
                result_type=QueueAnswer,
            )
            for queue in request.task_queues
        ]
        outcomes = await asyncio.gather(*pings, return_exceptions=True)
        answers = []
        for queue, outcome in zip(request.task_queues, outcomes):
            if isinstance(outcome, QueueAnswer):
                answers.append(outcome)
            elif isinstance(outcome, ActivityError):
                cause = outcome.cause if outcome.cause is not None else outcome
                answers.append(QueueAnswer(task_queue=queue, answered=False, error=str(cause) or type(cause).__name__))
            else:
                raise outcome
        return HealthCheckResult(answers=answers)


async def run_health_check(
    client: Client,
    *,
    timeout_s: float = 5.0,
    task_queues: list[str] | None = None,
    workflow_id: str | None = None,
) -> HealthCheckResult:
    """Run :class:`HealthCheckWorkflow` on the ``control`` queue and wait for its result.

    Args:
        client: a connected Temporal client (its namespace is used).
        timeout_s: how long each queue has to answer; the workflow itself gets a little more.
        task_queues: the queues to ping (default: every engine queue).
        workflow_id: the id to run under (default: ``pq-health-<random>``).

    Returns:
        The answers of every queue.

    Raises:
        temporalio.client.WorkflowFailureError: the workflow did not finish in time, which means no worker
            polls the ``control`` queue.
        temporalio.service.RPCError: the server refused the call.
    """
    request = HealthCheckInput(task_queues=list(task_queues or ENGINE_TASK_QUEUES), timeout_s=timeout_s)
    return await client.execute_workflow(
        HealthCheckWorkflow.run,
        request,
        id=workflow_id or f"pq-health-{uuid.uuid4().hex}",
        task_queue=CONTROL,
        execution_timeout=timedelta(seconds=timeout_s + 1.0),
    )


__all__ = [
    "CONTROL",
    "HEALTH_PING_ACTIVITY",
    "HealthCheckInput",
    "HealthCheckResult",
    "HealthCheckWorkflow",
    "QueueAnswer",
    "health_ping",
    "run_health_check",
]
