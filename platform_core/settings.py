"""The one typed settings object of the platform.

Every process reads its configuration from environment variables prefixed ``PQ_`` (and nothing else).
The defaults run the whole platform embedded under one home folder: SQLite metadata, a local-folder
object store, a local Temporal dev server, Spark ``local[*]`` and trainer jobs as local processes.

Nothing here runs at import time: call :func:`load_settings` where a process starts.
"""

from __future__ import annotations

import difflib
import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from platform_core.errors import UserFacingError

ENV_PREFIX = "PQ_"


class SettingsError(UserFacingError, ValueError):
    """A setting is unknown or has a value that cannot be used; the message is one line naming it."""


class JobLauncher(str, Enum):
    local = "local"
    kubernetes = "kubernetes"


class Settings(BaseSettings):
    """Configuration shared by every process; each field maps to ``PQ_<FIELD NAME IN CAPITALS>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    home: Path = Field(Path("./.pq"), description="Folder for embedded state: metadata DB, store, logs, pids.")
    database_url: str = Field("", description="SQLAlchemy URL of the metadata DB; default sqlite:///<home>/meta.db.")
    automl_database_url: str = Field("", description="SQLAlchemy URL of the AutoML (Optuna) studies; default "
                                                     "sqlite:///<home>/automl.db.")
    store_uri: str = Field("", description="Root of the object store: file://... or s3://bucket/prefix.")
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint, e.g. http://127.0.0.1:8333 (None: AWS).")
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str = "us-east-1"
    temporal_address: str = Field("localhost:7233", description="host:port of the Temporal frontend.")
    temporal_namespace: str = "default"
    temporal_ui_port: int = Field(8233, ge=1, le=65535)
    spark_master: str = Field("local[*]", description="local[*], spark://host:port, yarn, k8s://... or sc://...")
    spark_driver_memory: str = "2g"
    job_launcher: JobLauncher = JobLauncher.local
    job_max_concurrent: int = Field(2, ge=1, description="Trainer jobs running at once (local launcher).")
    job_image: str | None = Field(None, description="Container image of trainer Jobs (Kubernetes).")
    job_namespace: str = "default"
    job_service_account: str | None = None
    job_s3_secret: str = Field("pq-s3-credentials", description="Secret holding the S3 keys for trainer pods.")
    job_ttl_seconds: int = Field(86_400, ge=0, description="How long finished Kubernetes Jobs are kept.")
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    api_key: str | None = Field(None, repr=False, description="API key of the pq commands that call the REST API.")
    startup_timeout_s: float = Field(60.0, gt=0)
    connector_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="Folders that local connectors may read, separated by ':' (empty: any "
                                          "folder; set it wherever API keys are given to others).")

    @field_validator("temporal_address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port, got {value!r}")
        return value

    @field_validator("connector_roots", mode="before")
    @classmethod
    def _path_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part for part in value.split(os.pathsep) if part.strip()]
        return value

    @field_validator("connector_roots")
    @classmethod
    def _absolute_roots(cls, value: list[Path]) -> list[Path]:
        for root in value:
            if not root.expanduser().is_absolute():
                raise ValueError("every folder must be an absolute path")
        return [root.expanduser().resolve() for root in value]

    @field_validator("spark_master")
    @classmethod
    def _spark_master(cls, value: str) -> str:
        schemes = ("local", "spark://", "yarn", "k8s://", "sc://", "mesos://")
        if not value.startswith(schemes):
            raise ValueError(f"expected one of local[*], spark://, yarn, k8s://, sc:// (got {value!r})")
        return value

    @model_validator(mode="after")
    def _embedded_defaults(self) -> "Settings":
        home = self.home.expanduser().resolve()
        self.home = home
        if not self.database_url:
            self.database_url = f"sqlite:///{home / 'meta.db'}"
        if not self.automl_database_url:
            # Optuna keeps its own schema (and its own Alembic version table): never in the metadata DB.
            self.automl_database_url = f"sqlite:///{home / 'automl.db'}"
        if not self.store_uri:
            self.store_uri = (home / "store").as_uri()
        if not self.store_uri.startswith(("file://", "s3://")):
            raise ValueError(f"store_uri: expected file://... or s3://bucket/prefix, got {self.store_uri!r}")
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise ValueError(f"database_url: expected sqlite:/// or postgresql://, got {self.database_url!r}")
        return self

    def to_environment(self) -> dict[str, str | None]:
        """Every setting as the ``PQ_*`` variable that :func:`load_settings` reads back to the same value
        (what a child process needs to see this platform).

        Returns:
            Variable name -> value text, or None for an unset setting (a child must not inherit one).
        """
        out: dict[str, str | None] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                text = None
            elif isinstance(value, Enum):
                text = str(value.value)
            elif isinstance(value, list):
                text = os.pathsep.join(str(item) for item in value)
            else:
                text = str(value)
            out[_env_name(name)] = text
        return out

    # Folders derived from home; processes create them when they need them.
    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def temporal_ui_url(self) -> str:
        host = self.temporal_address.rpartition(":")[0]
        return f"http://{host}:{self.temporal_ui_port}"


def _env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def _check_unknown_variables(environ: dict[str, str]) -> None:
    known = {_env_name(name) for name in Settings.model_fields}
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise SettingsError(f"unknown setting {name}{hint}")


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment (``PQ_*``), with keyword overrides on top.

    Args:
        overrides: field values that take precedence over the environment (tests, CLI options).

    Returns:
        A validated :class:`Settings`.

    Raises:
        SettingsError: an unknown ``PQ_`` variable or an invalid value, as one line naming the variable.
    """
    _check_unknown_variables(dict(os.environ))
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        where = _env_name(field) if field else "settings"
        given = error.get("input")
        shown = f" (got {given!r})" if field and not isinstance(given, dict) else ""
        raise SettingsError(f"{where}: {message}{shown}") from None
