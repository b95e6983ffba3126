"""The version of the installed distribution, as the API reports it."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "predictive-query"


def package_version() -> str:
    """The installed version of ``predictive-query`` (``"unknown"`` when run from an uninstalled tree)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"
