"""What travels between the store servers and their clients: named NumPy arrays as one Arrow record batch.

A message is a dict of named arrays (any shape, fixed-width dtypes) plus a small JSON header. It travels as
a one-row record batch whose columns are ``large_list<dtype>`` values holding each array's flat buffer, so
arrays of different lengths share one batch and one round trip; the header and the shapes sit in the
schema metadata. Neither side copies: :func:`pack` wraps the arrays' memory (memory maps included) and
:func:`unpack` views the received Arrow buffers as NumPy arrays (read-only).

Requests name their operation in the ``FlightDescriptor`` command (:func:`command`), so one
``do_exchange`` call carries one request and its answer.
"""

from __future__ import annotations

import json
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
