"""Ingesting Parquet sources: types normalised (UTC microsecond timestamps, int64, float64)."""

from __future__ import annotations

import datetime as dt
import decimal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_engine.ingest import ColumnOverride, IngestOptions, ingest_table, open_table

pytestmark = pytest.mark.integration

UTC = dt.timezone.utc


def test_parquet_types_are_normalised(tmp_path, de_settings, de_store, spark):
    folder = tmp_path / "events"
    folder.mkdir()
    ns = pd.to_datetime(["2024-01-01 10:00:00.123456789", "2024-01-02 00:00:00", None], format="ISO8601").as_unit("ns")
    first = pa.table({
        "event_id": pa.array([1, 2, 3], pa.int32()),
        "at_ns": pa.array(ns),
        "at_berlin": pa.array(pd.to_datetime(["2024-01-01 12:00", "2024-06-01 12:00", "2024-07-01 00:00"], format="ISO8601")
                              .tz_localize("Europe/Berlin")),
        "day": pa.array([dt.date(2024, 1, 1), None, dt.date(2024, 3, 1)]),
        "small": pa.array([1, 2, 255], pa.uint8()),
        "price": pa.array([decimal.Decimal("1.50"), None, decimal.Decimal("2.25")], pa.decimal128(10, 2)),
        "ratio": pa.array([0.5, 0.25, None], pa.float32()),
        "tags": pa.array([["a", "b"], [], None], pa.list_(pa.string())),
        "when_text": pa.array(["2024-01-05", "2024-01-06 07:08:09", None]),
        "code": pa.array(["007", "010", "123"]),
    })
    pq.write_table(first, folder / "part-0.parquet")
    pq.write_table(first.slice(0, 1), folder / "part-1.parquet")
    (folder / "_SUCCESS").write_text("")
    options = IngestOptions(columns={"small": ColumnOverride(dtype="string")})
    result = ingest_table(folder.as_uri(), "events", settings=de_settings, store=de_store, spark=spark,
                          options=options)
    assert result.format == "parquet" and result.rows == 4 and result.rejected_rows == 0
    assert result.dtypes == {"event_id": "int64", "at_ns": "timestamp", "at_berlin": "timestamp", "day": "timestamp",
                             "small": "string", "price": "float64", "ratio": "float64", "tags": "list<string>",
                             "when_text": "timestamp", "code": "string"}
    table = open_table(de_store, result.uri)
    data = pa.concat_tables([table.artifact.read_table(n) for n in table.data_files])
    assert data.schema.field("at_ns").type == pa.timestamp("us", tz="UTC")
    assert data.schema.field("event_id").type == pa.int64()
    rows = data.to_pylist()
    assert rows[0]["at_ns"] == dt.datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert rows[2]["at_ns"] is None
    assert rows[0]["at_berlin"] == dt.datetime(2024, 1, 1, 11, 0, tzinfo=UTC)
    assert rows[1]["at_berlin"] == dt.datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    assert rows[0]["day"] == dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert [r["small"] for r in rows] == ["1", "2", "255", "1"]
    assert rows[2]["price"] == 2.25 and rows[1]["price"] is None
    assert rows[0]["tags"] == ["a", "b"]
    assert rows[1]["when_text"] == dt.datetime(2024, 1, 6, 7, 8, 9, tzinfo=UTC)
    assert [r["code"] for r in rows[:3]] == ["007", "010", "123"]
    assert result.report["columns"]["at_ns"]["parser"] == "nanos"
    stats = table.stats()
    assert stats["columns"]["tags"]["stype"] == "multicategorical"
    assert stats["columns"]["event_id"]["stype"] == "ID"
    assert table.primary_key is None  # event 1 is in both files
    assert [f["uri"].rsplit("/", 1)[-1] for f in result.report["files"]] == ["part-0.parquet", "part-1.parquet"]


def test_typed_override_rejects_values_that_do_not_cast(tmp_path, de_settings, de_store, spark):
    path = tmp_path / "readings.parquet"
    pq.write_table(pa.table({"sensor": ["a", "b", "c"], "value": ["1.5", "oops", "3"]}), path)
    result = ingest_table(path.as_uri(), "readings", settings=de_settings, store=de_store, spark=spark,
                          options=IngestOptions(columns={"value": ColumnOverride(dtype="float64")}), profile=False)
    assert result.rows == 2 and result.rejected_rows == 1
    sample = result.report["malformed"]["sample"]
    assert sample[0]["values"] == {"sensor": "b", "value": "oops"}
    assert "value" in sample[0]["reason"] and "float64" in sample[0]["reason"]
