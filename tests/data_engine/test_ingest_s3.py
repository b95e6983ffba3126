"""Ingesting from and into a real S3 server (SeaweedFS) through the staging layer."""

from __future__ import annotations

import pyarrow as pa
import pytest

from data_engine.ingest import ColumnOverride, IngestOptions, ingest_table, open_table, profile_table
from data_engine.links import link_report
from data_engine.staging import SPARK_SCHEMES, Staging, spark_reaches
from platform_core.artifacts import ArtifactStore
from platform_core.settings import load_settings

pytestmark = pytest.mark.integration


def test_s3_source_and_store_go_through_local_staging(tmp_path, s3_server, s3_store, spark):
    assert "s3" not in SPARK_SCHEMES and not spark_reaches(s3_store.uri("x"))
    raw = s3_store.uri("raw", "orders")
    s3_store.write_bytes(f"{raw}/2024-01.csv", b"order_id,customer_id,total\r\n1,1,9.5\r\n2,2,x\r\n3,1,4\r\n")
    s3_store.write_bytes(f"{raw}/2024-02.csv", b"order_id,customer_id,total\r\n4,2,1.25\r\n5,9,2,extra\r\n")
    s3_store.write_bytes(f"{raw}/_SUCCESS", b"")
    s3_store.write_bytes(s3_store.uri("raw", "customers.csv"), b"customer_id,name\n1,Ann\n2,Bob\n")
    settings = load_settings(home=tmp_path / "home", spark_master="local[2]", store_uri=s3_store.root_uri,
                             s3_endpoint_url=s3_server.endpoint_url, s3_access_key_id=s3_server.access_key_id,
                             s3_secret_access_key=s3_server.secret_access_key)
    options = IngestOptions(columns={"total": ColumnOverride(dtype="float64")})
    # A key prefix, not a folder: both monthly files and nothing else.
    result = ingest_table(f"{raw}/2024-0", "orders", options=options, settings=settings, store=s3_store, spark=spark)
    assert result.uri.startswith(s3_store.uri("tables", "orders"))
    assert result.rows == 3 and result.rejected_rows == 2
    reasons = sorted(s["reason"] for s in result.report["malformed"]["sample"])
    assert reasons[0].startswith("malformed record (4 fields, expected 3)")
    assert "total" in reasons[1]
    assert {s["file"] for s in result.report["malformed"]["sample"]} == {f"{raw}/2024-01.csv", f"{raw}/2024-02.csv"}
    table = open_table(s3_store, result.uri)
    ArtifactStore(s3_store).open(result.uri).verify()
    data = pa.concat_tables([table.artifact.read_table(n) for n in table.data_files])
    assert data.column("order_id").to_pylist() == [1, 3, 4]
    assert data.column("total").to_pylist() == [9.5, 4.0, 1.25]
    assert table.stats()["columns"]["total"]["max"] == 9.5
    # Nothing but the artifact's own files (and its manifest) landed in the store.
    listed = {u[len(result.uri) + 1:] for u in s3_store.list(result.uri, recursive=True)}
    assert listed == {f.name for f in table.artifact.manifest.files} | {"_manifest.json"}

    again = ingest_table(f"{raw}/2024-0", "orders", options=options, settings=settings, store=s3_store, spark=spark)
    assert again.reused and again.uri == result.uri

    profile = profile_table(result.uri, options=IngestOptions(columns={"customer_id": ColumnOverride(stype="categorical")}),
                            settings=settings, store=s3_store, spark=spark)
    assert profile["columns"]["customer_id"]["stype"] == "categorical"
    assert profile["uri"].startswith(result.uri + "/profiles/")

    customers = ingest_table(s3_store.uri("raw", "customers.csv"), "customers", settings=settings, store=s3_store,
                             spark=spark)
    report = link_report({"orders": result.uri, "customers": customers.uri}, settings=settings, store=s3_store,
                         spark=spark)
    assert [(l["table"], l["column"], l["to"]) for l in report["links"]] == [("orders", "customer_id", "customers")]


def test_staging_downloads_keep_the_layout_and_clean_up(tmp_path, s3_store):
    s3_store.write_bytes(s3_store.uri("src", "year=2024", "a.parquet"), b"PAR1-not-really")
    with Staging(s3_store, tmp_path / "scratch") as staging:
        staged = staging.stage_source(s3_store.uri("src"))
        assert [f.relative for f in staged.files] == ["year=2024/a.parquet"]
        local = staged.files[0].spark_path.removeprefix("file://")
        assert open(local, "rb").read() == b"PAR1-not-really"
        assert staged.spark_base == "file://" + local.removesuffix("/year=2024/a.parquet")
        scratch = staging.scratch
    assert not scratch.exists()
