"""``/v1/projects``: admins create projects; every key lists and reads the projects it sees."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from control_plane.api.deps import AdminDep, DbDep, KeyDep, ProjectDep
from control_plane.api.pagination import Page, PageDep, paginate
from control_plane.api.problems import PROBLEM_RESPONSES, conflict
from control_plane.api.schemas.projects import ProjectCreate, ProjectOut, ProjectUpdate
from control_plane.auth import revoke_api_key
from control_plane.db.models import ApiKey, Project, Role, api_key_projects

router = APIRouter(prefix="/projects", tags=["projects"], responses=PROBLEM_RESPONSES)


def _commit_name(db: DbDep, name: str) -> None:
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise conflict(f"a project named {name} already exists") from None


@router.post("", status_code=201, response_model=ProjectOut)
def create_project(body: ProjectCreate, db: DbDep, _: AdminDep) -> Project:
    """Create a project (admin keys only)."""
    project = Project(name=body.name, description=body.description)
    db.add(project)
    _commit_name(db, body.name)
    return project


@router.get("", response_model=Page[ProjectOut])
def list_projects(db: DbDep, key: KeyDep, page: PageDep) -> Page[ProjectOut]:
    """The projects the caller's key sees (every project for an admin key)."""
    query = select(Project)
    if not key.is_admin:
        query = query.where(Project.id.in_(key.project_ids))
    return paginate(db, query, page, ProjectOut.model_validate, (Project.created_at, Project.id))


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(project: ProjectDep) -> Project:
    """One project."""
    return project


@router.patch("/{project_id}", response_model=ProjectOut)
def update_project(body: ProjectUpdate, project: ProjectDep, db: DbDep) -> Project:
    """Rename a project or change its description."""
    for field, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(project, field, value)
    _commit_name(db, project.name)
    return project


@router.delete("/{project_id}", status_code=204, response_class=Response)
def delete_project(project: ProjectDep, db: DbDep, _: AdminDep) -> Response:
    """Delete a project and everything in it (admin keys only); member keys of no other project are revoked."""
    bound = select(ApiKey).join(api_key_projects).where(
        api_key_projects.c.project_id == project.id, ApiKey.role == Role.MEMBER.value
    )
    for key in db.scalars(bound).all():
        if key.project_ids == [project.id]:
            revoke_api_key(key)
    db.delete(project)
    db.commit()
    return Response(status_code=204)
