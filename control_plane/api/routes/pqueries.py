"""``/v1/projects/{project_id}/pqueries``: predictive queries compiled against a graph.

``POST .../pqueries/validate`` compiles without saving: 200 with the task type, metrics, entity and the
explained plan, or 422 problem details with the ``line``, ``column``, ``hint`` and ``snippet`` of the first
error. Stored pqueries keep their text, plan, task type and the graph version they were compiled against.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import select

import pql
from control_plane.api.deps import DbDep, ProjectDep, get_owned
from control_plane.api.pagination import Page, PageDep, paginate
from control_plane.api.problems import PROBLEM_RESPONSES, Problem, conflict, invalid
from control_plane.api.routes._common import commit_named
from control_plane.api.routes.graphs import schema_of
from control_plane.api.schemas.pqueries import CompiledPQuery, PQueryCreate, PQueryOut, PQueryUpdate, PQueryValidate
from control_plane.db.models import Graph, PQuery, Project, TrainingJob
from pql.errors import SchemaError

router = APIRouter(prefix="/projects/{project_id}/pqueries", tags=["pqueries"], responses=PROBLEM_RESPONSES)


def _graph(db: DbDep, project: Project, graph_id: str) -> Graph:
    graph = db.get(Graph, graph_id)
    if graph is None or graph.project_id != project.id:
        message = f"graph {graph_id} not found"
        raise invalid(message, [{"loc": ["body", "graph_id"], "message": message}])
    return graph


def pql_problem(exc: pql.PQLError) -> Problem:
    """422 for a query the compiler rejects, with its position, hint and caret snippet."""
    error = {"loc": ["body", "text"], "message": exc.message, "line": exc.line, "column": exc.column,
             "hint": exc.hint}
    return Problem(422, str(exc.message), kind="pql-error", title="Invalid predictive query", line=exc.line,
                   column=exc.column, end_line=exc.end_line, end_column=exc.end_column, hint=exc.hint,
                   snippet=exc.snippet, errors=[error])


def compile_pquery(graph: Graph, text: str, anchor_step_seconds: int | None) -> CompiledPQuery:
    """Compile ``text`` against the graph's current schema.

    Raises:
        Problem: 409 when the graph's schema is not complete; 422 for an invalid query.
    """
    schema = schema_of(graph)
    try:
        compiled = pql.compile(text, pql.GraphSchema.from_dict(schema), anchor_step_seconds=anchor_step_seconds)
    except pql.PQLError as exc:
        raise pql_problem(exc) from None
    except SchemaError as exc:
        raise Problem(409, f"graph {graph.name}: {exc}", kind="graph-not-ready", title="Graph not ready") from None
    return CompiledPQuery(graph_id=graph.id, graph_version=graph.version, task_type=compiled.task_type.value,
                          metrics=list(compiled.metrics), entity=compiled.entity, plan=compiled.plan.to_dict(),
                          explain=compiled.plan.explain())


@router.post("/validate", response_model=CompiledPQuery)
def validate_pquery(body: PQueryValidate, project: ProjectDep, db: DbDep) -> CompiledPQuery:
    """Compile a query without saving it: task type, metrics, entity and explained plan, or a positioned error."""
    return compile_pquery(_graph(db, project, body.graph_id), body.text, body.anchor_step_seconds)


def _store(pquery: PQuery, compiled: CompiledPQuery) -> None:
    pquery.graph_version = compiled.graph_version
    pquery.task_type, pquery.metrics = compiled.task_type, compiled.metrics
    pquery.entity, pquery.plan = compiled.entity, compiled.plan


@router.post("", status_code=201, response_model=PQueryOut)
def create_pquery(body: PQueryCreate, project: ProjectDep, db: DbDep) -> PQuery:
    """Compile and store a query (422 with the error's position when it does not compile)."""
    graph = _graph(db, project, body.graph_id)
    compiled = compile_pquery(graph, body.text, body.anchor_step_seconds)
    pquery = PQuery(project_id=project.id, name=body.name, description=body.description, graph_id=graph.id,
                    text=body.text, anchor_step_seconds=body.anchor_step_seconds)
    _store(pquery, compiled)
    db.add(pquery)
    commit_named(db, "pquery", body.name)
    return pquery


@router.get("", response_model=Page[PQueryOut])
def list_pqueries(project: ProjectDep, db: DbDep, page: PageDep) -> Page[PQueryOut]:
    """The project's pqueries."""
    query = select(PQuery).where(PQuery.project_id == project.id)
    return paginate(db, query, page, PQueryOut.model_validate, (PQuery.created_at, PQuery.id))


@router.get("/{pquery_id}", response_model=PQueryOut)
def get_pquery(pquery_id: str, project: ProjectDep, db: DbDep) -> PQuery:
    """One pquery with its plan."""
    return get_owned(db, PQuery, project, pquery_id, "pquery")


@router.get("/{pquery_id}/explain", response_model=CompiledPQuery)
def explain_pquery(pquery_id: str, project: ProjectDep, db: DbDep) -> CompiledPQuery:
    """The stored plan of a pquery, explained."""
    pquery = get_owned(db, PQuery, project, pquery_id, "pquery")
    plan = pql.Plan.from_dict(pquery.plan)
    return CompiledPQuery(graph_id=pquery.graph_id, graph_version=pquery.graph_version, task_type=pquery.task_type,
                          metrics=pquery.metrics, entity=pquery.entity, plan=pquery.plan, explain=plan.explain())


@router.patch("/{pquery_id}", response_model=PQueryOut)
def update_pquery(pquery_id: str, body: PQueryUpdate, project: ProjectDep, db: DbDep) -> PQuery:
    """Rename a pquery, or change its text (or recompile it) against the graph's current version."""
    pquery = get_owned(db, PQuery, project, pquery_id, "pquery")
    if body.text is not None or body.anchor_step_seconds is not None or body.recompile:
        text = body.text if body.text is not None else pquery.text
        step = body.anchor_step_seconds if body.anchor_step_seconds is not None else pquery.anchor_step_seconds
        _store(pquery, compile_pquery(db.get(Graph, pquery.graph_id), text, step))
        pquery.text, pquery.anchor_step_seconds = text, step
    if body.name is not None:
        pquery.name = body.name
    if body.description is not None:
        pquery.description = body.description
    commit_named(db, "pquery", pquery.name)
    return pquery


@router.delete("/{pquery_id}", status_code=204, response_class=Response)
def delete_pquery(pquery_id: str, project: ProjectDep, db: DbDep) -> Response:
    """Delete a pquery that no training job used."""
    pquery = get_owned(db, PQuery, project, pquery_id, "pquery")
    if db.scalar(select(TrainingJob.id).where(TrainingJob.pquery_id == pquery.id).limit(1)) is not None:
        raise conflict(f"pquery {pquery.name} has training jobs")
    db.delete(pquery)
    db.commit()
    return Response(status_code=204)
