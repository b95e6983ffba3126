import pytest

from platform_core.object_store import ObjectNotFoundError, ObjectStore, ObjectStoreError, S3Options

pytestmark = pytest.mark.integration


def test_bytes_round_trip_list_and_delete(any_store: ObjectStore):
    any_store.write_bytes("a/b/one.bin", b"1")
    any_store.write_bytes(any_store.uri("a", "two.bin"), b"22")
    assert any_store.read_bytes("a/b/one.bin") == b"1"
    assert any_store.size("a/two.bin") == 2
    assert any_store.exists("a/two.bin") and not any_store.exists("a/three.bin")
    assert any_store.list("a", recursive=True) == sorted([any_store.uri("a/b/one.bin"), any_store.uri("a/two.bin")])
    assert any_store.list("a") == [any_store.uri("a/two.bin")]
    any_store.delete("a")
    assert any_store.list("a", recursive=True) == []
    any_store.delete("a")  # deleting nothing is fine


def test_missing_object_is_a_clear_error(any_store: ObjectStore):
    with pytest.raises(ObjectNotFoundError, match="nope.bin: not found"):
        any_store.read_bytes("nope.bin")


def test_uris_of_another_scheme_are_refused(file_store: ObjectStore):
    with pytest.raises(ObjectStoreError, match="not a s3:// store"):
        file_store.read_bytes("s3://bucket/key")


def test_unsupported_scheme_and_short_bucket():
    with pytest.raises(ObjectStoreError, match="unsupported scheme 'ftp'"):
        ObjectStore("ftp://host/x")
    with pytest.raises(ObjectStoreError, match="at least 3 characters"):
        ObjectStore("s3://ab/x")


def test_plain_local_path_is_a_file_store(tmp_path):
    store = ObjectStore(str(tmp_path / "plain"))
    assert store.root_uri == (tmp_path / "plain").as_uri()
    store.write_bytes("k", b"v")
    assert (tmp_path / "plain" / "k").read_bytes() == b"v"


def test_unreachable_s3_names_the_endpoint():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = ObjectStore("s3://nothing-here/x", s3=S3Options(endpoint_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(ObjectStoreError) as info:
        store.ensure_bucket()
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "\n" not in str(info.value)
