"""The main job, through the REST API only: a folder of demo files becomes tables, a graph, two predictive
queries (churn and product recommendation), trained models beside their baselines, and predictions.

Used by ``pq quickstart`` (the README's first command), ``bench/e2e.py`` and the end-to-end test; each
stage is timed. Re-running on the same platform reuses the project and what was registered in it.

Example::

    with PQClient("http://127.0.0.1:8000", key) as api:
        report = run_quickstart(api, Path(".pq/demo"), on_event=print)
        report.seconds  # {"register": ..., "train": ..., "predict": ..., "total": ...}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from control_plane.client import APIError, PQClient
from data_engine.demo_data.schema import TAG_SEPARATOR
from platform_core.errors import UserFacingError

__all__ = ["QUERIES", "QuickstartError", "QuickstartReport", "QueryOutcome", "run_quickstart", "register_folder",
           "table_files", "wait_for_job"]

#: The demo's predictive queries: name -> PQL.
QUERIES = {
    "churn": "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id "
             "WHERE COUNT(orders.*, -90, 0, days) > 0",
    "next_products": "PREDICT LIST_DISTINCT(orders.product_id, 0, 30, days) RANK TOP 10 "
                     "FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0",
}
PROJECT = "demo"
_FORMATS = {".csv": "csv", ".parquet": "parquet"}


class QuickstartError(UserFacingError):
    """The main job could not run: missing demo files, or a job that failed (the message says which)."""


@dataclass
class QueryOutcome:
    """What one query produced.

    Attributes:
        name, text: the query.
        task_type: its task.
        training_job_id, prediction_job_id: the jobs.
        comparison: rows ``{"metric", "model", "baseline", "lift"}`` on holdout.
        predictions_uri: where the predictions are.
        predicted_rows: how many entities were scored.
        preview: the first rows of the predictions.
    """

    name: str
    text: str
    task_type: str = ""
    training_job_id: str = ""
    prediction_job_id: str = ""
    comparison: list[dict[str, Any]] = field(default_factory=list)
    predictions_uri: str | None = None
    predicted_rows: int | None = None
    preview: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class QuickstartReport:
    """The main job's results and the seconds of each stage (``register``, ``train``, ``predict``, ``total``)."""

    project_id: str
    graph_id: str
    queries: list[QueryOutcome]
    seconds: dict[str, float] = field(default_factory=dict)


def _find(items, name: str):
    return next((item for item in PQClient.iterate(items) if item.name == name), None)


def table_files(folder: Path) -> dict[str, tuple[str, str]]:
    """The tables of a folder: ``<name>.csv`` or ``<name>.parquet`` (a file) -> (path, format)."""
    found: dict[str, tuple[str, str]] = {}
    for path in sorted(folder.iterdir()):
        fmt = _FORMATS.get(path.suffix.lower())
        if fmt is not None and path.is_file():
            found.setdefault(path.stem, (path.name, fmt))
    return found


def register_folder(api: PQClient, project_id: str, folder: Path, *, schema: dict[str, Any] | None = None,
                    connector: str = "files", graph: str = "graph") -> str:
    """Register a folder of CSV / Parquet files: a connector, one table per file, and a graph over them.

    Args:
        api: the client.
        project_id: the project.
        folder: the folder (readable by the platform).
        schema: a graph schema (``schema.json``: keys, time columns, semantic types, links) for the tables;
            without one, keys and time columns are detected and the links are the API's suggestions.
        connector, graph: their names; what already has those names (and tables already registered) is kept.

    Returns:
        The graph's id.

    Raises:
        QuickstartError: a schema table without a file in the folder, or a folder without tables.
    """
    files = table_files(folder)
    names = list(schema["tables"]) if schema else list(files)
    missing = [name for name in names if name not in files]
    if missing or not names:
        raise QuickstartError(f"no {', '.join(f'{n}.csv or {n}.parquet' for n in missing) or 'CSV or Parquet file'} "
                              f"in {folder}")
    found = (_find(lambda **kw: api.list_connectors(project_id, **kw), connector)
             or api.create_connector(project_id, connector, str(folder.resolve())))
    existing = {t.name for t in PQClient.iterate(lambda **kw: api.list_tables(project_id, **kw))}
    for name in names:
        if name in existing:
            continue
        path, fmt = files[name]
        declared = (schema or {}).get("tables", {}).get(name)
        if declared is None:
            api.create_table(project_id, name, found.id, path, format_options={"format": fmt})
            continue
        columns = [{"name": column, "stype": stype,
                    **({"separator": TAG_SEPARATOR} if stype == "multicategorical" and fmt == "csv" else {})}
                   for column, stype in declared["columns"].items()]
        api.create_table(project_id, name, found.id, path, columns=columns,
                         primary_key=declared.get("primary_key") or "", time_column=declared.get("time_column") or "",
                         format_options={"format": fmt})
    made = _find(lambda **kw: api.list_graphs(project_id, **kw), graph)
    if made is not None:
        return made.id
    if schema:
        links = [{"source_table": link["table"], "source_column": link["column"], "target_table": link["to"]}
                 for link in schema["links"]]
    else:
        links = [{"source_table": s.source_table, "source_column": s.source_column, "target_table": s.target_table}
                 for s in api.suggest_links(project_id, names)]
    return api.create_graph(project_id, graph, names, links).id


def _register(api: PQClient, folder: Path) -> tuple[str, str, dict[str, str]]:
    """Project, connector, tables, graph and pqueries (those already there are kept). Returns their ids."""
    schema_file = folder / "schema.json"
    if not schema_file.exists():
        raise QuickstartError(f"no schema.json in {folder} (run `pq demo-data --out {folder}` first)")
    schema = json.loads(schema_file.read_text())
    project = _find(api.list_projects, PROJECT) or api.create_project(PROJECT, "The e-commerce demo")
    graph_id = register_folder(api, project.id, folder, schema=schema, connector="demo-files", graph="retail")
    pqueries = {}
    for name, text in QUERIES.items():
        found = _find(lambda **kw: api.list_pqueries(project.id, **kw), name)
        pqueries[name] = (found or api.create_pquery(project.id, name, graph_id, text)).id
    return project.id, graph_id, pqueries


def wait_for_job(get: Callable[[], Any], on_event: Callable[[str], None], what: str, timeout: float) -> Any:
    """Poll a job until it finishes, reporting each step that changes state."""
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while True:
        job = get()
        for step in job.progress:
            if seen.get(step["step"], "pending") != step["status"]:
                seen[step["step"]] = step["status"]
                detail = f" ({step['detail']})" if step.get("detail") else ""
                on_event(f"{what}: {step['step']} {step['status']}{detail}")
        if job.status.value in ("succeeded", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            raise QuickstartError(f"{what} did not finish within {timeout:.0f} s (status {job.status.value})")
        time.sleep(1.0)


def run_quickstart(api: PQClient, folder: Path, *, run_mode: str = "fast", timeout_s: float = 3600.0,
                   on_event: Callable[[str], None] = lambda message: None) -> QuickstartReport:
    """Run the main job against a running platform.

    Args:
        api: a client with an admin key (or one of the ``demo`` project).
        folder: the demo files (``<table>.csv`` or ``.parquet`` and ``schema.json``), readable by the platform.
        run_mode: the AutoML run mode of both trainings.
        timeout_s: the longest each training and prediction may take.
        on_event: called with one line per step change.

    Returns:
        The :class:`QuickstartReport`.

    Raises:
        QuickstartError: missing files, or a job that failed.
        APIError: the platform refused a request.
    """
    start = time.monotonic()
    project_id, graph_id, pqueries = _register(api, folder)
    registered = time.monotonic()
    on_event(f"registered project {project_id}: {len(pqueries)} queries on graph {graph_id}")
    outcomes = {name: QueryOutcome(name, QUERIES[name]) for name in pqueries}
    jobs = {name: api.start_training_job(project_id, pquery_id, run_mode=run_mode)
            for name, pquery_id in pqueries.items()}
    for name, job in jobs.items():
        done = wait_for_job(lambda: api.get_training_job(project_id, job.id), on_event, f"train {name}", timeout_s)
        if done.status.value != "succeeded":
            raise QuickstartError(f"training {name} {done.status.value}: {done.error}")
        metrics = api.training_metrics(project_id, job.id)
        outcome = outcomes[name]
        outcome.training_job_id, outcome.comparison = job.id, list(metrics.get("comparison") or [])
        outcome.task_type = api.get_pquery(project_id, pqueries[name]).task_type or ""
    trained = time.monotonic()
    predictions = {name: api.start_prediction_job(project_id, outcomes[name].training_job_id) for name in pqueries}
    for name, job in predictions.items():
        done = wait_for_job(lambda: api.get_prediction_job(project_id, job.id), on_event, f"predict {name}", timeout_s)
        if done.status.value != "succeeded":
            raise QuickstartError(f"predicting {name} {done.status.value}: {done.error}")
        outcome = outcomes[name]
        outcome.prediction_job_id = job.id
        outcome.predictions_uri = (done.outputs or {}).get("predictions")
        outcome.predicted_rows = (done.outputs or {}).get("rows")
        try:
            outcome.preview = api.preview_predictions(project_id, job.id, limit=3)["rows"]
        except APIError:
            outcome.preview = []
    end = time.monotonic()
    seconds = {"register": registered - start, "train": trained - registered, "predict": end - trained,
               "total": end - start}
    return QuickstartReport(project_id, graph_id, list(outcomes.values()), seconds)
