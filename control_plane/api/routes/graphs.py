"""``/v1/projects/{project_id}/graphs``: tables and foreign-key links, validated and versioned.

A graph refers to its tables by name in requests and answers. Creating a graph, or changing its tables
or links, validates it (422 with positioned ``errors`` when invalid) and records a new version.
``GET .../graphs/{graph_id}/schema`` answers the PQL graph schema that pqueries compile against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import select

from control_plane.api.deps import DbDep, ProjectDep, get_owned
from control_plane.api.pagination import Page, PageDep, paginate
from control_plane.api.problems import PROBLEM_RESPONSES, Problem, conflict, invalid, not_found
from control_plane.api.routes._common import commit_named
from control_plane.api.schemas.graphs import (
    GraphCreate,
    GraphOut,
    GraphProblem,
    GraphSpec,
    GraphUpdate,
    GraphValidation,
    GraphVersionOut,
    LinkSpec,
    LinkSuggestion,
    LinkSuggestionRequest,
)
from control_plane.db.models import (
    DataTable,
    Graph,
    GraphLink,
    GraphTable,
    GraphVersion,
    JobStatus,
    PQuery,
    Project,
)
from control_plane.db.models import GraphUpdate as GraphUpdateRun
from control_plane.graph_schema import (
    Finding,
    GraphNotReadyError,
    LinkRef,
    Validation,
    pql_schema,
    suggest_links,
    table_info,
    validate_graph,
)

router = APIRouter(prefix="/projects/{project_id}/graphs", tags=["graphs"], responses=PROBLEM_RESPONSES)


def project_tables(db: DbDep, project: Project) -> dict[str, DataTable]:
    """Every table of the project by name."""
    return {t.name: t for t in db.scalars(select(DataTable).where(DataTable.project_id == project.id))}


def _refs(links: Sequence[LinkSpec]) -> list[LinkRef]:
    return [LinkRef(link.source_table, link.source_column, link.target_table, link.target_column) for link in links]


def graph_links(graph: Graph) -> list[LinkRef]:
    """The stored links of a graph, by table name."""
    return [LinkRef(link.source_table.name, link.source_column, link.target_table.name, link.target_column)
            for link in graph.links]


def graph_out(graph: Graph) -> GraphOut:
    """The answer describing a graph."""
    return GraphOut.model_validate({
        "id": graph.id, "name": graph.name, "description": graph.description, "version": graph.version,
        "created_at": graph.created_at, "updated_at": graph.updated_at,
        "tables": [{"id": gt.table.id, "name": gt.table.name} for gt in graph.tables],
        "links": [{"source_table": link.source_table.name, "source_column": link.source_column,
                   "target_table": link.target_table.name, "target_column": link.target_column}
                  for link in graph.links],
    })


def _findings(findings: list[Finding], prefix: list[str | int]) -> list[dict[str, Any]]:
    return [{"loc": prefix + f.loc, "message": f.message, "hint": f.hint} for f in findings]


def _validation_out(result: Validation) -> GraphValidation:
    return GraphValidation(valid=result.valid,
                           errors=[GraphProblem(**f.to_dict()) for f in result.errors],
                           warnings=[GraphProblem(**f.to_dict()) for f in result.warnings])


def _validated(spec: GraphSpec, tables: dict[str, DataTable]) -> None:
    result = validate_graph(spec.tables, _refs(spec.links), tables)
    if not result.valid:
        first = result.errors[0]
        raise invalid(f"the graph is invalid: {first.message}", _findings(result.errors, ["body"]),
                      kind="invalid-graph", title="Invalid graph",
                      warnings=_findings(result.warnings, ["body"]))


def _apply_spec(db: DbDep, graph: Graph, spec: GraphSpec, tables: dict[str, DataTable]) -> None:
    """Replace a graph's tables and links with a validated spec."""
    if graph.id is not None:
        # The old rows go first: the new ones may take the same unique (graph, table, column) keys.
        graph.tables, graph.links = [], []
        db.flush()
    graph.tables = [GraphTable(table_id=tables[name].id, position=i) for i, name in enumerate(spec.tables)]
    graph.links = [
        GraphLink(position=j, source_table_id=tables[link.source_table].id, source_column=link.source_column,
                  target_table_id=tables[link.target_table].id,
                  target_column=link.target_column or _primary_key(tables[link.target_table]))
        for j, link in enumerate(spec.links)
    ]


def _primary_key(table: DataTable) -> str:
    key = table_info(table).primary_key
    assert key is not None, "validation lets only links to a known primary key through"
    return key


def _snapshot(graph: Graph, spec: GraphSpec, tables: dict[str, DataTable]) -> GraphVersion:
    links = [{"source_table": link.source_table, "source_column": link.source_column,
              "target_table": link.target_table,
              "target_column": link.target_column or _primary_key(tables[link.target_table])} for link in spec.links]
    return GraphVersion(graph_id=graph.id, version=graph.version, spec={"tables": list(spec.tables), "links": links})


@router.post("", status_code=201, response_model=GraphOut)
def create_graph(body: GraphCreate, project: ProjectDep, db: DbDep) -> GraphOut:
    """Create a graph from tables and links (version 1); 422 with positioned errors when it is invalid."""
    tables = project_tables(db, project)
    _validated(body, tables)
    graph = Graph(project_id=project.id, name=body.name, description=body.description, version=1)
    _apply_spec(db, graph, body, tables)
    db.add(graph)
    db.flush()
    db.add(_snapshot(graph, body, tables))
    commit_named(db, "graph", body.name)
    return graph_out(graph)


@router.get("", response_model=Page[GraphOut])
def list_graphs(project: ProjectDep, db: DbDep, page: PageDep) -> Page[GraphOut]:
    """The project's graphs."""
    query = select(Graph).where(Graph.project_id == project.id)
    return paginate(db, query, page, graph_out, (Graph.created_at, Graph.id))


@router.post("/validate", response_model=GraphValidation)
def validate_spec(body: GraphSpec, project: ProjectDep, db: DbDep) -> GraphValidation:
    """Validate tables and links without saving anything: errors and warnings, each with its location."""
    return _validation_out(validate_graph(body.tables, _refs(body.links), project_tables(db, project)))


@router.post("/link-suggestions", response_model=list[LinkSuggestion])
def suggest(body: LinkSuggestionRequest, project: ProjectDep, db: DbDep) -> list[LinkSuggestion]:
    """Links that the column names and types of the given tables suggest, best first."""
    tables = project_tables(db, project)
    missing = [(i, name) for i, name in enumerate(body.tables) if name not in tables]
    if missing:
        raise invalid(f"unknown table {missing[0][1]}",
                      [{"loc": ["body", "tables", i], "message": f"unknown table {name}"} for i, name in missing])
    chosen = [tables[name] for name in dict.fromkeys(body.tables)]
    return [LinkSuggestion(source_table=s.source_table, source_column=s.source_column, target_table=s.target_table,
                           target_column=s.target_column, score=s.score, reasons=list(s.reasons))
            for s in suggest_links(chosen)]


@router.get("/{graph_id}", response_model=GraphOut)
def get_graph(graph_id: str, project: ProjectDep, db: DbDep) -> GraphOut:
    """One graph at its current version."""
    return graph_out(get_owned(db, Graph, project, graph_id, "graph"))


@router.patch("/{graph_id}", response_model=GraphOut)
def update_graph(graph_id: str, body: GraphUpdate, project: ProjectDep, db: DbDep) -> GraphOut:
    """Rename a graph, change its description, or change its tables or links (a new version)."""
    graph = get_owned(db, Graph, project, graph_id, "graph")
    if body.tables is not None or body.links is not None:
        current = graph_out(graph)
        spec = GraphSpec(
            tables=body.tables if body.tables is not None else [t.name for t in current.tables],
            links=body.links if body.links is not None else [LinkSpec(**link.model_dump()) for link in current.links],
        )
        tables = project_tables(db, project)
        _validated(spec, tables)
        _apply_spec(db, graph, spec, tables)
        graph.version += 1
        db.flush()
        db.add(_snapshot(graph, spec, tables))
    if body.name is not None:
        graph.name = body.name
    if body.description is not None:
        graph.description = body.description
    commit_named(db, "graph", graph.name)
    db.refresh(graph)
    return graph_out(graph)


@router.delete("/{graph_id}", status_code=204, response_class=Response)
def delete_graph(graph_id: str, project: ProjectDep, db: DbDep) -> Response:
    """Delete a graph that no pquery uses."""
    graph = get_owned(db, Graph, project, graph_id, "graph")
    users = db.scalars(select(PQuery.name).where(PQuery.graph_id == graph.id).order_by(PQuery.name).limit(5)).all()
    if users:
        raise conflict(f"graph {graph.name} is used by pquery(s) {', '.join(users)}")
    updates = db.scalars(select(GraphUpdateRun).where(GraphUpdateRun.graph_id == graph.id)).all()
    if any(u.status in (JobStatus.QUEUED.value, JobStatus.RUNNING.value) for u in updates):
        raise conflict(f"graph {graph.name} is being updated; cancel the update first")
    for update in updates:  # its history goes with it
        db.delete(update)
    db.flush()
    db.delete(graph)
    db.commit()
    return Response(status_code=204)


@router.post("/{graph_id}/validate", response_model=GraphValidation)
def validate_stored(graph_id: str, project: ProjectDep, db: DbDep) -> GraphValidation:
    """Validate a stored graph against its tables as they are now (they may have changed since)."""
    graph = get_owned(db, Graph, project, graph_id, "graph")
    current = graph_out(graph)
    refs = [LinkRef(link.source_table, link.source_column, link.target_table, link.target_column)
            for link in current.links]
    return _validation_out(validate_graph([t.name for t in current.tables], refs, project_tables(db, project)))


def schema_of(graph: Graph) -> dict[str, Any]:
    """The PQL graph schema of a stored graph.

    Raises:
        Problem: 409 with ``errors`` when columns, semantic types or keys are not known yet, or invalid.
    """
    try:
        return pql_schema([gt.table for gt in graph.tables], graph_links(graph))
    except GraphNotReadyError as exc:
        raise Problem(409, f"graph {graph.name}: {exc}", kind="graph-not-ready", title="Graph not ready",
                      errors=_findings(exc.findings, [])) from None


@router.get("/{graph_id}/schema")
def get_schema(graph_id: str, project: ProjectDep, db: DbDep) -> dict[str, Any]:
    """The graph schema JSON ``{"tables": {...}, "links": [...]}`` that PQL compiles queries against."""
    return schema_of(get_owned(db, Graph, project, graph_id, "graph"))


@router.get("/{graph_id}/versions", response_model=Page[GraphVersionOut])
def list_versions(graph_id: str, project: ProjectDep, db: DbDep, page: PageDep) -> Page[GraphVersionOut]:
    """Every version of a graph, oldest first: its tables and links as they were."""
    graph = get_owned(db, Graph, project, graph_id, "graph")
    query = select(GraphVersion).where(GraphVersion.graph_id == graph.id)
    return paginate(db, query, page, GraphVersionOut.model_validate, (GraphVersion.version,))


@router.get("/{graph_id}/versions/{version}", response_model=GraphVersionOut)
def get_version(graph_id: str, version: int, project: ProjectDep, db: DbDep) -> GraphVersion:
    """One version of a graph."""
    graph = get_owned(db, Graph, project, graph_id, "graph")
    row = db.scalar(select(GraphVersion).where(GraphVersion.graph_id == graph.id, GraphVersion.version == version))
    if row is None:
        raise not_found(f"version of graph {graph.name}", str(version))
    return row
