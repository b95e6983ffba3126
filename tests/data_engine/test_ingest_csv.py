"""Ingesting small hand-made messy CSV files with the real local Spark session."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_engine.ingest import ColumnOverride, IngestError, IngestOptions, IngestOptionsError, ingest_table, open_table
from platform_core.artifacts import ArtifactStore
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore
from platform_core.settings import load_settings

pytestmark = pytest.mark.integration

UTC = dt.timezone.utc

# Latin-1, semicolons, CRLF, every field quoted (numbers too), \N / null / NULL / empty nulls, unix ms times,
# MM/DD/YYYY dates, one row with a field too many and one with an unparsable quantity.
MESSY = (
    '"order_id";"customer";"amount";"created_ms";"ship_date";"qty";"note"\r\n'
    '"1";"Zoë";"12.50";"1700000000000";"01/31/2024";"3";"café"\r\n'
    '"2";"Bob";"7";"1700086400000";"02/01/2024";"4";\\N\r\n'
    '"3";"Renée";null;"1700172800000";"";"x5";"naïve"\r\n'
    '"4";"Ann";"3.25";"1700259200000";"12/24/2023";"2";"a;b";"extra"\r\n'
    '"5";"";"9.75";"1700345600000";"03/15/2024";"1";NULL\r\n'
    '"6";"Ünal";"";"1700432000000";"03/16/2024";"7";""\r\n'
).encode("latin-1")


def _parquet(store: ObjectStore, uri: str, folder: str = "data") -> pa.Table:
    table = open_table(store, uri)
    names = table.data_files if folder == "data" else table.rejected_files
    return pa.concat_tables([table.artifact.read_table(n) for n in names])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, spark):
    root = tmp_path_factory.mktemp("ingest-csv")
    settings = load_settings(home=root / "home", spark_master="local[2]")
    store = ObjectStore.from_settings(settings)
    source = root / "orders.csv"
    source.write_bytes(MESSY)
    options = IngestOptions(columns={"qty": ColumnOverride(dtype="int64")})
    result = ingest_table(str(source), "orders", options=options, settings=settings, spark=spark)
    return {"root": root, "settings": settings, "store": store, "source": source, "result": result,
            "options": options, "spark": spark}


def test_dialect_is_detected_from_the_bytes(env):
    dialect = env["result"].report["dialect"]
    assert dialect["delimiter"] == ";"
    assert dialect["encoding"] == "ISO-8859-1"
    assert dialect["line_terminator"] == "\r\n"
    assert dialect["header"] is True
    assert dialect["columns"] == ["order_id", "customer", "amount", "created_ms", "ship_date", "qty", "note"]


def test_types_are_inferred_and_overridden(env):
    result = env["result"]
    assert result.dtypes == {"order_id": "int64", "customer": "string", "amount": "float64",
                             "created_ms": "timestamp", "ship_date": "timestamp", "qty": "int64", "note": "string"}
    columns = result.report["columns"]
    assert columns["created_ms"]["unix_unit"] == "ms"
    assert columns["ship_date"]["date_format"].startswith("M/d/yyyy")
    assert columns["qty"]["origin"] == "override"
    schema = _parquet(env["store"], result.uri).schema
    assert schema.field("created_ms").type == pa.timestamp("us", tz="UTC")
    assert schema.field("amount").type == pa.float64()


def test_values_nulls_and_text_survive(env):
    rows = {r["order_id"]: r for r in _parquet(env["store"], env["result"].uri).to_pylist()}
    assert sorted(rows) == [1, 2, 5, 6]
    # CRLF: the last column's values carry no carriage return.
    assert rows[1]["customer"] == "Zoë" and rows[1]["note"] == "café"
    assert rows[6]["customer"] == "Ünal"
    assert rows[1]["amount"] == 12.5 and rows[2]["amount"] == 7.0 and rows[6]["amount"] is None
    assert rows[2]["note"] is None and rows[5]["note"] is None and rows[6]["note"] is None
    assert rows[5]["customer"] is None
    assert rows[1]["created_ms"] == dt.datetime.fromtimestamp(1_700_000_000, UTC)
    assert rows[6]["created_ms"] == dt.datetime.fromtimestamp(1_700_000_000 + 5 * 86400, UTC)
    assert rows[1]["ship_date"] == dt.datetime(2024, 1, 31, tzinfo=UTC)
    assert rows[6]["qty"] == 7


def test_malformed_rows_are_rejected_counted_and_sampled_never_dropped(env):
    result = env["result"]
    assert result.rows == 4 and result.rejected_rows == 2
    assert result.report["rows"] == {"read": 6, "written": 4, "rejected": 2}
    sample = {s["values"]["order_id"]: s for s in result.report["malformed"]["sample"]}
    assert set(sample) == {"3", "4"}
    assert "qty" in sample["3"]["reason"] and "x5" in sample["3"]["reason"]
    assert "8 fields, expected 7" in sample["4"]["reason"]
    assert sample["4"]["record"].startswith('"4";"Ann"')
    assert sample["4"]["file"] == env["source"].as_uri()
    rejected = _parquet(env["store"], result.uri, "rejected")
    assert rejected.num_rows == 2
    assert {"_reason", "_record", "_file"} <= set(rejected.column_names)
    assert rejected.schema.field("qty").type == pa.string()


def test_profile_and_manifest(env):
    table = open_table(env["store"], env["result"].uri)
    assert table.metadata["rows"] == 4
    assert table.columns == list(env["result"].dtypes)
    assert table.primary_key == "order_id"
    assert table.time_column == "created_ms"
    stats = table.stats()
    assert stats["columns"]["customer"]["nulls"] == 1
    assert stats["columns"]["order_id"]["stype"] == "ID"
    ArtifactStore(env["store"]).open(env["result"].uri).verify()


def test_same_content_and_options_reuse_the_artifact(env):
    again = ingest_table(str(env["source"]), "orders", options=env["options"], settings=env["settings"],
                         spark=env["spark"])
    assert again.reused is True and again.uri == env["result"].uri
    other = ingest_table(str(env["source"]), "orders", settings=env["settings"], spark=env["spark"],
                         options=IngestOptions(columns={"qty": ColumnOverride(dtype="string"),
                                                        "order_id": ColumnOverride(stype="categorical")}),
                         output=env["store"].uri("elsewhere", "orders"))
    assert other.reused is False and other.uri != env["result"].uri
    # Without a strict column only the row with a field too many is rejected.
    assert other.rows == 5 and other.rejected_rows == 1
    assert other.dtypes["qty"] == "string"
    assert open_table(env["store"], other.uri).stypes["order_id"] == "categorical"


def test_no_header_multiline_day_first_dates_and_soft_nulls(env):
    path = env["root"] / "events.tsv"
    path.write_text(
        '1\t31.01.2024 10:00\ttrue\t"He said ""hi""\nand left"\tNA\tNA\n'
        "2\t01.02.2024 11:30\tfalse\tplain\t7\tDE\n"
        "3\t15.02.2024\tFALSE\t\\N\t-\tNA\n",
        encoding="utf-8")
    result = ingest_table(str(path), "events", settings=env["settings"], spark=env["spark"], profile=False)
    assert result.report["dialect"]["header"] is False
    assert result.report["dialect"]["multiline"] is True
    assert list(result.dtypes.values()) == ["int64", "timestamp", "bool", "string", "int64", "string"]
    rows = _parquet(env["store"], result.uri).to_pylist()
    assert rows[0]["column_2"] == dt.datetime(2024, 1, 31, 10, 0, tzinfo=UTC)
    assert rows[2]["column_2"] == dt.datetime(2024, 2, 15, tzinfo=UTC)
    assert rows[0]["column_4"] == 'He said "hi"\nand left'
    assert [r["column_3"] for r in rows] == [True, False, False]
    # "NA" and "-" are nulls in a number column but values in a text column.
    assert [r["column_5"] for r in rows] == [None, 7, None]
    assert [r["column_6"] for r in rows] == ["NA", "DE", "NA"]
    assert result.rejected_rows == 0
    assert open_table(env["store"], result.uri).rejected_files == []


def test_errors_name_what_is_wrong(env):
    with pytest.raises(IngestOptionsError, match="orders2: column override 'qtty' is not a column; did you mean 'qty'"):
        ingest_table(str(env["source"]), "orders2", settings=env["settings"], spark=env["spark"],
                     options=IngestOptions(columns={"qtty": ColumnOverride(dtype="int64")}))
    with pytest.raises(IngestError, match="no file, folder or prefix"):
        ingest_table(str(env["root"] / "missing.csv"), "missing", settings=env["settings"], spark=env["spark"])
    with pytest.raises(UserFacingError, match="table name"):
        ingest_table(str(env["source"]), "bad name", settings=env["settings"], spark=env["spark"])
    with pytest.raises(UserFacingError, match="time column 'note' is string"):
        ingest_table(str(env["source"]), "orders3", settings=env["settings"], spark=env["spark"],
                     options=IngestOptions(time_column="note"))


def test_folder_of_files_with_markers(env):
    folder = env["root"] / "parts"
    folder.mkdir()
    (folder / "a.csv").write_text("id,v\n1,x\n2,y\n")
    (folder / "b.csv").write_text("id,v\n3,z\n")
    (folder / "_SUCCESS").write_text("")
    (folder / ".hidden.csv").write_text("id,v\n9,hidden\n")
    result = ingest_table(folder.as_uri(), "parts", settings=env["settings"], spark=env["spark"], profile=False)
    assert result.rows == 3
    assert sorted(r["id"] for r in _parquet(env["store"], result.uri).to_pylist()) == [1, 2, 3]
    assert [Path(f["uri"]).name for f in result.report["files"]] == ["a.csv", "b.csv"]
