"""Helpers the resource routers share: committing with a clear 409 on a taken name, applying updates."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane.api.problems import conflict


def commit_named(db: Session, what: str, name: str) -> None:
    """Commit; a unique-constraint failure becomes 409 naming the taken name.

    Raises:
        Problem: 409 when ``name`` is taken in the project (or another constraint fails).
    """
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise conflict(f"a {what} named {name} already exists in this project") from None


def changes(body: BaseModel, *, keep_none: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields a PATCH body sets: null means "unchanged" except for the fields in ``keep_none``."""
    return {field: value for field, value in body.model_dump(exclude_unset=True).items()
            if value is not None or field in keep_none}
