"""Offset pagination, the same on every list: ``?limit=&offset=`` in, ``{items, total, limit, offset}`` out.

Items come in a stable order (oldest first, then by id), so that walking the pages sees every item once
while nothing is added.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """One page of a list."""

    items: list[ItemT]
    total: int = Field(description="How many items the whole list has.")
    limit: int = Field(description="The page size asked for.")
    offset: int = Field(description="How many items come before this page.")


class PageParams(BaseModel):
    """The page a request asks for."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (at most {MAX_LIMIT}).")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, description="How many items to skip.")] = 0,
) -> PageParams:
    """The ``limit`` and ``offset`` query parameters."""
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


def paginate(session: Session, query: Select[Any], page: PageParams, to_item: Callable[[Any], ItemT],
             order_by: tuple[Any, ...]) -> Page[ItemT]:
    """Run one page of ``query`` and count the whole list.

    Args:
        session: the request's session.
        query: a ``select(Model)`` with its filters, without order, limit or offset.
        page: the page asked for.
        to_item: turns a row into the response item.
        order_by: the stable order (e.g. ``(Model.created_at, Model.id)``).

    Returns:
        The page.
    """
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.scalars(query.order_by(*order_by).limit(page.limit).offset(page.offset)).all()
    return Page[Any](items=[to_item(row) for row in rows], total=total, limit=page.limit, offset=page.offset)
