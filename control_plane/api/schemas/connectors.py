"""Connectors: a local folder or an S3 prefix that source tables are read from."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from control_plane.api.schemas.common import Description, Name, RequestModel, Resource, ResponseModel
from control_plane.db.models import ConnectorKind

CredentialsRef = Annotated[str, Field(
    min_length=5, max_length=200, pattern=r"^env:[A-Za-z_][A-Za-z0-9_]*$",
    description="Where the credentials are, never the credentials: `env:PREFIX` reads PREFIX_ACCESS_KEY_ID, "
                "PREFIX_SECRET_ACCESS_KEY (and optionally PREFIX_SESSION_TOKEN) from the API's environment.",
)]
Uri = Annotated[str, Field(min_length=1, max_length=2000)]


class ConnectorCreate(RequestModel):
    name: Name
    uri: Uri = Field(description="`file:///folder`, an absolute local path, or `s3://bucket/prefix`.")
    credentials_ref: CredentialsRef | None = None
    endpoint_url: Annotated[str, Field(max_length=2000, pattern=r"^https?://")] | None = None
    region: Annotated[str, Field(max_length=64)] | None = None
    description: Description = ""


class ConnectorUpdate(RequestModel):
    name: Name | None = None
    uri: Uri | None = None
    credentials_ref: CredentialsRef | None = None
    endpoint_url: Annotated[str, Field(max_length=2000, pattern=r"^https?://")] | None = None
    region: Annotated[str, Field(max_length=64)] | None = None
    description: Description | None = None


class ConnectorOut(Resource):
    name: str
    description: str
    kind: ConnectorKind
    uri: str
    credentials_ref: str | None
    endpoint_url: str | None
    region: str | None


class ConnectorFile(ResponseModel):
    """A file under a connector."""

    uri: str
    path: str = Field(description="The path relative to the connector's root (what a table's `path` takes).")
    size: int | None
