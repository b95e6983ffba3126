"""Predict: score the entities of a trained query at an anchor time (default: the newest data).

Steps::

    ingest:<table>     data      every table (an unchanged source finds its artifact; new rows are ingested)
    materialize_links  data      the graph of those tables (shared with every job on them)
    prediction_table   data      the entities that pass FOR and WHERE at the anchor time
    stores             graph     graph and feature store servers
    predict            compute   a ``predict`` trainer job writing predictions (and embeddings)

The ``progress`` query and the job's row show each step; cancelling stops the running step.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.workflow import ActivityCancellationType

from control_plane.workflows.messages import (
    MaterializeOutcome,
    PredictInput,
    PredictionTableOutcome,
    PredictionTableRequest,
    PredictJobOutcome,
    PredictJobRequest,
    PredictResult,
    StepState,
)
from control_plane.workflows.policies import (
    BUILD_PREDICTION_TABLE,
    DATA_STEP_TIMEOUT,
    ENGINE_RETRY,
    HEARTBEAT_TIMEOUT,
    RUN_PREDICT,
    TRIAL_RETRY,
    TRIAL_TIMEOUT,
    content_key,
)
from control_plane.workflows.progress import Progress
from control_plane.workflows.steps import (
    MATERIALIZE_STEP,
    STORES_STEP,
    check_tables,
    ingest_step,
    ingest_tables,
    materialize,
    run_job,
    start_stores,
)
from control_plane.workflows.task_queues import COMPUTE, DATA

PREDICT_WORKFLOW_PREFIX = "pq-predict-"
PREDICTION_TABLE_STEP, PREDICT_STEP = "prediction_table", "predict"


def predict_workflow_id(job_id: str) -> str:
    """The workflow id of a prediction job."""
    return f"{PREDICT_WORKFLOW_PREFIX}{job_id}"


@workflow.defn(name="PredictWorkflow")
class PredictWorkflow:
    """Score entities with a trained model (see the module's docstring for the steps)."""

    def __init__(self) -> None:
        self._progress: Progress | None = None

    @workflow.query(name="progress")
    def progress(self) -> list[StepState]:
        """Every step's state, in order."""
        return self._progress.states() if self._progress is not None else []

    @workflow.run
    async def run(self, request: PredictInput) -> PredictResult:
        """Score the entities.

        Returns:
            The prediction table and what the predict job wrote.

        Raises:
            ApplicationError: the job failed (non-retryable; the message says why).
            asyncio.CancelledError: the job was cancelled.
        """
        job_key = request.job_id or workflow.info().workflow_id
        steps = [*[ingest_step(t.name) for t in request.tables], MATERIALIZE_STEP, PREDICTION_TABLE_STEP,
                 STORES_STEP, PREDICT_STEP]
        progress = self._progress = Progress("prediction", request.job_id, steps)
        await progress.record(status="running", started=True, workflow_id=workflow.info().workflow_id)
        result = await run_job(progress, job_key, lambda held: self._predict(request, progress, job_key, held))
        outputs = {"output_uri": result.outputs.output_uri, "predictions": result.outputs.predictions_uri,
                   "rows": result.outputs.rows, "files": result.outputs.files,
                   "prediction_table": result.prediction_table.uri,
                   "anchor_time": result.prediction_table.anchor_time}
        await progress.record(status="succeeded", finished=True, outputs=outputs)
        result.progress = progress.states()
        return result

    async def _predict(self, request: PredictInput, progress: Progress, job_key: str,
                       held: list[MaterializeOutcome]) -> PredictResult:
        check_tables(request.schema, request.tables)
        ingested = await ingest_tables(progress, request.tables)
        table_uris = {name: o.uri for name, o in ingested.items()}
        graph = await materialize(progress, request.schema, ingested)
        await progress.start(PREDICTION_TABLE_STEP)
        step = next(s for s in request.plan["steps"] if s["id"] == "prediction_table")
        key = content_key("prediction_table", step["params"], request.anchor_time,
                          {name: o.content_hash for name, o in sorted(ingested.items())})
        table = await workflow.execute_activity(
            BUILD_PREDICTION_TABLE, PredictionTableRequest(plan=request.plan, table_uris=table_uris,
                                                           output_uri=f"prediction-tables/{key}",
                                                           anchor_time=request.anchor_time),
            task_queue=DATA, result_type=PredictionTableOutcome, start_to_close_timeout=DATA_STEP_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=ENGINE_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
        await progress.finish(PREDICTION_TABLE_STEP, reused=table.reused,
                              detail=f"{table.rows} entities at {table.anchor_time}")
        held.append(graph)
        stores = await start_stores(progress, graph, job_key)
        await progress.start(PREDICT_STEP)
        task_type = str(request.plan["task_type"])
        outputs = await workflow.execute_activity(
            RUN_PREDICT, PredictJobRequest(job_id=job_key, task_type=task_type, model_uri=request.model_uri,
                                           prediction_table_uri=table.uri, table_uris=table_uris, graph=graph,
                                           stores=stores, output_uri=f"jobs/{job_key}/predictions",
                                           spec_uri=f"jobs/{job_key}/predict-spec"),
            task_queue=COMPUTE, result_type=PredictJobOutcome, start_to_close_timeout=TRIAL_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=TRIAL_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
        await progress.finish(PREDICT_STEP, detail=f"{outputs.rows} predictions" if outputs.rows is not None else "")
        return PredictResult(job_id=request.job_id, prediction_table=table, outputs=outputs, progress=[])
