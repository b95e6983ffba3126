"""The baseline's inputs: the training table's examples (:mod:`compute_engine.inputs`) and the entity table's
rows of those examples.

The entity table is streamed batch by batch and only the rows of entities that occur in the examples are kept,
so memory follows the examples, not the table.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from compute_engine.inputs import SPLITS, InputError, TrainingTable, read_training_table
from data_engine.ingest import IngestedTable
from platform_core.arrow_filters import KeyTypeMismatch, rows_matching

__all__ = ["BaselineError", "TrainingTable", "read_training_table", "entity_rows", "SPLITS"]


class BaselineError(InputError):
    """The baseline cannot run on these inputs; the message says which input and why."""


def entity_rows(table: IngestedTable, keys: pa.ChunkedArray | pa.Array, columns: list[str]) -> pa.Table:
    """The entity table's rows of the given keys, aligned with them.

    Args:
        table: the entity table.
        keys: the examples' entity keys (repeats allowed).
        columns: the columns to return.

    Returns:
        A table with ``len(keys)`` rows: row i holds the columns of the entity ``keys[i]`` (its first row
        when the key repeats in the table), all null when the table has no such entity.

    Raises:
        BaselineError: the entity table lacks its primary key column, or its keys cannot be compared with
            the training table's.
    """
    pk = table.primary_key
    if pk is None:
        raise BaselineError(f"the entity table {table.name} has no primary key")
    wanted = pc.unique(keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys)
    read = [pk, *(c for c in columns if c != pk)]
    batches = (batch for name in table.data_files for batch in table.artifact.iter_batches(name, columns=read))
    try:
        rows = rows_matching(batches, pk, wanted)
    except KeyTypeMismatch as exc:
        raise BaselineError(f"the entity table {table.name}'s key {pk} has type {exc.column_type}, "
                            f"the training table's {exc.values_type}") from None
    if rows is None:
        raise BaselineError(f"the entity table {table.name} has no data parts")
    # pc.index_in finds each key's first row in the table.
    position = pc.index_in(keys, value_set=rows.column(pk).combine_chunks() if rows.num_rows else
                           pa.array([], type=wanted.type))
    return rows.select(columns).take(position)

