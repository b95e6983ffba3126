"""The FastAPI application of the control plane, built by a factory so nothing runs at import time.

Run it with ``uvicorn --factory control_plane.app:create_app`` (``pq up`` does). On start-up the metadata
database is migrated to the newest revision and opened; it is closed on shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from control_plane.api.problems import install_problem_handlers
from control_plane.api.routes import api_router
from control_plane.console import mount_console
from control_plane.db.migrate import upgrade_database
from control_plane.db.session import Database
from control_plane.version import package_version
from platform_core.settings import Settings, load_settings

DESCRIPTION = """\
Predictive queries over relational data. Every route but `/health` and these documents needs an API key
as a bearer token (`Authorization: Bearer pq_...`); `pq up` prints the first admin key. Errors are RFC 9457
problem details (`application/problem+json`); lists take `limit` (at most 200) and `offset` and answer
`{items, total, limit, offset}`.
"""


def _open_database(settings: Settings) -> Database:
    database = Database(settings.database_url)
    try:
        upgrade_database(settings.database_url, engine=database.engine)
    except BaseException:
        database.dispose()
        raise
    return database


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    database = await run_in_threadpool(_open_database, app.state.settings)
    app.state.database = database
    try:
        yield
    finally:
        app.state.database = None
        database.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API application.

    Args:
        settings: the configuration to serve with; read from the environment (``PQ_*``) when omitted.

    Returns:
        A FastAPI app whose ``state.settings`` holds the settings; the database opens when it starts.

    Raises:
        platform_core.settings.SettingsError: the environment holds an unknown or invalid setting.
    """
    settings = settings if settings is not None else load_settings()
    app = FastAPI(title="Predictive Query control plane", version=package_version(), description=DESCRIPTION,
                  lifespan=_lifespan)
    app.state.settings = settings
    app.state.temporal_probes = {}
    app.state.database = None
    install_problem_handlers(app)
    app.include_router(api_router)
    mount_console(app)
    return app
