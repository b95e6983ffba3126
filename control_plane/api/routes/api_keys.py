"""API keys: a project's member keys under ``/v1/projects/{project_id}/api-keys``; any key under
``/v1/api-keys`` (admin keys only); ``/v1/api-keys/me`` tells a key who it is."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from control_plane.api.deps import AdminDep, DbDep, KeyDep, ProjectDep
from control_plane.api.pagination import Page, PageDep, paginate
from control_plane.api.problems import PROBLEM_RESPONSES, Problem, invalid, not_found
from control_plane.api.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ProjectKeyCreate, WhoAmI
from control_plane.auth import ApiKeyError, create_api_key, revoke_api_key
from control_plane.db.models import ApiKey, Project, Role, api_key_projects

router = APIRouter(tags=["api-keys"], responses=PROBLEM_RESPONSES)


def _created(key: ApiKey, token: str) -> ApiKeyCreated:
    return ApiKeyCreated.model_validate({**ApiKeyOut.model_validate(key).model_dump(), "key": token})


def _make_key(db: DbDep, name: str, role: Role, projects: list[Project]) -> ApiKeyCreated:
    try:
        key, token = create_api_key(db, name=name, role=role, projects=projects)
    except ApiKeyError as exc:
        raise invalid(str(exc)) from None
    db.commit()
    return _created(key, token)


@router.post("/projects/{project_id}/api-keys", status_code=201, response_model=ApiKeyCreated)
def create_project_key(body: ProjectKeyCreate, project: ProjectDep, db: DbDep) -> ApiKeyCreated:
    """Make a member key bound to this project; the answer holds the key, shown only this once."""
    return _make_key(db, body.name, Role.MEMBER, [project])


@router.get("/projects/{project_id}/api-keys", response_model=Page[ApiKeyOut])
def list_project_keys(project: ProjectDep, db: DbDep, page: PageDep) -> Page[ApiKeyOut]:
    """The member keys bound to this project, revoked ones included."""
    query = select(ApiKey).join(api_key_projects).where(api_key_projects.c.project_id == project.id)
    return paginate(db, query, page, ApiKeyOut.model_validate, (ApiKey.created_at, ApiKey.id))


@router.delete("/projects/{project_id}/api-keys/{key_id}", response_model=ApiKeyOut)
def revoke_project_key(key_id: str, project: ProjectDep, db: DbDep, caller: KeyDep) -> ApiKey:
    """Revoke a member key of this project (a key bound to other projects too needs an admin key)."""
    key = db.get(ApiKey, key_id)
    if key is None or project.id not in key.project_ids:
        raise not_found("API key", key_id)
    if len(key.project_ids) > 1 and not caller.is_admin:
        raise Problem(403, f"API key {key_id} also serves other projects; an admin key revokes it",
                      kind="forbidden", title="Forbidden")
    revoke_api_key(key)
    db.commit()
    return key


@router.get("/api-keys/me", response_model=WhoAmI)
def who_am_i(caller: KeyDep) -> WhoAmI:
    """The key that makes this request: its id, name, role and projects."""
    return WhoAmI(key_id=caller.key_id, name=caller.name, role=caller.role, project_ids=sorted(caller.project_ids))


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated)
def create_key(body: ApiKeyCreate, db: DbDep, _: AdminDep) -> ApiKeyCreated:
    """Make any key (admin keys only): another admin key, or a member key bound to the given projects."""
    projects = []
    for i, project_id in enumerate(dict.fromkeys(body.project_ids)):
        project = db.get(Project, project_id)
        if project is None:
            raise invalid(f"project {project_id} not found",
                          [{"loc": ["body", "project_ids", i], "message": f"project {project_id} not found"}])
        projects.append(project)
    return _make_key(db, body.name, body.role, projects)


@router.get("/api-keys", response_model=Page[ApiKeyOut])
def list_keys(db: DbDep, page: PageDep, _: AdminDep) -> Page[ApiKeyOut]:
    """Every key (admin keys only)."""
    return paginate(db, select(ApiKey), page, ApiKeyOut.model_validate, (ApiKey.created_at, ApiKey.id))


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut)
def revoke_key(key_id: str, db: DbDep, _: AdminDep) -> ApiKey:
    """Revoke any key (admin keys only)."""
    key = db.get(ApiKey, key_id)
    if key is None:
        raise not_found("API key", key_id)
    revoke_api_key(key)
    db.commit()
    return key
