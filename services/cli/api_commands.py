"""``pq connect``, ``pq query ...`` and ``pq refresh``: the platform through its REST API (a running stack: ``pq up``).

The API key comes from ``--key`` or ``PQ_API_KEY`` (``pq up`` prints the first admin key; ``pq keys create``
makes more); the address from the settings (``PQ_API_HOST``, ``PQ_API_PORT``). Every refusal of the API
(an invalid query with its line and column, an unknown project...) is one line, exit status 2.

    pq connect ./shop --project shop --schema ./shop/schema.json
    pq query validate --project shop "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id"
    pq query train --project shop --name churn "PREDICT ..."      # progress bar, then holdout metrics
    pq query predict --project shop TRAINING_JOB_ID --out churn.parquet
    pq refresh --project shop --query churn        # new source rows: update the graph, retrain, re-predict
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from platform_core.errors import UserFacingError
from platform_core.settings import load_settings

query_app = typer.Typer(help="Validate, explain, train and apply predictive queries on the running platform.",
                        no_args_is_help=True)

KeyOption = Annotated[Optional[str], typer.Option("--key", help="API key (default: $PQ_API_KEY).")]
ProjectOption = Annotated[str, typer.Option("--project", "-p", help="Project name or id.")]
GraphOption = Annotated[Optional[str], typer.Option("--graph", "-g", help="Graph name or id (default: the "
                                                                            "project's only graph).")]


class ApiCommandError(UserFacingError):
    """A ``pq`` API command cannot go on: no key, an unknown project or graph, a refused request, a failed job."""


class _Api:
    """A client with the key and address from the options and settings; API refusals become one line."""

    def __init__(self, key: str | None) -> None:
        from control_plane.client import PQClient

        self.settings = load_settings()
        token = key or self.settings.api_key
        if not token:
            raise ApiCommandError("no API key: give --key or set PQ_API_KEY (`pq keys create` makes one)")
        self.client = PQClient(self.settings.api_url, token)

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb) -> None:
        from control_plane.client import APIError

        self.client.close()
        if isinstance(exc, APIError):
            raise ApiCommandError(f"the API refused: {exc}") from None

    def project(self, wanted: str, *, create: bool = False) -> str:
        from control_plane.client import PQClient

        for project in PQClient.iterate(self.client.list_projects):
            if wanted in (project.id, project.name):
                return project.id
        if create:
            return self.client.create_project(wanted).id
        raise ApiCommandError(f"no project {wanted!r} visible to this key")

    def graph(self, project_id: str, wanted: str | None) -> str:
        from control_plane.client import PQClient

        graphs = list(PQClient.iterate(lambda **kw: self.client.list_graphs(project_id, **kw)))
        if wanted is None:
            if len(graphs) != 1:
                raise ApiCommandError(f"the project has {len(graphs)} graphs: name one with --graph")
            return graphs[0].id
        for graph in graphs:
            if wanted in (graph.id, graph.name):
                return graph.id
        raise ApiCommandError(f"no graph {wanted!r} in the project (graphs: {', '.join(g.name for g in graphs)})")

    def pquery(self, project_id: str, wanted: str):
        """The saved query of the project whose id or name is ``wanted``, or None."""
        from control_plane.client import PQClient

        return next((p for p in PQClient.iterate(lambda **kw: self.client.list_pqueries(project_id, **kw))
                     if wanted in (p.id, p.name)), None)


def _watch(get, what: str, timeout: float) -> Any:
    """Follow a job with a progress bar of its steps until it finishes."""
    import time

    console = Console(stderr=True)
    deadline = time.monotonic() + timeout
    with Progress(TextColumn(f"{what} [bold]{{task.description}}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("queued", total=None)
        while True:
            job = get()
            done = sum(1 for s in job.progress if s["status"] in ("done", "reused", "skipped"))
            running = [s["step"] for s in job.progress if s["status"] == "running"]
            bar.update(task, completed=done, total=len(job.progress) or None,
                       description=", ".join(running) or job.status.value)
            if job.status.value in ("succeeded", "failed", "cancelled"):
                return job
            if time.monotonic() > deadline:
                raise ApiCommandError(f"{what} did not finish within {timeout:.0f} s; it goes on (status "
                                      f"{job.status.value})")
            time.sleep(1.0)


def _format(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def metrics_table(title: str, comparison: list[dict[str, Any]]) -> Table:
    """The holdout metrics of a model beside its baseline, as a table."""
    table = Table(title=title)
    for column in ("metric", "GNN", "baseline", "lift"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in comparison:
        table.add_row(row["metric"], _format(row.get("model")), _format(row.get("baseline")), _format(row.get("lift")))
    return table


def connect(
    folder: Annotated[Path, typer.Argument(help="A folder of <table>.csv / <table>.parquet files.")],
    project: ProjectOption = "default",
    schema: Annotated[Optional[Path], typer.Option("--schema", help="A graph schema JSON (keys, time columns, "
                                                                    "semantic types, links) for the files.")] = None,
    graph: Annotated[str, typer.Option("--graph", "-g", help="Name of the graph to build.")] = "graph",
    key: KeyOption = None,
) -> None:
    """Register a folder: a connector, a table per file and a graph (links from --schema, else suggested)."""
    from control_plane.quickstart import QuickstartError, register_folder

    if not folder.is_dir():
        raise ApiCommandError(f"{folder} is not a folder")
    declared = None
    if schema is not None:
        try:
            declared = json.loads(schema.read_text())
        except (OSError, ValueError) as exc:
            raise ApiCommandError(f"--schema {schema}: {exc}") from None
    with _Api(key) as api:
        project_id = api.project(project, create=True)
        try:
            graph_id = register_folder(api.client, project_id, folder, schema=declared, connector=folder.name,
                                       graph=graph)
        except QuickstartError as exc:
            raise ApiCommandError(str(exc)) from None
        made = api.client.get_graph(project_id, graph_id)
    console = Console()
    console.print(f"project {project_id}: graph {made.name} ({graph_id}) of {len(made.tables)} tables, "
                  f"{len(made.links)} links", highlight=False)
    for link in made.links:
        console.print(f"  {link.source_table}.{link.source_column} -> {link.target_table}", highlight=False)


def _compile(api: _Api, project: str, graph: str | None, text: str):
    project_id = api.project(project)
    return project_id, api.client.validate_pquery(project_id, api.graph(project_id, graph), text)


@query_app.command("validate")
def validate(text: Annotated[str, typer.Argument(help="The PQL query.")], project: ProjectOption,
             graph: GraphOption = None, key: KeyOption = None) -> None:
    """Check a query against a graph: its task type, metrics and entity, or the error with its position."""
    with _Api(key) as api:
        _, compiled = _compile(api, project, graph, text)
    Console().print(f"valid: {compiled.task_type} for each {compiled.entity}; metrics "
                    f"{', '.join(compiled.metrics)}", highlight=False)


@query_app.command("explain")
def explain(text: Annotated[str, typer.Argument(help="The PQL query.")], project: ProjectOption,
            graph: GraphOption = None, key: KeyOption = None) -> None:
    """The execution plan of a query, explained."""
    with _Api(key) as api:
        _, compiled = _compile(api, project, graph, text)
    Console().print(compiled.explain, highlight=False)


@query_app.command("train")
def train(text: Annotated[str, typer.Argument(help="The PQL query.")], project: ProjectOption,
          name: Annotated[str, typer.Option("--name", help="The query's name (an existing one is reused).")],
          graph: GraphOption = None,
          run_mode: Annotated[str, typer.Option("--run-mode", help="fast, normal or best.")] = "normal",
          wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the job until it ends.")] = True,
          timeout: Annotated[float, typer.Option("--timeout", help="Longest wait, in seconds.")] = 3600.0,
          key: KeyOption = None) -> None:
    """Save a query and train it (AutoML trials and the baseline); prints holdout metrics beside the baseline."""
    with _Api(key) as api:
        project_id = api.project(project)
        graph_id = api.graph(project_id, graph)
        found = api.pquery(project_id, name)
        if found is not None and found.text.strip() != text.strip():
            raise ApiCommandError(f"a query named {name!r} exists with another text; choose another --name")
        pquery = found or api.client.create_pquery(project_id, name, graph_id, text)
        job = api.client.start_training_job(project_id, pquery.id, run_mode=run_mode)
        Console().print(f"training job {job.id} ({run_mode})", highlight=False)
        if not wait:
            return
        done = _watch(lambda: api.client.get_training_job(project_id, job.id), f"train {name}", timeout)
        if done.status.value != "succeeded":
            raise ApiCommandError(f"training job {job.id} {done.status.value}: {done.error}")
        metrics = api.client.training_metrics(project_id, job.id)
    Console().print(metrics_table(f"{name}: holdout metrics (trial {metrics.get('chosen_trial_number')})",
                                  list(metrics.get("comparison") or [])))


@query_app.command("predict")
def predict(training_job: Annotated[str, typer.Argument(help="The training job whose model scores.")],
            project: ProjectOption,
            anchor_time: Annotated[Optional[str], typer.Option("--anchor-time", help="ISO time to predict at "
                                                                                     "(default: newest data).")] = None,
            out: Annotated[Optional[Path], typer.Option("--out", help="Download the predictions here (.parquet "
                                                                      "or .csv).")] = None,
            timeout: Annotated[float, typer.Option("--timeout", help="Longest wait, in seconds.")] = 3600.0,
            key: KeyOption = None) -> None:
    """Score every entity with a trained model; prints the first predictions and downloads them with --out."""
    with _Api(key) as api:
        project_id = api.project(project)
        job = api.client.start_prediction_job(project_id, training_job, anchor_time=anchor_time)
        done = _watch(lambda: api.client.get_prediction_job(project_id, job.id), "predict", timeout)
        if done.status.value != "succeeded":
            raise ApiCommandError(f"prediction job {job.id} {done.status.value}: {done.error}")
        preview = api.client.preview_predictions(project_id, job.id, limit=5)
        written = None
        if out is not None:
            fmt = "csv" if out.suffix.lower() == ".csv" else "parquet"
            written = api.client.download_predictions(project_id, job.id, out, format=fmt)
    console = Console()
    console.print(f"prediction job {job.id}: {(done.outputs or {}).get('rows')} predictions at "
                  f"{(done.outputs or {}).get('predictions')}", highlight=False)
    table = Table(title="first predictions")
    for column in preview["columns"]:
        table.add_column(column)
    for row in preview["rows"]:
        table.add_row(*(_format(row[c]) for c in preview["columns"]))
    console.print(table)
    if written is not None:
        console.print(f"written to {written}", highlight=False)


@query_app.command("status")
def status(job: Annotated[str, typer.Argument(help="A training or prediction job id.")], project: ProjectOption,
           key: KeyOption = None) -> None:
    """A job's status and the state of each of its steps."""
    from control_plane.client import APIError

    with _Api(key) as api:
        project_id = api.project(project)
        try:
            found = api.client.get_training_job(project_id, job)
        except APIError as exc:
            if exc.status != 404:
                raise
            found = api.client.get_prediction_job(project_id, job)
    console = Console()
    console.print(f"job {found.id}: {found.status.value}" + (f" ({found.error})" if found.error else ""),
                  highlight=False)
    for step in found.progress:
        detail = f"  {step['detail']}" if step.get("detail") else ""
        console.print(f"  {step['step']:<20} {step['status']}{detail}", highlight=False)


def refresh(project: ProjectOption, graph: GraphOption = None,
            query: Annotated[Optional[str], typer.Option("--query", "-q", help="A saved query (name or id) to "
                                                                               "retrain and/or predict after.")] = None,
            retrain: Annotated[bool, typer.Option("--retrain/--no-retrain", help="Retrain the query.")] = True,
            predict: Annotated[bool, typer.Option("--predict/--no-predict", help="Predict with its model.")] = True,
            run_mode: Annotated[str, typer.Option("--run-mode", help="fast, normal or best.")] = "normal",
            timeout: Annotated[float, typer.Option("--timeout", help="Longest wait, in seconds.")] = 3600.0,
            key: KeyOption = None) -> None:
    """Bring a graph up to date with its sources' new rows; then retrain and re-predict a query, if named."""
    with _Api(key) as api:
        project_id = api.project(project)
        graph_id = api.graph(project_id, graph)
        pquery_id = None
        if query is not None:
            found = api.pquery(project_id, query)
            if found is None:
                raise ApiCommandError(f"no query {query!r} in the project")
            pquery_id = found.id
        update = api.client.start_graph_update(project_id, graph_id, pquery_id=pquery_id, retrain=retrain,
                                               predict=predict, run_mode=run_mode)
        Console().print(f"graph update {update.id}", highlight=False)
        done = _watch(lambda: api.client.get_graph_update(project_id, update.id), "refresh", timeout)
        if done.status.value != "succeeded":
            raise ApiCommandError(f"graph update {update.id} {done.status.value}: {done.error}")
        metrics = api.client.training_metrics(project_id, done.training_job_id) if done.training_job_id else None
        prediction = (api.client.get_prediction_job(project_id, done.prediction_job_id)
                      if done.prediction_job_id else None)
    console = Console()
    console.print(f"changed tables: {', '.join(done.changed_tables or []) or 'none'}", highlight=False)
    if metrics is not None:
        console.print(metrics_table(f"retrained: holdout metrics (training job {done.training_job_id})",
                                    list(metrics.get("comparison") or [])))
    if prediction is not None:
        outputs = prediction.outputs or {}
        console.print(f"prediction job {prediction.id}: {outputs.get('rows')} predictions at "
                      f"{outputs.get('predictions')}", highlight=False)
