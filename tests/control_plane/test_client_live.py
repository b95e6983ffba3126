"""The Python client against a live uvicorn server on a free port (in a thread of this process)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import uvicorn

from control_plane.app import create_app
from control_plane.auth import create_first_admin_key
from control_plane.client import APIConnectionError, APIError, PQClient
from platform_core.errors import UserFacingError
from platform_core.processes import free_port
from platform_core.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def server(tmp_path):
    settings = Settings(home=tmp_path / "home", api_port=free_port(), temporal_address="127.0.0.1:9")
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.api_port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield settings
    finally:
        running.should_exit = True
        thread.join(timeout=10)


def test_the_client_drives_the_api_and_raises_problem_details(server, tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "customers.csv").write_text("customer_id,segment\n1,a\n")
    (data / "orders.csv").write_text("order_id,customer_id,created_at\n")
    token = create_first_admin_key(server)  # the server migrated the database when it started
    with PQClient(server.api_url, token) as admin:
        assert admin.health()["status"] == "ok"
        assert admin.whoami().role == "admin"
        project = admin.create_project("retail", "shop data")
        member_key = admin.create_api_key(project.id, "analyst").key
    with PQClient(server.api_url, member_key) as pq:
        connector = pq.create_connector(project.id, "raw", str(data))
        assert [f.path for f in pq.list_connector_files(project.id, connector.id).items] == ["customers.csv",
                                                                                             "orders.csv"]
        pq.create_table(project.id, "customers", connector.id, "customers.csv", primary_key="customer_id",
                        time_column="", columns=[{"name": "customer_id", "stype": "ID"},
                                                 {"name": "segment", "stype": "categorical"}])
        pq.create_table(project.id, "orders", connector.id, "orders.csv", primary_key="order_id",
                        time_column="created_at", columns=[{"name": "order_id", "stype": "ID"},
                                                           {"name": "customer_id", "stype": "ID"},
                                                           {"name": "created_at", "stype": "timestamp"}])
        assert [t.name for t in pq.iterate(pq.list_tables, project.id)] == ["customers", "orders"]
        suggestion = pq.suggest_links(project.id, ["customers", "orders"])[0]
        graph = pq.create_graph(project.id, "g", ["customers", "orders"], [
            {"source_table": suggestion.source_table, "source_column": suggestion.source_column,
             "target_table": suggestion.target_table}])
        assert pq.graph_schema(project.id, graph.id)["links"] == [
            {"table": "orders", "column": "customer_id", "to": "customers"}]
        compiled = pq.validate_pquery(project.id, graph.id,
                                      "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH customers.customer_id")
        assert compiled.task_type == "binary_classification" and "auroc" in compiled.explain
        with pytest.raises(APIError) as bad_query:
            pq.validate_pquery(project.id, graph.id, "PREDICT COUNT(order.*, 0, 30) FOR EACH customers.customer_id")
        error = bad_query.value
        assert isinstance(error, UserFacingError) and error.status == 422
        assert error.title == "Invalid predictive query" and "order" in error.detail
        assert (error.problem["line"], error.problem["column"]) == (1, 15)
        assert "line 1, column 15" in str(error)
        with pytest.raises(APIError) as forbidden:
            pq.create_project("mine")
        assert forbidden.value.status == 403 and forbidden.value.title == "Forbidden"
        assert pq.list_training_jobs(project.id).total == 0
    with pytest.raises(APIError) as unauthorized:
        PQClient(server.api_url, "pq_nope").list_projects()
    assert unauthorized.value.status == 401


def test_an_unreachable_api_is_a_connection_error():
    with pytest.raises(APIConnectionError, match="cannot reach the API"):
        PQClient(f"http://127.0.0.1:{free_port()}", "pq_x", timeout=2).list_projects()
