"""Fixtures of the control-plane tests: the API on a fresh metadata database, keys, and seeded projects.

Tests that take the ``database_url`` fixture (directly, or through ``api``) run twice: on SQLite in a
temporary folder (tier ``unit``) and on the PostgreSQL server at 127.0.0.1:5432 (tier ``integration``),
in a database made for this test session (``pq_test_<hex>``), migrated once and emptied before each test,
and dropped at the end. The tier comes from that parameter, so those modules set no ``pytestmark``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from control_plane.api.deps import get_database, get_settings
from control_plane.app import create_app
from control_plane.auth import create_api_key, create_first_admin_key
from control_plane.db import Database, upgrade_database
from control_plane.db.models import (
    Artifact,
    Base,
    GraphUpdate,
    JobStatus,
    PredictionJob,
    Project,
    Role,
    TrainingJob,
    TrainingTrial,
)
from platform_core.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get("PQ_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

BACKENDS = [pytest.param("sqlite", marks=pytest.mark.unit, id="sqlite"),
            pytest.param("postgresql", marks=pytest.mark.integration, id="postgresql")]


@contextlib.contextmanager
def migrated_postgres_database() -> Iterator[str]:
    """A new PostgreSQL database (``pq_test_<hex>``) migrated to the newest revision; dropped on exit."""
    name = f"pq_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        try:
            upgrade_database(url)
            yield url
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def module_postgres_database() -> Iterator[str]:
    """A PostgreSQL database of one test module's own (the workflow suites keep their rows across tests)."""
    with migrated_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session's API tests (emptied before each of them)."""
    with migrated_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """An SQLite database migrated once; each test starts from a copy of it."""
    path = tmp_path_factory.mktemp("sqlite-template") / "meta.db"
    url = f"sqlite:///{path}"
    upgrade_database(url)
    database = Database(url)
    with database.engine.connect() as connection:
        # Fold the WAL into the main file so that copying the file copies everything.
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.exec_driver_sql("PRAGMA journal_mode=DELETE")
    database.dispose()
    return path


def _empty_postgres(url: str) -> None:
    database = Database(url)
    try:
        with database.engine.begin() as connection:
            # DELETE beats TRUNCATE on a handful of rows; children first, so no foreign key objects.
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
    finally:
        database.dispose()


@pytest.fixture
def empty_database_url(backend, tmp_path) -> Iterator[str]:
    """The URL of a database with nothing in it (no migrations applied); a PostgreSQL one is dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty' / 'meta.db'}"
        return
    name = f"pq_test_{uuid.uuid4().hex[:12]}_empty"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """``sqlite`` or ``postgresql``: the database the test runs on."""
    return request.param


@pytest.fixture
def database_url(backend, request, tmp_path) -> str:
    """The URL of an empty, migrated metadata database for this test."""
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_database")
        _empty_postgres(url)
        return url
    path = tmp_path / "home" / "meta.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    """Settings on the test's database; Temporal is never reached in these tests."""
    return Settings(home=tmp_path / "home", database_url=database_url, temporal_address="127.0.0.1:9")


@pytest.fixture
def database(database_url) -> Iterator[Database]:
    """The test's database, for setting up rows the API cannot make yet and for looking behind the API."""
    db = Database(database_url)
    yield db
    db.dispose()


@dataclass
class Seeded:
    """One project with one resource of every kind, and a member key of it."""

    project_id: str
    key: str
    ids: dict[str, str] = field(default_factory=dict)


class Api:
    """A TestClient with a default key; ``api.as_(key)`` uses another one."""

    def __init__(self, client: TestClient, key: str | None, database: Database) -> None:
        self.client = client
        self.key = key
        self.database = database

    def as_(self, key: str | None) -> Api:
        return Api(self.client, key, self.database)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.key is not None:
            headers.setdefault("Authorization", f"Bearer {self.key}")
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """Make a request that must answer ``status``; its JSON body (None for 204)."""
        response = self.request(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        return None if status == 204 else response.json()

    # -- building a project -----------------------------------------------------------------------

    def member_key(self, project_id: str, name: str = "member") -> str:
        return self.ok("POST", f"/v1/projects/{project_id}/api-keys", 201, json={"name": name})["key"]

    def seed_project(self, name: str, data_dir: Path) -> Seeded:
        """A project with a connector, two tables, a graph, a pquery, jobs, a trial and an artifact."""
        project = self.ok("POST", "/v1/projects", 201, json={"name": name})
        pid = project["id"]
        seeded = Seeded(pid, self.member_key(pid))
        member = self.as_(seeded.key)
        write_retail_files(data_dir)
        p = f"/v1/projects/{pid}"
        seeded.ids["connector_id"] = member.ok("POST", f"{p}/connectors", 201,
                                               json={"name": "raw", "uri": str(data_dir)})["id"]
        for table in retail_tables(seeded.ids["connector_id"]):
            seeded.ids[f"{table['name']}_table_id"] = member.ok("POST", f"{p}/tables", 201, json=table)["id"]
        seeded.ids["table_id"] = seeded.ids["orders_table_id"]
        seeded.ids["graph_id"] = member.ok("POST", f"{p}/graphs", 201, json=retail_graph())["id"]
        seeded.ids["pquery_id"] = member.ok("POST", f"{p}/pqueries", 201, json={
            "name": "churn", "graph_id": seeded.ids["graph_id"], "text": CHURN})["id"]
        seeded.ids["key_id"] = member.ok("GET", "/v1/api-keys/me")["key_id"]
        seeded.ids.update(seed_jobs(self.database, pid, seeded.ids["pquery_id"], seeded.ids["graph_id"]))
        return seeded


CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id"


def write_retail_files(folder: Path) -> None:
    """Two small CSV files under ``folder``: customers and orders."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "customers.csv").write_text("customer_id,segment\n1,gold\n2,silver\n")
    (folder / "orders").mkdir(exist_ok=True)
    (folder / "orders" / "part-0.csv").write_text("order_id,customer_id,price,created_at\n1,1,9.5,2024-01-02\n")


def retail_tables(connector_id: str) -> list[dict[str, Any]]:
    """Registration bodies of the customers and orders tables, columns declared."""
    return [
        {"name": "customers", "connector_id": connector_id, "path": "customers.csv", "primary_key": "customer_id",
         "time_column": "", "columns": [{"name": "customer_id", "stype": "ID", "dtype": "int64"},
                                        {"name": "segment", "stype": "categorical"}]},
        {"name": "orders", "connector_id": connector_id, "path": "orders", "primary_key": "order_id",
         "time_column": "created_at", "format_options": {"format": "csv", "delimiter": ",", "header": True},
         "columns": [{"name": "order_id", "stype": "ID", "dtype": "int64"},
                     {"name": "customer_id", "stype": "ID", "dtype": "int64"},
                     {"name": "price", "stype": "numerical", "dtype": "float64"},
                     {"name": "created_at", "stype": "timestamp", "date_format": "yyyy-MM-dd"}]},
    ]


def retail_graph(name: str = "retail") -> dict[str, Any]:
    return {"name": name, "tables": ["customers", "orders"],
            "links": [{"source_table": "orders", "source_column": "customer_id", "target_table": "customers"}]}


def seed_jobs(database: Database, project_id: str, pquery_id: str, graph_id: str) -> dict[str, str]:
    """Rows the workflows will write later: a training job with a trial, a prediction job, a graph update
    that started both, an artifact."""
    with database.session() as session:
        job = TrainingJob(project_id=project_id, pquery_id=pquery_id, plan={"steps": []}, run_mode="fast",
                          status=JobStatus.SUCCEEDED.value, metrics={"auroc": 0.71}, chosen_trial_number=0)
        job.trials = [TrainingTrial(number=0, status=JobStatus.SUCCEEDED.value, params={"lr": 0.01},
                                    metrics={"auroc": 0.71}, curves={"loss": [0.9, 0.7]})]
        session.add(job)
        session.flush()
        prediction = PredictionJob(project_id=project_id, training_job_id=job.id, status=JobStatus.RUNNING.value)
        session.add(prediction)
        session.flush()
        artifact = Artifact(project_id=project_id, kind="model", uri=f"file:///store/models/{job.id}",
                            producer="trainer", training_job_id=job.id)
        update = GraphUpdate(project_id=project_id, graph_id=graph_id, status=JobStatus.SUCCEEDED.value,
                             changed_tables=["orders"], training_job_id=job.id, prediction_job_id=prediction.id)
        session.add_all([artifact, update])
        session.commit()
        return {"job_id": job.id, "training_job_id": job.id, "prediction_job_id": prediction.id,
                "artifact_id": artifact.id, "graph_update_id": update.id}


@pytest.fixture(scope="session")
def shared_app(tmp_path_factory):
    """One application for the session (building its routes takes a while); tests point it at their
    database with dependency overrides. Its own start-up (migrating the settings' database) is tested with
    apps of its own, in test_problem_details_api.py and test_client_live.py."""
    return create_app(Settings(home=tmp_path_factory.mktemp("unused-home"), temporal_address="127.0.0.1:9"))


@pytest.fixture
def app(shared_app, settings, database):
    """The shared application, serving the test's settings and database."""
    shared_app.dependency_overrides[get_settings] = lambda: settings
    shared_app.dependency_overrides[get_database] = lambda: database
    yield shared_app
    shared_app.dependency_overrides.clear()


@pytest.fixture
def admin_key(settings) -> str:
    key = create_first_admin_key(settings)
    assert key is not None
    return key


@pytest.fixture
def api(app, admin_key, database) -> Iterator[Api]:
    """The API on the test's database, with the first admin key."""
    yield Api(TestClient(app), admin_key, database)


@pytest.fixture
def member_of(database):
    """``member_of(project_id, ...)``: a member key bound to those projects, made in the database."""

    def make(*project_ids: str) -> str:
        with database.session() as session:
            projects = [session.get(Project, pid) for pid in project_ids]
            _, token = create_api_key(session, name="bound", role=Role.MEMBER, projects=projects)
            session.commit()
            return token

    return make
