"""Tables: a source registered from a connector path, with what the user declares about it.

What a user declares mirrors :class:`data_engine.ingest.IngestOptions` (format options) and
:class:`data_engine.ingest.ColumnOverride` (per column): anything left out is detected at ingestion.
``inferred`` and ``statistics`` are filled by the data engine when the table is ingested.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from control_plane.api.schemas.common import Description, Identifier, RequestModel, Resource, ResponseModel
from control_plane.db.models import TableStatus
from pql import SemanticType

Char = Annotated[str, Field(min_length=1, max_length=1)]


def _stype(value: Any) -> Any:
    # Semantic types are read in any letter case, as PQL schemas read them ("id" is ID).
    return SemanticType.parse(value, "this column") if isinstance(value, str) else value


#: A semantic type in any letter case.
Stype = Annotated[SemanticType, BeforeValidator(_stype)]
Tokens = Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=100)]


class FormatOptions(RequestModel):
    """How to read the source files; null means detect."""

    format: Annotated[str, Field(pattern=r"^(?i:csv|parquet)$")] | None = None
    delimiter: Char | None = None
    quote: Char | None = None
    escape: Char | None = None
    header: bool | None = None
    encoding: Annotated[str, Field(max_length=40)] | None = None
    multiline: bool | None = None
    null_tokens: Tokens | None = None
    soft_null_tokens: Tokens | None = None
    infer_types: bool = True
    type_threshold: Annotated[float, Field(ge=0.5, le=1.0)] = 1.0


class ColumnSpec(RequestModel):
    """What the user says about one column; null fields are detected."""

    name: Identifier
    dtype: Annotated[str, Field(max_length=40)] | None = None
    stype: Stype | None = Field(None, description="The semantic type (overrides the inferred one).")
    date_format: Annotated[str, Field(max_length=100)] | None = None
    unix_unit: Annotated[str, Field(pattern=r"^(s|ms|us)$")] | None = None
    separator: Char | None = None


class TableCreate(RequestModel):
    name: Identifier
    connector_id: str
    path: Annotated[str, Field(max_length=1000, description="A file or folder relative to the connector's root.")]
    format_options: FormatOptions = Field(default_factory=FormatOptions)
    columns: Annotated[list[ColumnSpec], Field(max_length=2000)] = Field(default_factory=list)
    primary_key: Annotated[str, Field(max_length=100)] | None = Field(
        None, description="The primary key column; null to detect it, \"\" for a table without one.")
    time_column: Annotated[str, Field(max_length=100)] | None = Field(
        None, description="The time column; null to detect it, \"\" for a static table.")
    description: Description = ""


class TableUpdate(RequestModel):
    """Fields to change; the columns list, when given, replaces the declared columns as a whole."""

    name: Identifier | None = None
    path: Annotated[str, Field(max_length=1000)] | None = None
    format_options: FormatOptions | None = None
    columns: Annotated[list[ColumnSpec], Field(max_length=2000)] | None = None
    primary_key: Annotated[str, Field(max_length=100)] | None = None
    time_column: Annotated[str, Field(max_length=100)] | None = None
    description: Description | None = None


class TableOut(Resource):
    name: str
    description: str
    connector_id: str
    path: str
    source_uri: str
    format_options: dict[str, Any]
    columns: list[dict[str, Any]]
    primary_key: str | None
    time_column: str | None
    status: TableStatus
    inferred: dict[str, Any] | None = Field(description="Dtypes, semantic types and key proposals (data engine).")
    statistics: dict[str, Any] | None = Field(description="Table and column statistics (data engine).")
    ingested_uri: str | None
    row_count: int | None


class TableRef(ResponseModel):
    id: str
    name: str
