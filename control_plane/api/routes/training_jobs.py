"""``/v1/projects/{project_id}/training-jobs``: training runs of a pquery, their progress, trials and metrics.

``POST`` starts the TrainPQuery workflow for a pquery (run mode ``fast``, ``normal`` or ``best``, optional
split boundaries); the workflow writes each step's progress, the trials and the chosen model's metrics to
the job's row, which ``GET`` answers. ``POST .../{id}/cancel`` asks the workflow to stop (its Spark jobs and
trainer processes stop with it). ``.../metrics`` puts the model's holdout metrics beside the baseline's.

The Temporal client is the dependency :func:`get_temporal_client`; tests override it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from temporalio.client import Client
from temporalio.service import RPCError

from control_plane.api.deps import DbDep, ProjectDep, SettingsDep, get_owned
from control_plane.api.pagination import Page, PageDep, paginate
from control_plane.api.problems import PROBLEM_RESPONSES, Problem, conflict, invalid
from control_plane.api.routes.graphs import schema_of
from control_plane.api.schemas.common import RequestModel
from control_plane.api.schemas.jobs import TrainingJobOut, TrainingTrialOut
from control_plane.db.models import Graph, JobStatus, PQuery, TrainingJob, TrainingTrial
from control_plane.workflows.launch import DEFAULT_TRIAL_KIND, cancel_job, start_training, table_sources
from control_plane.workflows.messages import TrainPQueryInput
from control_plane.workflows.train_pquery import train_workflow_id
from control_plane.workflows.trials import higher_is_better
from platform_core.errors import UserFacingError
from platform_core.settings import Settings

router = APIRouter(prefix="/projects/{project_id}/training-jobs", tags=["training-jobs"],
                   responses=PROBLEM_RESPONSES)

FINAL = (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value)


class TemporalAccess:
    """The Temporal client of the application, connected on first use (routes check their inputs first).

    Args:
        request: the request (its application caches one client per address and namespace).
        settings: where Temporal is.
    """

    def __init__(self, request: Request, settings: Settings) -> None:
        self.request = request
        self.settings = settings

    async def client(self) -> Client:
        """The connected client.

        Raises:
            Problem: 503 when Temporal cannot be reached.
        """
        state = self.request.app.state
        clients: dict[tuple[str, str], Client] = getattr(state, "temporal_clients", None) or {}
        state.temporal_clients = clients
        key = (self.settings.temporal_address, self.settings.temporal_namespace)
        if key not in clients:
            try:
                clients[key] = await Client.connect(self.settings.temporal_address,
                                                    namespace=self.settings.temporal_namespace)
            except RuntimeError as exc:
                raise temporal_unavailable(self.settings, exc) from None
        return clients[key]


def get_temporal_client(request: Request, settings: SettingsDep) -> TemporalAccess:
    """The dependency giving routes their Temporal client (override it to point the API elsewhere)."""
    return TemporalAccess(request, settings)


TemporalDep = Annotated[TemporalAccess, Depends(get_temporal_client)]


async def cancel_workflow_of(job: Any, what: str, temporal: TemporalAccess, settings: Settings) -> bool:
    """Ask the workflow of a job (training, prediction or graph update) to cancel.

    Returns:
        Whether a workflow was running (False: it never started or is gone; the caller closes the row).

    Raises:
        Problem: 409 when the job has finished; 503 when Temporal cannot be reached.
    """
    if job.status in FINAL:
        raise conflict(f"{what} {job.id} has already {job.status}")
    try:
        return job.workflow_id is not None and await cancel_job(await temporal.client(), job.workflow_id)
    except RPCError as exc:
        raise temporal_unavailable(settings, exc) from None


def temporal_unavailable(settings: Settings, exc: BaseException) -> Problem:
    """503: the workflow service cannot be reached."""
    return Problem(503, f"Temporal at {settings.temporal_address} is not reachable: {exc}",
                   kind="temporal-unavailable", title="Workflow service unavailable")


class SplitSpec(RequestModel):
    """Split boundaries instead of the defaults (see ``data_engine.training_table.SplitBoundaries``)."""

    validation_start: dt.datetime | None = None
    holdout_start: dt.datetime | None = None
    anchor_step: int | str | None = Field(None, description="Seconds, or text such as '7 days'.")
    eval_windows: int | None = Field(None, ge=1)
    max_train_anchors: int | None = Field(None, ge=1)


class TrainingJobCreate(RequestModel):
    pquery_id: str
    run_mode: Literal["fast", "normal", "best"] = "normal"
    split: SplitSpec | None = None


class MetricRow(BaseModel):
    metric: str
    model: float | None
    baseline: float | None
    lift: float | None = Field(None, description="model - baseline (for errors, baseline - model): > 0 is better.")


class TrainingMetrics(BaseModel):
    """The chosen model's holdout metrics beside the baseline's."""

    status: str
    selection_metric: str | None
    chosen_trial_number: int | None
    model: dict[str, Any] | None
    baseline: dict[str, Any] | None
    comparison: list[MetricRow]


class TrainingCurves(BaseModel):
    trial_number: int
    curves: dict[str, Any] | None


class BaselineOut(BaseModel):
    status: str
    metrics: dict[str, Any] | None


def _job(db: DbDep, project: ProjectDep, job_id: str) -> TrainingJob:
    return get_owned(db, TrainingJob, project, job_id, "training job")


def _split(split: SplitSpec | None) -> dict[str, Any] | None:
    if split is None:
        return None
    from data_engine.training_table import AnchorError, SplitBoundaries

    values = {k: v for k, v in split.model_dump().items() if v is not None}
    try:
        return SplitBoundaries.from_dict(values).to_dict()
    except AnchorError as exc:
        raise invalid(str(exc), [{"loc": ["body", "split"], "message": str(exc)}]) from None


def training_input(db: DbDep, job: TrainingJob, pquery: PQuery) -> TrainPQueryInput:
    """The TrainPQuery input of a job: the pquery's text, its graph's schema and sources, the job's options.

    Raises:
        Problem: 409 when the graph is not ready; 422 when a table's declarations are not valid options.
    """
    graph = db.get(Graph, pquery.graph_id)
    schema = schema_of(graph)
    try:
        tables = table_sources([gt.table for gt in graph.tables])
    except UserFacingError as exc:
        raise invalid(str(exc), kind="invalid-table", title="Invalid table options") from None
    return TrainPQueryInput(job_id=job.id, query=pquery.text, schema=schema, tables=tables, run_mode=job.run_mode,
                            boundaries=job.split, anchor_step_seconds=pquery.anchor_step_seconds,
                            trial_kind=DEFAULT_TRIAL_KIND)


@router.post("", status_code=201, response_model=TrainingJobOut)
async def create_training_job(body: TrainingJobCreate, project: ProjectDep, db: DbDep, settings: SettingsDep,
                              temporal: TemporalDep) -> TrainingJob:
    """Start training a pquery: the job is queued and its TrainPQuery workflow started."""
    pquery = db.get(PQuery, body.pquery_id)
    if pquery is None or pquery.project_id != project.id:
        message = f"pquery {body.pquery_id} not found"
        raise invalid(message, [{"loc": ["body", "pquery_id"], "message": message}])
    job = TrainingJob(project_id=project.id, pquery_id=pquery.id, plan=pquery.plan, run_mode=body.run_mode,
                      split=_split(body.split), status=JobStatus.QUEUED.value)
    db.add(job)
    db.flush()
    request = training_input(db, job, pquery)
    job.workflow_id = train_workflow_id(job.id)
    db.commit()
    try:
        await start_training(await temporal.client(), request)
    except RPCError as exc:
        job.status, job.error = JobStatus.FAILED.value, f"the workflow could not be started: {exc}"
        job.finished_at = dt.datetime.now(dt.timezone.utc)
        db.commit()
        raise temporal_unavailable(settings, exc) from None
    return job


@router.get("", response_model=Page[TrainingJobOut])
def list_training_jobs(
    project: ProjectDep, db: DbDep, page: PageDep,
    pquery_id: Annotated[str | None, Query(description="Only the jobs of this pquery.")] = None,
    status: Annotated[JobStatus | None, Query(description="Only the jobs in this state.")] = None,
) -> Page[TrainingJobOut]:
    """The project's training jobs, oldest first."""
    query = select(TrainingJob).where(TrainingJob.project_id == project.id)
    if pquery_id is not None:
        query = query.where(TrainingJob.pquery_id == pquery_id)
    if status is not None:
        query = query.where(TrainingJob.status == status.value)
    return paginate(db, query, page, TrainingJobOut.model_validate, (TrainingJob.created_at, TrainingJob.id))


@router.get("/{job_id}", response_model=TrainingJobOut)
def get_training_job(job_id: str, project: ProjectDep, db: DbDep) -> TrainingJob:
    """One training job: status, per-step progress, chosen model, metrics and baseline."""
    return _job(db, project, job_id)


@router.post("/{job_id}/cancel", status_code=202, response_model=TrainingJobOut)
async def cancel_training_job(job_id: str, project: ProjectDep, db: DbDep, settings: SettingsDep,
                              temporal: TemporalDep) -> TrainingJob:
    """Ask a running job to stop; it becomes ``cancelled`` once its Spark jobs and trainer processes have stopped.

    A job that never reached its workflow is cancelled at once; a finished job answers 409.
    """
    job = _job(db, project, job_id)
    if job.status not in FINAL:
        job.cancel_requested_at = dt.datetime.now(dt.timezone.utc)
        db.commit()
    if not await cancel_workflow_of(job, "training job", temporal, settings):
        job.status, job.finished_at = JobStatus.CANCELLED.value, dt.datetime.now(dt.timezone.utc)
        db.commit()
    return job


def _comparison(metrics: dict[str, Any] | None, baseline: dict[str, Any] | None) -> list[MetricRow]:
    rows = []
    for name, value in (metrics or {}).items():
        if name == "selection_metric" or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        other = (baseline or {}).get(name)
        other = other if isinstance(other, (int, float)) and not isinstance(other, bool) else None
        lift = None
        if other is not None:
            lift = value - other if higher_is_better(name) else other - value
        rows.append(MetricRow(metric=name, model=value, baseline=other, lift=lift))
    return rows


@router.get("/{job_id}/metrics", response_model=TrainingMetrics)
def get_metrics(job_id: str, project: ProjectDep, db: DbDep) -> TrainingMetrics:
    """The chosen model's holdout metrics beside the baseline's (null until the job has succeeded)."""
    job = _job(db, project, job_id)
    metrics = dict(job.metrics) if job.metrics else None
    selection = metrics.pop("selection_metric", None) if metrics else None
    return TrainingMetrics(status=job.status, selection_metric=selection, chosen_trial_number=job.chosen_trial_number,
                           model=metrics, baseline=job.baseline, comparison=_comparison(metrics, job.baseline))


@router.get("/{job_id}/curves", response_model=TrainingCurves)
def get_curves(job_id: str, project: ProjectDep, db: DbDep,
               trial: Annotated[int | None, Query(ge=0, description="A trial number (default: the chosen one).")]
               = None) -> TrainingCurves:
    """Training and holdout curves of the chosen trial (or of ``trial``)."""
    job = _job(db, project, job_id)
    number = trial if trial is not None else job.chosen_trial_number
    if number is None:
        raise conflict(f"training job {job.id} has no chosen trial yet (status {job.status}); name a trial")
    row = db.scalar(select(TrainingTrial).where(TrainingTrial.training_job_id == job.id,
                                                TrainingTrial.number == number))
    if row is None:
        raise Problem(404, f"training job {job.id} has no trial {number}", kind="not-found", title="Not found")
    return TrainingCurves(trial_number=number, curves=row.curves)


@router.get("/{job_id}/trials", response_model=Page[TrainingTrialOut])
def list_trials(job_id: str, project: ProjectDep, db: DbDep, page: PageDep) -> Page[TrainingTrialOut]:
    """The trials of a training job by number: parameters, metrics and curves."""
    job = _job(db, project, job_id)
    query = select(TrainingTrial).where(TrainingTrial.training_job_id == job.id)
    return paginate(db, query, page, TrainingTrialOut.model_validate, (TrainingTrial.number,))


@router.get("/{job_id}/baseline", response_model=BaselineOut)
def get_baseline(job_id: str, project: ProjectDep, db: DbDep) -> BaselineOut:
    """The baseline's holdout metrics (LightGBM on the entity's own columns)."""
    job = _job(db, project, job_id)
    return BaselineOut(status=job.status, metrics=job.baseline)

