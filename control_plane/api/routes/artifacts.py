"""``/v1/projects/{project_id}/artifacts``: the artifact folders that the project's jobs wrote."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from control_plane.api.deps import DbDep, ProjectDep, get_owned
from control_plane.api.pagination import Page, PageDep, paginate
from control_plane.api.problems import PROBLEM_RESPONSES
from control_plane.api.schemas.artifacts import ArtifactOut
from control_plane.db.models import Artifact

router = APIRouter(prefix="/projects/{project_id}/artifacts", tags=["artifacts"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=Page[ArtifactOut])
def list_artifacts(
    project: ProjectDep, db: DbDep, page: PageDep,
    kind: Annotated[str | None, Query(max_length=40, description="Only artifacts of this kind.")] = None,
    training_job_id: Annotated[str | None, Query(description="Only artifacts of this training job.")] = None,
    prediction_job_id: Annotated[str | None, Query(description="Only artifacts of this prediction job.")] = None,
) -> Page[ArtifactOut]:
    """The project's artifacts, oldest first."""
    query = select(Artifact).where(Artifact.project_id == project.id)
    for column, value in ((Artifact.kind, kind), (Artifact.training_job_id, training_job_id),
                          (Artifact.prediction_job_id, prediction_job_id)):
        if value is not None:
            query = query.where(column == value)
    return paginate(db, query, page, ArtifactOut.model_validate, (Artifact.created_at, Artifact.id))


@router.get("/{artifact_id}", response_model=ArtifactOut)
def get_artifact(artifact_id: str, project: ProjectDep, db: DbDep) -> Artifact:
    """One artifact with its manifest."""
    return get_owned(db, Artifact, project, artifact_id, "artifact")
