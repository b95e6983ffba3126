"""Projects: the workspaces every other resource belongs to."""

from __future__ import annotations

from control_plane.api.schemas.common import Description, Name, RequestModel, Resource


class ProjectCreate(RequestModel):
    name: Name
    description: Description = ""


class ProjectUpdate(RequestModel):
    name: Name | None = None
    description: Description | None = None


class ProjectOut(Resource):
    name: str
    description: str
