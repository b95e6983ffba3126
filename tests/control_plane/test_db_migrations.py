"""The Alembic migrations: they build the schema from nothing on SQLite and PostgreSQL, are idempotent,
go down and up again, and match the models exactly (an ``alembic check``); the database enforces
foreign keys and unique names.

Runs on SQLite (unit) and PostgreSQL (integration), see conftest.py.
"""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from control_plane.db import Database, current_revision, head_revision, upgrade_database
from control_plane.db.migrate import MIGRATIONS_DIR, alembic_config
from control_plane.db.models import Base, Connector, DataTable, Project


def _differences(database: Database) -> list:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_upgrade_from_empty_builds_every_table_and_is_idempotent(empty_database_url):
    database = Database(empty_database_url)
    try:
        assert current_revision(database.engine) is None
        upgrade_database(empty_database_url)
        assert current_revision(database.engine) == head_revision()
        tables = set(inspect(database.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables and "alembic_version" in tables
        upgrade_database(empty_database_url)  # again: nothing to do, nothing breaks
        assert current_revision(database.engine) == head_revision()
    finally:
        database.dispose()


def test_the_models_match_the_migrations(database):
    assert _differences(database) == []


def test_downgrade_to_nothing_and_up_again(empty_database_url):
    upgrade_database(empty_database_url)
    config = alembic_config(empty_database_url)
    command.downgrade(config, "base")
    database = Database(empty_database_url)
    try:
        assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
        command.upgrade(config, "head")
        assert _differences(database) == []
    finally:
        database.dispose()


@pytest.mark.unit
def test_the_migration_files_live_in_the_package():
    assert (MIGRATIONS_DIR / "env.py").is_file() and (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("*.py"))
    assert MIGRATIONS_DIR.parent.name == "db" and MIGRATIONS_DIR.parent.parent.name == "control_plane"


def test_names_are_unique_per_project_and_references_are_enforced(database):
    with database.session() as session:
        a, b = Project(name="a"), Project(name="b")
        session.add_all([a, b])
        session.flush()
        session.add_all([Connector(project_id=a.id, name="raw", kind="local", uri="file:///x"),
                         Connector(project_id=b.id, name="raw", kind="local", uri="file:///x")])
        session.commit()
        session.add(Connector(project_id=a.id, name="raw", kind="local", uri="file:///y"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.add(DataTable(project_id=a.id, name="t", connector_id="0" * 32, path="t.csv", source_uri="file:///t"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.add(Connector(project_id=a.id, name="odd", kind="ftp", uri="ftp://x"))
        with pytest.raises(IntegrityError):  # the kind is checked by the database too
            session.commit()


@pytest.mark.unit
def test_sqlite_connections_enforce_foreign_keys_in_wal_mode(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'sub' / 'meta.db'}")
    try:
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        database.dispose()


@pytest.mark.unit
def test_unreachable_database_is_one_line_with_the_password_hidden():
    import socket

    from control_plane.db.session import DatabaseUnreachableError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DatabaseUnreachableError) as info:
        upgrade_database(f"postgresql://postgres:hunter2@127.0.0.1:{port}/test")
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "PQ_DATABASE_URL" in message
    assert "hunter2" not in message and "\n" not in message
