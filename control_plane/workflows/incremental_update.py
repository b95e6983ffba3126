"""IncrementalUpdate: new source rows arrived; bring the graph up to date, then optionally retrain and re-predict.

Steps::

    ingest:<table>     data      every table; ingestion fingerprints the source's content, so only tables
                                 whose files changed are read again (the others find their artifacts)
    materialize_links  data      the graph of the new table versions; node indexes and feature artifacts of
                                 tables whose content did not change are kept (their inputs are unchanged)
    retrain            control   a TrainPQuery child on the updated tables (optional)
    predict            control   a Predict child with the new model (optional)
"""

from __future__ import annotations

from temporalio import workflow

from control_plane.workflows.messages import (
    IncrementalUpdateInput,
    IncrementalUpdateResult,
    PredictInput,
    PredictResult,
    StepState,
    TrainPQueryInput,
    TrainPQueryResult,
)
from control_plane.workflows.predict import PredictWorkflow, predict_workflow_id
from control_plane.workflows.progress import Progress
from control_plane.workflows.steps import (
    MATERIALIZE_STEP,
    check_tables,
    ingest_step,
    ingest_tables,
    materialize,
    run_job,
)
from control_plane.workflows.task_queues import CONTROL
from control_plane.workflows.train_pquery import TrainPQueryWorkflow, train_workflow_id

RETRAIN_STEP, PREDICT_STEP = "retrain", "predict"
UPDATE_WORKFLOW_PREFIX = "pq-update-"


def update_workflow_id(update_id: str) -> str:
    """The workflow id of a graph update."""
    return f"{UPDATE_WORKFLOW_PREFIX}{update_id}"


@workflow.defn(name="IncrementalUpdateWorkflow")
class IncrementalUpdateWorkflow:
    """Refresh a graph's artifacts from its sources, then optionally retrain and re-predict."""

    def __init__(self) -> None:
        self._progress: Progress | None = None

    @workflow.query(name="progress")
    def progress(self) -> list[StepState]:
        """Every step's state, in order."""
        return self._progress.states() if self._progress is not None else []

    @workflow.run
    async def run(self, request: IncrementalUpdateInput) -> IncrementalUpdateResult:
        """Update the artifacts; retrain and predict when asked. The update's row (``request.job_id``) gets
        its progress, the changed tables and how it ended.

        Returns:
            The new table artifacts, which tables changed, the graph, and the child jobs' results.

        Raises:
            ApplicationError: a step failed (non-retryable; the message says why).
            asyncio.CancelledError: the update was cancelled.
        """
        steps = [*[ingest_step(t.name) for t in request.tables], MATERIALIZE_STEP, RETRAIN_STEP, PREDICT_STEP]
        progress = self._progress = Progress("update", request.job_id, steps)
        await progress.record(status="running", started=True, workflow_id=workflow.info().workflow_id)
        # An update holds no stores itself (its children hold and release their own).
        result = await run_job(progress, "", lambda held: self._update(request, progress))
        await progress.record(status="succeeded", finished=True)
        result.progress = progress.states()
        return result

    async def _update(self, request: IncrementalUpdateInput, progress: Progress) -> IncrementalUpdateResult:
        check_tables(request.schema, request.tables)
        ingested = await ingest_tables(progress, request.tables)
        changed = sorted(name for name, outcome in ingested.items() if not outcome.reused)
        table_uris = {n: o.uri for n, o in ingested.items()}
        await progress.record(changed_tables=changed)  # the tables were recorded by ingest_tables
        graph = await materialize(progress, request.schema, ingested)
        training: TrainPQueryResult | None = None
        if request.retrain is not None:
            await progress.start(RETRAIN_STEP)
            retrain = TrainPQueryInput(**{**vars(request.retrain), "schema": request.schema,
                                          "tables": request.tables})
            workflow_id = (train_workflow_id(retrain.job_id) if retrain.job_id
                           else f"{workflow.info().workflow_id}-retrain")
            training = await workflow.execute_child_workflow(TrainPQueryWorkflow.run, retrain, id=workflow_id,
                                                             task_queue=CONTROL)
            await progress.finish(RETRAIN_STEP, detail=f"trial {training.selection.chosen_trial_number} chosen")
        else:
            await progress.skip(RETRAIN_STEP, "not requested")
        prediction: PredictResult | None = None
        if request.predict is not None:
            await progress.start(PREDICT_STEP)
            predict = PredictInput(**{**vars(request.predict), "schema": request.schema, "tables": request.tables})
            if training is not None:
                predict.model_uri = training.selection.model_uri
                predict.plan = training.plan
            workflow_id = (predict_workflow_id(predict.job_id) if predict.job_id
                           else f"{workflow.info().workflow_id}-predict")
            prediction = await workflow.execute_child_workflow(PredictWorkflow.run, predict, id=workflow_id,
                                                               task_queue=CONTROL)
            await progress.finish(PREDICT_STEP, detail=f"{prediction.outputs.rows} predictions")
        else:
            await progress.skip(PREDICT_STEP, "not requested")
        return IncrementalUpdateResult(table_uris=table_uris, changed_tables=changed, graph=graph,
                                       training=training, prediction=prediction, progress=progress.states())
