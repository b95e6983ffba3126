"""The job workflows on a real Temporal dev server with a real worker (every engine queue) in this process:
TrainPQuery on the tiny demo data set through ingestion, materialization, the training table and trainer
jobs; two pqueries on one graph sharing every artifact; the progress query; cancellation stopping the
trainer processes; users' mistakes failing at once with their message; Predict and IncrementalUpdate.

One dev server, one worker and one Spark session serve the whole module.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from control_plane.activities.compute import job_name
from control_plane.db import Database
from control_plane.db.models import (
    Graph,
    GraphUpdate,
    JobStatus,
    PQuery,
    PredictionJob,
    Project,
    TrainingJob,
)
from control_plane.workflows.incremental_update import IncrementalUpdateWorkflow, update_workflow_id
from control_plane.workflows.messages import (
    IncrementalUpdateInput,
    PredictInput,
    TableSource,
    TrainPQueryInput,
    TrainPQueryResult,
)
from control_plane.workflows.policies import COMPILE_QUERY
from control_plane.workflows.predict import PredictWorkflow
from control_plane.workflows.task_queues import CONTROL
from control_plane.workflows.train_pquery import TrainPQueryWorkflow, train_workflow_id
from data_engine.demo_data import generate
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore
from platform_core.processes import group_alive
from platform_core.settings import Settings
from services.worker import build_workers

pytestmark = pytest.mark.integration

T = TypeVar("T")
TABLES = ("customers", "orders")
CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id"
SPEND = "PREDICT SUM(orders.price, 0, 30, days) FOR EACH customers.customer_id"
QUICK_TRIAL = {"baseline": {"num_boost_round": 20, "early_stopping_rounds": 5}}
# A small GNN trained for two epochs (the churn job trains one; the other job trains LightGBM trials).
QUICK_GNN_TRIAL = {"channels": 32, "epochs": 2, "patience": 1, "batch_size": 256, "fanouts": [8, 4], "seed": 0}
# Tiny steps and no early stopping: boosting goes on until the job is cancelled.
ENDLESS_TRIAL = {"baseline": {"num_boost_round": 10_000_000, "early_stopping_rounds": 0, "learning_rate": 1e-6,
                              "min_data_in_leaf": 1, "num_leaves": 63, "log_period": 1_000_000}}


def _tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable}")
    return str(path)


class LoopThread:
    """An event loop in a thread: the Temporal environment and the worker live there for the module."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="temporal-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 300) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class Harness:
    """The module's Temporal server, worker, settings, metadata DB and demo sources."""

    loop: LoopThread
    client: Client
    settings: Settings
    database: Database
    schema: dict[str, Any]
    raw: Path
    project_id: str
    pquery_id: str

    def sources(self, **replace: str) -> list[TableSource]:
        return [TableSource(name=t, source_uri=replace.get(t, (self.raw / f"{t}.parquet").as_uri())) for t in TABLES]

    def new_job(self) -> str:
        with self.database.session() as session:
            job = TrainingJob(project_id=self.project_id, pquery_id=self.pquery_id, plan={}, run_mode="fast")
            session.add(job)
            session.commit()
            return job.id

    def job(self, job_id: str) -> TrainingJob:
        with self.database.session() as session:
            job = session.get(TrainingJob, job_id)
            job.trials  # load them before the session closes
            return job

    def train_input(self, job_id: str, query: str, trials: list[dict] | None = None, *, kind: str = "baseline",
                    **fields: Any) -> TrainPQueryInput:
        default = QUICK_GNN_TRIAL if kind == "train" else QUICK_TRIAL
        return TrainPQueryInput(job_id=job_id, query=query, schema=self.schema, tables=fields.pop("tables", None)
                                or self.sources(), trial_kind=kind, trials=trials or [default], **fields)

    def start(self, workflow: Any, request: Any, workflow_id: str):
        return self.loop.run(self.client.start_workflow(workflow, request, id=workflow_id, task_queue=CONTROL))

    def result(self, handle, timeout: float = 400) -> Any:
        return self.loop.run(handle.result(), timeout)

    def progress(self, handle) -> list[dict[str, Any]]:
        states = self.loop.run(handle.query("progress"), 30)
        return [state if isinstance(state, dict) else vars(state) for state in states]

    def attempts(self, handle, activity_type: str) -> list[int]:
        """The attempt number of every start of ``activity_type`` in the workflow's history."""
        async def read() -> list[int]:
            history = await handle.fetch_history()
            scheduled = {e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
                         for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}
            return [e.activity_task_started_event_attributes.attempt for e in history.events
                    if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
                    and scheduled[e.activity_task_started_event_attributes.scheduled_event_id] == activity_type]
        return self.loop.run(read(), 30)


def wait_for(condition: Callable[[], T], timeout: float, what: str, every: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, module_postgres_database: str):
    from data_engine.spark_session import get_spark

    home = tmp_path_factory.mktemp("workflows")
    # The metadata on PostgreSQL here (the main-job e2e test runs the same workflows on the SQLite default).
    settings = Settings(home=home / "home", spark_master="local[2]", database_url=module_postgres_database,
                        job_max_concurrent=2)
    database = Database(settings.database_url)
    raw = home / "raw"
    generate(raw.as_uri(), scale=0.02, seed=7, fmt="parquet")
    full = json.loads((raw / "schema.json").read_text())
    schema = {"tables": {t: full["tables"][t] for t in TABLES},
              "links": [link for link in full["links"] if link["table"] in TABLES and link["to"] in TABLES]}
    get_spark(settings)
    with database.session() as session:
        project = Project(name="workflows")
        session.add(project)
        session.flush()
        graph = Graph(project_id=project.id, name="demo")
        session.add(graph)
        session.flush()
        pquery = PQuery(project_id=project.id, name="churn", graph_id=graph.id, graph_version=1, text=CHURN,
                        task_type="binary_classification", metrics=["auroc"], entity="customers.customer_id", plan={})
        session.add(pquery)
        session.commit()
        project_id, pquery_id = project.id, pquery.id
    loop = LoopThread()
    executor = ThreadPoolExecutor(16, thread_name_prefix="pq-test-activity")

    async def start():
        env = await WorkflowEnvironment.start_local(dev_server_existing_path=_tool("temporal"),
                                                    dev_server_log_level="error")
        workers = build_workers(env.client, settings=settings, executor=executor, cancel_grace_s=5.0)
        tasks = [asyncio.ensure_future(worker.run()) for worker in workers]
        return env, workers, tasks

    env, workers, tasks = loop.run(start(), 120)
    try:
        yield Harness(loop, env.client, settings, database, schema, raw, project_id, pquery_id)
    finally:
        async def stop():
            await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
            await asyncio.gather(*tasks, return_exceptions=True)
            await env.shutdown()
        loop.run(stop(), 120)
        loop.close()
        executor.shutdown(wait=False)
        database.dispose()


def _by_step(states: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in states}


@dataclass
class Trained:
    """Two pqueries trained at once on the module's graph."""

    jobs: list[str]
    results: list[TrainPQueryResult]
    steps: list[dict[str, dict[str, Any]]]
    live: list[dict[str, Any]]


@pytest.fixture(scope="module")
def trained(harness: Harness) -> Trained:
    jobs = [harness.new_job(), harness.new_job()]
    handles = [harness.start(TrainPQueryWorkflow.run, harness.train_input(job, query, kind=kind),
                             train_workflow_id(job))
               for job, query, kind in zip(jobs, (CHURN, SPEND), ("train", "baseline"))]
    live = wait_for(lambda: [s for s in harness.progress(handles[0]) if s["status"] == "running"], 120,
                    "a running step in the progress query")
    results = [harness.result(h) for h in handles]
    return Trained(jobs, results, [_by_step(harness.progress(h)) for h in handles], live)


def test_two_pqueries_on_one_graph_share_every_artifact_and_train(harness: Harness, trained: Trained):
    assert trained.live and all(s["started_at"] and not s["finished_at"] for s in trained.live)
    for table in TABLES:
        states = sorted(s[f"ingest:{table}"]["status"] for s in trained.steps)
        assert states == ["done", "reused"], (table, states)  # built once, by one of the two jobs
    assert sorted(s["materialize_links"]["status"] for s in trained.steps) == ["done", "reused"]
    first, second = trained.results
    assert first.table_uris == second.table_uris and first.graph.graph_uri == second.graph.graph_uri
    artifacts = ArtifactStore(ObjectStore.from_settings(harness.settings))
    for uri in first.table_uris.values():
        assert artifacts.open(uri).manifest.producer == "data_engine.ingest"
    assert first.selection.selection_metric == "auroc" and second.selection.selection_metric == "mae"
    assert first.training_table.uri != second.training_table.uri

    for job_id, result, steps, stores in zip(trained.jobs, trained.results, trained.steps, ("done", "skipped")):
        # The GNN job samples from the graph and feature store servers; LightGBM trials read tables.
        assert steps["compile"]["status"] == "done" and steps["train"]["status"] == "done"
        assert steps["stores"]["status"] == stores and steps["select"]["status"] == "done"
        assert all(s["finished_at"] for s in steps.values() if s["status"] in ("done", "reused"))
        row = harness.job(job_id)
        assert row.status == JobStatus.SUCCEEDED.value and row.error is None
        assert row.workflow_id == train_workflow_id(job_id) and row.started_at and row.finished_at
        assert _by_step(row.progress) == steps
        assert row.chosen_trial_number == 0 and row.model_uri == result.selection.model_uri
        metric = result.selection.selection_metric
        assert row.metrics["selection_metric"] == metric and metric in row.metrics and metric in row.baseline
        trials = sorted(row.trials, key=lambda t: t.number)
        assert [t.number for t in trials] == [-1, 0] and {t.status for t in trials} == {"succeeded"}
        assert trials[1].metrics[metric] == result.trials[0].metrics[metric]
        assert trials[1].curves and trials[1].model_uri == result.trials[0].output_uri
        assert trials[0].metrics == row.baseline and trials[0].curves  # the baseline, as trial -1


def test_cancelling_a_job_stops_its_trainer_processes_and_marks_it_cancelled(harness: Harness, trained: Trained):
    artifacts = ArtifactStore(ObjectStore.from_settings(harness.settings))
    created = {t: artifacts.open(u).manifest.created_at for t, u in trained.results[0].table_uris.items()}
    job = harness.new_job()
    handle = harness.start(TrainPQueryWorkflow.run, harness.train_input(job, CHURN, [ENDLESS_TRIAL]),
                           train_workflow_id(job))
    pid_file = harness.settings.run_dir / "jobs" / f"{job_name(job, 't0', 1)}.pid"
    wait_for(lambda: pid_file.exists(), 240, "the trial's process to start")
    pid = int(pid_file.read_text().split()[0])
    assert group_alive(pid)
    wait_for(lambda: _by_step(harness.progress(handle))["train"]["status"] == "running", 120, "the train step")
    harness.loop.run(handle.cancel(), 30)
    with pytest.raises(WorkflowFailureError) as failure:
        harness.result(handle, 120)
    assert isinstance(failure.value.cause, CancelledError)
    assert not group_alive(pid)
    row = harness.job(job)
    assert row.status == JobStatus.CANCELLED.value and row.finished_at is not None
    assert [t.status for t in row.trials if t.number >= 0] == ["cancelled"]
    steps = _by_step(row.progress)
    assert steps["train"]["status"] == "cancelled" and steps["select"]["status"] == "skipped"
    # Everything before the trials was there already: found, not rebuilt.
    assert {steps[f"ingest:{t}"]["status"] for t in TABLES} == {"reused"}
    assert steps["materialize_links"]["status"] == "reused" and steps["training_table"]["status"] == "reused"
    assert {t: artifacts.open(u).manifest.created_at for t, u in trained.results[0].table_uris.items()} == created


def test_an_invalid_query_fails_at_once_with_the_compilers_message(harness: Harness):
    job = harness.new_job()
    handle = harness.start(TrainPQueryWorkflow.run,
                           harness.train_input(job, "PREDICT COUNT(orders.*, 0, 30) FOR EACH customers.custmer_id"),
                           train_workflow_id(job))
    with pytest.raises(WorkflowFailureError) as failure:
        harness.result(handle, 60)
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.non_retryable and cause.type == "PQLError"
    assert "custmer_id" in cause.message and "customer_id" in cause.message and "line 1" in cause.message
    assert harness.attempts(handle, COMPILE_QUERY) == [1]
    row = harness.job(job)
    assert row.status == JobStatus.FAILED.value and "custmer_id" in row.error
    steps = _by_step(row.progress)
    assert steps["compile"]["status"] == "failed" and steps["ingest:orders"]["status"] == "skipped"


def test_a_missing_source_file_fails_at_once_naming_it(harness: Harness):
    missing = (harness.raw / "nowhere" / "orders.parquet").as_uri()
    job = harness.new_job()
    handle = harness.start(TrainPQueryWorkflow.run,
                           harness.train_input(job, CHURN, tables=harness.sources(orders=missing)),
                           train_workflow_id(job))
    with pytest.raises(WorkflowFailureError) as failure:
        harness.result(handle, 120)
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.non_retryable and cause.type == "IngestError"
    assert "nowhere" in cause.message and "orders" in cause.message
    assert harness.attempts(handle, COMPILE_QUERY) == [1]
    row = harness.job(job)
    assert row.status == JobStatus.FAILED.value and "nowhere" in row.error
    assert _by_step(row.progress)["ingest:orders"]["status"] == "failed"


def test_predict_builds_the_prediction_table_and_runs_a_predict_job_on_the_stores(harness: Harness,
                                                                                 trained: Trained):
    churn = trained.results[0]
    request = PredictInput(job_id="", plan=churn.plan, schema=harness.schema, tables=harness.sources(),
                           model_uri=churn.selection.model_uri)
    handle = harness.start(PredictWorkflow.run, request, f"pq-predict-test-{uuid.uuid4().hex[:8]}")
    result = harness.result(handle, 300)
    steps = _by_step(harness.progress(handle))
    assert steps["prediction_table"]["status"] in ("done", "reused") and steps["stores"]["status"] == "done"
    assert steps["predict"]["status"] == "done"
    assert result.outputs.rows == result.prediction_table.rows > 0 and result.outputs.predictions_uri
    store = ObjectStore.from_settings(harness.settings)
    predictions = pq.read_table(store.local_path(result.outputs.predictions_uri))
    assert predictions.num_rows == result.outputs.rows
    assert predictions.column_names == ["customer_id", "anchor_time", "score"]
    assert "embeddings.parquet" in result.outputs.files
    # The stores were released by their only holder, and so stopped.
    from graph_engine.service.launch import server_names, server_status

    for name in server_names(harness.settings):
        status = server_status(harness.settings, name)
        assert status is None or not status.running, name


def test_an_update_reingests_only_the_table_with_new_rows_then_retrains_and_predicts(harness: Harness,
                                                                                    trained: Trained,
                                                                                    tmp_path: Path):
    orders = tmp_path / "orders"
    orders.mkdir()
    table = pq.read_table(harness.raw / "orders.parquet")
    pq.write_table(table, orders / "part-0.parquet")
    # The orders now come from a folder: a first update ingests it and builds that graph.
    first = harness.result(harness.start(IncrementalUpdateWorkflow.run, IncrementalUpdateInput(
        schema=harness.schema, tables=harness.sources(orders=orders.as_uri())), f"pq-update-{uuid.uuid4().hex[:8]}"))
    assert first.graph.num_nodes["orders"] == table.num_rows
    # Five new orders arrive as a new file of the folder.
    newest = table.slice(table.num_rows - 5)
    ids = pa.array([i + 1 + max(table.column("order_id").to_pylist()) for i in range(5)], pa.int64())
    new_rows = newest.set_column(newest.schema.get_field_index("order_id"), "order_id", ids)
    pq.write_table(new_rows, orders / "part-1.parquet")
    # The rows the API makes for an update that retrains and predicts (see routes/graph_updates.py).
    with harness.database.session() as session:
        graph_id = session.get(PQuery, harness.pquery_id).graph_id
        training = TrainingJob(project_id=harness.project_id, pquery_id=harness.pquery_id, plan={},
                               run_mode="fast")
        session.add(training)
        session.flush()
        prediction = PredictionJob(project_id=harness.project_id, training_job_id=training.id)
        update = GraphUpdate(project_id=harness.project_id, graph_id=graph_id)
        session.add_all([prediction, update])
        session.flush()
        update.training_job_id, update.prediction_job_id = training.id, prediction.id
        session.commit()
        ids = {"update": update.id, "training": training.id, "prediction": prediction.id}
    tables = harness.sources(orders=orders.as_uri())
    request = IncrementalUpdateInput(
        schema=harness.schema, tables=tables, job_id=ids["update"],
        retrain=harness.train_input(ids["training"], CHURN, kind="train", tables=tables),
        predict=PredictInput(job_id=ids["prediction"], plan={}, schema=harness.schema, tables=tables, model_uri=""))
    handle = harness.start(IncrementalUpdateWorkflow.run, request, update_workflow_id(ids["update"]))
    result = harness.result(handle, 600)
    before = trained.results[0]
    assert result.changed_tables == ["orders"]
    assert result.table_uris["customers"] == before.table_uris["customers"] == first.table_uris["customers"]
    assert result.table_uris["orders"] != first.table_uris["orders"]
    assert result.graph.graph_uri != first.graph.graph_uri
    assert result.graph.num_nodes == {**before.graph.num_nodes, "orders": table.num_rows + 5}
    steps = _by_step(harness.progress(handle))
    assert steps["ingest:customers"]["status"] == "reused" and steps["ingest:orders"]["status"] == "done"
    assert steps["materialize_links"]["status"] == "done"
    assert steps["retrain"]["status"] == "done" and steps["predict"]["status"] == "done"
    # Only the new file was read, and only the new orders were encoded: the rest was copied.
    assert "5 new rows appended" in steps["ingest:orders"]["detail"]
    assert result.graph.mode == "incremental" and "updated incrementally" in steps["materialize_links"]["detail"]
    assert result.graph.work["nodes_encoded"] == 5 and result.graph.work["nodes_copied"] >= table.num_rows

    # The retrained GNN learnt from the updated graph, and the prediction used that new model.
    assert result.training.graph.graph_uri == result.graph.graph_uri
    assert result.training.selection.model_uri != before.selection.model_uri
    assert result.prediction.outputs.rows > 0
    with harness.database.session() as session:
        update, training = session.get(GraphUpdate, ids["update"]), session.get(TrainingJob, ids["training"])
        prediction = session.get(PredictionJob, ids["prediction"])
        assert update.status == JobStatus.SUCCEEDED.value and update.changed_tables == ["orders"]
        assert update.workflow_id == update_workflow_id(ids["update"]) and update.finished_at
        assert _by_step(update.progress)["predict"]["status"] == "done"
        assert training.status == JobStatus.SUCCEEDED.value
        assert training.model_uri == result.training.selection.model_uri and training.metrics["auroc"] is not None
        assert prediction.status == JobStatus.SUCCEEDED.value
        assert prediction.outputs["predictions"] == result.prediction.outputs.predictions_uri
    store = ObjectStore.from_settings(harness.settings)
    predictions = pq.read_table(store.local_path(result.prediction.outputs.predictions_uri))
    assert predictions.column_names == ["customer_id", "anchor_time", "score"]
