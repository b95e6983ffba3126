"""The ``PQ_*`` environment a job process gets, so that it sees the same platform as its launcher."""

from __future__ import annotations

from platform_core.settings import ENV_PREFIX, Settings

__all__ = ["settings_environment", "SECRET_SETTINGS", "env_name"]

#: Settings that are credentials: a Kubernetes Job takes them from a Secret, never as plain values.
SECRET_SETTINGS = ("s3_access_key_id", "s3_secret_access_key")


def env_name(field: str) -> str:
    """The environment variable of a settings field (``store_uri`` -> ``PQ_STORE_URI``)."""
    return f"{ENV_PREFIX}{field.upper()}"


def settings_environment(settings: Settings, *, exclude: tuple[str, ...] = ()) -> dict[str, str | None]:
    """Every setting as its ``PQ_*`` variable.

    Args:
        settings: the launcher's settings.
        exclude: fields to leave out.

    Returns:
        Variable name -> value text, or None for a setting that is unset (the job must not inherit one).
    """
    return {name: value for name, value in settings.to_environment().items()
            if name not in {env_name(field) for field in exclude}}
