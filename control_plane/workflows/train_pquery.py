"""TrainPQuery: one predictive query from its text to a chosen model with holdout metrics beside a baseline.

Steps (each an activity on its engine's task queue; see :mod:`control_plane.workflows.policies`)::

    compile            control   the query against the graph schema -> plan
    ingest:<table>     data      every table, at once; shared with other jobs (one build per artifact)
    materialize_links  data      node indexes, CSR graph and features; shared likewise
    training_table     data      labels over anchor times, split train / val / holdout
    stores             graph     graph and feature store servers (GNN trials only)
    train              compute   AutoML: rounds of trainer jobs (a round's trials at once) drawn by Optuna
    baseline           compute   LightGBM on the entity's own columns, beside the trials
    select             compute   the best trial by the selection metric; its holdout metrics

The ``progress`` query answers every step's state; each change is also written to the job's row.
Cancelling the workflow cancels the running activities, which stop their Spark jobs and trainer
processes before the job is marked cancelled. A user's mistake (an invalid query, a missing source file)
fails the job at once with its message; other failures are retried with backoff first.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ActivityCancellationType

from control_plane.workflows.errors import failure_message, is_cancellation
from control_plane.workflows.messages import (
    AskedTrial,
    AskTrialsRequest,
    CompileOutcome,
    CompileRequest,
    IngestOutcome,
    MaterializeOutcome,
    Selection,
    SelectionRequest,
    StepState,
    StoresOutcome,
    TellTrialsRequest,
    TrainingTableOutcome,
    TrainingTableRequest,
    TrainPQueryInput,
    TrainPQueryResult,
    TrialOutcome,
    TrialRecord,
    TrialRequest,
)
from control_plane.workflows.policies import (
    ASK_TRIALS,
    BUILD_TRAINING_TABLE,
    COMPILE_QUERY,
    DATA_STEP_TIMEOUT,
    ENGINE_RETRY,
    HEARTBEAT_TIMEOUT,
    QUICK_RETRY,
    QUICK_TIMEOUT,
    RECORD_TRIAL,
    RUN_TRIAL,
    SELECT_MODEL,
    TELL_TRIALS,
    TRIAL_RETRY,
    TRIAL_TIMEOUT,
    content_key,
)
from control_plane.workflows.progress import Progress
from control_plane.workflows.steps import (
    MATERIALIZE_STEP,
    STORES_STEP,
    check_tables,
    gather_or_cancel,
    ingest_step,
    ingest_tables,
    materialize,
    run_job,
    start_stores,
)
from control_plane.workflows.task_queues import COMPUTE, CONTROL, DATA
from control_plane.workflows.trials import baseline_params, trial_params

with workflow.unsafe.imports_passed_through():
    from compute_engine.automl import search_plan, study_name

TRAIN_WORKFLOW_PREFIX = "pq-train-"
COMPILE_STEP, TRAINING_TABLE_STEP, TRAIN_STEP, BASELINE_STEP, SELECT_STEP = (
    "compile", "training_table", "train", "baseline", "select")
BASELINE_TRIAL = -1


def train_workflow_id(job_id: str) -> str:
    """The workflow id of a training job."""
    return f"{TRAIN_WORKFLOW_PREFIX}{job_id}"


def _trial_name(number: int) -> str:
    return "baseline" if number == BASELINE_TRIAL else f"trial {number}"


@workflow.defn(name="TrainPQueryWorkflow")
class TrainPQueryWorkflow:
    """Train one predictive query (see the module's docstring for the steps)."""

    def __init__(self) -> None:
        self._progress: Progress | None = None

    @workflow.query(name="progress")
    def progress(self) -> list[StepState]:
        """Every step's state, in order (empty until the workflow has started)."""
        return self._progress.states() if self._progress is not None else []

    @workflow.run
    async def run(self, request: TrainPQueryInput) -> TrainPQueryResult:
        """Train the query.

        Args:
            request: the query, its graph's schema and sources, the run mode and split.

        Returns:
            The plan, the artifacts, every trial, and the chosen model with its metrics.

        Raises:
            ApplicationError: the job failed (non-retryable; the message says why).
            asyncio.CancelledError: the job was cancelled.
        """
        job_key = request.job_id or workflow.info().workflow_id
        steps = [COMPILE_STEP, *[ingest_step(t.name) for t in request.tables], MATERIALIZE_STEP,
                 TRAINING_TABLE_STEP, STORES_STEP, TRAIN_STEP, BASELINE_STEP, SELECT_STEP]
        progress = self._progress = Progress("training", request.job_id, steps)
        await progress.record(status="running", started=True, workflow_id=workflow.info().workflow_id)
        result = await run_job(progress, job_key, lambda held: self._train(request, progress, job_key, held))
        await progress.record(status="succeeded", finished=True, selection=result.selection)
        result.progress = progress.states()
        return result

    async def _train(self, request: TrainPQueryInput, progress: Progress, job_key: str,
                     held: list[MaterializeOutcome]) -> TrainPQueryResult:
        await progress.start(COMPILE_STEP)
        compiled = await workflow.execute_activity(
            COMPILE_QUERY, CompileRequest(text=request.query, schema=request.schema,
                                          anchor_step_seconds=request.anchor_step_seconds),
            task_queue=CONTROL, result_type=CompileOutcome, start_to_close_timeout=QUICK_TIMEOUT,
            retry_policy=QUICK_RETRY)
        await progress.finish(COMPILE_STEP, detail=f"{compiled.task_type}, entity {compiled.entity}")
        check_tables(request.schema, request.tables)
        # GNN trials come from the AutoML search unless the request lists them; LightGBM-only runs (tests)
        # take their mode's fixed list.
        searched = request.trials is None and request.trial_kind == "train"
        rounds = (list(search_plan(request.run_mode).rounds) if searched else
                  [request.trials if request.trials is not None else trial_params(request.run_mode,
                                                                                  request.trial_kind, request.seed)])
        ingested = await ingest_tables(progress, request.tables)
        graph, training_table = await gather_or_cancel([
            materialize(progress, request.schema, ingested),
            self._training_table(request, compiled, ingested, progress)])
        stores: StoresOutcome | None = None
        if request.trial_kind == "train":
            held.append(graph)
            stores = await start_stores(progress, graph, job_key)
        else:
            await progress.skip(STORES_STEP, "baseline trials read the tables directly")
        table_uris = {name: o.uri for name, o in ingested.items()}
        base = dict(job_id=job_key, task_type=compiled.task_type, training_table_uri=training_table.uri,
                    table_uris=table_uris, seed=request.seed)
        baseline_run = TrialRequest(number=BASELINE_TRIAL, kind="baseline", params=baseline_params(request.run_mode),
                                    output_uri=f"jobs/{job_key}/baseline/output",
                                    spec_uri=f"jobs/{job_key}/baseline/spec", **base)
        total = sum(rounds) if searched else len(rounds[0])
        await progress.start(TRAIN_STEP, detail=f"{total} trial(s)")
        await progress.start(BASELINE_STEP)

        async def search() -> list[TrialOutcome]:
            done: list[TrialOutcome] = []
            for size in rounds:
                if searched:
                    asked = await workflow.execute_activity(
                        ASK_TRIALS, AskTrialsRequest(study=study_name(job_key), run_mode=request.run_mode,
                                                     count=size, metric=compiled.metrics[0], seed=request.seed),
                        task_queue=COMPUTE, result_type=list[AskedTrial], start_to_close_timeout=QUICK_TIMEOUT,
                        retry_policy=QUICK_RETRY)
                else:
                    asked = [AskedTrial(number=i, params=params) for i, params in enumerate(size)]
                runs = [TrialRequest(number=t.number, kind=request.trial_kind, params=t.params, graph=graph,
                                     stores=stores, output_uri=f"jobs/{job_key}/trials/{t.number}/output",
                                     spec_uri=f"jobs/{job_key}/trials/{t.number}/spec", **base) for t in asked]
                outcomes = list(await asyncio.gather(*(self._trial(request.job_id, run, progress) for run in runs)))
                done.extend(outcomes)
                if searched:
                    metric = compiled.metrics[0]
                    await workflow.execute_activity(
                        TELL_TRIALS, TellTrialsRequest(
                            study=study_name(job_key), metric=metric, numbers=[o.number for o in outcomes],
                            values=[(o.validation.get(metric) if o.status == "succeeded" else None)
                                    for o in outcomes], seed=request.seed),
                        task_queue=COMPUTE, start_to_close_timeout=QUICK_TIMEOUT, retry_policy=QUICK_RETRY)
                    await progress.start(TRAIN_STEP, detail=f"{len(done)} of {total} trial(s) done")
            return done

        trial_outcomes, baseline = await gather_or_cancel([search(), self._trial(request.job_id, baseline_run,
                                                                                 progress)])
        succeeded = [t for t in trial_outcomes if t.status == "succeeded"]
        if not succeeded:
            raise ApplicationError(f"every trial failed; trial 0: {trial_outcomes[0].error}", type="TrialsFailed",
                                   non_retryable=True)
        await progress.finish(TRAIN_STEP, detail=f"{len(succeeded)} of {len(trial_outcomes)} trial(s) succeeded")
        if baseline.status == "succeeded":
            await progress.finish(BASELINE_STEP, detail=baseline.model)
        else:
            await progress.skip(BASELINE_STEP, f"baseline failed: {baseline.error}")
        await progress.start(SELECT_STEP)
        selection = await workflow.execute_activity(
            SELECT_MODEL, SelectionRequest(metrics=compiled.metrics, trials=trial_outcomes,
                                           baseline=baseline if baseline.status == "succeeded" else None),
            task_queue=COMPUTE, result_type=Selection, start_to_close_timeout=QUICK_TIMEOUT, retry_policy=QUICK_RETRY)
        value = selection.metrics.get(selection.selection_metric)
        await progress.finish(SELECT_STEP, detail=f"trial {selection.chosen_trial_number}: "
                                                  f"{selection.selection_metric} {value}")
        return TrainPQueryResult(job_id=request.job_id, plan=compiled.plan, table_uris=table_uris, graph=graph,
                                 training_table=training_table, trials=list(trial_outcomes),
                                 baseline=baseline if baseline.status == "succeeded" else None,
                                 selection=selection, progress=[])

    async def _training_table(self, request: TrainPQueryInput, compiled: CompileOutcome,
                              ingested: dict[str, IngestOutcome], progress: Progress) -> TrainingTableOutcome:
        await progress.start(TRAINING_TABLE_STEP)
        step = next(s for s in compiled.plan["steps"] if s["id"] == "training_table")
        key = content_key("training_table", compiled.task_type, step["params"], request.boundaries,
                          {name: o.content_hash for name, o in sorted(ingested.items())})
        outcome = await workflow.execute_activity(
            BUILD_TRAINING_TABLE, TrainingTableRequest(plan=compiled.plan, table_uris={n: o.uri for n, o in ingested.items()},
                                                       output_uri=f"training-tables/{key}",
                                                       boundaries=request.boundaries),
            task_queue=DATA, result_type=TrainingTableOutcome, start_to_close_timeout=DATA_STEP_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=ENGINE_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
        splits = ", ".join(f"{k} {v}" for k, v in outcome.rows_per_split.items())
        await progress.finish(TRAINING_TABLE_STEP, reused=outcome.reused, detail=f"{outcome.rows} examples ({splits})")
        return outcome

    async def _trial(self, job_id: str, run: TrialRequest, progress: Progress) -> TrialOutcome:
        """Run one trainer job; a failure becomes a failed outcome (the other trials go on)."""
        # The baseline is recorded too, as trial -1: the console plots its holdout curves beside the model's.
        record = bool(job_id)
        if record:
            await self._record_trial(TrialRecord(job_id=job_id, number=run.number, status="running",
                                                 params=run.params))
        try:
            outcome = await workflow.execute_activity(
                RUN_TRIAL, run, task_queue=COMPUTE, result_type=TrialOutcome, start_to_close_timeout=TRIAL_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=TRIAL_RETRY,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) or is_cancellation(exc):
                raise
            outcome = TrialOutcome(number=run.number, kind=run.kind, status="failed", output_uri=run.output_uri,
                                   params=run.params, error=f"{_trial_name(run.number)}: {failure_message(exc)}")
        if record:
            await self._record_trial(TrialRecord(job_id=job_id, number=run.number, status=outcome.status,
                                                 params=run.params, outcome=outcome))
        return outcome

    @staticmethod
    async def _record_trial(record: TrialRecord) -> None:
        await workflow.execute_activity(RECORD_TRIAL, record, task_queue=CONTROL,
                                        start_to_close_timeout=QUICK_TIMEOUT, retry_policy=QUICK_RETRY)
