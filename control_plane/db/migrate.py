"""Apply the Alembic migrations shipped in ``control_plane/db/migrations`` (no alembic.ini needed).

The API calls :func:`upgrade_database` on start-up and ``pq keys`` before it touches the database; both
are no-ops on a database that is already at the newest revision.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from control_plane.db.session import (
    DatabaseUnreachableError,
    create_db_engine,
    describe_database_url,
    normalize_database_url,
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: Held (transaction-scoped) while migrating PostgreSQL, so that API replicas starting together take turns.
_PG_MIGRATION_LOCK = 7_346_925_001


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for the shipped migrations.

    Args:
        url: the database URL; when omitted, ``env.py`` reads it from the settings (``PQ_DATABASE_URL``).

    Returns:
        A :class:`alembic.config.Config` whose ``script_location`` is the package's migrations folder.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolates "%": URL-encoded passwords must be escaped.
        config.set_main_option("sqlalchemy.url", normalize_database_url(url).replace("%", "%%"))
    return config


def upgrade_database(url: str, revision: str = "head", *, engine: Engine | None = None) -> None:
    """Bring the database at ``url`` to ``revision`` (idempotent; creates an SQLite file when missing).

    Concurrent calls on one PostgreSQL database take turns (an advisory lock); on SQLite the database
    file's write lock serializes them.

    Args:
        url: the database URL.
        revision: the target revision (the newest by default).
        engine: an engine to migrate through (its connection settings apply); one is made when omitted.
    """
    own = engine is None
    engine = engine if engine is not None else create_db_engine(url)
    try:
        try:
            engine.connect().close()
        except OperationalError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise DatabaseUnreachableError(
                f"metadata database {describe_database_url(url)} is unreachable: {reason} (check PQ_DATABASE_URL)"
            ) from None
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if own:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database without migrations applied."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision of the shipped migrations."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the shipped migrations have no revision"
    return head
