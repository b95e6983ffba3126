"""Per-step progress of a job workflow: kept in the workflow, answered by its ``progress`` query, and copied
to the job's row in the metadata DB at every change.

Workflow code only: times come from :func:`temporalio.workflow.now`, so replays give the same states.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

from control_plane.workflows.messages import (
    CANCELLED,
    DONE,
    PENDING,
    REUSED,
    RUNNING,
    SKIPPED,
    JobRecord,
    StepState,
)
from control_plane.workflows.policies import QUICK_RETRY, QUICK_TIMEOUT, RECORD_JOB
from control_plane.workflows.task_queues import CONTROL


class Progress:
    """The ordered steps of one job and their states.

    Args:
        kind: ``training`` or ``prediction`` (the job table written to).
        job_id: the job's row (``""``: nothing is written to the DB).
        steps: the step ids, in the order they are shown.
    """

    def __init__(self, kind: str, job_id: str, steps: list[str]) -> None:
        self.kind = kind
        self.job_id = job_id
        self._steps: dict[str, StepState] = {step: StepState(step) for step in steps}
        # Steps run concurrently (every table's ingestion at once); unordered writes could land an older
        # snapshot last, so writes go one at a time and each copies the states when its turn comes.
        self._writing = asyncio.Lock()

    def states(self) -> list[StepState]:
        """A copy of every step's state, in order."""
        return [StepState(s.step, s.status, s.started_at, s.finished_at, s.detail) for s in self._steps.values()]

    def add(self, step: str) -> None:
        """Add a step (pending) that became known late, e.g. a table's ingestion once the plan is compiled."""
        self._steps.setdefault(step, StepState(step))

    def status(self, step: str) -> str:
        return self._steps[step].status

    @staticmethod
    def _now() -> str:
        return workflow.now().isoformat(timespec="milliseconds")

    async def start(self, *steps: str, detail: str = "") -> None:
        """Mark steps running and record it."""
        for step in steps:
            state = self._steps[step]
            state.status, state.started_at, state.detail = RUNNING, self._now(), detail
        await self.record()

    async def finish(self, step: str, *, reused: bool = False, detail: str = "") -> None:
        """Mark a step done (or reused: an identical artifact existed) and record it."""
        state = self._steps[step]
        state.status = REUSED if reused else DONE
        state.started_at = state.started_at or self._now()
        state.finished_at, state.detail = self._now(), detail
        await self.record()

    async def skip(self, step: str, detail: str) -> None:
        state = self._steps[step]
        state.status, state.finished_at, state.detail = SKIPPED, self._now(), detail
        await self.record()

    def close_open(self, status: str, detail: str) -> None:
        """Mark every running step ``status`` (failed or cancelled) and every pending one skipped."""
        for state in self._steps.values():
            if state.status == RUNNING:
                state.status, state.finished_at, state.detail = status, self._now(), detail
            elif state.status == PENDING:
                state.status, state.detail = SKIPPED, ("cancelled" if status == CANCELLED else "not reached")

    async def record(self, **changes) -> None:
        """Write the progress (and any other job field in ``changes``) to the job's row."""
        if not self.job_id:
            return
        async with self._writing:
            await workflow.execute_activity(
                RECORD_JOB, JobRecord(kind=self.kind, job_id=self.job_id, progress=self.states(), **changes),
                task_queue=CONTROL, start_to_close_timeout=QUICK_TIMEOUT, retry_policy=QUICK_RETRY)


__all__ = ["Progress"]
