import numpy as np
import pytest

from graph_engine.service.connection import normalize_address
from graph_engine.service.errors import StoreServiceError
from graph_engine.service.wire import ANSWER, REQUEST, WireError, command, decode, encode, pack, parse_command, unpack

pytestmark = pytest.mark.unit


def test_arrays_of_any_shape_and_dtype_round_trip():
    arrays = {
        "int64": np.arange(12, dtype=np.int64).reshape(3, 4),
        "float32": np.linspace(0, 1, 7, dtype=np.float32),
        "int32": np.array([[-1, 5]], dtype=np.int32),
        "bool": np.array([True, False, True]),
        "empty": np.empty((0, 3), dtype=np.float32),
        "strided": np.arange(20, dtype=np.float64).reshape(4, 5)[:, ::2],
    }
    out, header = unpack(pack(arrays, {"op": "x", "n": 3}))
    assert header == {"op": "x", "n": 3}
    assert list(out) == list(arrays)
    for name, array in arrays.items():
        assert out[name].dtype == array.dtype and out[name].shape == array.shape, name
        assert np.array_equal(out[name], array), name


def test_packing_shares_memory_with_the_arrays(tmp_path):
    path = tmp_path / "block.npy"
    np.save(path, np.arange(1000, dtype=np.int64))
    mapped = np.load(path, mmap_mode="r")
    batch = pack({"mapped": mapped})
    values = batch.column(0).values
    assert values.buffers()[1].address == mapped.ctypes.data
    out, _ = unpack(batch)
    assert out["mapped"].ctypes.data == mapped.ctypes.data


def test_messages_without_arrays_still_carry_their_header():
    out, header = unpack(pack({}, {"op": "ping"}))
    assert out == {} and header == {"op": "ping"}


def test_malformed_messages_are_rejected():
    with pytest.raises(WireError, match="cannot travel"):
        pack({"names": np.array(["a", "b"], dtype=object)})
    with pytest.raises(WireError, match="reserved"):
        pack({}, {"shapes": 1})
    import pyarrow as pa

    with pytest.raises(WireError, match="no pq header"):
        unpack(pa.record_batch([pa.array([1])], names=["a"]))
    assert parse_command(command("sample", key=3)) == ("sample", {"key": 3})
    for raw in (b"not json", b"[1, 2]", b'{"no_op": 1}'):
        with pytest.raises(WireError):
            parse_command(raw)


def test_addresses_are_normalized():
    assert normalize_address("localhost:1234") == "grpc://localhost:1234"
    assert normalize_address("grpc+tcp://10.0.0.1:80/") == "grpc://10.0.0.1:80"
    for bad in ("localhost", "grpc://host:0", "host:http"):
        with pytest.raises(StoreServiceError, match="expected host:port"):
            normalize_address(bad)


def test_frames_carry_arrays_of_any_shape_and_dtype_as_writable_aligned_copies():
    arrays = {
        "int64": np.arange(12, dtype=np.int64).reshape(3, 4),
        "float32": np.linspace(0, 1, 7, dtype=np.float32),
        "int16": np.array([-1, 5, 7], dtype=np.int16),
        "bool": np.array([True, False, True]),
        "empty": np.empty((0, 3), dtype=np.float32),
        "strided": np.arange(20, dtype=np.float64).reshape(4, 5)[:, ::2],
        "scalar": np.array(2.5),
    }
    frame = encode(REQUEST, {"op": "x", "fields": {"n": 3}}, arrays)
    # What arrives sits at any address: decode from an odd offset of a larger buffer.
    shifted = memoryview(b"?" + frame.to_pybytes())[1:]
    kind, header, out = decode(shifted)
    assert kind == REQUEST and header == {"op": "x", "fields": {"n": 3}}
    assert list(out) == list(arrays)
    for name, array in arrays.items():
        assert out[name].dtype == array.dtype and out[name].shape == array.shape, name
        assert np.array_equal(out[name], array), name
        assert out[name].flags.writeable, name
        assert out[name].size == 0 or out[name].ctypes.data % array.dtype.itemsize == 0, name
    assert decode(encode(ANSWER, {}))[1:] == ({}, {})


def test_malformed_frames_are_rejected():
    with pytest.raises(WireError, match="cannot travel"):
        encode(REQUEST, {}, {"names": np.array(["a", "b"], dtype=object)})
    with pytest.raises(WireError, match="reserved"):
        encode(REQUEST, {"arrays": 1})
    frame = encode(REQUEST, {"op": "x"}, {"a": np.arange(4)}).to_pybytes()
    for bad in (b"", b"PQF1", b"XXXX" + frame[4:], frame[:20]):
        with pytest.raises(WireError):
            decode(bad)
    with pytest.raises(WireError, match="outside the frame"):
        decode(frame[:-8])
