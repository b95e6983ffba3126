"""``/v1/projects/{project_id}/tables``: source tables registered from connector paths.

Registering a table records where it is and what the user declares about it (format options, primary
key, time column, column types and semantic types); ingestion fills ``inferred`` and ``statistics``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import or_, select

from control_plane.api.deps import DbDep, ProjectDep, SettingsDep, get_owned
from control_plane.api.pagination import Page, PageDep, paginate
from control_plane.api.problems import PROBLEM_RESPONSES, conflict, invalid
from control_plane.api.routes._common import changes, commit_named
from control_plane.api.routes.connectors import store_problem
from control_plane.api.schemas.tables import ColumnSpec, FormatOptions, TableCreate, TableOut, TableUpdate
from control_plane.connectors import ConnectorError, path_exists, source_uri
from control_plane.db.models import Connector, DataTable, Graph, GraphLink, GraphTable, Project
from data_engine.ingest import ColumnOverride, IngestOptions, IngestOptionsError
from platform_core.object_store import ObjectStoreError
from platform_core.settings import Settings

router = APIRouter(prefix="/projects/{project_id}/tables", tags=["tables"], responses=PROBLEM_RESPONSES)


def _declared(format_options: FormatOptions, columns: list[ColumnSpec], primary_key: str | None,
              time_column: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Check what is declared the way ingestion will read it; the stored format options and columns."""
    names = [c.name for c in columns]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise invalid(f"column {name} is declared twice",
                          [{"loc": ["body", "columns", i, "name"], "message": f"column {name} is declared twice"}])
    overrides = {c.name: ColumnOverride(**c.model_dump(exclude={"name"}, mode="json")) for c in columns}
    try:
        options = IngestOptions(**format_options.model_dump(), columns=overrides, primary_key=primary_key,
                                time_column=time_column).validated()
    except IngestOptionsError as exc:
        raise invalid(str(exc), kind="invalid-table", title="Invalid table options") from None
    raw = options.to_dict()
    stored_columns = [{"name": name, **raw["columns"][name]} for name in names]
    stored_options = {k: v for k, v in raw.items() if k not in ("columns", "primary_key", "time_column")}
    return stored_options, stored_columns


def _source(connector: Connector, path: str, settings: Settings) -> str:
    try:
        uri = source_uri(connector, path)
        exists = path_exists(connector, settings, path)
    except ConnectorError as exc:
        raise invalid(str(exc), [{"loc": ["body", "path"], "message": str(exc)}]) from None
    except ObjectStoreError as exc:
        raise store_problem(exc) from None
    if not exists:
        message = f"nothing at {uri}"
        raise invalid(message, [{"loc": ["body", "path"], "message": message,
                                 "hint": "list the connector's files: GET .../connectors/{id}/files"}])
    return uri


def _connector(db: DbDep, project: Project, connector_id: str) -> Connector:
    connector = db.get(Connector, connector_id)
    if connector is None or connector.project_id != project.id:
        message = f"connector {connector_id} not found"
        raise invalid(message, [{"loc": ["body", "connector_id"], "message": message}])
    return connector


@router.post("", status_code=201, response_model=TableOut)
def create_table(body: TableCreate, project: ProjectDep, db: DbDep, settings: SettingsDep) -> DataTable:
    """Register a table: a file or folder under a connector, with what is known about it."""
    connector = _connector(db, project, body.connector_id)
    options, columns = _declared(body.format_options, body.columns, body.primary_key, body.time_column)
    uri = _source(connector, body.path, settings)
    table = DataTable(project_id=project.id, name=body.name, description=body.description, connector_id=connector.id,
                      path=body.path.strip("/"), source_uri=uri, format_options=options, columns=columns,
                      primary_key=body.primary_key, time_column=body.time_column)
    db.add(table)
    commit_named(db, "table", body.name)
    return table


@router.get("", response_model=Page[TableOut])
def list_tables(project: ProjectDep, db: DbDep, page: PageDep) -> Page[TableOut]:
    """The project's tables."""
    query = select(DataTable).where(DataTable.project_id == project.id)
    return paginate(db, query, page, TableOut.model_validate, (DataTable.created_at, DataTable.id))


@router.get("/{table_id}", response_model=TableOut)
def get_table(table_id: str, project: ProjectDep, db: DbDep) -> DataTable:
    """One table, with its inferred metadata and statistics once ingested."""
    return get_owned(db, DataTable, project, table_id, "table")


@router.patch("/{table_id}", response_model=TableOut)
def update_table(table_id: str, body: TableUpdate, project: ProjectDep, db: DbDep, settings: SettingsDep) -> DataTable:
    """Change what is declared about a table; a given ``columns`` list replaces the declared columns."""
    table = get_owned(db, DataTable, project, table_id, "table")
    update = changes(body, keep_none=("primary_key", "time_column"))
    columns = body.columns if body.columns is not None else [ColumnSpec(**c) for c in table.columns]
    format_options = body.format_options if body.format_options is not None else FormatOptions(**table.format_options)
    primary_key = update.get("primary_key", table.primary_key)
    time_column = update.get("time_column", table.time_column)
    options, stored_columns = _declared(format_options, columns, primary_key, time_column)
    if "path" in update:
        table.source_uri = _source(db.get(Connector, table.connector_id), update["path"], settings)
        table.path = update["path"].strip("/")
    for field in ("name", "description"):
        if field in update:
            setattr(table, field, update[field])
    table.format_options, table.columns = options, stored_columns
    table.primary_key, table.time_column = primary_key, time_column
    commit_named(db, "table", table.name)
    return table


@router.delete("/{table_id}", status_code=204, response_class=Response)
def delete_table(table_id: str, project: ProjectDep, db: DbDep) -> Response:
    """Delete a table that no graph uses."""
    table = get_owned(db, DataTable, project, table_id, "table")
    in_tables = select(GraphTable.graph_id).where(GraphTable.table_id == table.id)
    in_links = select(GraphLink.graph_id).where(or_(GraphLink.source_table_id == table.id,
                                                    GraphLink.target_table_id == table.id))
    graphs = db.scalars(select(Graph.name).where(or_(Graph.id.in_(in_tables), Graph.id.in_(in_links)))
                        .order_by(Graph.name).limit(5)).all()
    if graphs:
        raise conflict(f"table {table.name} is used by graph(s) {', '.join(graphs)}")
    db.delete(table)
    db.commit()
    return Response(status_code=204)
