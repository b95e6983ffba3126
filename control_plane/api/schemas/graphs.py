"""Graphs: tables and the foreign-key links between them, versioned."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from control_plane.api.schemas.common import (
    Description,
    Identifier,
    Name,
    RequestModel,
    Resource,
    ResponseModel,
    UtcDatetime,
)
from control_plane.api.schemas.tables import TableRef


class LinkSpec(RequestModel):
    """``source_table.source_column`` references the primary key of ``target_table``."""

    source_table: Identifier
    source_column: Identifier
    target_table: Identifier
    target_column: Identifier | None = Field(None, description="The target's primary key (default).")


TableNames = Annotated[list[Identifier], Field(min_length=1, max_length=500)]
Links = Annotated[list[LinkSpec], Field(max_length=2000)]


class GraphSpec(RequestModel):
    """The tables (by name) and links of a graph."""

    tables: TableNames
    links: Links = Field(default_factory=list)


class GraphCreate(GraphSpec):
    name: Name
    description: Description = ""


class GraphUpdate(RequestModel):
    """Fields to change; a change of tables or links makes a new version."""

    name: Name | None = None
    description: Description | None = None
    tables: TableNames | None = None
    links: Links | None = None


class LinkOut(ResponseModel):
    source_table: str
    source_column: str
    target_table: str
    target_column: str


class GraphOut(Resource):
    name: str
    description: str
    version: int
    tables: list[TableRef]
    links: list[LinkOut]


class GraphProblem(ResponseModel):
    """One finding of a validation: where (``loc``, a path into the request), what, and a suggestion."""

    loc: list[str | int]
    message: str
    hint: str | None = None


class GraphValidation(ResponseModel):
    valid: bool
    errors: list[GraphProblem]
    warnings: list[GraphProblem]


class LinkSuggestionRequest(RequestModel):
    tables: TableNames


class LinkSuggestion(ResponseModel):
    source_table: str
    source_column: str
    target_table: str
    target_column: str
    score: float = Field(description="Confidence between 0 and 1.")
    reasons: list[str]


class GraphVersionOut(ResponseModel):
    version: int
    spec: dict[str, Any]
    created_at: UtcDatetime
