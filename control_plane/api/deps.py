"""FastAPI dependencies shared by the routers; tests replace them with ``app.dependency_overrides``.

Access control lives here, as dependencies that the routes declare:

- :func:`current_key` authenticates the bearer token (401 otherwise); every route but ``/health`` and the
  OpenAPI documents needs it.
- :func:`get_project` resolves the ``{project_id}`` of a path and answers 404 when the caller's key does
  not see that project (whether or not it exists). Every route under ``/v1/projects/{project_id}`` uses it.
- :func:`require_admin` answers 403 to a key that is not an admin key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from control_plane.api.problems import Problem, not_found
from control_plane.auth import AuthenticationError, Principal, authenticate
from control_plane.db.models import Base, Project
from control_plane.db.session import Database
from control_plane.temporal_probe import TemporalProbe
from platform_core.settings import Settings

ModelT = TypeVar("ModelT", bound=Base)


def get_settings(request: Request) -> Settings:
    """The settings the application was created with (see :func:`control_plane.app.create_app`)."""
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_temporal_probe(request: Request, settings: SettingsDep) -> TemporalProbe:
    """The application's cached Temporal probe, made on first use for the current settings.

    A probe is kept per (address, namespace) so that overriding :func:`get_settings` points it elsewhere.
    """
    probes: dict[tuple[str, str], TemporalProbe] = request.app.state.temporal_probes
    key = (settings.temporal_address, settings.temporal_namespace)
    if key not in probes:
        probes[key] = TemporalProbe(settings.temporal_address, settings.temporal_namespace)
    return probes[key]


TemporalProbeDep = Annotated[TemporalProbe, Depends(get_temporal_probe)]


def get_database(request: Request) -> Database:
    """The application's metadata database, opened (and migrated) when the application started."""
    database: Database | None = getattr(request.app.state, "database", None)
    if database is None:
        raise RuntimeError("the metadata database is not open: the application has not started")
    return database


def get_db(database: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    """A session for one request; closed (uncommitted work rolled back) when the request ends."""
    with database.session() as session:
        yield session


DbDep = Annotated[Session, Depends(get_db)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer pq_<id>_<secret>`.")


def current_key(
    db: DbDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The API key of the request.

    Raises:
        Problem: 401 (with ``WWW-Authenticate: Bearer``) when the key is missing, malformed, unknown or revoked.
    """
    token = credentials.credentials if credentials is not None else None
    try:
        return authenticate(db, token)
    except AuthenticationError as exc:
        raise Problem(401, str(exc), kind="unauthenticated", title="Unauthorized",
                      headers={"WWW-Authenticate": "Bearer"}) from None


KeyDep = Annotated[Principal, Depends(current_key)]


def require_admin(key: KeyDep) -> Principal:
    """The caller's key, which must be an admin key.

    Raises:
        Problem: 403 for a member key.
    """
    if not key.is_admin:
        raise Problem(403, "this needs an admin API key", kind="forbidden", title="Forbidden")
    return key


AdminDep = Annotated[Principal, Depends(require_admin)]


def get_project(
    project_id: Annotated[str, Path(description="The project's id.")], key: KeyDep, db: DbDep
) -> Project:
    """The project of the path, when the caller's key sees it.

    Raises:
        Problem: 404 when it does not exist or the key does not see it (existence is not revealed).
    """
    project = db.get(Project, project_id) if key.can_access(project_id) else None
    if project is None:
        raise not_found("project", project_id)
    return project


ProjectDep = Annotated[Project, Depends(get_project)]


def get_owned(db: Session, model: type[ModelT], project: Project, ident: str, what: str) -> ModelT:
    """The row ``ident`` of ``model`` when it belongs to ``project``.

    Raises:
        Problem: 404 when there is no such row in this project.
    """
    row = db.get(model, ident)
    if row is None or getattr(row, "project_id", None) != project.id:
        raise not_found(what, ident)
    return row
