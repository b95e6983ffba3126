"""``/v1/projects/{project_id}/connectors``: local folders and S3 prefixes that tables are read from."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from control_plane.api.deps import DbDep, ProjectDep, SettingsDep, get_owned
from control_plane.api.pagination import Page, PageDep, paginate
from control_plane.api.problems import PROBLEM_RESPONSES, Problem, conflict, invalid
from control_plane.api.routes._common import changes, commit_named
from control_plane.api.schemas.connectors import ConnectorCreate, ConnectorFile, ConnectorOut, ConnectorUpdate
from control_plane.connectors import (
    ConnectorError,
    check_connector_root,
    check_credentials_ref,
    list_files,
    parse_connector_uri,
)
from control_plane.db.models import Connector, ConnectorKind, DataTable
from platform_core.settings import Settings
from platform_core.object_store import ObjectStoreError

router = APIRouter(prefix="/projects/{project_id}/connectors", tags=["connectors"], responses=PROBLEM_RESPONSES)


def _checked_uri(uri: str, credentials_ref: str | None, settings: Settings) -> tuple[ConnectorKind, str]:
    try:
        kind, canonical = parse_connector_uri(uri)
        check_connector_root(canonical, settings.connector_roots)
        check_credentials_ref(credentials_ref)
    except ConnectorError as exc:
        raise invalid(str(exc), [{"loc": ["body", "uri"], "message": str(exc)}]) from None
    if kind is ConnectorKind.LOCAL and credentials_ref is not None:
        raise invalid("a local folder takes no credentials reference",
                      [{"loc": ["body", "credentials_ref"], "message": "a local folder takes no credentials"}])
    return kind, canonical


def store_problem(exc: ObjectStoreError) -> Problem:
    """502: the connector's store could not be reached or refused."""
    return Problem(502, str(exc), kind="store-unreachable", title="Object store error")


@router.post("", status_code=201, response_model=ConnectorOut)
def create_connector(body: ConnectorCreate, project: ProjectDep, db: DbDep, settings: SettingsDep) -> Connector:
    """Add a connector; a local folder must exist (under ``PQ_CONNECTOR_ROOTS`` when set), an S3 URI must name a
    valid bucket."""
    kind, uri = _checked_uri(body.uri, body.credentials_ref, settings)
    connector = Connector(project_id=project.id, name=body.name, description=body.description, kind=kind.value,
                          uri=uri, credentials_ref=body.credentials_ref, endpoint_url=body.endpoint_url,
                          region=body.region)
    db.add(connector)
    commit_named(db, "connector", body.name)
    return connector


@router.get("", response_model=Page[ConnectorOut])
def list_connectors(project: ProjectDep, db: DbDep, page: PageDep) -> Page[ConnectorOut]:
    """The project's connectors."""
    query = select(Connector).where(Connector.project_id == project.id)
    return paginate(db, query, page, ConnectorOut.model_validate, (Connector.created_at, Connector.id))


@router.get("/{connector_id}", response_model=ConnectorOut)
def get_connector(connector_id: str, project: ProjectDep, db: DbDep) -> Connector:
    """One connector."""
    return get_owned(db, Connector, project, connector_id, "connector")


@router.patch("/{connector_id}", response_model=ConnectorOut)
def update_connector(connector_id: str, body: ConnectorUpdate, project: ProjectDep, db: DbDep,
                     settings: SettingsDep) -> Connector:
    """Change a connector; a new URI is checked like a new connector's (tables keep their paths)."""
    connector = get_owned(db, Connector, project, connector_id, "connector")
    update = changes(body, keep_none=("credentials_ref", "endpoint_url", "region"))
    if "uri" in update or "credentials_ref" in update:
        kind, uri = _checked_uri(update.get("uri", connector.uri),
                                 update.get("credentials_ref", connector.credentials_ref), settings)
        update.update(kind=kind.value, uri=uri)
    for field, value in update.items():
        setattr(connector, field, value)
    commit_named(db, "connector", connector.name)
    return connector


@router.delete("/{connector_id}", status_code=204, response_class=Response)
def delete_connector(connector_id: str, project: ProjectDep, db: DbDep) -> Response:
    """Delete a connector that no table reads from."""
    connector = get_owned(db, Connector, project, connector_id, "connector")
    users = db.scalars(select(DataTable.name).where(DataTable.connector_id == connector.id).limit(5)).all()
    if users:
        raise conflict(f"connector {connector.name} is used by table(s) {', '.join(users)}")
    db.delete(connector)
    db.commit()
    return Response(status_code=204)


@router.get("/{connector_id}/files", response_model=Page[ConnectorFile])
def list_connector_files(
    connector_id: str, project: ProjectDep, db: DbDep, settings: SettingsDep, page: PageDep,
    prefix: Annotated[str, Query(max_length=1000, description="A folder inside the connector.")] = "",
    recursive: Annotated[bool, Query(description="Also list the files of sub-folders.")] = True,
) -> Page[ConnectorFile]:
    """The files under a connector (or a folder of it), sorted by path."""
    connector = get_owned(db, Connector, project, connector_id, "connector")
    try:
        files = list_files(connector, settings, prefix, recursive=recursive)
    except ConnectorError as exc:
        raise invalid(str(exc)) from None
    except ObjectStoreError as exc:
        raise store_problem(exc) from None
    window = files[page.offset: page.offset + page.limit]
    return Page[ConnectorFile](items=[ConnectorFile(uri=f.uri, path=f.path, size=f.size) for f in window],
                               total=len(files), limit=page.limit, offset=page.offset)
