"""``/v1/projects/{project_id}/graph-updates``: bring a graph up to date with new source rows, then optionally
retrain one of its pqueries and predict with the new (or the latest) model.

``POST`` starts the IncrementalUpdate workflow: every table of the graph is ingested again (a table whose
files did not change keeps its artifact), the graph is materialized again (unchanged tables keep theirs),
then the training and prediction jobs it queued run as its children. Those jobs are ordinary training and
prediction jobs: their own routes show their progress, metrics and predictions. ``POST .../{id}/cancel``
stops the update and the children it started.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field
from sqlalchemy import select
from temporalio.service import RPCError

from control_plane.api.deps import DbDep, ProjectDep, SettingsDep, get_owned
from control_plane.api.pagination import Page, PageDep, paginate
from control_plane.api.problems import PROBLEM_RESPONSES, conflict, invalid
from control_plane.api.routes.graphs import schema_of
from control_plane.api.routes.training_jobs import (
    TemporalDep,
    cancel_workflow_of,
    temporal_unavailable,
    training_input,
)
from control_plane.api.schemas.common import RequestModel
from control_plane.api.schemas.jobs import GraphUpdateOut
from control_plane.db.models import Graph, GraphUpdate, JobStatus, PQuery, PredictionJob, TrainingJob
from control_plane.workflows.incremental_update import update_workflow_id
from control_plane.workflows.launch import start_update, table_sources
from control_plane.workflows.messages import IncrementalUpdateInput, PredictInput
from control_plane.workflows.predict import predict_workflow_id
from control_plane.workflows.train_pquery import train_workflow_id
from platform_core.errors import UserFacingError

router = APIRouter(prefix="/projects/{project_id}/graph-updates", tags=["graph-updates"],
                   responses=PROBLEM_RESPONSES)


class GraphUpdateCreate(RequestModel):
    graph_id: str
    pquery_id: str | None = Field(None, description="A pquery of the graph to retrain and/or predict afterwards.")
    retrain: bool = Field(True, description="Retrain the pquery on the updated graph (needs pquery_id).")
    run_mode: Literal["fast", "normal", "best"] = "normal"
    predict: bool = Field(True, description="Predict with the new model, or without retraining with the "
                                            "pquery's latest succeeded training job (needs pquery_id).")


def _update(db: DbDep, project: ProjectDep, update_id: str) -> GraphUpdate:
    return get_owned(db, GraphUpdate, project, update_id, "graph update")


def _body_error(field: str, message: str):
    return invalid(message, [{"loc": ["body", field], "message": message}])


def _latest_model(db: DbDep, pquery: PQuery) -> TrainingJob:
    job = db.scalars(select(TrainingJob).where(TrainingJob.pquery_id == pquery.id,
                                               TrainingJob.status == JobStatus.SUCCEEDED.value,
                                               TrainingJob.model_uri.is_not(None))
                     .order_by(TrainingJob.finished_at.desc(), TrainingJob.created_at.desc()).limit(1)).first()
    if job is None:
        raise conflict(f"pquery {pquery.name} has no trained model to predict with; retrain it (retrain: true)")
    return job


@router.post("", status_code=201, response_model=GraphUpdateOut)
async def create_graph_update(body: GraphUpdateCreate, project: ProjectDep, db: DbDep, settings: SettingsDep,
                              temporal: TemporalDep) -> GraphUpdate:
    """Start updating a graph from its sources; the retraining and prediction jobs asked for are queued."""
    graph = db.get(Graph, body.graph_id)
    if graph is None or graph.project_id != project.id:
        raise _body_error("graph_id", f"graph {body.graph_id} not found")
    pquery = None
    if body.pquery_id is not None:
        pquery = db.get(PQuery, body.pquery_id)
        if pquery is None or pquery.project_id != project.id:
            raise _body_error("pquery_id", f"pquery {body.pquery_id} not found")
        if pquery.graph_id != graph.id:
            raise _body_error("pquery_id", f"pquery {pquery.name} is not a query of graph {graph.name}")
    elif body.retrain and "retrain" in body.model_fields_set or body.predict and "predict" in body.model_fields_set:
        raise _body_error("pquery_id", "retraining or predicting needs the pquery_id of a query of this graph")
    schema = schema_of(graph)
    try:
        tables = table_sources([gt.table for gt in graph.tables])
    except UserFacingError as exc:
        raise invalid(str(exc), kind="invalid-table", title="Invalid table options") from None
    # Without retraining, the prediction uses the latest model: refuse before anything is queued.
    model_job = _latest_model(db, pquery) if pquery is not None and body.predict and not body.retrain else None
    update = GraphUpdate(project_id=project.id, graph_id=graph.id, status=JobStatus.QUEUED.value)
    db.add(update)
    db.flush()
    request = IncrementalUpdateInput(schema=schema, tables=tables, job_id=update.id)
    if pquery is not None and body.retrain:
        training = TrainingJob(project_id=project.id, pquery_id=pquery.id, plan=pquery.plan, run_mode=body.run_mode,
                               status=JobStatus.QUEUED.value)
        db.add(training)
        db.flush()
        training.workflow_id = train_workflow_id(training.id)
        update.training_job_id = model_job_id = training.id
        request.retrain = training_input(db, training, pquery)
    elif model_job is not None:
        model_job_id = model_job.id
    if pquery is not None and body.predict:
        prediction = PredictionJob(project_id=project.id, training_job_id=model_job_id, status=JobStatus.QUEUED.value)
        db.add(prediction)
        db.flush()
        prediction.workflow_id = predict_workflow_id(prediction.id)
        update.prediction_job_id = prediction.id
        # With retraining, the workflow puts the new model and plan in before it starts the prediction.
        request.predict = PredictInput(job_id=prediction.id, plan=model_job.plan if model_job else pquery.plan,
                                       schema=schema, tables=tables,
                                       model_uri=model_job.model_uri if model_job else "")
    update.workflow_id = update_workflow_id(update.id)
    db.commit()
    try:
        await start_update(await temporal.client(), request)
    except RPCError as exc:
        now = dt.datetime.now(dt.timezone.utc)
        error = f"the workflow could not be started: {exc}"
        update.status, update.error, update.finished_at = JobStatus.FAILED.value, error, now
        update.close_queued_jobs(db, JobStatus.FAILED.value, now, error)
        db.commit()
        raise temporal_unavailable(settings, exc) from None
    return update


@router.get("", response_model=Page[GraphUpdateOut])
def list_graph_updates(
    project: ProjectDep, db: DbDep, page: PageDep,
    graph_id: Annotated[str | None, Query(description="Only the updates of this graph.")] = None,
) -> Page[GraphUpdateOut]:
    """The project's graph updates, oldest first."""
    query = select(GraphUpdate).where(GraphUpdate.project_id == project.id)
    if graph_id is not None:
        query = query.where(GraphUpdate.graph_id == graph_id)
    return paginate(db, query, page, GraphUpdateOut.model_validate, (GraphUpdate.created_at, GraphUpdate.id))


@router.get("/{update_id}", response_model=GraphUpdateOut)
def get_graph_update(update_id: str, project: ProjectDep, db: DbDep) -> GraphUpdate:
    """One graph update: status, per-step progress, the changed tables and the jobs it started."""
    return _update(db, project, update_id)


@router.post("/{update_id}/cancel", status_code=202, response_model=GraphUpdateOut)
async def cancel_graph_update(update_id: str, project: ProjectDep, db: DbDep, settings: SettingsDep,
                              temporal: TemporalDep) -> GraphUpdate:
    """Ask a running update to stop (with the training and prediction jobs it started); 409 once finished."""
    update = _update(db, project, update_id)
    if not await cancel_workflow_of(update, "graph update", temporal, settings):
        now = dt.datetime.now(dt.timezone.utc)
        update.status, update.finished_at = JobStatus.CANCELLED.value, now
        update.close_queued_jobs(db, JobStatus.CANCELLED.value, now)
        db.commit()
    return update
