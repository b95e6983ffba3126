"""The metadata database of the control plane: models, sessions and migrations.

SQLite under the home folder by default; PostgreSQL when ``PQ_DATABASE_URL`` names one. The schema is
owned by the Alembic migrations in ``migrations/``; :func:`upgrade_database` applies them (idempotent).
"""

from control_plane.db.migrate import current_revision, head_revision, upgrade_database
from control_plane.db.session import Database, create_db_engine, normalize_database_url

__all__ = ["Database", "create_db_engine", "normalize_database_url", "upgrade_database", "current_revision",
           "head_revision"]
