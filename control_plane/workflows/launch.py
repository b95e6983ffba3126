"""The client side of the job workflows: workflow inputs from the metadata DB's rows, and starting, querying
and cancelling the workflows (what the REST API and the CLI call).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from control_plane.workflows.incremental_update import IncrementalUpdateWorkflow, update_workflow_id
from control_plane.workflows.messages import (
    IncrementalUpdateInput,
    PredictInput,
    StepState,
    TableSource,
    TrainPQueryInput,
)
from control_plane.workflows.predict import PredictWorkflow, predict_workflow_id
from control_plane.workflows.task_queues import CONTROL
from control_plane.workflows.train_pquery import TrainPQueryWorkflow, train_workflow_id

#: What TrainPQuery's trials train: GNNs (the LightGBM baseline always runs beside them; see trials.py).
DEFAULT_TRIAL_KIND = "train"


def table_source(table: Any) -> TableSource:
    """The ingestion source of a registered table (a :class:`control_plane.db.models.DataTable`).

    The declared format options, column overrides, primary key and time column become the ingest options.

    Raises:
        IngestOptionsError: the stored declarations are not valid ingest options.
    """
    from data_engine.ingest import IngestOptions

    columns = {c["name"]: {k: v for k, v in c.items() if k != "name" and v is not None} for c in table.columns or []}
    raw = {**(table.format_options or {}), "columns": columns}
    if table.primary_key is not None:
        raw["primary_key"] = table.primary_key
    if table.time_column is not None:
        raw["time_column"] = table.time_column
    return TableSource(name=table.name, source_uri=table.source_uri, options=IngestOptions.from_dict(raw).to_dict())


def table_sources(tables: Sequence[Any]) -> list[TableSource]:
    """:func:`table_source` of each table, in order."""
    return [table_source(t) for t in tables]


async def start_training(client: Client, request: TrainPQueryInput) -> WorkflowHandle:
    """Start TrainPQuery for a training job (workflow id ``pq-train-<job id>``; starting twice is one run).

    Raises:
        temporalio.service.RPCError: the server refused the start.
    """
    return await client.start_workflow(TrainPQueryWorkflow.run, request, id=train_workflow_id(request.job_id),
                                       task_queue=CONTROL, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                       id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)


async def start_prediction(client: Client, request: PredictInput) -> WorkflowHandle:
    """Start Predict for a prediction job (workflow id ``pq-predict-<job id>``)."""
    return await client.start_workflow(PredictWorkflow.run, request, id=predict_workflow_id(request.job_id),
                                       task_queue=CONTROL, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                       id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)


async def start_update(client: Client, request: IncrementalUpdateInput) -> WorkflowHandle:
    """Start IncrementalUpdate for a graph update (workflow id ``pq-update-<update id>``)."""
    return await client.start_workflow(IncrementalUpdateWorkflow.run, request, id=update_workflow_id(request.job_id),
                                       task_queue=CONTROL, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                       id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)


async def cancel_job(client: Client, workflow_id: str) -> bool:
    """Ask a job's workflow to cancel (its activities stop their Spark jobs and trainer processes).

    Returns:
        False when no such workflow runs (it finished, or never started).
    """
    try:
        await client.get_workflow_handle(workflow_id).cancel()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def query_progress(client: Client, workflow_id: str) -> list[StepState]:
    """The live per-step states of a job's workflow (its ``progress`` query)."""
    return await client.get_workflow_handle(workflow_id).query("progress", result_type=list[StepState])
