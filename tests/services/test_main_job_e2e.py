"""The main job end to end, as ``make main`` runs it: ``pq up`` (Temporal dev server, API, worker as real
processes on free ports), ``pq demo-data --format csv``, ``pq quickstart`` (everything through the REST
API: a folder of CSV files registered as tables with declared keys, time columns and links, a graph, a churn
and a recommendation query trained with a GNN beside the baseline, predictions), then ``pq down``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from control_plane.auth import create_project_key
from control_plane.client import PQClient
from control_plane.quickstart import PROJECT, QUERIES
from platform_core.object_store import ObjectStore
from platform_core.settings import load_settings

pytestmark = pytest.mark.e2e

PQ = str(Path(sys.executable).with_name("pq"))


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def main_job(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("main-job")
    home = root / "home"
    api_port, temporal_port, ui_port = _free_ports(3)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PQ_")}
    env.update(PQ_HOME=str(home), PQ_API_PORT=str(api_port), PQ_TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
               PQ_TEMPORAL_UI_PORT=str(ui_port), PQ_STARTUP_TIMEOUT_S="120", COLUMNS="200")

    def pq_command(*args: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run([PQ, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=root)

    up = pq_command("up", timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        demo = home / "demo"
        made = pq_command("demo-data", "--scale", "0.02", "--seed", "11", "--format", "csv", "--out", str(demo),
                          timeout=300)
        assert made.returncode == 0, made.stderr
        run = pq_command("quickstart", "--data", str(demo), "--timeout", "900", timeout=1500)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        saved = dict(os.environ)
        os.environ.update({k: v for k, v in env.items() if k.startswith("PQ_")})
        try:
            settings = load_settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        yield settings, run.stdout, demo
    finally:
        down = pq_command("down", timeout=120)
        assert down.returncode == 0, down.stderr


def test_the_main_job_prints_metrics_beside_the_baseline_and_the_addresses(main_job):
    settings, out, _ = main_job
    for name in QUERIES:
        assert f"{name} (" in out and "holdout metrics" in out
    assert "auroc" in out and "map@10" in out and "GNN" in out and "baseline" in out
    assert f"console:     {settings.api_url}/" in out
    assert f"Temporal UI: {settings.temporal_ui_url}" in out
    assert "main job done" in out


def test_the_main_job_left_tables_graph_models_and_predictions_behind_the_api(main_job):
    settings, _, demo = main_job
    project_id, _, key = create_project_key(settings, PROJECT, name="e2e check")
    schema = json.loads((demo / "schema.json").read_text())
    store = ObjectStore.from_settings(settings)
    with PQClient(settings.api_url, key) as api:
        tables = {t.name: t for t in PQClient.iterate(lambda **kw: api.list_tables(project_id, **kw))}
        assert set(tables) == set(schema["tables"])
        for name, declared in schema["tables"].items():
            assert tables[name].source_uri.endswith(f"{name}.csv")
            # The API answers "" for a table declared without a key or a time column.
            assert (tables[name].primary_key or None) == declared["primary_key"]
            assert (tables[name].time_column or None) == declared["time_column"]
            # Ingestion filled in what it found: rows, semantic types and the profile's statistics.
            assert tables[name].status.value == "ready" and tables[name].row_count > 0
            assert tables[name].inferred["stypes"] and tables[name].statistics
        (graph,) = list(PQClient.iterate(lambda **kw: api.list_graphs(project_id, **kw)))
        links = {(link.source_table, link.source_column, link.target_table) for link in graph.links}
        assert links == {(link["table"], link["column"], link["to"]) for link in schema["links"]}

        pqueries = {p.name: p for p in PQClient.iterate(lambda **kw: api.list_pqueries(project_id, **kw))}
        assert {pqueries[name].task_type for name in QUERIES} == {"binary_classification", "link_prediction"}
        for name, pquery in pqueries.items():
            (job,) = list(PQClient.iterate(lambda **kw: api.list_training_jobs(project_id, pquery_id=pquery.id, **kw)))
            assert job.status.value == "succeeded" and job.model_uri
            metrics = api.training_metrics(project_id, job.id)
            metric = metrics["selection_metric"]
            assert metric in metrics["model"] and metric in metrics["baseline"]
            (trial,) = list(PQClient.iterate(lambda **kw: api.list_trials(project_id, job.id, **kw)))
            assert trial.status.value == "succeeded" and trial.params.get("epochs")
            (prediction,) = list(PQClient.iterate(
                lambda **kw: api.list_prediction_jobs(project_id, training_job_id=job.id, **kw)))
            assert prediction.status.value == "succeeded" and prediction.outputs["rows"] > 0
            table = pq.read_table(store.local_path(prediction.outputs["predictions"]))
            assert table.num_rows == prediction.outputs["rows"] and "customer_id" in table.column_names
            if pquery.task_type == "link_prediction":
                assert all(len(items) == 10 for items in table.column("predicted").to_pylist())
            else:
                scores = table.column("score").to_numpy()
                assert ((scores >= 0) & (scores <= 1)).all()
