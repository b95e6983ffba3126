"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API answers has ``type``, ``title``, ``status``, ``detail`` and ``instance`` (the request
path), plus extension members where they help: ``errors`` (a list of ``{loc, message}``) for invalid
requests, ``line``/``column``/``hint``/``snippet`` for PQL errors. Routes raise :class:`Problem` (or a
``fastapi.HTTPException``); :func:`install_problem_handlers` turns those, request validation errors,
integrity errors and anything unexpected into problem responses. An unexpected error answers 500 with
a generic detail: internals never reach the client.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:pq:problem:"

logger = logging.getLogger(__name__)


class ProblemDetails(BaseModel):
    """The body of every error response (RFC 9457); extension members may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", description="A URI naming the kind of problem.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(None, description="What went wrong with this request, for people.")
    instance: str | None = Field(None, description="The path of the request.")


#: For ``responses=`` of routers: documents the problem body of the usual error statuses in OpenAPI.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDetails, "content": {PROBLEM_JSON: {}}, "description": HTTPStatus(status).phrase}
    for status in (401, 403, 404, 409, 422)
}


class Problem(Exception):
    """An error the API answers as problem details.

    Args:
        status: the HTTP status.
        detail: what went wrong with this request.
        kind: the problem type's short name (``"not-found"``); ``about:blank`` when omitted.
        title: the summary (the status phrase by default).
        headers: extra response headers.
        extensions: extension members of the body (``errors=[...]``, ``line=3``...).
    """

    def __init__(self, status: int, detail: str, *, kind: str | None = None, title: str | None = None,
                 headers: dict[str, str] | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = f"{TYPE_PREFIX}{kind}" if kind else "about:blank"
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}
        self.extensions = extensions


def not_found(what: str, ident: str) -> Problem:
    """404 for a resource that does not exist *or* belongs to a project the caller cannot see."""
    return Problem(404, f"{what} {ident} not found", kind="not-found", title="Not found")


def conflict(detail: str) -> Problem:
    """409: the request contradicts what is stored (a taken name, a resource still in use)."""
    return Problem(409, detail, kind="conflict", title="Conflict")


def invalid(detail: str, errors: list[dict[str, Any]] | None = None, *, kind: str = "invalid-request",
            title: str = "Invalid request", **extensions: Any) -> Problem:
    """422 with ``errors``: a list of ``{"loc": [...], "message": ..., "hint": ...}``."""
    return Problem(422, detail, kind=kind, title=title, errors=errors or [], **extensions)


def problem_response(request: Request, status: int, *, detail: str | None, type_: str = "about:blank",
                     title: str | None = None, headers: dict[str, str] | None = None,
                     **extensions: Any) -> JSONResponse:
    """The problem-details response for ``request``."""
    body = {"type": type_, "title": title or HTTPStatus(status).phrase, "status": status, "detail": detail,
            "instance": request.url.path, **extensions}
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _on_problem(request: Request, exc: Problem) -> JSONResponse:
    return problem_response(request, exc.status, detail=exc.detail, type_=exc.type, title=exc.title,
                            headers=exc.headers, **exc.extensions)


async def _on_http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail == HTTPStatus.NOT_FOUND.phrase:
        detail = f"no route {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem_response(request, exc.status_code, detail=detail, headers=getattr(exc, "headers", None))


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"loc": list(error.get("loc", ())), "message": error.get("msg", ""), "type": error.get("type")}
              for error in exc.errors()]
    first = errors[0] if errors else None
    where = ".".join(str(part) for part in first["loc"]) if first else ""
    detail = f"{where}: {first['message']}" if first else "the request is invalid"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return problem_response(request, 422, detail=detail, type_=f"{TYPE_PREFIX}invalid-request",
                            title="Invalid request", errors=errors)


async def _on_integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
    logger.info("integrity error on %s %s: %s", request.method, request.url.path, exc.orig)
    return problem_response(request, 409, detail="the request conflicts with stored data (a name already taken, "
                            "or a resource still in use)", type_=f"{TYPE_PREFIX}conflict", title="Conflict")


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem_response(request, 500, detail="an unexpected error occurred; the API log has the details",
                            type_=f"{TYPE_PREFIX}internal-error")


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with problem details."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(IntegrityError, _on_integrity_error)
    app.add_exception_handler(Exception, _on_unexpected)
