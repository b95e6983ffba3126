"""``/v1/projects/{project_id}/prediction-jobs``: scoring runs with a training job's model, and their outputs.

``POST`` starts the Predict workflow for a succeeded training job (optionally at an anchor time); the workflow
writes progress and outputs to the job's row. ``GET .../{id}/preview`` answers the first rows of the
predictions; ``GET .../{id}/download`` streams them as Parquet (as written) or CSV.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select
from temporalio.service import RPCError

from control_plane.api.deps import DbDep, ProjectDep, SettingsDep, get_owned
from control_plane.api.pagination import Page, PageDep, paginate
from control_plane.api.problems import PROBLEM_RESPONSES, Problem, conflict, invalid
from control_plane.api.routes.graphs import schema_of
from control_plane.api.routes.training_jobs import TemporalDep, cancel_workflow_of, temporal_unavailable
from control_plane.api.schemas.common import RequestModel
from control_plane.api.schemas.jobs import PredictionJobOut
from control_plane.db.models import Graph, JobStatus, PQuery, PredictionJob, TrainingJob
from control_plane.workflows.launch import start_prediction, table_sources
from control_plane.workflows.messages import PredictInput
from control_plane.workflows.predict import predict_workflow_id
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore, ObjectStoreError
from platform_core.settings import Settings

router = APIRouter(prefix="/projects/{project_id}/prediction-jobs", tags=["prediction-jobs"],
                   responses=PROBLEM_RESPONSES)

PREVIEW_MAX_ROWS = 1000
CHUNK_BYTES = 1 << 20


class PredictionJobCreate(RequestModel):
    training_job_id: str
    anchor_time: dt.datetime | None = None


class PredictionPreview(BaseModel):
    """The first rows of the predictions (none while the job has not succeeded)."""

    status: str
    columns: list[str]
    rows: list[dict[str, Any]]
    total_rows: int | None


def _job(db: DbDep, project: ProjectDep, job_id: str) -> PredictionJob:
    return get_owned(db, PredictionJob, project, job_id, "prediction job")


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


@router.post("", status_code=201, response_model=PredictionJobOut)
async def create_prediction_job(body: PredictionJobCreate, project: ProjectDep, db: DbDep, settings: SettingsDep,
                                temporal: TemporalDep) -> PredictionJob:
    """Score entities with the model of a succeeded training job; the Predict workflow is started."""
    training = db.get(TrainingJob, body.training_job_id)
    if training is None or training.project_id != project.id:
        message = f"training job {body.training_job_id} not found"
        raise invalid(message, [{"loc": ["body", "training_job_id"], "message": message}])
    if training.status != JobStatus.SUCCEEDED.value or not training.model_uri:
        raise conflict(f"training job {training.id} has no model (status {training.status})")
    pquery = db.get(PQuery, training.pquery_id)
    graph = db.get(Graph, pquery.graph_id)
    schema = schema_of(graph)
    try:
        tables = table_sources([gt.table for gt in graph.tables])
    except UserFacingError as exc:
        raise invalid(str(exc), kind="invalid-table", title="Invalid table options") from None
    anchor = _utc(body.anchor_time) if body.anchor_time is not None else None
    job = PredictionJob(project_id=project.id, training_job_id=training.id, status=JobStatus.QUEUED.value,
                        anchor_time=anchor)
    db.add(job)
    db.flush()
    job.workflow_id = predict_workflow_id(job.id)
    request = PredictInput(job_id=job.id, plan=training.plan, schema=schema, tables=tables,
                           model_uri=training.model_uri, anchor_time=anchor.isoformat() if anchor else None)
    db.commit()
    try:
        await start_prediction(await temporal.client(), request)
    except RPCError as exc:
        job.status, job.error = JobStatus.FAILED.value, f"the workflow could not be started: {exc}"
        job.finished_at = dt.datetime.now(dt.timezone.utc)
        db.commit()
        raise temporal_unavailable(settings, exc) from None
    return job


@router.get("", response_model=Page[PredictionJobOut])
def list_prediction_jobs(
    project: ProjectDep, db: DbDep, page: PageDep,
    training_job_id: Annotated[str | None, Query(description="Only the jobs using this training job's model.")] = None,
    status: Annotated[JobStatus | None, Query(description="Only the jobs in this state.")] = None,
) -> Page[PredictionJobOut]:
    """The project's prediction jobs, oldest first."""
    query = select(PredictionJob).where(PredictionJob.project_id == project.id)
    if training_job_id is not None:
        query = query.where(PredictionJob.training_job_id == training_job_id)
    if status is not None:
        query = query.where(PredictionJob.status == status.value)
    return paginate(db, query, page, PredictionJobOut.model_validate, (PredictionJob.created_at, PredictionJob.id))


@router.get("/{job_id}", response_model=PredictionJobOut)
def get_prediction_job(job_id: str, project: ProjectDep, db: DbDep) -> PredictionJob:
    """One prediction job: status, progress and outputs."""
    return _job(db, project, job_id)


@router.post("/{job_id}/cancel", status_code=202, response_model=PredictionJobOut)
async def cancel_prediction_job(job_id: str, project: ProjectDep, db: DbDep, settings: SettingsDep,
                                temporal: TemporalDep) -> PredictionJob:
    """Ask a running prediction job to stop (409 when it has finished)."""
    job = _job(db, project, job_id)
    if not await cancel_workflow_of(job, "prediction job", temporal, settings):
        job.status, job.finished_at = JobStatus.CANCELLED.value, dt.datetime.now(dt.timezone.utc)
        db.commit()
    return job


def _predictions_uri(job: PredictionJob) -> str:
    if job.status != JobStatus.SUCCEEDED.value or not job.outputs or not job.outputs.get("predictions"):
        raise conflict(f"prediction job {job.id} has no predictions (status {job.status})")
    return str(job.outputs["predictions"])


def _store(settings: Settings) -> ObjectStore:
    return ObjectStore.from_settings(settings)


def _parquet(settings: Settings, uri: str):
    import pyarrow.parquet as pq

    store = _store(settings)
    try:
        return pq.ParquetFile(store.open_input(uri))
    except ObjectStoreError as exc:
        raise Problem(410, f"the predictions at {uri} cannot be read: {exc}", kind="gone", title="Gone") from None


@router.get("/{job_id}/preview", response_model=PredictionPreview)
def preview_predictions(job_id: str, project: ProjectDep, db: DbDep, settings: SettingsDep,
                        limit: Annotated[int, Query(ge=1, le=PREVIEW_MAX_ROWS)] = 20) -> PredictionPreview:
    """The first ``limit`` rows of the predictions; no rows yet while the job has not succeeded."""
    job = _job(db, project, job_id)
    if job.status != JobStatus.SUCCEEDED.value:
        return PredictionPreview(status=job.status, columns=[], rows=[], total_rows=None)
    parquet = _parquet(settings, _predictions_uri(job))
    rows: list[dict[str, Any]] = []
    for batch in parquet.iter_batches(batch_size=limit):
        rows.extend(batch.to_pylist()[: limit - len(rows)])
        if len(rows) >= limit:
            break
    return PredictionPreview(status=job.status, columns=list(parquet.schema_arrow.names), rows=rows,
                             total_rows=parquet.metadata.num_rows)


def _stream_bytes(settings: Settings, uri: str) -> Iterator[bytes]:
    with _store(settings).open_input(uri) as stream:
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk


def _stream_csv(parquet) -> Iterator[bytes]:
    import io

    import pyarrow.csv as csv

    header = True
    for batch in parquet.iter_batches(batch_size=65536):
        sink = io.BytesIO()
        csv.write_csv(batch, sink, csv.WriteOptions(include_header=header))
        header = False
        yield sink.getvalue()


@router.get("/{job_id}/download", response_class=StreamingResponse,
            responses={200: {"content": {"application/vnd.apache.parquet": {}, "text/csv": {}}}})
def download_predictions(job_id: str, project: ProjectDep, db: DbDep, settings: SettingsDep,
                         format: Annotated[Literal["parquet", "csv"], Query()] = "parquet") -> StreamingResponse:
    """Every prediction, streamed: the Parquet file as written, or CSV with a header."""
    job = _job(db, project, job_id)
    uri = _predictions_uri(job)
    if format == "csv":
        parquet = _parquet(settings, uri)
        return StreamingResponse(_stream_csv(parquet), media_type="text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="predictions-{job.id}.csv"'})
    _parquet(settings, uri)  # 410 now rather than a broken stream later
    return StreamingResponse(_stream_bytes(settings, uri), media_type="application/vnd.apache.parquet",
                             headers={"Content-Disposition": f'attachment; filename="predictions-{job.id}.parquet"'})
