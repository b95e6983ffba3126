"""The main job end to end, as ``make main`` runs it: ``pq up`` (Temporal dev server, API, worker as real
processes on free ports), ``pq demo-data --format csv``, ``pq quickstart`` (everything through the REST
API: a folder of CSV files registered as tables with declared keys, time columns and links, a graph, a churn
and a recommendation query trained with a GNN beside the baseline, predictions), then ``pq down``.

The last test (browser tier) reads the results in the web console, in Debian's Chromium.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from control_plane.auth import create_project_key
from control_plane.client import PQClient
from control_plane.quickstart import PROJECT, QUERIES
from platform_core.object_store import ObjectStore
from platform_core.processes import free_ports
from platform_core.settings import load_settings

PQ = str(Path(sys.executable).with_name("pq"))
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def main_job(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("main-job")
    home = root / "home"
    api_port, temporal_port, ui_port = free_ports(3)
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
        yield settings, run.stdout, demo, env
    finally:
        down = pq_command("down", timeout=120)
        assert down.returncode == 0, down.stderr


@pytest.mark.e2e
def test_the_main_job_prints_metrics_beside_the_baseline_and_the_addresses(main_job):
    settings, out, _, _ = main_job
    for name in QUERIES:
        assert f"{name} (" in out and "holdout metrics" in out
    assert "auroc" in out and "map@10" in out and "GNN" in out and "baseline" in out
    assert f"console:     {settings.api_url}/" in out
    assert f"Temporal UI: {settings.temporal_ui_url}" in out
    assert "main job done" in out


@pytest.mark.e2e
def test_the_main_job_left_tables_graph_models_and_predictions_behind_the_api(main_job):
    settings, _, demo, _ = main_job
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
            trials = {t.number: t for t in PQClient.iterate(lambda **kw: api.list_trials(project_id, job.id, **kw))}
            assert set(trials) == {-1, 0}  # the baseline runs as trial -1 beside the AutoML trial
            assert trials[0].status.value == "succeeded" and trials[0].params.get("epochs") == 5
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


@contextlib.contextmanager
def signed_in_console(settings, key: str):
    """A Chromium page of the console, signed in with ``key``; yields (page, page errors)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (scripts/bootstrap does)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True).new_page()
            page.set_default_timeout(20_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(settings.api_url + "/")
            page.get_by_label("API key").fill(key)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_function("() => (document.getElementById('main').dataset.route || 'signin') !== 'signin'")
            yield page, errors
        finally:
            chromium.close()


@pytest.mark.browser
def test_the_console_shows_the_trained_model_its_metrics_and_predictions(main_job):
    settings, _, _, _ = main_job
    project_id, _, key = create_project_key(settings, PROJECT, name="console check")
    with PQClient(settings.api_url, key) as api:
        churn = next(p for p in PQClient.iterate(lambda **kw: api.list_pqueries(project_id, **kw)) if p.name == "churn")
        (job,) = list(PQClient.iterate(lambda **kw: api.list_training_jobs(project_id, pquery_id=churn.id, **kw)))
        (prediction,) = list(PQClient.iterate(
            lambda **kw: api.list_prediction_jobs(project_id, training_job_id=job.id, **kw)))
    with signed_in_console(settings, key) as (page, errors):
        page.get_by_role("link", name="Jobs", exact=True).click()
        page.get_by_role("link", name=f"Training job {job.id[:8]}").click()
        page.wait_for_function("r => document.getElementById('main').dataset.route === r",
                               arg=f"jobs/training/{job.id}")
        metrics = page.get_by_role("table", name="Holdout metrics: GNN and baseline")
        assert metrics.locator("tbody tr").count() == 4  # auroc, average precision, accuracy, f1
        assert "auroc" in metrics.locator("tbody tr").first.inner_text().lower()
        trials = page.get_by_role("table", name="AutoML trials")
        assert "chosen" in trials.locator("tbody tr", has_text="trial 0").inner_text()
        assert trials.locator("tbody tr", has_text="baseline").count() == 1
        plots = page.locator("section", has=page.get_by_role("heading", name="Holdout plots"))
        assert plots.locator("figure", has_text="ROC curve").locator("path.series").count() == 2
        link = page.get_by_role("link", name="Workflow in Temporal UI")
        assert link.get_attribute("href") == (f"{settings.temporal_ui_url}/namespaces/default/workflows/"
                                              f"{job.workflow_id}") and job.workflow_id
        page.screenshot(path=str(SHOTS / "21-main-job-training.png"), full_page=True)

        page.get_by_role("link", name=prediction.id[:8]).click()
        page.wait_for_function("r => document.getElementById('main').dataset.route === r",
                               arg=f"jobs/prediction/{prediction.id}")
        preview = page.get_by_role("table", name="First predictions")
        assert preview.locator("thead th").all_inner_texts() == ["customer_id", "anchor_time", "score"]
        assert preview.locator("tbody tr").count() == min(20, prediction.outputs["rows"])
        assert page.get_by_role("link", name="Workflow in Temporal UI").get_attribute("href").endswith(
            f"/workflows/{prediction.workflow_id}") and prediction.workflow_id
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").click()
        lines = Path(download.value.path()).read_text().strip().splitlines()
        assert lines[0].replace('"', "") == "customer_id,anchor_time,score"
        assert len(lines) == prediction.outputs["rows"] + 1
        page.screenshot(path=str(SHOTS / "22-main-job-predictions.png"), full_page=True)
        assert not errors, errors


SPEND_INVALID = "PREDICT SUM(orders.price, 0, 30, days)\nFOR EACH customer.customer_id"
SPEND = "PREDICT SUM(orders.price, 0, 30, days)\nFOR EACH customers.customer_id"


@pytest.mark.browser
def test_a_query_typed_in_the_console_trains_live_then_predicts_and_downloads(main_job):
    """Everything from the console against the live stack: no job exists for this query before it."""
    settings, _, _, _ = main_job
    project_id, _, key = create_project_key(settings, PROJECT, name="console training")
    with signed_in_console(settings, key) as (page, errors):
        page.goto(settings.api_url + "/#/query")
        page.wait_for_function("() => document.getElementById('main').dataset.route === 'query'")
        editor = page.get_by_label("Predictive query (PQL)")
        editor.fill(SPEND_INVALID)
        page.locator(".pql-error").first.wait_for()
        assert "did you mean customers?" in page.locator(".pql-hint").inner_text()
        editor.fill(SPEND)
        page.locator("[data-task-type='regression']").wait_for()
        page.get_by_label("Query name").fill("spend")
        page.get_by_role("button", name="Save query").click()
        page.get_by_text("Saved as spend.").wait_for()
        assert page.get_by_label("Run mode").input_value() == "fast"
        page.get_by_role("button", name="Start training").click()
        page.wait_for_function("() => (document.getElementById('main').dataset.route || '')"
                               ".startsWith('jobs/training/')")
        job_id = page.evaluate("() => document.getElementById('main').dataset.route").rsplit("/", 1)[1]
        # The page follows the workflow live: steps turn running, then done.
        page.locator(".step-running").first.wait_for(timeout=120_000)
        page.screenshot(path=str(SHOTS / "23-console-training-live.png"), full_page=True)
        page.get_by_role("button", name="Predict").wait_for(timeout=900_000)
        metrics = page.get_by_role("table", name="Holdout metrics: GNN and baseline")
        assert "mae" in metrics.inner_text().lower()
        plots = page.locator("section", has=page.get_by_role("heading", name="Holdout plots"))
        assert plots.locator("figure", has_text="Predicted vs actual").count() >= 1
        assert page.locator(".step-failed").count() == 0
        page.screenshot(path=str(SHOTS / "24-console-training-done.png"), full_page=True)

        page.get_by_role("button", name="Predict").click()
        page.wait_for_function("() => (document.getElementById('main').dataset.route || '')"
                               ".startsWith('jobs/prediction/')")
        preview = page.get_by_role("table", name="First predictions")
        preview.wait_for(timeout=600_000)
        assert preview.locator("thead th").all_inner_texts() == ["customer_id", "anchor_time", "prediction"]
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").click()
        lines = Path(download.value.path()).read_text().strip().splitlines()
        assert lines[0].replace('"', "") == "customer_id,anchor_time,prediction" and len(lines) > 1
        page.screenshot(path=str(SHOTS / "25-console-predictions.png"), full_page=True)
        assert not errors, errors
    with PQClient(settings.api_url, key) as api:
        job = api.get_training_job(project_id, job_id)
        assert job.status.value == "succeeded" and job.run_mode == "fast" and job.metrics["mae"] >= 0


@pytest.mark.e2e
def test_the_pq_query_commands_validate_train_predict_and_report_through_the_api(main_job, tmp_path):
    settings, _, demo, env = main_job
    _, _, key = create_project_key(settings, PROJECT, name="cli check")
    env = {**env, "PQ_API_KEY": key}

    def pq_command(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([PQ, *args], env=env, capture_output=True, text=True, timeout=timeout)

    churn = QUERIES["churn"]
    valid = pq_command("query", "validate", "--project", PROJECT, churn)
    assert valid.returncode == 0 and "binary_classification for each customers.customer_id" in valid.stdout
    typo = pq_command("query", "validate", "--project", PROJECT, churn.replace("customers.customer_id", "customer.id"))
    assert typo.returncode == 2 and typo.stderr.startswith("pq: error: the API refused: Invalid predictive query")
    assert "unknown table customer" in typo.stderr and "(line 1, column" in typo.stderr
    assert len(typo.stderr.strip().splitlines()) == 1
    assert "training_table" in pq_command("query", "explain", "--project", PROJECT, churn).stdout
    other = pq_command("query", "train", "--project", PROJECT, "--name", "churn", "PREDICT customers.age FOR EACH "
                       "customers.customer_id")
    assert other.returncode == 2 and "exists with another text" in other.stderr

    trained = pq_command("query", "train", "--project", PROJECT, "--name", "churn", "--run-mode", "fast", churn,
                         timeout=900)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "churn: holdout metrics" in trained.stdout and "auroc" in trained.stdout
    job_id = trained.stdout.split("training job ", 1)[1].split()[0]
    report = pq_command("query", "status", "--project", PROJECT, job_id)
    assert report.returncode == 0 and f"job {job_id}: succeeded" in report.stdout and "select" in report.stdout

    out = tmp_path / "churn.csv"
    scored = pq_command("query", "predict", "--project", PROJECT, job_id, "--out", str(out), timeout=600)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert "first predictions" in scored.stdout and out.read_text().splitlines()[0].replace('"', "") == \
        "customer_id,anchor_time,score"

    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "users.csv").write_text("user_id,name\n1,a\n2,b\n")
    (folder / "visits.csv").write_text("visit_id,user_id,at\n1,1,2024-01-01\n2,2,2024-01-02\n")
    # A member key sees only its project (making projects takes an admin key): one of a new project.
    _, _, files_key = create_project_key(settings, "cli-files", name="cli files")
    connected = pq_command("connect", str(folder), "--project", "cli-files", "--graph", "visits", "--key", files_key)
    assert connected.returncode == 0, connected.stderr
    assert "graph visits" in connected.stdout and "2 tables" in connected.stdout
    assert pq_command("connect", str(tmp_path / "nowhere"), "--project", "cli-files").returncode == 2
    refused = pq_command("connect", str(folder), "--project", "another")
    assert refused.returncode == 2 and "needs an admin API key" in refused.stderr
    assert pq_command("query", "status", "--project", PROJECT, job_id, "--key", "pq_wrong").returncode == 2

    # New orders arrive: `pq refresh` brings the graph up to date (only orders is ingested again) and scores
    # churn again with its latest model.
    orders = demo / "orders.csv"
    last = orders.read_text().strip().splitlines()[-3:]
    top = max(int(line.split(",", 1)[0]) for line in last)
    with orders.open("a") as out:
        for i, line in enumerate(last, start=1):
            out.write(f"{top + i},{line.split(',', 1)[1]}\n")
    refreshed = pq_command("refresh", "--project", PROJECT, "--query", "churn", "--no-retrain", timeout=900)
    assert refreshed.returncode == 0, refreshed.stderr[-3000:]
    assert "changed tables: orders" in refreshed.stdout and "predictions at" in refreshed.stdout
