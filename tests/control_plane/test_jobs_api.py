"""The training-job and prediction-job routes against a real Temporal dev server.

A worker in this process serves the ``control`` queue only (the workflows, compiling and recording), so a
started job compiles, records its progress and then waits for the data engine's queue, which nobody serves
here: that is where these tests watch it and cancel it, without running Spark. Metrics, curves, trials and
the baseline are read from rows the workflows write; predictions are previewed and downloaded from a real
Parquet artifact in the store.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from control_plane.activities.control import ControlActivities
from control_plane.api.deps import get_settings
from control_plane.app import create_app
from control_plane.auth import create_first_admin_key
from control_plane.client import APIError, PQClient
from control_plane.db import Database
from control_plane.db.models import JobStatus, PredictionJob, TrainingJob, TrainingTrial
from control_plane.workflows.messages import TrainPQueryInput
from control_plane.workflows.task_queues import CONTROL
from control_plane.workflows.train_pquery import train_workflow_id
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore
from platform_core.settings import Settings
from services.worker import JOB_WORKFLOWS

pytestmark = pytest.mark.integration

T = TypeVar("T")
CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id"


def _tool(name: str) -> str:
    import sys

    path = Path(sys.executable).with_name(name)
    if not path.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable}")
    return str(path)


def wait_for(condition: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Stack:
    api: PQClient
    http: TestClient
    settings: Settings
    database: Database
    temporal: Client
    loop: asyncio.AbstractEventLoop
    project_id: str
    pquery_id: str

    def run(self, coro: Awaitable[T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("jobs-api")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    executor = ThreadPoolExecutor(8)

    def run(coro, timeout=120):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    env = run(WorkflowEnvironment.start_local(dev_server_existing_path=_tool("temporal"), dev_server_log_level="error"))
    settings = Settings(home=root / "home", database_url=f"sqlite:///{root / 'meta.db'}",
                        temporal_address=env.client.service_client.config.target_host)
    key = create_first_admin_key(settings)
    control = ControlActivities(settings)

    async def make_worker() -> Worker:
        return Worker(env.client, task_queue=CONTROL, workflows=list(JOB_WORKFLOWS), activities=control.activities(),
                      activity_executor=executor)

    worker = run(make_worker())
    worker_task = asyncio.run_coroutine_threadsafe(worker.run(), loop)
    database = Database(settings.database_url)
    app = create_app(settings)
    try:
        with TestClient(app) as http:
            api = PQClient("http://testserver", key, transport=http._transport)
            data = root / "raw"
            (data / "orders").mkdir(parents=True)
            (data / "customers.csv").write_text("customer_id,segment\n1,gold\n2,silver\n")
            (data / "orders" / "part-0.csv").write_text("order_id,customer_id,price,created_at\n1,1,9.5,2024-01-02\n")
            project = api.create_project("jobs")
            connector = api.create_connector(project.id, "raw", str(data))
            api.create_table(project.id, "customers", connector.id, "customers.csv", primary_key="customer_id",
                             time_column="", columns=[{"name": "customer_id", "stype": "ID", "dtype": "int64"},
                                                      {"name": "segment", "stype": "categorical"}])
            api.create_table(project.id, "orders", connector.id, "orders", primary_key="order_id",
                             time_column="created_at", format_options={"format": "csv"},
                             columns=[{"name": "order_id", "stype": "ID", "dtype": "int64"},
                                      {"name": "customer_id", "stype": "ID", "dtype": "int64"},
                                      {"name": "price", "stype": "numerical", "dtype": "float64"},
                                      {"name": "created_at", "stype": "timestamp", "date_format": "yyyy-MM-dd"}])
            graph = api.create_graph(project.id, "retail", ["customers", "orders"],
                                     [{"source_table": "orders", "source_column": "customer_id",
                                       "target_table": "customers"}])
            pquery = api.create_pquery(project.id, "churn", graph.id, CHURN)
            yield Stack(api, http, settings, database, env.client, loop, project.id, pquery.id)
    finally:
        async def stop():
            await worker.shutdown()
            await env.shutdown()
        run(stop())
        worker_task.result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        executor.shutdown(wait=False)
        control.close()
        database.dispose()


def _steps(job) -> dict[str, str]:
    return {p["step"]: p["status"] for p in job.progress}


def test_a_training_job_starts_its_workflow_reports_progress_and_cancels(stack: Stack):
    job = stack.api.start_training_job(stack.project_id, stack.pquery_id, run_mode="fast",
                                       split={"validation_start": "2024-01-01T00:00:00Z",
                                              "holdout_start": "2024-02-01T00:00:00Z"})
    assert job.status in ("queued", "running") and job.run_mode == "fast"
    assert job.split["validation_start"].startswith("2024-01-01")
    with stack.database.session() as session:
        assert session.get(TrainingJob, job.id).workflow_id == train_workflow_id(job.id)

    handle = stack.temporal.get_workflow_handle(train_workflow_id(job.id))
    started: TrainPQueryInput = stack.run(_workflow_input(handle, TrainPQueryInput))
    assert started.job_id == job.id and started.query == CHURN and started.run_mode == "fast"
    assert [t.name for t in started.tables] == ["customers", "orders"]
    orders = next(t for t in started.tables if t.name == "orders")
    assert orders.source_uri.endswith("/orders") and orders.options["time_column"] == "created_at"
    assert orders.options["columns"]["created_at"]["date_format"] == "yyyy-MM-dd"
    assert set(started.schema["tables"]) == {"customers", "orders"}

    # It compiles, then waits for the data engine (no data worker here): ingestion shows as running.
    running = wait_for(lambda: (j := stack.api.get_training_job(stack.project_id, job.id))
                       and _steps(j).get("ingest:orders") == "running" and j, 180, "ingestion to start")
    assert running.status == "running" and _steps(running)["compile"] == "done" and running.started_at

    cancelled = stack.api.cancel_training_job(stack.project_id, job.id)
    assert cancelled.cancel_requested_at is not None
    final = stack.api.wait_training_job(stack.project_id, job.id, timeout=60, poll=0.2)
    assert final.status == "cancelled" and final.finished_at is not None
    assert _steps(final)["ingest:orders"] == "cancelled" and _steps(final)["train"] == "skipped"
    # The workflow records its final status before Temporal closes it as cancelled: a moment apart.
    wait_for(lambda: stack.run(handle.describe()).status == WorkflowExecutionStatus.CANCELED, 30,
             "the workflow closed as cancelled")
    with pytest.raises(APIError) as again:
        stack.api.cancel_training_job(stack.project_id, job.id)
    assert again.value.status == 409


async def _workflow_input(handle, kind: type[T]) -> T:
    from temporalio.api.enums.v1 import EventType

    history = await handle.fetch_history()
    first = history.events[0]
    assert first.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    payloads = first.workflow_execution_started_event_attributes.input.payloads
    return (await handle._client.data_converter.decode(payloads, [kind]))[0]


def test_bad_training_requests_are_refused_with_their_reason(stack: Stack):
    with pytest.raises(APIError) as unknown:
        stack.api.start_training_job(stack.project_id, "0" * 32)
    assert unknown.value.status == 422 and "not found" in unknown.value.detail
    with pytest.raises(APIError) as split:
        stack.api.start_training_job(stack.project_id, stack.pquery_id,
                                     split={"validation_start": "2024-03-01", "holdout_start": "2024-02-01"})
    assert split.value.status == 422 and "must come before" in split.value.detail
    response = stack.http.post(f"/v1/projects/{stack.project_id}/training-jobs",
                               headers=stack.api._http.headers, json={"pquery_id": stack.pquery_id,
                                                                       "run_mode": "slowest"})
    assert response.status_code == 422


def test_an_unreachable_temporal_answers_503_and_fails_the_job(stack: Stack):
    elsewhere = Settings(**{**stack.settings.model_dump(), "temporal_address": "127.0.0.1:9"})
    stack.http.app.dependency_overrides[get_settings] = lambda: elsewhere
    try:
        with pytest.raises(APIError) as failure:
            stack.api.start_training_job(stack.project_id, stack.pquery_id)
    finally:
        stack.http.app.dependency_overrides.clear()
    assert failure.value.status == 503 and "127.0.0.1:9" in failure.value.detail


def _seed_trained(stack: Stack) -> str:
    with stack.database.session() as session:
        job = TrainingJob(project_id=stack.project_id, pquery_id=stack.pquery_id, plan={}, run_mode="fast",
                          status=JobStatus.SUCCEEDED.value, chosen_trial_number=1, model_uri="file:///models/m",
                          metrics={"selection_metric": "auroc", "auroc": 0.8, "accuracy": 0.7},
                          baseline={"auroc": 0.75, "accuracy": 0.72})
        job.trials = [TrainingTrial(number=0, status="succeeded", params={"lr": 0.01}, metrics={"auroc": 0.78},
                                    curves={"loss": [0.9, 0.8]}),
                      TrainingTrial(number=1, status="succeeded", params={"lr": 0.003}, metrics={"auroc": 0.8},
                                    curves={"loss": [0.7, 0.5]})]
        session.add(job)
        session.commit()
        return job.id


def test_metrics_curves_trials_and_baseline_of_a_finished_job(stack: Stack):
    job_id = _seed_trained(stack)
    metrics = stack.api.training_metrics(stack.project_id, job_id)
    assert metrics["selection_metric"] == "auroc" and metrics["chosen_trial_number"] == 1
    assert metrics["model"] == {"auroc": 0.8, "accuracy": 0.7} and metrics["baseline"]["auroc"] == 0.75
    rows = {r["metric"]: r for r in metrics["comparison"]}
    assert rows["auroc"]["lift"] == pytest.approx(0.05) and rows["accuracy"]["lift"] == pytest.approx(-0.02)
    assert stack.api.training_curves(stack.project_id, job_id) == {"trial_number": 1,
                                                                   "curves": {"loss": [0.7, 0.5]}}
    assert stack.api.training_curves(stack.project_id, job_id, trial=0)["curves"] == {"loss": [0.9, 0.8]}
    assert [t.number for t in stack.api.list_trials(stack.project_id, job_id).items] == [0, 1]
    assert stack.api.training_baseline(stack.project_id, job_id)["metrics"]["accuracy"] == 0.72
    with pytest.raises(APIError) as missing:
        stack.api.training_curves(stack.project_id, job_id, trial=7)
    assert missing.value.status == 404


def test_a_prediction_job_needs_a_trained_model_then_starts_and_cancels(stack: Stack):
    with stack.database.session() as session:
        running = TrainingJob(project_id=stack.project_id, pquery_id=stack.pquery_id, plan={}, run_mode="fast",
                              status=JobStatus.RUNNING.value)
        session.add(running)
        session.commit()
        running_id = running.id
    with pytest.raises(APIError) as untrained:
        stack.api.start_prediction_job(stack.project_id, running_id)
    assert untrained.value.status == 409 and "no model" in untrained.value.detail

    trained_id = _seed_trained(stack)
    pquery = stack.api.get_pquery(stack.project_id, stack.pquery_id)
    with stack.database.session() as session:
        session.get(TrainingJob, trained_id).plan = pquery.plan
        session.commit()
    job = stack.api.start_prediction_job(stack.project_id, trained_id, anchor_time="2024-01-05T00:00:00Z")
    assert job.anchor_time.isoformat().startswith("2024-01-05") and job.training_job_id == trained_id
    wait_for(lambda: _steps(stack.api.get_prediction_job(stack.project_id, job.id)).get("ingest:orders")
             == "running", 180, "the prediction job's ingestion")
    stack.api.cancel_prediction_job(stack.project_id, job.id)
    final = stack.api.wait_prediction_job(stack.project_id, job.id, timeout=60, poll=0.2)
    assert final.status == "cancelled" and _steps(final)["predict"] == "skipped"


def test_predictions_preview_and_download_as_parquet_and_csv(stack: Stack, tmp_path: Path):
    store = ObjectStore.from_settings(stack.settings)
    table = pa.table({"customer_id": pa.array(range(50), pa.int64()),
                      "score": pa.array([i / 50 for i in range(50)], pa.float64())})
    with ArtifactStore(store).writer("jobs/seeded/predictions", producer="test") as writer:
        writer.write_table("predictions.parquet", table)
    uri = store.uri("jobs/seeded/predictions/predictions.parquet")
    trained_id = _seed_trained(stack)
    with stack.database.session() as session:
        job = PredictionJob(project_id=stack.project_id, training_job_id=trained_id, status="succeeded",
                            outputs={"predictions": uri, "rows": 50})
        pending = PredictionJob(project_id=stack.project_id, training_job_id=trained_id, status="running")
        session.add_all([job, pending])
        session.commit()
        job_id, pending_id = job.id, pending.id

    preview = stack.api.preview_predictions(stack.project_id, job_id, limit=3)
    assert preview == {"status": "succeeded", "columns": ["customer_id", "score"], "total_rows": 50,
                       "rows": [{"customer_id": i, "score": i / 50} for i in range(3)]}
    parquet = stack.api.download_predictions(stack.project_id, job_id, tmp_path / "p.parquet")
    assert pq.read_table(parquet).equals(table)
    csv = stack.api.download_predictions(stack.project_id, job_id, tmp_path / "p.csv", format="csv")
    assert pacsv.read_csv(io.BytesIO(csv.read_bytes())).equals(table)
    assert stack.api.preview_predictions(stack.project_id, pending_id) == {"status": "running", "columns": [],
                                                                           "rows": [], "total_rows": None}
    with pytest.raises(APIError) as refused:
        stack.api.download_predictions(stack.project_id, pending_id, tmp_path / "never.parquet")
    assert refused.value.status == 409 and not (tmp_path / "never.parquet").exists()



def test_a_graph_update_queues_its_retraining_and_prediction_and_cancels_them_with_it(stack: Stack):
    graph_id = stack.api.get_pquery(stack.project_id, stack.pquery_id).graph_id
    update = stack.api.start_graph_update(stack.project_id, graph_id, pquery_id=stack.pquery_id, run_mode="fast")
    assert update.status in ("queued", "running") and update.graph_id == graph_id
    assert update.training_job_id and update.prediction_job_id
    training = stack.api.get_training_job(stack.project_id, update.training_job_id)
    prediction = stack.api.get_prediction_job(stack.project_id, update.prediction_job_id)
    assert training.status == "queued" and training.run_mode == "fast" and training.pquery_id == stack.pquery_id
    assert prediction.status == "queued" and prediction.training_job_id == training.id
    assert [u.id for u in stack.api.list_graph_updates(stack.project_id, graph_id=graph_id).items] == [update.id]

    handle = stack.temporal.get_workflow_handle(update.workflow_id)
    from control_plane.workflows.messages import IncrementalUpdateInput

    started = stack.run(_workflow_input(handle, IncrementalUpdateInput))
    assert started.job_id == update.id and [t.name for t in started.tables] == ["customers", "orders"]
    assert started.retrain.job_id == training.id and started.retrain.run_mode == "fast"
    assert started.predict.job_id == prediction.id

    # Ingestion waits for the data engine (no data worker here): the update shows it running.
    running = wait_for(lambda: (u := stack.api.get_graph_update(stack.project_id, update.id))
                       and _steps(u).get("ingest:orders") == "running" and u, 180, "the update's ingestion")
    assert running.status == "running" and running.started_at and _steps(running)["retrain"] == "pending"
    stack.api.cancel_graph_update(stack.project_id, update.id)
    final = stack.api.wait_graph_update(stack.project_id, update.id, timeout=60, poll=0.2)
    assert final.status == "cancelled" and _steps(final)["retrain"] == "skipped"
    # The workflow records its final status before Temporal closes it as cancelled: a moment apart.
    wait_for(lambda: stack.run(handle.describe()).status == WorkflowExecutionStatus.CANCELED, 30,
             "the workflow closed as cancelled")
    # The jobs it had queued never start: they are closed with it, saying why.
    for job in (stack.api.get_training_job(stack.project_id, training.id),
                stack.api.get_prediction_job(stack.project_id, prediction.id)):
        assert job.status == "cancelled" and update.id in job.error
    with pytest.raises(APIError) as again:
        stack.api.cancel_graph_update(stack.project_id, update.id)
    assert again.value.status == 409


def test_bad_graph_update_requests_are_refused_with_their_reason(stack: Stack):
    graph_id = stack.api.get_pquery(stack.project_id, stack.pquery_id).graph_id
    base = f"/v1/projects/{stack.project_id}/graph-updates"
    headers = stack.api._http.headers
    before = stack.api.list_graph_updates(stack.project_id, graph_id=graph_id).total
    response = stack.http.post(base, headers=headers, json={"graph_id": graph_id, "retrain": True})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "pquery_id"]
    response = stack.http.post(base, headers=headers, json={"graph_id": "0" * 32})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "graph_id"]
    other = stack.api.create_pquery(stack.project_id, "spend-no-model", graph_id,
                                    "PREDICT SUM(orders.price, 0, 30, days) FOR EACH customers.customer_id")
    with pytest.raises(APIError) as untrained:
        stack.api.start_graph_update(stack.project_id, graph_id, pquery_id=other.id, retrain=False)
    assert untrained.value.status == 409 and "no trained model" in untrained.value.detail
    assert stack.api.list_graph_updates(stack.project_id, graph_id=graph_id).total == before  # nothing half-made
