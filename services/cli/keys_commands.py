"""``pq keys ...``: make, list and revoke API keys straight in the metadata database (for bootstrap).

These commands do not go through the API: whoever can run them can read the database anyway
(``PQ_DATABASE_URL``). A key is printed once, when it is made; only its hash is stored.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from platform_core.errors import UserFacingError
from platform_core.settings import load_settings

keys_app = typer.Typer(help="Make, list and revoke API keys directly in the metadata database.",
                       no_args_is_help=True, add_completion=False)


class KeysCommandError(UserFacingError):
    """A ``pq keys`` command asked for something impossible (a missing project, an unknown key)."""


@keys_app.callback()
def _group() -> None:
    """API keys of the control plane."""


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


@keys_app.command("create")
def create(
    project: Annotated[list[str] | None, typer.Option("--project", "-p", help="Project name or id (repeatable); "
                                                       "created when no project has that name or id.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make an admin key (sees every project).")] = False,
    name: Annotated[str, typer.Option("--name", help="A name for the key.")] = "cli key",
) -> None:
    """Make an API key and print it once: a member key of --project, or an --admin key."""
    from sqlalchemy import or_, select

    from control_plane.auth import ApiKeyError, create_api_key
    from control_plane.db import Database, upgrade_database
    from control_plane.db.models import Project, Role

    projects_wanted = project or []
    if admin and projects_wanted:
        raise KeysCommandError("an admin key sees every project: give either --admin or --project")
    if not admin and not projects_wanted:
        raise KeysCommandError("give --project P for a member key, or --admin for an admin key")
    settings = load_settings()
    upgrade_database(settings.database_url)
    database = Database(settings.database_url)
    console = _console()
    try:
        with database.session() as session:
            projects = []
            for wanted in projects_wanted:
                found = session.scalar(select(Project).where(or_(Project.id == wanted, Project.name == wanted)))
                if found is None:
                    found = Project(name=wanted)
                    session.add(found)
                    console.print(f"project {wanted}: created")
                projects.append(found)
            try:
                key, token = create_api_key(session, name=name, role=Role.ADMIN if admin else Role.MEMBER,
                                            projects=projects)
            except ApiKeyError as exc:
                raise KeysCommandError(str(exc)) from None
            session.commit()
            scope = "admin" if admin else "member of " + ", ".join(p.name for p in projects)
            console.print(f"API key {key.id} ({scope}): {token}")
            console.print("store it now: it is shown only once")
    finally:
        database.dispose()


@keys_app.command("list")
def list_keys() -> None:
    """List every API key: id, name, role, projects, last use and revocation (never the keys themselves)."""
    from sqlalchemy import select

    from control_plane.db import Database, upgrade_database
    from control_plane.db.models import ApiKey

    settings = load_settings()
    upgrade_database(settings.database_url)
    database = Database(settings.database_url)
    table = Table(title="API keys")
    for column in ("id", "name", "role", "projects", "last used", "revoked"):
        table.add_column(column, overflow="fold")
    try:
        with database.session() as session:
            for key in session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)):
                table.add_row(key.id, key.name, key.role, ", ".join(p.name for p in key.projects) or "-",
                              str(key.last_used_at or "-"), str(key.revoked_at or "-"))
    finally:
        database.dispose()
    _console().print(table)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The id of the key (pq keys list shows them).")]) -> None:
    """Revoke an API key: requests made with it are refused from now on."""
    from control_plane.auth import revoke_api_key
    from control_plane.db import Database, upgrade_database
    from control_plane.db.models import ApiKey

    settings = load_settings()
    upgrade_database(settings.database_url)
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            key = session.get(ApiKey, key_id)
            if key is None:
                raise KeysCommandError(f"no API key {key_id}")
            changed = revoke_api_key(key)
            session.commit()
    finally:
        database.dispose()
    _console().print(f"API key {key_id}: {'revoked' if changed else 'was already revoked'}")
