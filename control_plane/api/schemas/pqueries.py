"""Predictive queries: PQL text compiled against a graph."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from control_plane.api.schemas.common import Description, Name, RequestModel, Resource, ResponseModel

QueryText = Annotated[str, Field(min_length=1, max_length=20_000)]
AnchorStep = Annotated[int, Field(gt=0, description="Seconds between anchor times (default: the target window).")]


class PQueryValidate(RequestModel):
    graph_id: str
    text: QueryText
    anchor_step_seconds: AnchorStep | None = None


class PQueryCreate(PQueryValidate):
    name: Name
    description: Description = ""


class PQueryUpdate(RequestModel):
    """Fields to change; new text (or ``recompile``) compiles against the graph's current version."""

    name: Name | None = None
    description: Description | None = None
    text: QueryText | None = None
    anchor_step_seconds: AnchorStep | None = None
    recompile: bool = False


class CompiledPQuery(ResponseModel):
    """What a valid query compiles to."""

    valid: bool = True
    graph_id: str
    graph_version: int
    task_type: str
    metrics: list[str]
    entity: str = Field(description="`table.primary_key` of the entities.")
    plan: dict[str, Any]
    explain: str = Field(description="The plan, explained for people.")


class PQueryOut(Resource):
    name: str
    description: str
    graph_id: str
    graph_version: int
    text: str
    task_type: str
    metrics: list[str]
    entity: str
    plan: dict[str, Any]
