"""Per-test settings and stores of the data-engine tests (the shared Spark session is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_core.object_store import ObjectStore
from platform_core.settings import Settings, load_settings


@pytest.fixture
def de_settings(tmp_path: Path, spark) -> Settings:
    """Settings with a fresh home (and so a fresh file:// store) for one test, Spark already running."""
    return load_settings(home=tmp_path / "home", spark_master="local[2]")


@pytest.fixture
def de_store(de_settings: Settings) -> ObjectStore:
    """The object store of :func:`de_settings`."""
    return ObjectStore.from_settings(de_settings)
