"""One project's key can neither read nor change another project's resources, on every route.

The routes are found by walking ``app.routes`` and classified by the dependencies they declare: public
(no key), admin-only (``require_admin``), project-scoped (``get_project``, so ``{project_id}`` in the
path), or one of the few routes that answer about the caller's own key. A route that fits none fails the
test, so routes added later are covered without editing this file. Runs on SQLite (unit) and PostgreSQL
(integration), see conftest.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from control_plane.api.deps import current_key, get_project, require_admin

PUBLIC_PATHS = {"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
                # The console's page shell and its config (Temporal UI address): no project data.
                "/", "/console/config.json"}
#: Static file mounts, public for the same reason.
PUBLIC_MOUNTS = {"/console"}
#: Authenticated routes that answer only about the caller's own key or projects.
CALLER_SCOPED = {("GET", "/v1/projects"), ("GET", "/v1/api-keys/me")}
#: Which id fills a path parameter, by the collection segment before it.
ID_FOR_SEGMENT = {
    "projects": "project_id", "connectors": "connector_id", "tables": "table_id", "graphs": "graph_id",
    "pqueries": "pquery_id", "training-jobs": "training_job_id", "prediction-jobs": "prediction_job_id",
    "artifacts": "artifact_id", "api-keys": "key_id", "versions": "version", "graph-updates": "graph_update_id",
}


def _calls(dependant) -> set[Callable]:
    found = set()
    for sub in dependant.dependencies:
        found.add(sub.call)
        found |= _calls(sub)
    return found


def _effective_routes(app) -> list:
    """Every route with its full path and all its dependencies (router prefixes and dependencies applied)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: app.routes is already flat
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def classify(app) -> dict[tuple[str, str], str]:
    """``(method, path) -> "public" | "admin" | "project" | "caller"``; raises on a route that fits none."""
    classes: dict[tuple[str, str], str] = {}
    unclassified = []
    for route in _effective_routes(app):
        original = getattr(route, "original_route", route)
        if isinstance(original, Mount):
            assert route.path in PUBLIC_MOUNTS, f"unexpected mount {route.path}"
            continue
        if not isinstance(original, APIRoute):
            assert isinstance(original, Route) and route.path in PUBLIC_PATHS, f"unexpected route {route.path}"
            classes.update({(m, route.path): "public" for m in route.methods or ()})
            continue
        calls = _calls(route.dependant)
        for method in route.methods:
            key = (method, route.path)
            if route.path in PUBLIC_PATHS:
                assert current_key not in calls
                classes[key] = "public"
            elif get_project in calls:
                assert "{project_id}" in route.path, key
                classes[key] = "project"
            elif require_admin in calls:
                classes[key] = "admin"
            elif key in CALLER_SCOPED and current_key in calls:
                classes[key] = "caller"
            else:
                unclassified.append(key)
    assert not unclassified, f"routes neither public, admin-only, project-scoped nor caller-scoped: {unclassified}"
    return classes


def fill(path: str, ids: dict[str, str], overrides: dict[str, str] | None = None) -> str:
    """The path with every ``{param}`` replaced by the id its collection segment names."""
    values = {**ids, "version": "1", **(overrides or {})}

    def one(match: re.Match) -> str:
        segment = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        assert segment in ID_FOR_SEGMENT, f"{path}: no id known for a parameter after /{segment}/"
        return values[ID_FOR_SEGMENT[segment]]

    return re.sub(r"\{[^}]+\}", one, path)


def _request(api, method: str, path: str):
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return api.request(method, path, json=body)


def _snapshot(api, seeded) -> dict[str, object]:
    """Everything the owner of a project sees in it, through every readable project-scoped route."""
    seen = {}
    for (method, path), kind in sorted(classify(api.client.app).items()):
        if kind == "project" and method == "GET":
            url = fill(path, {"project_id": seeded.project_id, **seeded.ids})
            response = api.as_(seeded.key).get(url)
            is_json = response.headers.get("content-type", "").endswith("json")
            seen[url] = (response.status_code, response.json() if is_json else response.content)
    return seen


def _readable(url: str, status: int) -> bool:
    """The owner reads every route; a download answers 409 while the seeded job is still running."""
    return status == 200 or (url.endswith("/download") and status == 409)


def _two_projects(api, tmp_path):
    return api.seed_project("alpha", tmp_path / "alpha"), api.seed_project("beta", tmp_path / "beta")


def test_every_route_is_classified_and_there_are_routes_of_each_kind(app):
    classes = classify(app)
    kinds = set(classes.values())
    assert kinds == {"public", "admin", "project", "caller"}
    assert classes[("GET", "/health")] == "public"
    assert classes[("POST", "/v1/projects")] == "admin"
    assert sum(kind == "project" for kind in classes.values()) >= 30


def test_a_key_of_another_project_gets_404_on_every_project_route(api, tmp_path):
    alpha, beta = _two_projects(api, tmp_path)
    before = _snapshot(api, alpha)
    assert all(_readable(url, status) for url, (status, _) in before.items()), before
    intruder = api.as_(beta.key)
    checked = 0
    for (method, path), kind in sorted(classify(api.client.app).items()):
        if kind != "project":
            continue
        url = fill(path, {"project_id": alpha.project_id, **alpha.ids})
        response = _request(intruder, method, url)
        assert response.status_code == 404, (method, url, response.status_code, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == f"project {alpha.project_id} not found"
        checked += 1
    assert checked >= 30
    assert _snapshot(api, alpha) == before


def test_ids_of_another_project_under_ones_own_project_are_404(api, tmp_path):
    alpha, beta = _two_projects(api, tmp_path)
    before = _snapshot(api, alpha)
    own = api.as_(beta.key)
    checked = 0
    for (method, path), kind in sorted(classify(api.client.app).items()):
        if kind != "project" or path.count("{") < 2:
            continue
        url = fill(path, {**alpha.ids, "project_id": beta.project_id})
        response = _request(own, method, url)
        assert response.status_code == 404, (method, url, response.status_code, response.text)
        assert alpha.project_id not in response.text
        checked += 1
    assert checked >= 15
    assert _snapshot(api, alpha) == before


def test_admin_only_routes_refuse_member_keys(api, tmp_path):
    alpha, beta = _two_projects(api, tmp_path)
    before = _snapshot(api, alpha)
    member = api.as_(beta.key)
    admin_routes = [key for key, kind in classify(api.client.app).items() if kind == "admin"]
    assert admin_routes
    for method, path in admin_routes:
        url = fill(path, {"project_id": alpha.project_id, **alpha.ids})
        response = _request(member, method, url)
        if "{project_id}" in path:  # project-scoped too: the project is not even revealed
            assert response.status_code == 404, (method, url, response.text)
        else:
            assert response.status_code == 403, (method, url, response.text)
            assert response.json()["title"] == "Forbidden"
    assert _snapshot(api, alpha) == before
    # A member key of the project itself may not delete it either.
    assert api.as_(alpha.key).delete(f"/v1/projects/{alpha.project_id}").status_code == 403


def test_caller_scoped_routes_show_only_the_callers_own(api, tmp_path):
    alpha, beta = _two_projects(api, tmp_path)
    listed = api.as_(beta.key).ok("GET", "/v1/projects")
    assert [p["id"] for p in listed["items"]] == [beta.project_id] and listed["total"] == 1
    me = api.as_(beta.key).ok("GET", "/v1/api-keys/me")
    assert me["project_ids"] == [beta.project_id] and me["role"] == "member"
    everything = api.ok("GET", "/v1/projects")
    assert {p["id"] for p in everything["items"]} == {alpha.project_id, beta.project_id}


def test_bodies_cannot_reference_another_projects_resources(api, tmp_path):
    alpha, beta = _two_projects(api, tmp_path)
    own = api.as_(beta.key)
    base = f"/v1/projects/{beta.project_id}"
    table = {"name": "stolen", "connector_id": alpha.ids["connector_id"], "path": "customers.csv"}
    response = own.post(f"{base}/tables", json=table)
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "connector_id"]
    response = own.post(f"{base}/pqueries/validate", json={"graph_id": alpha.ids["graph_id"], "text": "PREDICT x"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "graph_id"]
    response = own.post(f"{base}/pqueries", json={"name": "q", "graph_id": alpha.ids["graph_id"], "text": "PREDICT x"})
    assert response.status_code == 422
    # Table names resolve inside the caller's project only: beta's graph is built from beta's tables.
    graph = own.ok("POST", f"{base}/graphs", 201, json={
        "name": "mine", "tables": ["customers", "orders"],
        "links": [{"source_table": "orders", "source_column": "customer_id", "target_table": "customers"}]})
    assert {t["id"] for t in graph["tables"]} == {beta.ids["customers_table_id"], beta.ids["orders_table_id"]}
    filtered = own.ok("GET", f"{base}/training-jobs", params={"pquery_id": alpha.ids["pquery_id"]})
    assert filtered["items"] == [] and filtered["total"] == 0
    for body, field in (({"graph_id": alpha.ids["graph_id"]}, "graph_id"),
                        ({"graph_id": beta.ids["graph_id"], "pquery_id": alpha.ids["pquery_id"]}, "pquery_id")):
        response = own.post(f"{base}/graph-updates", json=body)
        assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", field], body
    updates = own.ok("GET", f"{base}/graph-updates", params={"graph_id": alpha.ids["graph_id"]})
    assert updates["items"] == [] and updates["total"] == 0
