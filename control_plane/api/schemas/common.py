"""Types shared by the schemas: names, UTC timestamps, the base of response models."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _utc(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; every stored time is UTC.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
#: The name of a project, connector, graph or pquery: letters, digits, ``_ . -``, starting with a letter or digit.
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NAME_PATTERN)]
#: A table or column name as PQL writes it: ``[A-Za-z_][A-Za-z0-9_]*``.
Identifier = Annotated[str, Field(min_length=1, max_length=100, pattern=IDENTIFIER_PATTERN)]
Description = Annotated[str, Field(max_length=10_000)]


class RequestModel(BaseModel):
    """A request body: unknown fields are an error (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    """A response body, read from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


class Resource(ResponseModel):
    """The fields every stored resource has."""

    id: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
