"""Graphs (validation with positioned findings, versions, link suggestions, the PQL schema) and pqueries
(validate with a positioned error, task type and explained plan; store; recompile).

Runs on SQLite (unit) and PostgreSQL (integration), see conftest.py.
"""

from __future__ import annotations

import pytest

import pql


@pytest.fixture
def shop(api, tmp_path):
    """A seeded project: connector, customers and orders tables, graph ``retail``, pquery ``churn``."""
    return api.seed_project("shop", tmp_path / "data")


def _url(shop, tail: str = "") -> str:
    return f"/v1/projects/{shop.project_id}{tail}"


def _link(source: str, column: str, target: str, **extra) -> dict:
    return {"source_table": source, "source_column": column, "target_table": target, **extra}


def test_the_graph_schema_is_what_pql_accepts(api, shop):
    schema = api.ok("GET", _url(shop, f"/graphs/{shop.ids['graph_id']}/schema"))
    parsed = pql.GraphSchema.from_dict(schema)
    assert parsed.to_dict() == schema
    assert schema["tables"]["orders"]["time_column"] == "created_at"
    assert schema["tables"]["customers"] == {"primary_key": "customer_id", "time_column": None, "columns": {
        "customer_id": {"stype": "ID", "dtype": "int64"}, "segment": "categorical"}}
    assert schema["links"] == [{"table": "orders", "column": "customer_id", "to": "customers"}]
    graph = api.ok("GET", _url(shop, f"/graphs/{shop.ids['graph_id']}"))
    assert graph["version"] == 1 and [t["name"] for t in graph["tables"]] == ["customers", "orders"]
    assert graph["links"] == [_link("orders", "customer_id", "customers", target_column="customer_id")]


@pytest.mark.parametrize("tables, links, expected", [
    (["customers", "ordrs"], [], [(["body", "tables", 1], "unknown table ordrs", "did you mean orders?")]),
    (["customers", "customers"], [], [(["body", "tables", 1], "listed twice", None)]),
    (["customers"], [_link("orders", "customer_id", "customers")],
     [(["body", "links", 0, "source_table"], "not one of the graph's tables", "add orders to the graph's tables")]),
    (["customers", "orders"], [_link("orders", "custmer_id", "customers")],
     [(["body", "links", 0, "source_column"], "has no column custmer_id", "did you mean orders.customer_id?")]),
    (["customers", "orders"], [_link("orders", "customer_id", "customers", target_column="segment")],
     [(["body", "links", 0, "target_column"], "is not the primary key", "customers.customer_id")]),
    (["customers", "orders"], [_link("orders", "price", "customers")],
     [(["body", "links", 0, "source_column"], "has type float64", "keys are integers or strings")]),
    (["customers", "orders"], [_link("orders", "customer_id", "customers"), _link("orders", "customer_id", "customers")],
     [(["body", "links", 1, "source_column"], "already linked by link 0", None)]),
])
def test_invalid_graphs_are_422_with_positioned_errors(api, shop, tables, links, expected):
    response = api.post(_url(shop, "/graphs"), json={"name": "bad", "tables": tables, "links": links})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"].endswith("invalid-graph") and body["title"] == "Invalid graph"
    found = [(e["loc"], e["message"], e["hint"]) for e in body["errors"]]
    assert len(found) == len(expected), found
    for (loc, message, hint), (want_loc, want_message, want_hint) in zip(found, expected):
        assert loc == want_loc and want_message in message
        assert (hint is None) if want_hint is None else (want_hint in hint)
    check = api.ok("POST", _url(shop, "/graphs/validate"), json={"tables": tables, "links": links})
    assert check["valid"] is False and [e["loc"] for e in check["errors"]] == [loc[1:] for loc, *_ in expected]


def test_incompatible_key_types_and_non_id_keys(api, shop):
    table = _url(shop, f"/tables/{shop.ids['orders_table_id']}")
    columns = api.ok("GET", table)["columns"]
    for column in columns:
        if column["name"] == "customer_id":
            column.update(dtype="string", stype="categorical")
    api.ok("PATCH", table, json={"columns": columns})
    check = api.ok("POST", _url(shop, "/graphs/validate"), json={
        "tables": ["customers", "orders"], "links": [_link("orders", "customer_id", "customers")]})
    assert [e["message"] for e in check["errors"]] == [
        "link orders.customer_id -> customers: orders.customer_id (string) and customers.customer_id (int64) "
        "have incompatible types"]
    assert any("usually an ID" in w["message"] for w in check["warnings"])
    stored = api.ok("POST", _url(shop, f"/graphs/{shop.ids['graph_id']}/validate"))
    assert stored["valid"] is False  # the stored graph is re-checked against the tables as they are now


def test_changing_tables_or_links_makes_a_new_version(api, shop):
    url = _url(shop, f"/graphs/{shop.ids['graph_id']}")
    renamed = api.ok("PATCH", url, json={"description": "shop graph"})
    assert renamed["version"] == 1
    smaller = api.ok("PATCH", url, json={"links": []})
    assert smaller["version"] == 2 and smaller["links"] == []
    again = api.ok("PATCH", url, json={"links": [_link("orders", "customer_id", "customers")]})
    assert again["version"] == 3 and len(again["links"]) == 1
    assert api.patch(url, json={"tables": ["customers"]}).status_code == 422  # orders is still linked
    assert api.ok("GET", url)["version"] == 3
    versions = api.ok("GET", f"{url}/versions")
    assert [v["version"] for v in versions["items"]] == [1, 2, 3] and versions["total"] == 3
    assert versions["items"][1]["spec"] == {"tables": ["customers", "orders"], "links": []}
    assert api.ok("GET", f"{url}/versions/1")["spec"]["links"][0]["target_column"] == "customer_id"
    assert api.get(f"{url}/versions/9").status_code == 404
    taken = api.patch(url, json={"name": "other"})
    assert taken.status_code == 200
    api.ok("POST", _url(shop, "/graphs"), 201, json={"name": "second", "tables": ["customers"]})
    assert api.patch(url, json={"name": "second"}).status_code == 409


def test_link_suggestions_follow_the_key_names(api, shop):
    suggestions = api.ok("POST", _url(shop, "/graphs/link-suggestions"), json={"tables": ["orders", "customers"]})
    assert suggestions[0]["source_table"] == "orders" and suggestions[0]["source_column"] == "customer_id"
    assert suggestions[0]["target_table"] == "customers" and suggestions[0]["target_column"] == "customer_id"
    assert suggestions[0]["score"] > 0.9 and suggestions[0]["reasons"]
    assert all(s["source_column"] != "order_id" for s in suggestions)
    unknown = api.post(_url(shop, "/graphs/link-suggestions"), json={"tables": ["orders", "nope"]})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == ["body", "tables", 1]


def test_a_graph_of_tables_whose_columns_are_unknown_has_no_schema_yet(api, shop):
    api.ok("POST", _url(shop, "/tables"), 201, json={"name": "visits", "connector_id": shop.ids["connector_id"],
                                                      "path": "customers.csv"})
    graph = api.ok("POST", _url(shop, "/graphs"), 201, json={"name": "partial", "tables": ["customers", "visits"]})
    check = api.ok("POST", _url(shop, "/graphs/validate"), json={"tables": ["customers", "visits"]})
    assert check["valid"] and "not known yet" in check["warnings"][0]["message"]
    response = api.get(_url(shop, f"/graphs/{graph['id']}/schema"))
    assert response.status_code == 409 and response.json()["type"].endswith("graph-not-ready")
    assert response.json()["errors"][0]["loc"] == ["tables", 1]
    text = "PREDICT customers.segment FOR EACH customers.customer_id"
    compiled = api.post(_url(shop, "/pqueries/validate"), json={"graph_id": graph["id"], "text": text})
    assert compiled.status_code == 409


def test_a_graph_used_by_a_pquery_cannot_be_deleted(api, shop):
    response = api.delete(_url(shop, f"/graphs/{shop.ids['graph_id']}"))
    assert response.status_code == 409 and "churn" in response.json()["detail"]
    spare = api.ok("POST", _url(shop, "/graphs"), 201, json={"name": "spare", "tables": ["customers"]})
    api.ok("DELETE", _url(shop, f"/graphs/{spare['id']}"), 204)
    assert api.ok("GET", _url(shop, "/graphs"))["total"] == 1


@pytest.mark.parametrize("text, task, first_metric", [
    ("PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id", "binary_classification", "auroc"),
    ("PREDICT SUM(orders.price, 0, 30, days) FOR EACH customers.customer_id", "regression", "mae"),
    ("PREDICT customers.segment FOR EACH customers.customer_id", "multiclass_classification", "accuracy"),
])
def test_validate_answers_task_metrics_entity_and_explained_plan(api, shop, text, task, first_metric):
    answer = api.ok("POST", _url(shop, "/pqueries/validate"), json={"graph_id": shop.ids["graph_id"], "text": text})
    assert answer["valid"] and answer["task_type"] == task and answer["metrics"][0] == first_metric
    assert answer["entity"] == "customers.customer_id" and answer["graph_version"] == 1
    assert pql.Plan.from_dict(answer["plan"]).task_type.value == task
    assert answer["explain"] == pql.Plan.from_dict(answer["plan"]).explain() and task in answer["explain"]


def test_an_invalid_query_is_422_with_line_column_and_hint(api, shop):
    text = "PREDICT SUM(orders.price, 0, 30)\nFOR EACH customers.customer_idd"
    response = api.post(_url(shop, "/pqueries/validate"), json={"graph_id": shop.ids["graph_id"], "text": text})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("pql-error") and body["title"] == "Invalid predictive query"
    assert (body["line"], body["column"]) == (2, 10)
    assert "customers.customer_id" in body["hint"] and "customer_idd" in body["detail"]
    assert body["snippet"].splitlines()[0] == "FOR EACH customers.customer_idd"
    assert body["errors"] == [{"loc": ["body", "text"], "message": body["detail"], "line": 2, "column": 10,
                               "hint": body["hint"]}]
    with pytest.raises(pql.PQLError) as direct:
        pql.compile(text, pql.GraphSchema.from_dict(api.ok("GET", _url(shop, f"/graphs/{shop.ids['graph_id']}/schema"))))
    assert (direct.value.line, direct.value.column, direct.value.message) == (2, 10, body["detail"])
    stored = api.post(_url(shop, "/pqueries"), json={"name": "bad", "graph_id": shop.ids["graph_id"], "text": text})
    assert stored.status_code == 422 and stored.json()["line"] == 2
    assert api.ok("GET", _url(shop, "/pqueries"))["total"] == 1


def test_stored_pqueries_keep_text_plan_and_task_and_recompile(api, shop):
    url = _url(shop, f"/pqueries/{shop.ids['pquery_id']}")
    churn = api.ok("GET", url)
    assert churn["task_type"] == "binary_classification" and churn["graph_version"] == 1
    assert churn["plan"]["query"] == churn["text"] and churn["metrics"][0] == "auroc"
    explained = api.ok("GET", f"{url}/explain")
    assert explained["plan"] == churn["plan"] and "binary_classification" in explained["explain"]
    api.ok("PATCH", _url(shop, f"/graphs/{shop.ids['graph_id']}"), json={"description": "x", "links": []})
    api.ok("PATCH", _url(shop, f"/graphs/{shop.ids['graph_id']}"), json={
        "links": [_link("orders", "customer_id", "customers")]})
    changed = api.ok("PATCH", url, json={"text": "PREDICT SUM(orders.price, 0, 7) FOR EACH customers.customer_id",
                                        "anchor_step_seconds": 86400})
    assert changed["task_type"] == "regression" and changed["graph_version"] == 3
    assert changed["plan"] != churn["plan"]
    bad = api.patch(url, json={"text": "PREDICT nonsense"})
    assert bad.status_code == 422 and api.ok("GET", url)["text"] == changed["text"]
    assert api.post(_url(shop, "/pqueries"), json={"name": "churn", "graph_id": shop.ids["graph_id"],
                                                    "text": changed["text"]}).status_code == 409
    in_use = api.delete(url)
    assert in_use.status_code == 409 and "training jobs" in in_use.json()["detail"]
    spare = api.ok("POST", _url(shop, "/pqueries"), 201, json={"name": "spare", "graph_id": shop.ids["graph_id"],
                                                                "text": changed["text"]})
    api.ok("DELETE", _url(shop, f"/pqueries/{spare['id']}"), 204)
