"""Streaming selections of Arrow record batches, shared by every engine that looks rows up by key."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["KeyTypeMismatch", "rows_matching"]


class KeyTypeMismatch(TypeError):
    """The batches' column cannot be compared with the values asked for (its type, theirs)."""

    def __init__(self, column_type: pa.DataType, values_type: pa.DataType) -> None:
        super().__init__(f"{column_type} cannot be compared with {values_type}")
        self.column_type, self.values_type = column_type, values_type


def rows_matching(batches: Iterable[pa.RecordBatch], column: str, values: pa.Array) -> pa.Table | None:
    """The rows whose ``column`` is one of ``values``, kept batch by batch (memory follows the matches).

    The column is cast to the values' type first (int32 keys against int64 ones, say).

    Returns:
        The matching rows (their column cast to the values' type), or None when there was no batch at all.

    Raises:
        KeyTypeMismatch: the column cannot be cast to the values' type.
    """
    kept: list[pa.RecordBatch] = []
    schema: pa.Schema | None = None
    for batch in batches:
        keys = batch.column(column)
        if keys.type != values.type:
            try:
                keys = pc.cast(keys, values.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise KeyTypeMismatch(keys.type, values.type) from None
            batch = batch.set_column(batch.schema.get_field_index(column), column, keys)
        schema = schema or batch.schema
        matched = batch.filter(pc.is_in(keys, value_set=values))
        if matched.num_rows:
            kept.append(matched)
    return None if schema is None else pa.Table.from_batches(kept, schema=schema)
