"""The metadata of the platform as SQLAlchemy 2 declarative models.

Every resource a user sees belongs to a project (``project_id``, deleted with it); resources inside a
project reference each other by id, and a referenced row cannot be deleted while it is referenced (the
default ``NO ACTION`` foreign keys, checked at the end of each statement so that deleting a whole project
cascades cleanly). Names are unique per project. Ids are random 32-character hex strings, so they reveal
neither counts nor order. Timestamps are UTC; SQLite hands them back without a zone, which the API adds.

JSON columns hold what engines produce and the API passes through (plans, statistics, metrics): they are
replaced as a whole, never mutated in place.

The schema itself is owned by the Alembic migrations (``control_plane/db/migrations``); a test checks that
these models and the migrations agree.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Constraint names are fixed by convention so that migrations name them the same on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME_LENGTH = 100
ID_LENGTH = 32
URI_LENGTH = 2000


def new_id() -> str:
    """A fresh random resource id (32 lower-case hex characters)."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """The current time in UTC, zone-aware."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """The declarative base: shared metadata with the naming convention, and the Python-to-SQL type map."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Role(StrEnum):
    """What an API key may do: ``admin`` everything, ``member`` work inside the projects it is bound to."""

    ADMIN = "admin"
    MEMBER = "member"


class JobStatus(StrEnum):
    """The life cycle of training and prediction jobs and of trials."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TableStatus(StrEnum):
    """Where a registered table stands: registered, being ingested, ingested (``ready``) or failed."""

    REGISTERED = "registered"
    INGESTING = "ingesting"
    READY = "ready"
    FAILED = "failed"


class ConnectorKind(StrEnum):
    """Where a connector reads from: a local folder or an S3 prefix."""

    LOCAL = "local"
    S3 = "s3"


def _one_of(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


def _project_fk() -> Mapped[str]:
    return mapped_column(String(ID_LENGTH), ForeignKey("projects.id", ondelete="CASCADE"), index=True)


class Timestamped:
    """``created_at`` and ``updated_at`` (UTC), set by the ORM on insert and update."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Project(Timestamped, Base):
    """A workspace: every other resource belongs to exactly one project."""

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


api_key_projects = Table(
    "api_key_projects",
    Base.metadata,
    Column("api_key_id", String(ID_LENGTH), ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
    Column("project_id", String(ID_LENGTH), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True,
           index=True),
)


class ApiKey(Timestamped, Base):
    """An API key; only a hash of its secret is stored (the key itself is shown once, at creation)."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_one_of("role", Role), name="role"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    role: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    projects: Mapped[list[Project]] = relationship(secondary=api_key_projects, lazy="selectin", order_by=Project.name)

    @property
    def project_ids(self) -> list[str]:
        """The ids of the projects a member key is bound to (empty for an admin key)."""
        return [project.id for project in self.projects]


class Connector(Timestamped, Base):
    """Where source files come from: a local folder or an S3 prefix, with a *reference* to credentials."""

    __tablename__ = "connectors"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        CheckConstraint(_one_of("kind", ConnectorKind), name="kind"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    project_id: Mapped[str] = _project_fk()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16))
    uri: Mapped[str] = mapped_column(String(URI_LENGTH))
    #: ``env:PREFIX`` names the environment variables holding the credentials; never the secret itself.
    credentials_ref: Mapped[str | None] = mapped_column(String(200))
    endpoint_url: Mapped[str | None] = mapped_column(String(URI_LENGTH))
    region: Mapped[str | None] = mapped_column(String(64))


class DataTable(Timestamped, Base):
    """A source table registered from a connector path, with what the user declared about it.

    ``inferred`` (dtypes, semantic types, key proposals) and ``statistics`` are written by the data engine
    when the table is ingested; until then they are null. ``inferred`` reads
    ``{"columns": [{"name", "dtype", "stype", ...}], "primary_key": str | None, "time_column": str | None}``
    (see :mod:`control_plane.graph_schema`, which merges it with the declared columns).
    """

    __tablename__ = "tables"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        CheckConstraint(_one_of("status", TableStatus), name="status"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    project_id: Mapped[str] = _project_fk()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    connector_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("connectors.id"), index=True)
    path: Mapped[str] = mapped_column(String(URI_LENGTH))
    source_uri: Mapped[str] = mapped_column(String(URI_LENGTH))
    #: :class:`data_engine.ingest.IngestOptions` fields other than columns, primary key and time column.
    format_options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Declared columns: ``[{"name", "dtype", "stype", "date_format", "unix_unit", "separator"}]``.
    columns: Mapped[list[Any]] = mapped_column(default=list)
    #: The declared primary key: null to detect it, ``""`` for a table without one.
    primary_key: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    #: The declared time column: null to detect it, ``""`` for a static table.
    time_column: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    status: Mapped[str] = mapped_column(String(16), default=TableStatus.REGISTERED.value)
    inferred: Mapped[dict[str, Any] | None]
    statistics: Mapped[dict[str, Any] | None]
    ingested_uri: Mapped[str | None] = mapped_column(String(URI_LENGTH))
    row_count: Mapped[int | None] = mapped_column(BigInteger)


class Graph(Timestamped, Base):
    """Tables and the foreign-key links between them; every change makes a new version."""

    __tablename__ = "graphs"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    project_id: Mapped[str] = _project_fk()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(default=1)
    tables: Mapped[list[GraphTable]] = relationship(
        back_populates="graph", cascade="all, delete-orphan", order_by="GraphTable.position", lazy="selectin"
    )
    links: Mapped[list[GraphLink]] = relationship(
        back_populates="graph", cascade="all, delete-orphan", order_by="GraphLink.position", lazy="selectin"
    )


class GraphTable(Base):
    """One table of a graph (the graph refers to it by the table's name)."""

    __tablename__ = "graph_tables"

    graph_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("graphs.id", ondelete="CASCADE"),
                                          primary_key=True)
    table_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("tables.id"), primary_key=True, index=True)
    position: Mapped[int]
    graph: Mapped[Graph] = relationship(back_populates="tables")
    table: Mapped[DataTable] = relationship(lazy="joined")


class GraphLink(Base):
    """A foreign key of a graph: ``source_table.source_column`` references the primary key of ``target_table``."""

    __tablename__ = "graph_links"
    __table_args__ = (UniqueConstraint("graph_id", "source_table_id", "source_column"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    graph_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("graphs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    source_table_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("tables.id"), index=True)
    source_column: Mapped[str] = mapped_column(String(NAME_LENGTH))
    target_table_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("tables.id"), index=True)
    target_column: Mapped[str] = mapped_column(String(NAME_LENGTH))
    graph: Mapped[Graph] = relationship(back_populates="links")
    source_table: Mapped[DataTable] = relationship(foreign_keys=[source_table_id], lazy="joined")
    target_table: Mapped[DataTable] = relationship(foreign_keys=[target_table_id], lazy="joined")


class GraphVersion(Base):
    """A snapshot of a graph at one version: its table names and links, as the API described them."""

    __tablename__ = "graph_versions"
    __table_args__ = (UniqueConstraint("graph_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    graph_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("graphs.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    spec: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PQuery(Timestamped, Base):
    """A predictive query compiled against a version of a graph: its text, plan and task type."""

    __tablename__ = "pqueries"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    project_id: Mapped[str] = _project_fk()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    graph_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("graphs.id"), index=True)
    graph_version: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    anchor_step_seconds: Mapped[int | None]
    task_type: Mapped[str] = mapped_column(String(40))
    metrics: Mapped[list[Any]]
    entity: Mapped[str] = mapped_column(String(2 * NAME_LENGTH + 1))
    plan: Mapped[dict[str, Any]]


class TrainingJob(Timestamped, Base):
    """One training run of a pquery: its progress, trials, chosen model and metrics."""

    __tablename__ = "training_jobs"
    __table_args__ = (CheckConstraint(_one_of("status", JobStatus), name="status"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    project_id: Mapped[str] = _project_fk()
    pquery_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("pqueries.id"), index=True)
    #: The plan the job runs (a copy: the pquery may change afterwards).
    plan: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    run_mode: Mapped[str] = mapped_column(String(32))
    #: Optional split boundaries (ISO times) given at start.
    split: Mapped[dict[str, Any] | None]
    #: Per-step progress: ``[{"step", "status", "started_at", "finished_at", "detail"}]``.
    progress: Mapped[list[Any]] = mapped_column(default=list)
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    chosen_trial_number: Mapped[int | None]
    model_uri: Mapped[str | None] = mapped_column(String(URI_LENGTH))
    metrics: Mapped[dict[str, Any] | None]
    baseline: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]
    trials: Mapped[list[TrainingTrial]] = relationship(
        back_populates="job", cascade="all, delete-orphan", passive_deletes=True, order_by="TrainingTrial.number"
    )


class TrainingTrial(Timestamped, Base):
    """One candidate model of a training job (AutoML trial): its parameters, metrics and curves."""

    __tablename__ = "training_trials"
    __table_args__ = (
        UniqueConstraint("training_job_id", "number"),
        CheckConstraint(_one_of("status", JobStatus), name="status"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    training_job_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("training_jobs.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any] | None]
    #: Training curves: ``{"metric": [values per epoch], ...}``.
    curves: Mapped[dict[str, Any] | None]
    model_uri: Mapped[str | None] = mapped_column(String(URI_LENGTH))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    job: Mapped[TrainingJob] = relationship(back_populates="trials")


class PredictionJob(Timestamped, Base):
    """Scoring every entity with the model of a training job; the outputs land in the object store."""

    __tablename__ = "prediction_jobs"
    __table_args__ = (CheckConstraint(_one_of("status", JobStatus), name="status"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    project_id: Mapped[str] = _project_fk()
    training_job_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("training_jobs.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    anchor_time: Mapped[datetime | None]
    progress: Mapped[list[Any]] = mapped_column(default=list)
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    #: What was written: ``{"predictions": uri, "embeddings": uri, "rows": n, ...}``.
    outputs: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class GraphUpdate(Timestamped, Base):
    """New source rows brought into a graph (IncrementalUpdate): its progress, which tables changed, and the
    training and prediction jobs it started afterwards, if asked."""

    __tablename__ = "graph_updates"
    __table_args__ = (CheckConstraint(_one_of("status", JobStatus), name="status"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    project_id: Mapped[str] = _project_fk()
    graph_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("graphs.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    progress: Mapped[list[Any]] = mapped_column(default=list)
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    #: The tables whose sources had new content (None until ingestion has run).
    changed_tables: Mapped[list[Any] | None]
    training_job_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("training_jobs.id", ondelete="SET NULL"), index=True
    )
    prediction_job_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("prediction_jobs.id", ondelete="SET NULL"), index=True
    )
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    def close_queued_jobs(self, session: Any, status: str, now: datetime, error: str | None = None) -> None:
        """Close the training and prediction jobs this update queued and never started (``status``, and
        ``error`` when given); jobs already running or finished are left as they are."""
        for model, job_id in ((TrainingJob, self.training_job_id), (PredictionJob, self.prediction_job_id)):
            job = session.get(model, job_id) if job_id else None
            if job is not None and job.status == JobStatus.QUEUED.value:
                job.status, job.finished_at = status, now
                if error is not None:
                    job.error = error


class Artifact(Timestamped, Base):
    """An artifact folder in the object store (manifest written last) that a job of a project produced."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("project_id", "uri"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    project_id: Mapped[str] = _project_fk()
    kind: Mapped[str] = mapped_column(String(40))
    uri: Mapped[str] = mapped_column(String(URI_LENGTH))
    producer: Mapped[str] = mapped_column(String(200), default="")
    content_hash: Mapped[str | None] = mapped_column(String(128))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    manifest: Mapped[dict[str, Any] | None]
    training_job_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("training_jobs.id", ondelete="SET NULL"), index=True
    )
    prediction_job_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("prediction_jobs.id", ondelete="SET NULL"), index=True
    )
