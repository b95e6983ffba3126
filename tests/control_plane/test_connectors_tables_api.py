"""Connectors (local folders, S3 prefixes with a credentials reference) and tables registered from them.

Runs on SQLite (unit) and PostgreSQL (integration), see conftest.py.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def project(api):
    return api.ok("POST", "/v1/projects", 201, json={"name": "shop"})["id"]


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "raw data"
    (folder / "orders").mkdir(parents=True)
    (folder / "customers.csv").write_text("customer_id,segment\n1,gold\n")
    for i in range(3):
        (folder / "orders" / f"part-{i}.csv").write_text("order_id,customer_id\n1,1\n")
    return folder


@pytest.fixture
def connector(api, project, data):
    return api.ok("POST", f"/v1/projects/{project}/connectors", 201, json={"name": "raw", "uri": str(data)})


def test_a_local_connector_is_stored_as_a_file_uri_and_lists_its_files(api, project, connector, data):
    assert connector["kind"] == "local" and connector["uri"] == data.resolve().as_uri()
    assert connector["credentials_ref"] is None
    files = api.ok("GET", f"/v1/projects/{project}/connectors/{connector['id']}/files")
    assert [f["path"] for f in files["items"]] == ["customers.csv", "orders/part-0.csv", "orders/part-1.csv",
                                                    "orders/part-2.csv"]
    assert files["items"][0]["size"] == len("customer_id,segment\n1,gold\n")
    assert files["items"][0]["uri"] == (data / "customers.csv").resolve().as_uri()
    page = api.ok("GET", f"/v1/projects/{project}/connectors/{connector['id']}/files",
                  params={"prefix": "orders", "limit": 2, "offset": 1})
    assert [f["path"] for f in page["items"]] == ["orders/part-1.csv", "orders/part-2.csv"] and page["total"] == 3
    top = api.ok("GET", f"/v1/projects/{project}/connectors/{connector['id']}/files", params={"recursive": "false"})
    assert [f["path"] for f in top["items"]] == ["customers.csv"]
    climb = api.get(f"/v1/projects/{project}/connectors/{connector['id']}/files", params={"prefix": "../.."})
    assert climb.status_code == 422 and "'..'" in climb.json()["detail"]


def test_a_file_uri_and_a_path_name_the_same_folder(api, project, data):
    made = api.ok("POST", f"/v1/projects/{project}/connectors", 201,
                  json={"name": "again", "uri": data.resolve().as_uri()})
    assert made["uri"] == data.resolve().as_uri()


@pytest.mark.parametrize("uri, message", [
    ("relative/folder", "absolute path"),
    ("/no/such/folder/anywhere", "there is no folder"),
    ("ftp://host/x", "unsupported scheme"),
    ("s3://ab/prefix", "not a valid S3 bucket name"),
    ("s3://Bad_Bucket/x", "not a valid S3 bucket name"),
    ("file://host/x", "not a host"),
])
def test_bad_connector_uris_are_422_with_the_reason(api, project, uri, message):
    response = api.post(f"/v1/projects/{project}/connectors", json={"name": "x", "uri": uri})
    assert response.status_code == 422, response.text
    body = response.json()
    assert message in body["detail"] and body["errors"][0]["loc"] == ["body", "uri"]


def test_an_s3_connector_keeps_a_credentials_reference_never_a_secret(api, project):
    made = api.ok("POST", f"/v1/projects/{project}/connectors", 201, json={
        "name": "lake", "uri": "s3://my-bucket/raw/shop/", "credentials_ref": "env:SHOP_LAKE",
        "endpoint_url": "http://127.0.0.1:9000"})
    assert made["kind"] == "s3" and made["uri"] == "s3://my-bucket/raw/shop"
    assert made["credentials_ref"] == "env:SHOP_LAKE"
    for ref in ("AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMI", "SHOP_LAKE", "env:PQ_S3", "env:pq_mine"):
        response = api.post(f"/v1/projects/{project}/connectors",
                            json={"name": "lake2", "uri": "s3://my-bucket/raw", "credentials_ref": ref})
        assert response.status_code == 422, ref
    local = api.post(f"/v1/projects/{project}/connectors",
                     json={"name": "l", "uri": "/tmp", "credentials_ref": "env:SHOP"})
    assert local.status_code == 422 and local.json()["errors"][0]["loc"] == ["body", "credentials_ref"]


def test_listing_an_s3_connector_whose_credentials_are_not_set_says_which_variables(api, project, monkeypatch):
    monkeypatch.delenv("NOWHERE_ACCESS_KEY_ID", raising=False)
    made = api.ok("POST", f"/v1/projects/{project}/connectors", 201, json={
        "name": "lake", "uri": "s3://my-bucket/raw", "credentials_ref": "env:NOWHERE"})
    response = api.get(f"/v1/projects/{project}/connectors/{made['id']}/files")
    assert response.status_code == 422
    assert "NOWHERE_ACCESS_KEY_ID" in response.json()["detail"]


def test_connector_names_are_unique_per_project_and_updates_are_checked(api, project, connector, data):
    again = api.post(f"/v1/projects/{project}/connectors", json={"name": "raw", "uri": str(data)})
    assert again.status_code == 409 and "raw" in again.json()["detail"]
    url = f"/v1/projects/{project}/connectors/{connector['id']}"
    assert api.ok("PATCH", url, json={"description": "landing zone"})["description"] == "landing zone"
    assert api.patch(url, json={"uri": "/no/such/place"}).status_code == 422
    assert api.patch(url, json={"kind": "s3"}).status_code == 422  # unknown field
    moved = api.ok("PATCH", url, json={"uri": str(data / "orders")})
    assert moved["uri"].endswith("/orders")
    listed = api.ok("GET", f"/v1/projects/{project}/connectors")
    assert listed["total"] == 1 and listed["items"][0]["id"] == connector["id"]


def _orders(connector_id: str, **extra) -> dict:
    return {"name": "orders", "connector_id": connector_id, "path": "orders", "primary_key": "order_id",
            "time_column": "created_at", **extra}


def test_a_table_records_its_source_and_declarations_and_nothing_inferred(api, project, connector, data):
    body = _orders(connector["id"], format_options={"delimiter": ";", "encoding": "latin-1", "header": True},
                   columns=[{"name": "created_at", "date_format": "dd.MM.yyyy"},
                            {"name": "customer_id", "stype": "id", "dtype": "int"}])
    table = api.ok("POST", f"/v1/projects/{project}/tables", 201, json=body)
    assert table["source_uri"] == (data / "orders").resolve().as_uri()
    assert table["status"] == "registered"
    assert table["inferred"] is None and table["statistics"] is None and table["row_count"] is None
    assert table["format_options"]["delimiter"] == ";" and table["format_options"]["encoding"] == "ISO-8859-1"
    assert table["columns"] == [{"name": "created_at", "dtype": "timestamp", "date_format": "dd.MM.yyyy"},
                                {"name": "customer_id", "dtype": "int64", "stype": "ID"}]
    assert api.ok("GET", f"/v1/projects/{project}/tables/{table['id']}") == table


@pytest.mark.parametrize("change, loc_or_detail", [
    ({"path": "missing.csv"}, ["body", "path"]),
    ({"path": "../outside.csv"}, ["body", "path"]),
    ({"path": "/etc/passwd"}, ["body", "path"]),
    ({"connector_id": "0" * 32}, ["body", "connector_id"]),
    ({"format_options": {"delimiter": '"', "quote": '"'}}, "delimiter and quote must differ"),
    ({"format_options": {"encoding": "klingon"}}, "unknown encoding"),
    ({"columns": [{"name": "a", "dtype": "complex"}]}, "unknown dtype"),
    ({"columns": [{"name": "a", "unix_unit": "s", "date_format": "yyyy"}]}, "not both"),
    ({"columns": [{"name": "a"}, {"name": "a"}]}, ["body", "columns", 1, "name"]),
    ({"columns": [{"name": "a", "stype": "fancy"}]}, ["body", "columns", 0, "stype"]),
    ({"name": "bad name"}, ["body", "name"]),
])
def test_bad_table_registrations_are_422_with_the_reason(api, project, connector, change, loc_or_detail):
    response = api.post(f"/v1/projects/{project}/tables", json={**_orders(connector["id"]), **change})
    assert response.status_code == 422, response.text
    body = response.json()
    if isinstance(loc_or_detail, list):
        assert body["errors"][0]["loc"] == loc_or_detail, body
    else:
        assert loc_or_detail in body["detail"], body


def test_a_table_is_patched_and_deleted_unless_a_graph_uses_it(api, project, connector):
    base = f"/v1/projects/{project}/tables"
    orders = api.ok("POST", base, 201, json=_orders(connector["id"], columns=[
        {"name": "order_id", "stype": "ID"}, {"name": "customer_id", "stype": "ID"},
        {"name": "created_at", "stype": "timestamp"}]))
    assert api.post(base, json=_orders(connector["id"])).status_code == 409
    patched = api.ok("PATCH", f"{base}/{orders['id']}", json={"time_column": None, "description": "all orders"})
    assert patched["time_column"] is None and patched["description"] == "all orders"
    assert patched["primary_key"] == "order_id" and len(patched["columns"]) == 3
    moved = api.ok("PATCH", f"{base}/{orders['id']}", json={"path": "customers.csv", "columns": []})
    assert moved["source_uri"].endswith("/customers.csv") and moved["columns"] == []
    assert api.patch(f"{base}/{orders['id']}", json={"path": "nope.csv"}).status_code == 422
    customers = api.ok("POST", base, 201, json={
        "name": "customers", "connector_id": connector["id"], "path": "customers.csv", "primary_key": "customer_id",
        "columns": [{"name": "customer_id", "stype": "ID"}]})
    api.ok("POST", f"/v1/projects/{project}/graphs", 201, json={"name": "g", "tables": ["customers"]})
    used = api.delete(f"{base}/{customers['id']}")
    assert used.status_code == 409 and "graph(s) g" in used.json()["detail"]
    in_use = api.delete(f"/v1/projects/{project}/connectors/{connector['id']}")
    assert in_use.status_code == 409 and "table(s)" in in_use.json()["detail"]
    api.ok("DELETE", f"{base}/{orders['id']}", 204)
    assert api.get(f"{base}/{orders['id']}").status_code == 404
    assert api.ok("GET", base)["total"] == 1


def test_local_connectors_stay_inside_the_connector_roots(api, app, settings, project, connector, data, tmp_path):
    from control_plane.api.deps import get_settings

    allowed = tmp_path / "allowed"
    (allowed / "shop").mkdir(parents=True)
    (tmp_path / "escape").symlink_to(data)  # a link inside no root still resolves outside it
    restricted = settings.model_copy(update={"connector_roots": [allowed.resolve()]})
    app.dependency_overrides[get_settings] = lambda: restricted
    base = f"/v1/projects/{project}/connectors"
    inside = api.ok("POST", base, 201, json={"name": "inside", "uri": str(allowed / "shop")})
    assert inside["uri"] == (allowed / "shop").resolve().as_uri()
    for uri in (str(data), str(tmp_path / "escape"), "/etc"):
        response = api.post(base, json={"name": "outside", "uri": uri})
        assert response.status_code == 422, uri
        assert "PQ_CONNECTOR_ROOTS" in response.json()["detail"] and response.json()["errors"][0]["loc"] == ["body", "uri"]
    moved = api.patch(f"{base}/{inside['id']}", json={"uri": "/etc"})
    assert moved.status_code == 422 and api.ok("GET", f"{base}/{inside['id']}")["uri"] == inside["uri"]
    # A connector made before the roots were set can no longer be read.
    listing = api.get(f"{base}/{connector['id']}/files")
    assert listing.status_code == 422 and "outside the folders" in listing.json()["detail"]
    table = api.post(f"/v1/projects/{project}/tables",
                     json={"name": "customers", "connector_id": connector["id"], "path": "customers.csv"})
    assert table.status_code == 422 and "outside the folders" in table.text

