"""What travels between the store servers and their clients: named NumPy arrays as one Arrow record batch.

A message is a dict of named arrays (any shape, fixed-width dtypes) plus a small JSON header. It travels as
a one-row record batch whose columns are ``large_list<dtype>`` values holding each array's flat buffer, so
arrays of different lengths share one batch and one round trip; the header and the shapes sit in the
schema metadata. Neither side copies: :func:`pack` wraps the arrays' memory (memory maps included) and
:func:`unpack` views the received Arrow buffers as NumPy arrays (read-only).

Requests name their operation in the ``FlightDescriptor`` command (:func:`command`), so one
``do_exchange`` call carries one request and its answer.

Sessions (see :mod:`graph_engine.service.connection`) carry many requests over one long-lived
``do_exchange`` stream instead, one *frame* each way per request (:func:`encode` / :func:`decode`), sent as
the message's ``app_metadata`` alone: no schema per message and no Arrow IPC (de)serialization, which cost
more than the transport itself for mini-batch sized messages. A frame is::

    b"PQF1" | kind (u32) | header length (u32) | JSON header | padding | array bytes, each 8-aligned

the header naming the operation, its small fields and per array its name, dtype, shape and offset.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from platform_core.errors import UserFacingError

#: Schema metadata key holding the JSON header (shapes, dtypes and operation fields).
HEADER_KEY = b"pq"
_DTYPES = {np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                                 np.uint64, np.float16, np.float32, np.float64, np.bool_)}


class WireError(UserFacingError, ValueError):
    """A message does not follow the wire format (a bug or a client and server of different versions)."""


# Arrow types per NumPy dtype: (value type, large_list of it), made once.
_LIST_TYPES: dict[np.dtype, tuple[pa.DataType, pa.DataType]] = {}


def _types(dtype: np.dtype) -> tuple[pa.DataType, pa.DataType]:
    types = _LIST_TYPES.get(dtype)
    if types is None:
        value_type = pa.from_numpy_dtype(dtype)
        types = _LIST_TYPES[dtype] = (value_type, pa.large_list(value_type))
    return types


def _column(name: str, array: np.ndarray) -> pa.Array:
    """``array``'s memory as a one-row ``large_list`` column (no copy unless it is not contiguous)."""
    if array.dtype not in _DTYPES:
        raise WireError(f"array {name!r}: dtype {array.dtype} cannot travel (fixed-width numbers only)")
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    value_type, list_type = _types(array.dtype)
    size = array.size
    values = pa.Array.from_buffers(value_type, size, [None, pa.py_buffer(array.reshape(-1) if size else b"")])
    offsets = pa.py_buffer(np.array([0, size], dtype=np.int64))
    return pa.Array.from_buffers(list_type, 1, [None, offsets], children=[values])


def pack(arrays: Mapping[str, np.ndarray], header: Mapping[str, Any] | None = None) -> pa.RecordBatch:
    """Wrap named arrays (without copying them) and a JSON-able header into one record batch.

    Args:
        arrays: name -> array; any shape, fixed-width numeric or bool dtype.
        header: extra JSON-serialisable fields.

    Returns:
        A one-row record batch.

    Raises:
        WireError: an array of an unsupported dtype, or a header field named ``shapes`` or ``dtypes``.
    """
    meta = dict(header or {})
    if "shapes" in meta or "dtypes" in meta:
        raise WireError("header fields 'shapes' and 'dtypes' are reserved")
    shapes, dtypes, columns = {}, {}, []
    for name, array in arrays.items():
        array = np.asarray(array)
        shapes[name] = array.shape
        dtypes[name] = array.dtype.str
        columns.append(_column(name, array))
    meta["shapes"], meta["dtypes"] = shapes, dtypes
    metadata = {HEADER_KEY: json.dumps(meta).encode()}
    if not columns:
        return pa.RecordBatch.from_arrays([], schema=pa.schema([], metadata=metadata))
    return pa.RecordBatch.from_arrays(columns, names=list(arrays)).replace_schema_metadata(metadata)


def unpack(batch: pa.RecordBatch, schema: pa.Schema | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The named arrays (read-only views of the batch's buffers) and the header of a packed batch.

    Args:
        batch: a batch made by :func:`pack` (after travelling).
        schema: the stream's schema when the batch lost its metadata on the way.

    Raises:
        WireError: the batch was not made by :func:`pack`.
    """
    metadata = (schema or batch.schema).metadata or {}
    if HEADER_KEY not in metadata:
        raise WireError("message has no pq header")
    header = json.loads(metadata[HEADER_KEY])
    shapes, dtypes = header.pop("shapes"), header.pop("dtypes")
    arrays = {}
    for name, column in zip(batch.schema.names, batch.columns):
        if name not in shapes:
            raise WireError(f"message column {name!r} has no shape")
        dtype = np.dtype(dtypes[name])
        values = column.values
        if len(values):
            # The data buffer as is: a view, read-only, of what arrived.
            flat = np.frombuffer(values.buffers()[1], dtype=np.uint8 if dtype == np.bool_ else dtype,
                                 count=len(values), offset=values.offset * dtype.itemsize)
        else:
            flat = np.empty(0, dtype)
        if flat.size != int(np.prod(shapes[name])):
            raise WireError(f"message array {name!r}: {flat.size} values do not fill shape {tuple(shapes[name])}")
        arrays[name] = (flat.view(np.bool_) if dtype == np.bool_ else flat).reshape(shapes[name])
    return arrays, header


def command(op: str, **fields: Any) -> bytes:
    """The JSON command naming an operation and its small arguments."""
    return json.dumps({"op": op, **fields}).encode()


def parse_command(raw: bytes) -> tuple[str, dict[str, Any]]:
    """(operation, arguments) of a :func:`command`.

    Raises:
        WireError: not a command.
    """
    try:
        fields = json.loads(raw)
        return str(fields.pop("op")), fields
    except (ValueError, KeyError, TypeError, AttributeError):
        raise WireError("malformed request command") from None


# ---- session frames ------------------------------------------------------------------------------
#: Frame kinds: a request (header: ``op``, ``fields``), its answer, or the error it raised (header: the
#: error's ``kind`` and ``message``, see :func:`graph_engine.service.errors.error_info`).
REQUEST, ANSWER, FAILURE = 1, 2, 3
#: The ``do_exchange`` command that opens a session.
SESSION = b'{"op":"session"}'
_FRAME_MAGIC = b"PQF1"
_PREFIX = struct.Struct("<4sII")
_ALIGN = 8
_PAD = bytes(_ALIGN)
_DTYPE_OF: dict[str, np.dtype] = {np.dtype(t).str: np.dtype(t) for t in _DTYPES}


def encode(kind: int, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> pa.Buffer:
    """One frame: ``kind``, a JSON-able ``header`` and named arrays (copied once, into the frame).

    Args:
        kind: :data:`REQUEST`, :data:`ANSWER` or :data:`FAILURE`.
        header: small JSON-serialisable fields (``arrays`` is reserved).
        arrays: name -> array; any shape, fixed-width numeric or bool dtype.

    Raises:
        WireError: an array of an unsupported dtype, or a header field named ``arrays``.
    """
    if "arrays" in header:
        raise WireError("header field 'arrays' is reserved")
    described: list[tuple[str, str, tuple[int, ...], int]] = []
    parts: list[Any] = [b"", b""]
    offset = 0
    for name, array in (arrays or {}).items():
        if not isinstance(array, np.ndarray):
            array = np.asarray(array)
        if array.dtype not in _DTYPES:
            raise WireError(f"array {name!r}: dtype {array.dtype} cannot travel (fixed-width numbers only)")
        if not array.flags.c_contiguous:
            array = np.ascontiguousarray(array)
        described.append((name, array.dtype.str, array.shape, offset))
        size = array.nbytes
        if size:
            parts.append(array)  # its buffer, as bytes
        pad = -size % _ALIGN
        if pad:
            parts.append(_PAD[:pad])
        offset += size + pad
    text = json.dumps({**header, "arrays": described}, separators=(",", ":")).encode()
    text += b" " * (-(_PREFIX.size + len(text)) % _ALIGN)  # array bytes start 8-aligned
    parts[0], parts[1] = _PREFIX.pack(_FRAME_MAGIC, kind, len(text)), text
    return pa.py_buffer(b"".join(parts))


def decode(frame: Any) -> tuple[int, dict[str, Any], dict[str, np.ndarray]]:
    """The kind, header and named arrays of a frame made by :func:`encode`.

    The arrays are writable, aligned views of one private copy of the frame's array bytes (what arrives
    is read-only and at any address), so they can go to torch or to compiled kernels as they are.

    Args:
        frame: the frame, as a ``pyarrow.Buffer`` or any bytes-like object.

    Raises:
        WireError: not a frame, or a frame whose arrays do not fit it.
    """
    view = memoryview(frame)
    if view.nbytes < _PREFIX.size:
        raise WireError("message is not a pq frame (too short)")
    magic, kind, length = _PREFIX.unpack_from(view)
    start = _PREFIX.size + length
    if magic != _FRAME_MAGIC or start > view.nbytes:
        raise WireError("message is not a pq frame (client and server of different versions?)")
    try:
        header = json.loads(view[_PREFIX.size:start].tobytes())
        described = header.pop("arrays")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise WireError("pq frame with a malformed header") from None
    data = bytearray(view[start:])  # heap memory: aligned, and writable for the arrays viewing it
    arrays = {}
    try:
        for name, dtype_str, shape, offset in described:
            dtype = _DTYPE_OF[dtype_str]
            count = math.prod(shape)
            if offset < 0 or offset + count * dtype.itemsize > len(data):
                raise WireError(f"pq frame array {name!r} lies outside the frame")
            arrays[name] = np.frombuffer(data, dtype, count, offset).reshape(shape)
    except WireError:
        raise
    except (ValueError, KeyError, TypeError):
        raise WireError("pq frame with a malformed array description") from None
    return kind, header, arrays
