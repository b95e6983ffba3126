import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from platform_core.artifacts import (
    MANIFEST_NAME,
    ArtifactError,
    ArtifactNotFoundError,
    ArtifactStore,
    IncompleteArtifactError,
)
from platform_core.object_store import ObjectStore

pytestmark = pytest.mark.integration


def _write_sample(artifacts: ArtifactStore, uri: str, inputs=None):
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", None, "c"]})
    with artifacts.writer(uri, producer="tests.sample", inputs=inputs or {"source": "x"}) as out:
        out.write_table("rows.parquet", table)
        out.write_arrow("rows.arrow", table)
        out.write_numpy("indptr.npy", np.array([0, 2, 3], dtype=np.int64))
        out.write_json("stats.json", {"rows": 3})
        out.write_batches("streamed.parquet", table.schema, iter(table.to_batches(max_chunksize=1)))
        out.metadata["kind"] = "sample"
    return table


def test_round_trip_of_every_kind(any_store: ObjectStore):
    artifacts = ArtifactStore(any_store)
    table = _write_sample(artifacts, "sample/v1")
    art = artifacts.open("sample/v1")
    manifest = art.manifest
    assert manifest.producer == "tests.sample"
    assert manifest.inputs == {"source": "x"}
    assert manifest.metadata == {"kind": "sample"}
    assert manifest.rows == {"rows.parquet": 3, "rows.arrow": 3, "indptr.npy": 3, "streamed.parquet": 3}
    assert manifest.file("rows.parquet").schema == [{"name": "id", "type": "int64"}, {"name": "name", "type": "string"}]
    assert manifest.file("indptr.npy").dtype == "<i8" and manifest.file("indptr.npy").shape == [3]
    assert art.read_table("rows.parquet").equals(table)
    assert art.read_table("streamed.parquet").equals(table)
    assert art.read_arrow("rows.arrow").equals(table)
    assert art.read_numpy("indptr.npy").tolist() == [0, 2, 3]
    assert art.read_json("stats.json") == {"rows": 3}
    assert sum(b.num_rows for b in art.iter_batches("rows.parquet", batch_size=2)) == 3
    art.verify()


def test_same_content_same_hash_and_find_checks_inputs(file_store: ObjectStore):
    artifacts = ArtifactStore(file_store)
    _write_sample(artifacts, "a", inputs={"source": "x", "n": 1})
    _write_sample(artifacts, "b", inputs={"source": "x", "n": 1})
    assert artifacts.open("a").manifest.content_hash == artifacts.open("b").manifest.content_hash
    assert artifacts.find("a", {"source": "x", "n": 1}) is not None
    assert artifacts.find("a", {"source": "x", "n": 2}) is None
    assert artifacts.find("missing") is None


def test_local_numpy_is_memory_mapped_read_only(file_store: ObjectStore):
    artifacts = ArtifactStore(file_store)
    _write_sample(artifacts, "mm")
    array = artifacts.open("mm").read_numpy("indptr.npy")
    assert isinstance(array, np.memmap)
    with pytest.raises(ValueError):
        array[0] = 7


def test_missing_folder_and_folder_without_manifest(any_store: ObjectStore):
    artifacts = ArtifactStore(any_store)
    with pytest.raises(ArtifactNotFoundError):
        artifacts.open("nothing/here")
    any_store.write_bytes("half/rows.parquet", b"partial")
    with pytest.raises(IncompleteArtifactError, match="no _manifest.json"):
        artifacts.open("half")


def test_failed_writer_leaves_nothing(any_store: ObjectStore):
    artifacts = ArtifactStore(any_store)
    with pytest.raises(RuntimeError, match="boom"):
        with artifacts.writer("failed", producer="tests") as out:
            out.write_numpy("x.npy", np.arange(3))
            raise RuntimeError("boom")
    assert any_store.list("failed", recursive=True) == []
    with pytest.raises(ArtifactNotFoundError):
        artifacts.open("failed")


def test_crashed_writer_process_leaves_nothing_readers_accept(any_store: ObjectStore, request):
    """A writer killed half way (no cleanup runs) leaves files but no manifest; readers refuse them."""
    artifacts = ArtifactStore(any_store)
    _write_sample(artifacts, "crash")  # a good old version first: the rewrite must invalidate it
    s3 = any_store._s3
    script = textwrap.dedent(f"""
        import os, numpy as np
        from platform_core.object_store import ObjectStore, S3Options
        from platform_core.artifacts import ArtifactStore
        store = ObjectStore({any_store.root_uri!r}, s3=S3Options({s3.endpoint_url!r}, {s3.access_key_id!r},
                            {s3.secret_access_key!r}))
        with ArtifactStore(store).writer("crash", producer="tests.crash") as out:
            out.write_numpy("indptr.npy", np.arange(10))
            os._exit(9)  # dies without running any cleanup
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 9, result.stderr
    assert any_store.list("crash", recursive=True)  # the crash left files behind...
    with pytest.raises(IncompleteArtifactError):  # ...that no reader accepts
        artifacts.open("crash")
    assert artifacts.find("crash") is None


def test_tampered_and_truncated_files_are_detected(file_store: ObjectStore):
    artifacts = ArtifactStore(file_store)
    _write_sample(artifacts, "t")
    path = file_store.local_path("t/stats.json")
    path.write_text(path.read_text().replace("3", "4"))  # same size, different bytes
    with pytest.raises(IncompleteArtifactError, match="does not match"):
        artifacts.open("t").verify()
    path.write_text("{}")
    with pytest.raises(IncompleteArtifactError, match="the manifest says"):
        artifacts.open("t")
    file_store.delete("t/rows.arrow")
    with pytest.raises(IncompleteArtifactError, match="is missing"):
        artifacts.open("t")


def test_bad_file_names_and_double_writes(file_store: ObjectStore):
    artifacts = ArtifactStore(file_store)
    with pytest.raises(ArtifactError):
        with artifacts.writer("names", producer="tests") as out:
            out.write_json("a.json", {})
            out.write_json("a.json", {})
    for bad in ("../escape", "/abs", MANIFEST_NAME, ""):
        with pytest.raises(ArtifactError):
            with artifacts.writer("names", producer="tests") as out:
                out.write_json(bad, {})


def test_add_existing_records_files_written_by_another_writer(file_store: ObjectStore):
    import pyarrow.parquet as pq

    artifacts = ArtifactStore(file_store)
    with artifacts.writer("spark-like", producer="tests") as out:
        target = file_store.local_path("spark-like/part-0.parquet")
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"x": [1, 2]}), target)
        out.add_existing("part-0.parquet", kind="parquet")
    art = artifacts.open("spark-like")
    assert art.manifest.rows == {"part-0.parquet": 2}
    art.verify()


def test_numpy_streamed_in_chunks_equals_one_shot(any_store: ObjectStore):
    artifacts = ArtifactStore(any_store)
    matrix = np.arange(30, dtype=np.float32).reshape(10, 3)
    with artifacts.writer("chunks", producer="tests") as out:
        out.write_numpy_chunks("m.npy", np.float32, (10, 3), (matrix[i:i + 4] for i in range(0, 10, 4)))
        out.write_numpy("one.npy", matrix)
    art = artifacts.open("chunks")
    assert np.array_equal(art.read_numpy("m.npy"), matrix)
    assert art.manifest.file("m.npy").sha256 == art.manifest.file("one.npy").sha256
    with pytest.raises(ArtifactError, match="needs 30"):
        with artifacts.writer("short", producer="tests") as out:
            out.write_numpy_chunks("m.npy", np.float32, (10, 3), [matrix[:2]])
    assert artifacts.find("short") is None


def test_arrow_streamed_in_batches_is_read_back_whole(file_store: ObjectStore):
    artifacts = ArtifactStore(file_store)
    table = pa.table({"text": ["a", None, "ccc", "dd"]})
    with artifacts.writer("arrow-stream", producer="tests") as out:
        out.write_arrow_batches("text.arrow", table.schema, iter(table.to_batches(max_chunksize=1)))
    art = artifacts.open("arrow-stream")
    assert art.manifest.rows == {"text.arrow": 4}
    assert art.read_arrow("text.arrow").equals(table)
