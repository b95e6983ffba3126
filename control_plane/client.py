"""A Python client of the REST API, on httpx.

Example::

    from control_plane.client import PQClient
    with PQClient("http://127.0.0.1:8000", api_key="pq_...") as pq:
        project = pq.create_project("retail")
        connector = pq.create_connector(project.id, "raw", "/data/retail")
        tables = pq.list_tables(project.id)           # one page: .items, .total, .limit, .offset
        for table in pq.iterate(pq.list_tables, project.id):   # every page
            ...

Every method returns the API's answer as a typed Pydantic model (the same schemas the API uses). An error
answer raises :class:`APIError` (a :class:`UserFacingError`) carrying the problem details; an unreachable
server raises :class:`APIConnectionError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter

from control_plane.api.pagination import MAX_LIMIT, Page
from control_plane.api.schemas.api_keys import ApiKeyCreated, ApiKeyOut, WhoAmI
from control_plane.api.schemas.artifacts import ArtifactOut
from control_plane.api.schemas.connectors import ConnectorFile, ConnectorOut
from control_plane.api.schemas.graphs import GraphOut, GraphValidation, GraphVersionOut, LinkSuggestion
from control_plane.api.schemas.jobs import GraphUpdateOut, PredictionJobOut, TrainingJobOut, TrainingTrialOut
from control_plane.api.schemas.pqueries import CompiledPQuery, PQueryOut
from control_plane.api.schemas.projects import ProjectOut
from control_plane.api.schemas.tables import TableOut
from platform_core.errors import UserFacingError

ModelT = TypeVar("ModelT")
ItemT = TypeVar("ItemT")


class APIError(UserFacingError):
    """The API answered with an error (problem details).

    Attributes:
        status: the HTTP status.
        title: the problem's title.
        detail: what went wrong.
        type: the problem type URI.
        problem: the whole problem-details body (with extension members such as ``errors`` or ``line``).
    """

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.title = str(problem.get("title") or f"HTTP {status}")
        self.detail = str(problem.get("detail") or "")
        self.type = str(problem.get("type") or "about:blank")
        where = ""
        if problem.get("line") is not None:
            where = f" (line {problem['line']}, column {problem.get('column')})"
        hint = f"; {problem['hint']}" if problem.get("hint") else ""
        super().__init__(f"{self.title} (HTTP {status}): {self.detail}{where}{hint}")


class APIConnectionError(UserFacingError):
    """The API could not be reached."""


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


class PQClient:
    """A client of one API server, authenticated with one API key.

    Args:
        base_url: where the API serves, e.g. ``http://127.0.0.1:8000``.
        api_key: the key (``pq_<id>_<secret>``).
        timeout: seconds to wait for each answer.
        transport: an httpx transport (tests may pass one that serves an app in-process).
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"})

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> PQClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=json, params=_drop_none(params or {}))
        except httpx.TransportError as exc:
            raise APIConnectionError(f"cannot reach the API at {self.base_url}: {exc}") from None
        if response.status_code >= 400:
            self._raise_for(response)
        return response

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        body.setdefault("detail", response.text[:300])
        raise APIError(response.status_code, body)

    def _call(self, model: type[ModelT] | Any, method: str, path: str, *, json: Any = None,
              params: dict[str, Any] | None = None) -> ModelT:
        response = self._request(method, path, json=json, params=params)
        return TypeAdapter(model).validate_python(response.json())

    def _page(self, item: type[ItemT], path: str, limit: int, offset: int, **params: Any) -> Page[ItemT]:
        return self._call(Page[item], "GET", path, params={"limit": limit, "offset": offset, **params})

    @staticmethod
    def iterate(list_method: Callable[..., Page[ItemT]], *args: Any, **kwargs: Any) -> Iterator[ItemT]:
        """Every item of a list, page after page: ``pq.iterate(pq.list_tables, project_id)``."""
        offset = 0
        while True:
            page = list_method(*args, limit=MAX_LIMIT, offset=offset, **kwargs)
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    # -- health and identity ----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /health``: status, version, and whether Temporal answers."""
        return self._request("GET", "/health").json()

    def whoami(self) -> WhoAmI:
        """The key this client uses: id, name, role and projects."""
        return self._call(WhoAmI, "GET", "/v1/api-keys/me")

    # -- projects ---------------------------------------------------------------------------------

    def create_project(self, name: str, description: str = "") -> ProjectOut:
        """Create a project (admin keys only)."""
        return self._call(ProjectOut, "POST", "/v1/projects", json={"name": name, "description": description})

    def list_projects(self, *, limit: int = 50, offset: int = 0) -> Page[ProjectOut]:
        """The projects this key sees."""
        return self._page(ProjectOut, "/v1/projects", limit, offset)

    def get_project(self, project_id: str) -> ProjectOut:
        return self._call(ProjectOut, "GET", f"/v1/projects/{project_id}")

    def update_project(self, project_id: str, *, name: str | None = None, description: str | None = None) -> ProjectOut:
        return self._call(ProjectOut, "PATCH", f"/v1/projects/{project_id}",
                          json=_drop_none({"name": name, "description": description}))

    def delete_project(self, project_id: str) -> None:
        """Delete a project and everything in it (admin keys only)."""
        self._request("DELETE", f"/v1/projects/{project_id}")

    # -- API keys ---------------------------------------------------------------------------------

    def create_api_key(self, project_id: str, name: str) -> ApiKeyCreated:
        """Make a member key of a project; ``.key`` holds the key, shown only this once."""
        return self._call(ApiKeyCreated, "POST", f"/v1/projects/{project_id}/api-keys", json={"name": name})

    def list_api_keys(self, project_id: str, *, limit: int = 50, offset: int = 0) -> Page[ApiKeyOut]:
        return self._page(ApiKeyOut, f"/v1/projects/{project_id}/api-keys", limit, offset)

    def revoke_api_key(self, project_id: str, key_id: str) -> ApiKeyOut:
        return self._call(ApiKeyOut, "DELETE", f"/v1/projects/{project_id}/api-keys/{key_id}")

    def create_admin_api_key(self, name: str) -> ApiKeyCreated:
        """Make another admin key (admin keys only)."""
        return self._call(ApiKeyCreated, "POST", "/v1/api-keys", json={"name": name, "role": "admin"})

    # -- connectors -------------------------------------------------------------------------------

    def create_connector(self, project_id: str, name: str, uri: str, *, credentials_ref: str | None = None,
                         endpoint_url: str | None = None, region: str | None = None,
                         description: str = "") -> ConnectorOut:
        """Add a connector: a local folder, or an S3 prefix with a credentials reference (``env:PREFIX``)."""
        body = _drop_none({"name": name, "uri": uri, "credentials_ref": credentials_ref,
                           "endpoint_url": endpoint_url, "region": region, "description": description})
        return self._call(ConnectorOut, "POST", f"/v1/projects/{project_id}/connectors", json=body)

    def list_connectors(self, project_id: str, *, limit: int = 50, offset: int = 0) -> Page[ConnectorOut]:
        return self._page(ConnectorOut, f"/v1/projects/{project_id}/connectors", limit, offset)

    def get_connector(self, project_id: str, connector_id: str) -> ConnectorOut:
        return self._call(ConnectorOut, "GET", f"/v1/projects/{project_id}/connectors/{connector_id}")

    def delete_connector(self, project_id: str, connector_id: str) -> None:
        self._request("DELETE", f"/v1/projects/{project_id}/connectors/{connector_id}")

    def list_connector_files(self, project_id: str, connector_id: str, *, prefix: str = "", recursive: bool = True,
                             limit: int = 50, offset: int = 0) -> Page[ConnectorFile]:
        """The files under a connector (or under ``prefix`` in it)."""
        return self._page(ConnectorFile, f"/v1/projects/{project_id}/connectors/{connector_id}/files", limit,
                          offset, prefix=prefix, recursive=str(recursive).lower())

    # -- tables -----------------------------------------------------------------------------------

    def create_table(self, project_id: str, name: str, connector_id: str, path: str, *,
                     columns: list[dict[str, Any]] | None = None, primary_key: str | None = None,
                     time_column: str | None = None, format_options: dict[str, Any] | None = None,
                     description: str = "") -> TableOut:
        """Register a table from a path under a connector.

        Args:
            columns: declared columns ``{"name", "dtype", "stype", "date_format", "unix_unit", "separator"}``.
            primary_key: the primary key; None to detect it, ``""`` for none.
            time_column: the time column; None to detect it, ``""`` for none.
            format_options: how to read the files (format, delimiter, header, encoding...).
        """
        body = _drop_none({"name": name, "connector_id": connector_id, "path": path, "columns": columns,
                           "primary_key": primary_key, "time_column": time_column,
                           "format_options": format_options, "description": description})
        return self._call(TableOut, "POST", f"/v1/projects/{project_id}/tables", json=body)

    def list_tables(self, project_id: str, *, limit: int = 50, offset: int = 0) -> Page[TableOut]:
        return self._page(TableOut, f"/v1/projects/{project_id}/tables", limit, offset)

    def get_table(self, project_id: str, table_id: str) -> TableOut:
        return self._call(TableOut, "GET", f"/v1/projects/{project_id}/tables/{table_id}")

    def update_table(self, project_id: str, table_id: str, **changes: Any) -> TableOut:
        """Change what is declared about a table (``columns=``, ``primary_key=``, ``description=``...)."""
        return self._call(TableOut, "PATCH", f"/v1/projects/{project_id}/tables/{table_id}", json=changes)

    def delete_table(self, project_id: str, table_id: str) -> None:
        self._request("DELETE", f"/v1/projects/{project_id}/tables/{table_id}")

    # -- graphs -----------------------------------------------------------------------------------

    def create_graph(self, project_id: str, name: str, tables: list[str], links: list[dict[str, str]] | None = None,
                     *, description: str = "") -> GraphOut:
        """Create a graph; links are ``{"source_table", "source_column", "target_table"}``."""
        body = {"name": name, "tables": tables, "links": links or [], "description": description}
        return self._call(GraphOut, "POST", f"/v1/projects/{project_id}/graphs", json=body)

    def list_graphs(self, project_id: str, *, limit: int = 50, offset: int = 0) -> Page[GraphOut]:
        return self._page(GraphOut, f"/v1/projects/{project_id}/graphs", limit, offset)

    def get_graph(self, project_id: str, graph_id: str) -> GraphOut:
        return self._call(GraphOut, "GET", f"/v1/projects/{project_id}/graphs/{graph_id}")

    def update_graph(self, project_id: str, graph_id: str, **changes: Any) -> GraphOut:
        """Change a graph (``tables=``, ``links=`` make a new version; ``name=``, ``description=``)."""
        return self._call(GraphOut, "PATCH", f"/v1/projects/{project_id}/graphs/{graph_id}", json=changes)

    def delete_graph(self, project_id: str, graph_id: str) -> None:
        self._request("DELETE", f"/v1/projects/{project_id}/graphs/{graph_id}")

    def validate_graph(self, project_id: str, tables: list[str], links: list[dict[str, str]] | None = None) -> GraphValidation:
        """Validate tables and links without saving: errors and warnings with their locations."""
        return self._call(GraphValidation, "POST", f"/v1/projects/{project_id}/graphs/validate",
                          json={"tables": tables, "links": links or []})

    def suggest_links(self, project_id: str, tables: list[str]) -> list[LinkSuggestion]:
        return self._call(list[LinkSuggestion], "POST", f"/v1/projects/{project_id}/graphs/link-suggestions",
                          json={"tables": tables})

    def graph_schema(self, project_id: str, graph_id: str) -> dict[str, Any]:
        """The PQL graph schema JSON of a graph (``pql.GraphSchema.from_dict`` accepts it)."""
        return self._request("GET", f"/v1/projects/{project_id}/graphs/{graph_id}/schema").json()

    def list_graph_versions(self, project_id: str, graph_id: str, *, limit: int = 50,
                            offset: int = 0) -> Page[GraphVersionOut]:
        return self._page(GraphVersionOut, f"/v1/projects/{project_id}/graphs/{graph_id}/versions", limit, offset)

    # -- pqueries ---------------------------------------------------------------------------------

    def validate_pquery(self, project_id: str, graph_id: str, text: str, *,
                        anchor_step_seconds: int | None = None) -> CompiledPQuery:
        """Compile a query without saving it; an invalid one raises :class:`APIError` with line and column."""
        body = _drop_none({"graph_id": graph_id, "text": text, "anchor_step_seconds": anchor_step_seconds})
        return self._call(CompiledPQuery, "POST", f"/v1/projects/{project_id}/pqueries/validate", json=body)

    def create_pquery(self, project_id: str, name: str, graph_id: str, text: str, *,
                      anchor_step_seconds: int | None = None, description: str = "") -> PQueryOut:
        body = _drop_none({"name": name, "graph_id": graph_id, "text": text,
                           "anchor_step_seconds": anchor_step_seconds, "description": description})
        return self._call(PQueryOut, "POST", f"/v1/projects/{project_id}/pqueries", json=body)

    def list_pqueries(self, project_id: str, *, limit: int = 50, offset: int = 0) -> Page[PQueryOut]:
        return self._page(PQueryOut, f"/v1/projects/{project_id}/pqueries", limit, offset)

    def get_pquery(self, project_id: str, pquery_id: str) -> PQueryOut:
        return self._call(PQueryOut, "GET", f"/v1/projects/{project_id}/pqueries/{pquery_id}")

    def explain_pquery(self, project_id: str, pquery_id: str) -> CompiledPQuery:
        return self._call(CompiledPQuery, "GET", f"/v1/projects/{project_id}/pqueries/{pquery_id}/explain")

    def update_pquery(self, project_id: str, pquery_id: str, **changes: Any) -> PQueryOut:
        return self._call(PQueryOut, "PATCH", f"/v1/projects/{project_id}/pqueries/{pquery_id}", json=changes)

    def delete_pquery(self, project_id: str, pquery_id: str) -> None:
        self._request("DELETE", f"/v1/projects/{project_id}/pqueries/{pquery_id}")

    # -- jobs and artifacts -----------------------------------------------------------------------

    def list_training_jobs(self, project_id: str, *, pquery_id: str | None = None, status: str | None = None,
                           limit: int = 50, offset: int = 0) -> Page[TrainingJobOut]:
        return self._page(TrainingJobOut, f"/v1/projects/{project_id}/training-jobs", limit, offset,
                          pquery_id=pquery_id, status=status)

    def get_training_job(self, project_id: str, job_id: str) -> TrainingJobOut:
        return self._call(TrainingJobOut, "GET", f"/v1/projects/{project_id}/training-jobs/{job_id}")

    def list_trials(self, project_id: str, job_id: str, *, limit: int = 50, offset: int = 0) -> Page[TrainingTrialOut]:
        return self._page(TrainingTrialOut, f"/v1/projects/{project_id}/training-jobs/{job_id}/trials", limit, offset)

    def start_training_job(self, project_id: str, pquery_id: str, *, run_mode: str = "normal",
                           split: dict[str, Any] | None = None) -> TrainingJobOut:
        """Start training a pquery (run mode ``fast``, ``normal`` or ``best``; optional split boundaries)."""
        return self._call(TrainingJobOut, "POST", f"/v1/projects/{project_id}/training-jobs",
                          json=_drop_none({"pquery_id": pquery_id, "run_mode": run_mode, "split": split}))

    def cancel_training_job(self, project_id: str, job_id: str) -> TrainingJobOut:
        """Ask a training job to stop; it becomes ``cancelled`` once its work has stopped."""
        return self._call(TrainingJobOut, "POST", f"/v1/projects/{project_id}/training-jobs/{job_id}/cancel")

    def training_metrics(self, project_id: str, job_id: str) -> dict[str, Any]:
        """The chosen model's holdout metrics beside the baseline's: ``selection_metric``, ``model``,
        ``baseline`` and ``comparison`` (one row per metric with the lift)."""
        return self._call(dict[str, Any], "GET", f"/v1/projects/{project_id}/training-jobs/{job_id}/metrics")

    def training_curves(self, project_id: str, job_id: str, *, trial: int | None = None) -> dict[str, Any]:
        """The curves of the chosen trial (or of ``trial``): ``trial_number`` and ``curves``."""
        return self._call(dict[str, Any], "GET", f"/v1/projects/{project_id}/training-jobs/{job_id}/curves",
                          params={"trial": trial})

    def training_baseline(self, project_id: str, job_id: str) -> dict[str, Any]:
        """The baseline's holdout metrics: ``status`` and ``metrics``."""
        return self._call(dict[str, Any], "GET", f"/v1/projects/{project_id}/training-jobs/{job_id}/baseline")

    def wait_training_job(self, project_id: str, job_id: str, *, timeout: float = 3600.0,
                          poll: float = 2.0) -> TrainingJobOut:
        """Poll a training job until it has succeeded, failed or been cancelled.

        Raises:
            TimeoutError: still running after ``timeout`` seconds.
        """
        return self._wait(lambda: self.get_training_job(project_id, job_id), timeout, poll)

    def start_prediction_job(self, project_id: str, training_job_id: str, *,
                             anchor_time: str | None = None) -> PredictionJobOut:
        """Score entities with a succeeded training job's model (at ``anchor_time``, default the newest data)."""
        return self._call(PredictionJobOut, "POST", f"/v1/projects/{project_id}/prediction-jobs",
                          json=_drop_none({"training_job_id": training_job_id, "anchor_time": anchor_time}))

    def cancel_prediction_job(self, project_id: str, job_id: str) -> PredictionJobOut:
        return self._call(PredictionJobOut, "POST", f"/v1/projects/{project_id}/prediction-jobs/{job_id}/cancel")

    def wait_prediction_job(self, project_id: str, job_id: str, *, timeout: float = 3600.0,
                            poll: float = 2.0) -> PredictionJobOut:
        """Poll a prediction job until it has finished."""
        return self._wait(lambda: self.get_prediction_job(project_id, job_id), timeout, poll)

    def preview_predictions(self, project_id: str, job_id: str, *, limit: int = 20) -> dict[str, Any]:
        """The first ``limit`` rows of a prediction job's predictions: ``columns``, ``rows``, ``total_rows``."""
        return self._call(dict[str, Any], "GET", f"/v1/projects/{project_id}/prediction-jobs/{job_id}/preview",
                          params={"limit": limit})

    def download_predictions(self, project_id: str, job_id: str, path: str | Path, *,
                             format: str = "parquet") -> Path:
        """Stream a prediction job's predictions into ``path`` (Parquet or CSV).

        Returns:
            The path written.
        """
        target = Path(path)
        url = f"/v1/projects/{project_id}/prediction-jobs/{job_id}/download"
        try:
            with self._http.stream("GET", url, params={"format": format}) as response:
                if response.status_code >= 400:
                    response.read()
                    self._raise_for(response)
                with open(target, "wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.TransportError as exc:
            raise APIConnectionError(f"cannot reach the API at {self.base_url}: {exc}") from None
        return target

    @staticmethod
    def _wait(read: Callable[[], ModelT], timeout: float, poll: float) -> ModelT:
        deadline = time.monotonic() + timeout
        while True:
            job = read()
            if getattr(job, "status", None) in ("succeeded", "failed", "cancelled"):
                return job
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job still {getattr(job, 'status', '?')} after {timeout:g} s")
            time.sleep(poll)

    def list_prediction_jobs(self, project_id: str, *, training_job_id: str | None = None, status: str | None = None,
                             limit: int = 50, offset: int = 0) -> Page[PredictionJobOut]:
        return self._page(PredictionJobOut, f"/v1/projects/{project_id}/prediction-jobs", limit, offset,
                          training_job_id=training_job_id, status=status)

    def get_prediction_job(self, project_id: str, job_id: str) -> PredictionJobOut:
        return self._call(PredictionJobOut, "GET", f"/v1/projects/{project_id}/prediction-jobs/{job_id}")

    def start_graph_update(self, project_id: str, graph_id: str, *, pquery_id: str | None = None,
                           retrain: bool = True, predict: bool = True, run_mode: str = "normal") -> GraphUpdateOut:
        """Bring a graph up to date with new source rows; with ``pquery_id``, retrain it and/or predict after.

        Without ``pquery_id`` only the graph is updated. The training and prediction jobs it queues are named
        by the answer's ``training_job_id`` and ``prediction_job_id``.
        """
        body: dict[str, Any] = {"graph_id": graph_id}
        if pquery_id is not None:
            body.update(pquery_id=pquery_id, retrain=retrain, predict=predict, run_mode=run_mode)
        return self._call(GraphUpdateOut, "POST", f"/v1/projects/{project_id}/graph-updates", json=body)

    def get_graph_update(self, project_id: str, update_id: str) -> GraphUpdateOut:
        return self._call(GraphUpdateOut, "GET", f"/v1/projects/{project_id}/graph-updates/{update_id}")

    def list_graph_updates(self, project_id: str, *, graph_id: str | None = None, limit: int = 50,
                           offset: int = 0) -> Page[GraphUpdateOut]:
        return self._page(GraphUpdateOut, f"/v1/projects/{project_id}/graph-updates", limit, offset,
                          graph_id=graph_id)

    def cancel_graph_update(self, project_id: str, update_id: str) -> GraphUpdateOut:
        """Ask an update (and the jobs it started) to stop."""
        return self._call(GraphUpdateOut, "POST", f"/v1/projects/{project_id}/graph-updates/{update_id}/cancel")

    def wait_graph_update(self, project_id: str, update_id: str, *, timeout: float = 3600.0,
                          poll: float = 2.0) -> GraphUpdateOut:
        """Poll a graph update until it has finished (its training and prediction jobs included)."""
        return self._wait(lambda: self.get_graph_update(project_id, update_id), timeout, poll)

    def list_artifacts(self, project_id: str, *, kind: str | None = None, limit: int = 50,
                       offset: int = 0) -> Page[ArtifactOut]:
        return self._page(ArtifactOut, f"/v1/projects/{project_id}/artifacts", limit, offset, kind=kind)

    def get_artifact(self, project_id: str, artifact_id: str) -> ArtifactOut:
        return self._call(ArtifactOut, "GET", f"/v1/projects/{project_id}/artifacts/{artifact_id}")
