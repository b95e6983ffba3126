"""An S3 connector on a real SeaweedFS server: credentials come from the variables its reference names."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.auth import create_first_admin_key
from platform_core.object_store import ObjectStore
from platform_core.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def lake(s3_server):
    store = ObjectStore("s3://pq-connector-lake/raw", s3=s3_server.options())
    store.ensure_bucket()
    store.write_bytes("customers.csv", b"customer_id\n1\n")
    store.write_bytes("orders/part-0.parquet", b"not really parquet")
    yield store
    store.delete(store.root_uri)


def test_an_s3_connector_lists_files_and_registers_tables_with_referenced_credentials(lake, s3_server, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setenv("LAKE_ACCESS_KEY_ID", s3_server.access_key_id)
    monkeypatch.setenv("LAKE_SECRET_ACCESS_KEY", s3_server.secret_access_key)
    settings = Settings(home=tmp_path / "home", temporal_address="127.0.0.1:9")
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {create_first_admin_key(settings)}"
        project = client.post("/v1/projects", json={"name": "lake"}).json()["id"]
        base = f"/v1/projects/{project}"
        connector = client.post(f"{base}/connectors", json={
            "name": "lake", "uri": "s3://pq-connector-lake/raw/", "credentials_ref": "env:LAKE",
            "endpoint_url": s3_server.endpoint_url})
        assert connector.status_code == 201, connector.text
        assert s3_server.secret_access_key not in connector.text
        cid = connector.json()["id"]
        files = client.get(f"{base}/connectors/{cid}/files").json()
        assert [(f["path"], f["uri"], f["size"]) for f in files["items"]] == [
            ("customers.csv", "s3://pq-connector-lake/raw/customers.csv", 14),
            ("orders/part-0.parquet", "s3://pq-connector-lake/raw/orders/part-0.parquet", 18)]
        table = client.post(f"{base}/tables", json={"name": "orders", "connector_id": cid, "path": "orders"})
        assert table.status_code == 201 and table.json()["source_uri"] == "s3://pq-connector-lake/raw/orders"
        missing = client.post(f"{base}/tables", json={"name": "gone", "connector_id": cid, "path": "gone.csv"})
        assert missing.status_code == 422 and missing.json()["errors"][0]["loc"] == ["body", "path"]
        monkeypatch.setenv("LAKE_SECRET_ACCESS_KEY", "wrong-secret")
        refused = client.get(f"{base}/connectors/{cid}/files")
        assert refused.status_code == 502 and refused.json()["type"].endswith("store-unreachable")
        assert "wrong-secret" not in refused.text
