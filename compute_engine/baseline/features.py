"""The baseline's features: the entity table's own columns, turned into numbers as seen at the anchor time.

One rule per semantic type (the table's profile; from the Arrow type when the table was not profiled):

- ``ID`` columns (the primary key, foreign keys) are dropped: they name rows, they do not describe them;
- ``numerical``: the value as a float;
- ``categorical``: a LightGBM categorical (pandas ``category``);
- ``timestamp``: the age at the anchor in days (anchor minus value); a value after the anchor is not known
  yet at the anchor and becomes missing;
- ``text``: the length in characters and the number of words;
- ``multicategorical``: the number of items.
"""

from __future__ import annotations

from collections.abc import Iterable

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_engine.semantics import id_named

__all__ = ["FeatureColumn", "DroppedColumn", "plan_features", "build_features", "infer_stype", "PRIOR_FEATURE"]

_US_PER_DAY = 86_400 * 1_000_000


#: The one feature of a baseline whose entity table has no usable column (constant: the model is the prior).
PRIOR_FEATURE = "__prior"


@dataclass(frozen=True)
class FeatureColumn:
    """One feature: its name, the column it comes from, and how (``numerical``, ``categorical``,
    ``age_days``, ``text_chars``, ``text_words``, ``item_count``, or ``constant``: the prior, for an entity
    table without a usable column)."""

    name: str
    source: str
    kind: str


@dataclass(frozen=True)
class DroppedColumn:
    """A column of the entity table that gives no feature, and why."""

    source: str
    reason: str


def infer_stype(name: str, arrow_type: pa.DataType) -> str:
    """A semantic type from the Arrow type alone (for tables ingested without a profile)."""
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "timestamp"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return "multicategorical"
    if id_named(name) and (pa.types.is_integer(arrow_type) or pa.types.is_string(arrow_type)
                           or pa.types.is_large_string(arrow_type)):
        return "ID"
    if pa.types.is_boolean(arrow_type) or pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "categorical"
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "numerical"
    return "unsupported"


def plan_features(schema: pa.Schema, stypes: dict[str, str], primary_key: str, separators: dict[str, str],
                  label_columns: Iterable[str] = ()) -> tuple[list[FeatureColumn], list[DroppedColumn]]:
    """Decide the features of an entity table.

    Args:
        schema: the Arrow schema of the table's Parquet parts.
        stypes: column -> semantic type from the table's profile (may be empty or partial).
        primary_key: the entity key column (never a feature).
        separators: column -> list separator of multicategorical string columns.
        label_columns: columns the label is read from (a static query's target; never a feature).

    Returns:
        (features in column order, dropped columns with reasons).
    """
    features: list[FeatureColumn] = []
    dropped: list[DroppedColumn] = []
    label_columns = set(label_columns)
    for field in schema:
        name = field.name
        if name == primary_key:
            dropped.append(DroppedColumn(name, "the entity key"))
            continue
        if name in label_columns:
            dropped.append(DroppedColumn(name, "the label"))
            continue
        stype = stypes.get(name) or infer_stype(name, field.type)
        if stype == "ID":
            dropped.append(DroppedColumn(name, "an identifier"))
        elif stype == "numerical" and (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
                                       or pa.types.is_decimal(field.type) or pa.types.is_boolean(field.type)):
            features.append(FeatureColumn(name, name, "numerical"))
        elif stype == "categorical":
            features.append(FeatureColumn(name, name, "categorical"))
        elif stype == "timestamp" and (pa.types.is_timestamp(field.type) or pa.types.is_date(field.type)):
            features.append(FeatureColumn(f"{name}__age_days", name, "age_days"))
        elif stype == "text" and (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            features.append(FeatureColumn(f"{name}__chars", name, "text_chars"))
            features.append(FeatureColumn(f"{name}__words", name, "text_words"))
        elif stype == "multicategorical" and (pa.types.is_list(field.type) or pa.types.is_large_list(field.type)
                                              or name in separators):
            features.append(FeatureColumn(f"{name}__items", name, "item_count"))
        else:
            dropped.append(DroppedColumn(name, f"semantic type {stype} of Arrow type {field.type} has no feature rule"))
    return features, dropped


def _micros(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Epoch microseconds of timestamps or dates as float64, NaN for nulls (time zones read as UTC)."""
    if pa.types.is_date(array.type):
        array = pc.cast(array, pa.timestamp("us"))
    elif array.type.unit != "us":
        array = pc.cast(array, pa.timestamp("us", tz=array.type.tz), safe=False)
    as_int = pc.cast(array, pa.int64())
    return pc.cast(as_int, pa.float64()).to_numpy(zero_copy_only=False)


def _floats(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)


def _categorical(array: pa.ChunkedArray | pa.Array) -> pd.Categorical:
    values = array.to_pandas()
    if pa.types.is_boolean(array.type):
        values = values.astype("object")
    return pd.Categorical(values)


def build_features(features: list[FeatureColumn], columns: pa.Table, anchor_time: pa.ChunkedArray,
                   separators: dict[str, str]) -> pd.DataFrame:
    """The feature matrix of the examples.

    Args:
        features: what :func:`plan_features` chose.
        columns: the entity rows of the examples, row i belonging to example i (nulls where the entity has no
            row).
        anchor_time: each example's anchor time.
        separators: list separators of multicategorical string columns.

    Returns:
        One column per feature, floats or ``category``, in the order of ``features``.
    """
    out: dict[str, object] = {}
    anchor_us: np.ndarray | None = None
    for feature in features:
        if feature.kind == "constant":
            out[feature.name] = np.zeros(columns.num_rows)
            continue
        array = columns.column(feature.source)
        if feature.kind == "numerical":
            out[feature.name] = _floats(array)
        elif feature.kind == "categorical":
            out[feature.name] = _categorical(array)
        elif feature.kind == "age_days":
            if anchor_us is None:
                anchor_us = _micros(anchor_time)
            age = (anchor_us - _micros(array)) / _US_PER_DAY
            age[age < 0] = np.nan  # the value lies after the anchor: unknown at prediction time
            out[feature.name] = age
        elif feature.kind == "text_chars":
            out[feature.name] = _floats(pc.utf8_length(array))
        elif feature.kind == "text_words":
            out[feature.name] = _floats(pc.count_substring_regex(array, r"\S+"))
        elif feature.kind == "item_count":
            if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
                out[feature.name] = _floats(pc.list_value_length(array))
            else:
                sep = separators[feature.source]
                counts = pc.add(pc.count_substring(array, sep), 1)
                empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(array)), 0)
                out[feature.name] = _floats(pc.if_else(empty, 0, counts))
        else:
            raise ValueError(f"unknown feature kind {feature.kind!r}")
    return pd.DataFrame(out, index=pd.RangeIndex(columns.num_rows))
