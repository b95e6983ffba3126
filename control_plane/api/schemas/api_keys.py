"""API keys: the key itself appears once, in the answer that creates it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from control_plane.api.schemas.common import RequestModel, Resource, ResponseModel, UtcDatetime
from control_plane.db.models import Role

KeyName = Annotated[str, Field(min_length=1, max_length=100)]


class ProjectKeyCreate(RequestModel):
    """A member key bound to the project of the path."""

    name: KeyName


class ApiKeyCreate(RequestModel):
    """Any key (admin only): an admin key, or a member key bound to the given projects."""

    name: KeyName
    role: Role = Role.MEMBER
    project_ids: list[str] = Field(default_factory=list, max_length=1000)


class ApiKeyOut(Resource):
    name: str
    role: Role
    project_ids: list[str]
    last_used_at: UtcDatetime | None
    revoked_at: UtcDatetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The API key. It is shown only now: store it, it cannot be read again.")


class WhoAmI(ResponseModel):
    """The key that made the request."""

    key_id: str
    name: str
    role: Role
    project_ids: list[str]
