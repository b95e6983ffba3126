"""Activities of the ``control`` task queue: compiling the query, writing job progress and results to the
metadata DB, and waiting for another job's build of a shared artifact.

A query that does not compile fails for good (non-retryable) with the compiler's positioned message. DB
writes replace whole JSON columns (never mutate them in place) and are idempotent, so a retried write
leaves the same row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict

from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from control_plane.activities.common import engine_errors
from control_plane.workflows.messages import (
    ArtifactResult,
    CompileOutcome,
    CompileRequest,
    JobRecord,
    TrialRecord,
)
from control_plane.workflows.policies import AWAIT_WORKFLOW, COMPILE_QUERY, HEARTBEAT_EVERY_S, RECORD_JOB, RECORD_TRIAL
from platform_core.errors import UserFacingError
from platform_core.settings import Settings

_FINAL = ("succeeded", "failed", "cancelled")


def _parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


class ControlActivities:
    """The control plane's activities, bound to the worker's settings (its metadata DB).

    Args:
        settings: the platform settings (``database_url``).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._database = None

    @property
    def database(self):
        """The metadata database (opened on first use; the API migrates it)."""
        if self._database is None:
            from control_plane.db.session import Database

            self._database = Database(self.settings.database_url)
        return self._database

    def close(self) -> None:
        """Close the database's pooled connections."""
        if self._database is not None:
            self._database.dispose()
            self._database = None

    @activity.defn(name=COMPILE_QUERY)
    def compile_query(self, request: CompileRequest) -> CompileOutcome:
        """Compile a query against a graph schema.

        Raises:
            ApplicationError: non-retryable with the compiler's message (line, column, hint) when the
                query or the schema is invalid.
        """
        import pql
        from pql.errors import PQLError, SchemaError

        try:
            schema = pql.GraphSchema.from_dict(request.schema)
            compiled = pql.compile(request.text, schema, anchor_step_seconds=request.anchor_step_seconds)
        except PQLError as exc:
            where = f"line {exc.line}, column {exc.column}: " if exc.line is not None else ""
            hint = f" ({exc.hint})" if exc.hint else ""
            raise ApplicationError(f"invalid query: {where}{exc.message}{hint}", type="PQLError",
                                   non_retryable=True) from None
        except SchemaError as exc:
            raise ApplicationError(f"invalid graph schema: {exc}", type="SchemaError", non_retryable=True) from None
        except ValueError as exc:
            raise ApplicationError(str(exc), type="InvalidQuery", non_retryable=True) from None
        return CompileOutcome(plan=compiled.plan.to_dict(), task_type=compiled.task_type.value,
                              metrics=list(compiled.metrics), entity=compiled.entity)

    @activity.defn(name=RECORD_JOB)
    def record_job(self, record: JobRecord) -> None:
        """Write a job's status, progress and results to its row (nothing when the row does not exist)."""
        from control_plane.db.models import GraphUpdate, PredictionJob, TrainingJob, TrainingTrial

        model = {"training": TrainingJob, "prediction": PredictionJob, "update": GraphUpdate}.get(record.kind)
        if model is None or not record.job_id:
            return
        now = dt.datetime.now(dt.timezone.utc)
        with engine_errors(), self.database.session() as session:
            job = session.get(model, record.job_id)
            if job is None:
                activity.logger.warning("%s job %s has no row; progress not recorded", record.kind, record.job_id)
                return
            if job.status in _FINAL and record.status not in _FINAL:
                return  # a late progress write never reopens a finished job
            if record.progress is not None:
                job.progress = [asdict(step) for step in record.progress]
            if record.status is not None:
                job.status = record.status
            if record.error is not None:
                job.error = record.error
            if record.workflow_id is not None:
                job.workflow_id = record.workflow_id
            if record.started and job.started_at is None:
                job.started_at = now
            if record.finished:
                job.finished_at = now
            if record.selection is not None and isinstance(job, TrainingJob):
                job.chosen_trial_number = record.selection.chosen_trial_number
                job.model_uri = record.selection.model_uri
                job.metrics = {"selection_metric": record.selection.selection_metric, **record.selection.metrics}
                job.baseline = record.selection.baseline
            if record.outputs is not None and isinstance(job, PredictionJob):
                job.outputs = record.outputs
            if record.tables:
                self._record_tables(session, job.project_id, record.tables)
            if record.changed_tables is not None and isinstance(job, GraphUpdate):
                job.changed_tables = list(record.changed_tables)
            if record.status in ("failed", "cancelled") and isinstance(job, GraphUpdate):
                # A graph update that failed or was cancelled never starts the jobs it queued.
                job.close_queued_jobs(session, record.status, now,
                                      f"graph update {job.id} {record.status}: {job.error or record.status}")
            if record.status in ("failed", "cancelled") and isinstance(job, TrainingJob):
                for trial in session.query(TrainingTrial).filter(TrainingTrial.training_job_id == job.id,
                                                                 TrainingTrial.status.in_(("queued", "running"))):
                    trial.status = record.status
                    trial.finished_at = now
            session.commit()

    def _record_tables(self, session, project_id: str, tables: dict[str, str]) -> None:
        """Fill the registered tables' rows from their ingested artifacts: status, rows, what ingestion
        inferred (key, time column, semantic types, dtypes) and the profile's statistics."""
        from control_plane.db.models import DataTable, TableStatus
        from data_engine.ingest import open_table
        from platform_core.artifacts import ArtifactError
        from platform_core.object_store import ObjectStore

        store = ObjectStore.from_settings(self.settings)
        rows = session.query(DataTable).filter(DataTable.project_id == project_id, DataTable.name.in_(list(tables)))
        for row in rows:
            try:
                table = open_table(store, tables[row.name])
            except (ArtifactError, UserFacingError) as exc:
                activity.logger.warning("table %s: its artifact %s cannot be read: %s", row.name, tables[row.name], exc)
                continue
            row.status, row.ingested_uri, row.row_count = TableStatus.READY.value, table.artifact.uri, table.rows
            row.inferred = {"primary_key": table.primary_key, "time_column": table.metadata.get("time_column"),
                            "stypes": table.stypes, "dtypes": table.dtypes,
                            "rejected_rows": table.metadata.get("rejected_rows")}
            row.statistics = table.stats()

    @activity.defn(name=RECORD_TRIAL)
    def record_trial(self, record: TrialRecord) -> None:
        """Create or update a trial's row of a training job (nothing when the job has no row)."""
        from control_plane.db.models import TrainingJob, TrainingTrial

        with engine_errors(), self.database.session() as session:
            if session.get(TrainingJob, record.job_id) is None:
                return
            trial = (session.query(TrainingTrial)
                     .filter(TrainingTrial.training_job_id == record.job_id, TrainingTrial.number == record.number)
                     .one_or_none())
            if trial is None:
                trial = TrainingTrial(training_job_id=record.job_id, number=record.number)
                session.add(trial)
            if trial.status in _FINAL and record.status not in _FINAL:
                return
            trial.status = record.status
            trial.params = dict(record.params)
            outcome = record.outcome
            if outcome is not None:
                trial.metrics = {**outcome.metrics, **({"validation": outcome.validation} if outcome.validation else {})}
                trial.curves = outcome.curves or None
                trial.model_uri = outcome.output_uri if outcome.status == "succeeded" else None
                trial.error = outcome.error or None
                trial.started_at = _parse(outcome.started_at) or trial.started_at
                trial.finished_at = _parse(outcome.finished_at) or dt.datetime.now(dt.timezone.utc)
            elif record.status == "running" and trial.started_at is None:
                trial.started_at = dt.datetime.now(dt.timezone.utc)
            session.commit()

    @activity.defn(name=AWAIT_WORKFLOW)
    async def await_workflow(self, workflow_id: str) -> ArtifactResult | None:
        """Wait for the running build of a shared artifact (another job's child workflow) and take its result.

        Returns:
            Its result, or None when it ended without one (cancelled with its job, or failed): the caller
            then builds the artifact itself.
        """
        import asyncio

        handle = activity.client().get_workflow_handle(workflow_id, result_type=ArtifactResult)
        wait = asyncio.ensure_future(handle.result())
        try:
            while True:
                done, _ = await asyncio.wait({wait}, timeout=HEARTBEAT_EVERY_S)
                if done:
                    break
                activity.heartbeat(workflow_id)
        except asyncio.CancelledError:
            wait.cancel()
            raise
        try:
            return wait.result()
        except WorkflowFailureError as exc:
            activity.logger.info("build %s ended without a result: %s", workflow_id, exc.cause or exc)
            return None

    def activities(self) -> list[Callable]:
        """The activities to register on the ``control`` queue."""
        return [self.compile_query, self.record_job, self.record_trial, self.await_workflow]

