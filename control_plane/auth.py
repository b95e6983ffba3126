"""API keys: made, stored as hashes, checked, revoked.

A key reads ``pq_<id>_<secret>``: the id finds the row, the secret (32 random bytes, URL-safe base64) is
checked against the stored SHA-256 hash in constant time. A high-entropy secret needs no slow hash: there
is nothing to guess. The key is shown once, when it is made; only its hash is kept.

Roles: an ``admin`` key may do everything (create projects, make keys for any project, read any project);
a ``member`` key works inside the projects it is bound to and sees nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.db.migrate import upgrade_database
from control_plane.db.models import ApiKey, Project, Role, new_id, utcnow
from control_plane.db.session import Database
from platform_core.errors import UserFacingError
from platform_core.settings import Settings

KEY_PREFIX = "pq"
_KEY_PATTERN = re.compile(r"^pq_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")
#: ``last_used_at`` is written at most this often per key, so that reads do not turn into writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)
FIRST_ADMIN_KEY_NAME = "first admin key"


class AuthenticationError(UserFacingError):
    """The bearer token is missing, malformed, unknown or revoked (the API answers 401)."""


class ApiKeyError(UserFacingError, ValueError):
    """An API key cannot be made as asked (a member key without projects, an admin key with projects)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key that authenticated the request.

    Attributes:
        key_id: the key's id.
        name: the key's name.
        role: ``admin`` or ``member``.
        project_ids: the projects a member key is bound to (empty for an admin key).
    """

    key_id: str
    name: str
    role: Role
    project_ids: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def can_access(self, project_id: str) -> bool:
        """Whether this key may see the project (admins see every project)."""
        return self.is_admin or project_id in self.project_ids


def hash_secret(secret: str) -> str:
    """The hex SHA-256 of a key's secret, as stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A fresh key: ``(id, secret, token)`` where ``token`` is ``pq_<id>_<secret>``."""
    key_id = new_id()
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"{KEY_PREFIX}_{key_id}_{secret}"


def parse_token(token: str) -> tuple[str, str] | None:
    """Split a key into ``(id, secret)``; None when it does not have the shape of a key."""
    match = _KEY_PATTERN.match(token)
    return (match.group(1), match.group(2)) if match else None


def create_api_key(session: Session, *, name: str, role: Role | str, projects: Iterable[Project] = ()) -> tuple[ApiKey, str]:
    """Add a key to the session (not committed).

    Args:
        session: the session to add the key to.
        name: a name for people (which service or person holds it).
        role: ``admin`` or ``member``.
        projects: the projects a member key is bound to (at least one); none for an admin key.

    Returns:
        The new row and the key itself, which is shown once and never stored.

    Raises:
        ApiKeyError: an empty name, an unknown role, a member key without projects or an admin key with some.
    """
    try:
        role = Role(role)
    except ValueError:
        raise ApiKeyError(f"unknown role {role!r} (expected admin or member)") from None
    projects = list(projects)
    if not name.strip():
        raise ApiKeyError("an API key needs a name")
    if role is Role.MEMBER and not projects:
        raise ApiKeyError("a member key must be bound to at least one project")
    if role is Role.ADMIN and projects:
        raise ApiKeyError("an admin key sees every project; it is not bound to any")
    key_id, secret, token = new_token()
    key = ApiKey(id=key_id, name=name.strip(), role=role.value, secret_hash=hash_secret(secret), projects=projects)
    session.add(key)
    return key, token


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def authenticate(session: Session, token: str | None, *, now: datetime | None = None) -> Principal:
    """Check a bearer token and note when the key was last used.

    Args:
        session: the request's session; ``last_used_at`` is committed through it when it changes.
        token: the key, or None when the request carried none.
        now: the current time (tests).

    Returns:
        The :class:`Principal` of the key.

    Raises:
        AuthenticationError: no token, a malformed token, an unknown key, a wrong secret or a revoked key.
    """
    if not token:
        raise AuthenticationError("this request needs an API key: send the header 'Authorization: Bearer pq_...'")
    parsed = parse_token(token)
    if parsed is None:
        raise AuthenticationError("the bearer token is not an API key of this platform (expected pq_<id>_<secret>)")
    key_id, secret = parsed
    key = session.get(ApiKey, key_id)
    # The digest is compared even for an unknown id, so that timing does not tell which ids exist.
    expected = key.secret_hash if key is not None else hash_secret(secrets.token_urlsafe(32))
    if not hmac.compare_digest(expected, hash_secret(secret)) or key is None:
        raise AuthenticationError("invalid API key")
    if key.revoked_at is not None:
        raise AuthenticationError("this API key has been revoked")
    now = now or utcnow()
    last = _as_utc(key.last_used_at)
    if last is None or now - last >= LAST_USED_RESOLUTION:
        key.last_used_at = now
        session.commit()
    return Principal(key.id, key.name, Role(key.role), frozenset(key.project_ids))


def revoke_api_key(key: ApiKey, *, now: datetime | None = None) -> bool:
    """Mark a key revoked (not committed); returns False when it already was."""
    if key.revoked_at is not None:
        return False
    key.revoked_at = now or utcnow()
    return True


def active_admin_keys(session: Session) -> list[ApiKey]:
    """The admin keys that are not revoked."""
    query = select(ApiKey).where(ApiKey.role == Role.ADMIN.value, ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def create_first_admin_key(settings: Settings) -> str | None:
    """Make an admin key when the database has no usable one (migrating the database first).

    ``pq up`` calls it once the API is healthy and prints the key. Two concurrent calls could both make a
    key; ``pq up`` calls it under the stack lock of its home.

    Args:
        settings: the platform settings (``PQ_DATABASE_URL``).

    Returns:
        The new key (shown once: only its hash is stored), or None when an active admin key exists.
    """
    upgrade_database(settings.database_url)
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            if active_admin_keys(session):
                return None
            _, token = create_api_key(session, name=FIRST_ADMIN_KEY_NAME, role=Role.ADMIN)
            session.commit()
            return token
    finally:
        database.dispose()


def create_project_key(settings: Settings, project_name: str, *, name: str,
                       description: str = "") -> tuple[str, str, str]:
    """Make a member key of the project named ``project_name``, creating the project when none has that name.

    For local tools that can read the database anyway (``pq quickstart``, benchmarks).

    Returns:
        ``(project id, key id, key)``; the key is shown once (only its hash is stored).
    """
    upgrade_database(settings.database_url)
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            project = session.scalar(select(Project).where(Project.name == project_name))
            if project is None:
                project = Project(name=project_name, description=description)
                session.add(project)
            key, token = create_api_key(session, name=name, role=Role.MEMBER, projects=[project])
            session.commit()
            return project.id, key.id, token
    finally:
        database.dispose()
