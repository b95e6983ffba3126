import os
from pathlib import Path

import pytest

from platform_core.settings import JobLauncher, SettingsError, load_settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PQ_"):
            monkeypatch.delenv(name)


def test_defaults_run_embedded_under_home(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    home = (tmp_path / ".pq").resolve()
    assert settings.home == home
    assert settings.database_url == f"sqlite:///{home / 'meta.db'}"
    assert settings.store_uri == (home / "store").as_uri()
    assert settings.temporal_address == "localhost:7233"
    assert settings.spark_master == "local[*]"
    assert settings.job_launcher is JobLauncher.local


def test_home_from_environment_moves_every_default(monkeypatch, tmp_path):
    monkeypatch.setenv("PQ_HOME", str(tmp_path / "elsewhere"))
    settings = load_settings()
    assert settings.store_uri.startswith((tmp_path / "elsewhere").as_uri())
    assert str(tmp_path / "elsewhere") in settings.database_url
    assert settings.log_dir == Path(tmp_path / "elsewhere" / "logs")


def test_explicit_values_win(monkeypatch):
    monkeypatch.setenv("PQ_STORE_URI", "s3://bucket/prefix")
    monkeypatch.setenv("PQ_DATABASE_URL", "postgresql+psycopg://127.0.0.1:5432/test")
    monkeypatch.setenv("PQ_JOB_LAUNCHER", "kubernetes")
    settings = load_settings()
    assert settings.store_uri == "s3://bucket/prefix"
    assert settings.database_url.startswith("postgresql")
    assert settings.job_launcher is JobLauncher.kubernetes


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PQ_API_PORT", "abc", "PQ_API_PORT: "),
        ("PQ_API_PORT", "70000", "PQ_API_PORT: "),
        ("PQ_JOB_LAUNCHER", "nope", "PQ_JOB_LAUNCHER: "),
        ("PQ_TEMPORAL_ADDRESS", "localhost", "PQ_TEMPORAL_ADDRESS: expected host:port"),
        ("PQ_SPARK_MASTER", "banana", "PQ_SPARK_MASTER: expected one of"),
        ("PQ_STORE_URI", "ftp://x/y", "expected file://"),
        ("PQ_DATABASE_URL", "mysql://x", "expected sqlite"),
        ("PQ_API_PROT", "1", "unknown setting PQ_API_PROT (did you mean PQ_API_PORT?)"),
    ],
)
def test_bad_settings_are_one_line_naming_the_variable(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_importing_creates_no_settings(monkeypatch):
    import importlib

    import platform_core.settings as module

    monkeypatch.setenv("PQ_API_PORT", "not-a-port")
    importlib.reload(module)  # must not raise: nothing is read at import time


def test_the_connector_roots_setting_takes_absolute_folders(monkeypatch):
    monkeypatch.setenv("PQ_CONNECTOR_ROOTS", "/srv/data:/mnt/shared/")
    assert load_settings().connector_roots[0].as_posix() == "/srv/data"
    monkeypatch.setenv("PQ_CONNECTOR_ROOTS", "data")
    with pytest.raises(ValueError, match="PQ_CONNECTOR_ROOTS.*absolute"):  # SettingsError (reloaded above)
        load_settings()


def test_settings_pass_to_a_child_process_unchanged(monkeypatch, tmp_path):
    monkeypatch.setenv("PQ_CONNECTOR_ROOTS", f"{tmp_path}/a:{tmp_path}/b")
    monkeypatch.setenv("PQ_JOB_LAUNCHER", "kubernetes")
    monkeypatch.setenv("PQ_HOME", str(tmp_path / "home"))
    parent = load_settings()
    for name in [n for n in os.environ if n.startswith("PQ_")]:
        monkeypatch.delenv(name)
    for name, value in parent.to_environment().items():
        if value is not None:
            monkeypatch.setenv(name, value)
    assert load_settings() == parent
    monkeypatch.setenv("PQ_CONNECTOR_ROOTS", load_settings(connector_roots=[]).to_environment()["PQ_CONNECTOR_ROOTS"])
    assert load_settings().connector_roots == []
