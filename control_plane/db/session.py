"""Engines and sessions for the metadata database, made by factories (never at import time).

SQLite connections run with foreign keys enforced, in WAL mode (readers do not block the writer) and
with a busy timeout, so the API's threads and a ``pq`` command can share the file. PostgreSQL URLs are
sent to the psycopg 3 driver.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from platform_core.errors import UserFacingError
from platform_core.settings import Settings

#: How long an SQLite connection waits for another writer before failing, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def normalize_database_url(url: str) -> str:
    """The SQLAlchemy URL to connect with: ``postgresql://`` and ``postgres://`` use psycopg 3.

    Args:
        url: an ``sqlite:///...`` or ``postgresql://...`` URL (``PQ_DATABASE_URL``).

    Returns:
        The URL with an explicit driver for PostgreSQL, unchanged otherwise.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class DatabaseUnreachableError(UserFacingError):
    """The metadata database cannot be connected to; the message names it (password hidden)."""


def describe_database_url(url: str) -> str:
    """The URL as it may be shown to a user: the password is hidden."""
    return make_url(normalize_database_url(url)).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


def create_db_engine(url: str) -> Engine:
    """An engine for the metadata database.

    Args:
        url: an ``sqlite:///path`` (the folder is created), ``sqlite://`` (in memory, one shared
            connection) or ``postgresql://`` URL.

    Returns:
        The engine; SQLite connections enforce foreign keys and use WAL.
    """
    url = normalize_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    if database in ("", ":memory:"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """An engine and its session factory; one per process (the API keeps it on ``app.state``).

    Args:
        url: the database URL (see :func:`create_db_engine`).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_db_engine(url)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The database ``PQ_DATABASE_URL`` names (SQLite under the home folder by default)."""
        return cls(settings.database_url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that is closed (and its open transaction rolled back) when the block ends."""
        with self.sessions() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
