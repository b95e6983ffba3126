"""Errors are RFC 9457 problem details; lists paginate the same way everywhere; the read-only job and
artifact routes; the application migrates its database when it starts.

Runs on SQLite (unit) and PostgreSQL (integration), see conftest.py.
"""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.db import Database, current_revision, head_revision
from platform_core.settings import Settings

PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance"}


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert PROBLEM_FIELDS <= set(body) and body["status"] == status
    return body


def test_unknown_routes_methods_and_resources(api):
    body = _problem(api.get("/v1/nothing-here"), 404)
    assert body["type"] == "about:blank" and body["title"] == "Not Found" and body["instance"] == "/v1/nothing-here"
    assert _problem(api.request("PUT", "/v1/projects"), 405)["detail"] == "PUT is not allowed on /v1/projects"
    project = api.ok("POST", "/v1/projects", 201, json={"name": "p"})["id"]
    missing = _problem(api.get(f"/v1/projects/{project}/graphs/abc"), 404)
    assert missing["type"] == "urn:pq:problem:not-found" and missing["detail"] == "graph abc not found"


def test_request_validation_errors_name_their_fields(api):
    body = _problem(api.post("/v1/projects", json={"name": "", "colour": "red"}), 422)
    assert body["type"] == "urn:pq:problem:invalid-request" and body["title"] == "Invalid request"
    locations = [error["loc"] for error in body["errors"]]
    assert ["body", "name"] in locations and ["body", "colour"] in locations
    assert body["detail"].startswith("body.") and "(and 1 more)" in body["detail"]
    assert _problem(api.post("/v1/projects", content=b"{not json", headers={"content-type": "application/json"}),
                    422)["errors"][0]["loc"][0] == "body"


def test_a_taken_name_is_409(api):
    api.ok("POST", "/v1/projects", 201, json={"name": "same"})
    body = _problem(api.post("/v1/projects", json={"name": "same"}), 409)
    assert body["type"] == "urn:pq:problem:conflict" and "same" in body["detail"]


def test_an_unexpected_error_is_500_without_internals(settings, database):
    app = create_app(settings)
    router = APIRouter()

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret connection string postgresql://user:pw@db")

    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as client:
        body = _problem(client.get("/boom"), 500)
    assert "secret" not in str(body) and "RuntimeError" not in str(body)
    assert body["type"] == "urn:pq:problem:internal-error"


def test_the_app_migrates_its_database_when_it_starts(empty_database_url, tmp_path):
    settings = Settings(home=tmp_path / "home", database_url=empty_database_url, temporal_address="127.0.0.1:9")
    database = Database(empty_database_url)
    try:
        assert current_revision(database.engine) is None
        with TestClient(create_app(settings)) as client:
            assert client.get("/health").status_code == 200
            assert client.get("/v1/projects").status_code == 401
        assert current_revision(database.engine) == head_revision()
    finally:
        database.dispose()


def test_pages_walk_every_item_once_in_creation_order(api):
    names = [f"p{i:02d}" for i in range(7)]
    for name in names:
        api.ok("POST", "/v1/projects", 201, json={"name": name})
    seen = []
    offset = 0
    while True:
        page = api.ok("GET", "/v1/projects", params={"limit": 3, "offset": offset})
        assert page["total"] == 7 and page["limit"] == 3 and page["offset"] == offset
        assert len(page["items"]) <= 3
        if not page["items"]:
            break
        seen += [p["name"] for p in page["items"]]
        offset += len(page["items"])
    assert seen == names
    assert api.ok("GET", "/v1/projects")["limit"] == 50


@pytest.mark.parametrize("params, loc", [({"limit": 201}, ["query", "limit"]), ({"limit": 0}, ["query", "limit"]),
                                         ({"offset": -1}, ["query", "offset"])])
def test_page_bounds_are_enforced(api, params, loc):
    assert _problem(api.get("/v1/projects", params=params), 422)["errors"][0]["loc"] == loc


def test_jobs_trials_and_artifacts_read_back(api, tmp_path):
    shop = api.seed_project("shop", tmp_path / "data")
    base = f"/v1/projects/{shop.project_id}"
    jobs = api.ok("GET", f"{base}/training-jobs")
    assert jobs["total"] == 1
    job = jobs["items"][0]
    assert job["id"] == shop.ids["training_job_id"] and job["status"] == "succeeded" and job["run_mode"] == "fast"
    assert job["metrics"] == {"auroc": 0.71} and job["chosen_trial_number"] == 0
    assert job["created_at"].endswith("Z") or job["created_at"].endswith("+00:00")
    assert api.ok("GET", f"{base}/training-jobs/{job['id']}") == job
    assert api.ok("GET", f"{base}/training-jobs", params={"status": "running"})["total"] == 0
    assert api.ok("GET", f"{base}/training-jobs", params={"pquery_id": shop.ids["pquery_id"]})["total"] == 1
    assert api.get(f"{base}/training-jobs", params={"status": "sleeping"}).status_code == 422
    trials = api.ok("GET", f"{base}/training-jobs/{job['id']}/trials")
    assert [(t["number"], t["curves"]) for t in trials["items"]] == [(0, {"loss": [0.9, 0.7]})]
    predictions = api.ok("GET", f"{base}/prediction-jobs", params={"training_job_id": job["id"]})
    assert [p["status"] for p in predictions["items"]] == ["running"]
    assert api.ok("GET", f"{base}/prediction-jobs/{shop.ids['prediction_job_id']}")["outputs"] is None
    artifacts = api.ok("GET", f"{base}/artifacts", params={"kind": "model"})
    assert [a["id"] for a in artifacts["items"]] == [shop.ids["artifact_id"]]
    assert api.ok("GET", f"{base}/artifacts", params={"kind": "graph"})["total"] == 0
    assert api.ok("GET", f"{base}/artifacts/{shop.ids['artifact_id']}")["training_job_id"] == job["id"]
