"""Retries with backoff, on Temporal's time-skipping test server (the backoff timers pass in no real time).

The compile step fails three times the way an unreachable service fails (a retryable error), then runs
the real compiler: the workflow goes on after 1 + 2 + 4 seconds of backoff on the workflow's clock. The
next step then meets a user's mistake (a schema table without a source), which fails the job at once,
non-retryable, with a message naming the table.
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from control_plane.activities.control import ControlActivities
from control_plane.workflows.messages import CompileOutcome, CompileRequest, TableSource, TrainPQueryInput
from control_plane.workflows.policies import COMPILE_QUERY
from control_plane.workflows.task_queues import CONTROL
from control_plane.workflows.train_pquery import TrainPQueryWorkflow
from platform_core.settings import Settings
from services.worker import JOB_WORKFLOWS

pytestmark = pytest.mark.integration

SCHEMA = {
    "tables": {
        "customers": {"primary_key": "customer_id", "time_column": None,
                      "columns": {"customer_id": "ID", "segment": "categorical"}},
        "orders": {"primary_key": "order_id", "time_column": "created_at",
                   "columns": {"order_id": "ID", "customer_id": "ID", "price": "numerical", "created_at": "timestamp"}},
    },
    "links": [{"table": "orders", "column": "customer_id", "to": "customers"}],
}
QUERY = "PREDICT SUM(orders.price, 0, 30, days) FOR EACH customers.customer_id"
TRANSIENT_FAILURES = 3


def _tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable}")
    return str(path)


def test_a_transient_failure_is_retried_with_backoff_then_a_user_mistake_fails_at_once(tmp_path: Path):
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'meta.db'}")
    control = ControlActivities(settings)

    @activity.defn(name=COMPILE_QUERY)
    def flaky_compile(request: CompileRequest) -> CompileOutcome:
        if activity.info().attempt <= TRANSIENT_FAILURES:
            raise ConnectionError("the compiler's service is briefly unreachable")
        return control.compile_query(request)

    async def scenario():
        env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=_tool("temporal-test-server"))
        try:
            with ThreadPoolExecutor(4) as executor:
                async with Worker(env.client, task_queue=CONTROL, workflows=list(JOB_WORKFLOWS),
                                  activities=[flaky_compile, control.record_job], activity_executor=executor):
                    request = TrainPQueryInput(job_id="", query=QUERY, schema=SCHEMA, trial_kind="baseline",
                                               tables=[TableSource(name="customers", source_uri="file:///nowhere")])
                    handle = await env.client.start_workflow(TrainPQueryWorkflow.run, request, id="pq-train-retry",
                                                             task_queue=CONTROL)
                    with pytest.raises(WorkflowFailureError) as failure:
                        await handle.result()
                    history = await handle.fetch_history()
                    progress = await handle.query("progress")
                    return failure.value, history, progress
        finally:
            await env.shutdown()

    failure, history, progress = asyncio.run(scenario())
    cause = failure.cause
    assert isinstance(cause, ApplicationError) and cause.non_retryable
    assert "no source for table(s) orders" in cause.message
    started = [e.activity_task_started_event_attributes for e in history.events
               if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert [s.attempt for s in started] == [TRANSIENT_FAILURES + 1]
    # The backoff (1 s, 2 s, 4 s) passed on the workflow's clock, skipped by the test server.
    first, last = history.events[0].event_time.ToDatetime(), history.events[-1].event_time.ToDatetime()
    assert (last - first).total_seconds() >= 1 + 2 + 4
    steps = {s["step"]: s["status"] for s in progress}
    assert steps["compile"] == "done" and steps["ingest:customers"] == "skipped"
