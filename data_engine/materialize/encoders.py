"""Per-column encoders: the Spark expressions that turn a column into its feature block values, and the
Spark aggregations that give the statistics the trainer's column encoders need.

Each encoder gives (1) aggregate expressions evaluated together with every other column's in one Spark
job over the table's node rows, (2) optionally a vocabulary job (categorical and multicategorical:
top-N values by frequency, ties by value), (3) the encoded column written in node order, and (4) how a
batch of that column becomes NumPy values. Statistics follow :mod:`data_engine.artifact_formats.features`
(computed from the float32 values for numerical columns, exact quantiles with linear interpolation).

Vocabularies longer than ``max_categories`` keep the ``max_categories`` most frequent values and end
with one :data:`OTHER` entry that every rarer value is encoded as; the column's statistics then say
``other_code`` (its code) and ``distinct`` (how many values the column really has).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_engine.artifact_formats.features import CATEGORY_NULL, QUANTILES, TIMESTAMP_NULL
from data_engine.materialize.rows import seconds
from data_engine.materialize.streaming import int64_values

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

OTHER = "__other__"
_FLOATS = {"float32", "float64"}


def _finite_or_none(value: Any) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


@dataclass
class ColumnEncoder:
    """The encoder of one feature column.

    Attributes:
        name: the source column.
        dtype: its platform dtype (``int64``, ``string``, ``list<string>``...).
        alias: the name of its aggregates and of its encoded column in Spark (safe for any source name).
    """

    group: ClassVar[str] = ""
    name: str
    dtype: str
    alias: str

    def source(self) -> "Column":
        from data_engine.spark_session import col

        return col(self.name)

    def aggregates(self) -> list["Column"]:
        """Aggregate expressions, each aliased ``<alias>_<what>``."""
        return []

    def statistics(self, row: dict[str, Any], num_rows: int) -> dict[str, Any]:
        """The column's statistics from the aggregate row (and the vocabulary, when it has one)."""
        raise NotImplementedError

    def encoded(self) -> "Column":
        """The encoded value written in node order."""
        raise NotImplementedError

    def convert(self, array: pa.Array) -> np.ndarray:
        """A batch of the encoded column as NumPy values of the block's dtype."""
        raise NotImplementedError


class NumericalEncoder(ColumnEncoder):
    group = "numerical"

    def _float(self) -> "Column":
        from pyspark.sql import functions as F

        raw = self.source()
        value = raw.try_cast("double") if self.dtype == "string" else raw.cast("double")
        return F.when(F.isnan(value), F.lit(None)).otherwise(value.cast("float"))

    def aggregates(self) -> list["Column"]:
        from pyspark.sql import functions as F

        v = self._float().cast("double")
        a = self.alias
        return [F.count(v).alias(f"{a}_count"), F.avg(v).alias(f"{a}_mean"), F.stddev_pop(v).alias(f"{a}_std"),
                F.min(v).alias(f"{a}_min"), F.max(v).alias(f"{a}_max"),
                F.percentile(v, F.array(*[F.lit(q) for q in QUANTILES])).alias(f"{a}_q")]

    def statistics(self, row: dict[str, Any], num_rows: int) -> dict[str, Any]:
        a = self.alias
        count = int(row[f"{a}_count"])
        if count == 0:
            return {"count": 0, "null_count": num_rows, "mean": None, "std": None, "min": None, "max": None,
                    "quantiles": None}
        return {"count": count, "null_count": num_rows - count, "mean": _finite_or_none(row[f"{a}_mean"]),
                "std": _finite_or_none(row[f"{a}_std"]), "min": float(row[f"{a}_min"]),
                "max": float(row[f"{a}_max"]), "quantiles": [float(q) for q in row[f"{a}_q"]]}

    def encoded(self) -> "Column":
        return self._float()

    def convert(self, array: pa.Array) -> np.ndarray:
        return pc.fill_null(array.cast(pa.float32()), float("nan")).to_numpy(zero_copy_only=False)


class TimestampEncoder(ColumnEncoder):
    group = "timestamp"

    def encoded(self) -> "Column":
        return seconds(self.source(), self.dtype)

    def aggregates(self) -> list["Column"]:
        from pyspark.sql import functions as F

        s, a = self.encoded(), self.alias
        return [F.count(s).alias(f"{a}_count"), F.min(s).alias(f"{a}_min"), F.max(s).alias(f"{a}_max"),
                F.percentile(s, F.lit(0.5)).alias(f"{a}_median")]

    def statistics(self, row: dict[str, Any], num_rows: int) -> dict[str, Any]:
        a = self.alias
        count = int(row[f"{a}_count"])
        if count == 0:
            return {"count": 0, "null_count": num_rows, "min": None, "max": None, "median": None,
                    "year_range": None}
        low, high = int(row[f"{a}_min"]), int(row[f"{a}_max"])
        years = np.array([low, high]).astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970
        return {"count": count, "null_count": num_rows - count, "min": low, "max": high,
                "median": int(row[f"{a}_median"]), "year_range": [int(years[0]), int(years[1])]}

    def convert(self, array: pa.Array) -> np.ndarray:
        return int64_values(array, TIMESTAMP_NULL)


class TextEncoder(ColumnEncoder):
    group = "text"

    def encoded(self) -> "Column":
        return self.source().cast("string")

    def aggregates(self) -> list["Column"]:
        from pyspark.sql import functions as F

        t, a = self.encoded(), self.alias
        return [F.count(t).alias(f"{a}_count"), F.avg(F.char_length(t)).alias(f"{a}_length")]

    def statistics(self, row: dict[str, Any], num_rows: int) -> dict[str, Any]:
        a = self.alias
        length = row[f"{a}_length"]
        return {"null_count": num_rows - int(row[f"{a}_count"]),
                "mean_length": None if length is None else float(length)}

    def convert(self, array: pa.Array) -> pa.Array:  # type: ignore[override]
        return array.cast(pa.string())


@dataclass
class Vocabulary:
    """A column's vocabulary: values by decreasing count (ties by value), maybe ending with :data:`OTHER`."""

    values: list[Any]
    counts: list[int]
    other_code: int | None = None
    distinct: int | None = None

    @classmethod
    def from_top(cls, top: list[tuple[Any, int]], total: int, limit: int) -> "Vocabulary":
        """From the ``limit + 1`` most frequent (value, count) pairs and the count of all non-null values."""
        if len(top) <= limit:
            return cls([v for v, _ in top], [int(c) for _, c in top])
        kept = top[:limit]
        kept_count = sum(int(c) for _, c in kept)
        return cls([v for v, _ in kept] + [OTHER], [int(c) for _, c in kept] + [total - kept_count],
                   other_code=limit)

    def code_of(self, value: "Column") -> "Column":
        """The code of a non-null value (the OTHER code for values outside the vocabulary)."""
        from pyspark.sql import functions as F

        known = self.values[: self.other_code] if self.other_code is not None else self.values
        lookup = F.create_map(*[x for i, v in enumerate(known) for x in (F.lit(v), F.lit(i))])
        code = F.try_element_at(lookup, value)
        if self.other_code is not None:
            code = F.coalesce(code, F.lit(self.other_code))
        return code.cast("int")

    def statistics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cardinality": len(self.values), "counts": list(self.counts)}
        if self.other_code is not None:
            out.update({"other_code": self.other_code, "distinct": self.distinct})
        return out


#: fields of the typed value struct that lets one Spark job count values of columns of different types
_KINDS = {"s": "string", "l": "bigint", "d": "double", "b": "boolean", "t": "timestamp"}
_KIND_OF = {"string": "s", "bool": "b", "float32": "d", "float64": "d", "int8": "l", "int16": "l", "int32": "l",
            "int64": "l", "timestamp": "t", "date": "t"}


class _VocabularyEncoder(ColumnEncoder):
    vocabulary: Vocabulary | None = None

    def values(self) -> "Column":
        """The non-null values counted into the vocabulary (a generator for list columns)."""
        raise NotImplementedError

    def value_kind(self) -> str:
        """Which field of the typed value struct holds this column's values."""
        raise NotImplementedError


def _typed(value: "Column", kind: str) -> "Column":
    from pyspark.sql import functions as F

    return F.struct(*[(value.cast(t) if k == kind else F.lit(None).cast(t)).alias(k) for k, t in _KINDS.items()])


def build_vocabularies(frame: "DataFrame", encoders: list[_VocabularyEncoder], totals: list[int],
                       limit: int) -> None:
    """Count the values of every vocabulary column in one Spark job and set each encoder's vocabulary.

    Each column keeps its ``limit`` most frequent values (ties by value) and, when it has more, an
    :data:`OTHER` entry counting the rest.

    Args:
        frame: the node rows.
        encoders: the categorical and multicategorical encoders.
        totals: per encoder, the number of non-null values (for the OTHER count).
        limit: the vocabulary size limit.
    """
    from functools import reduce

    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not encoders:
        return
    counted = []
    for i, encoder in enumerate(encoders):
        raw = frame.select(encoder.values().alias("raw")).where(F.col("raw").isNotNull())
        counted.append(raw.groupBy("raw").count().select(F.lit(i).alias("c"),
                                                         _typed(F.col("raw"), encoder.value_kind()).alias("v"),
                                                         "count"))
    union = reduce(lambda a, b: a.unionByName(b), counted)
    by_column = Window.partitionBy("c")
    ranked = union.select("c", "v", "count",
                          F.row_number().over(by_column.orderBy(F.col("count").desc(), F.col("v").asc())).alias("r"),
                          F.count(F.lit(1)).over(by_column).alias("distinct"))
    top: dict[int, list[tuple[int, Any, int]]] = {i: [] for i in range(len(encoders))}
    distinct: dict[int, int] = {}
    for row in ranked.where(F.col("r") <= limit + 1).collect():
        kind = encoders[row["c"]].value_kind()
        top[row["c"]].append((row["r"], row["v"][kind], int(row["count"])))
        distinct[row["c"]] = int(row["distinct"])
    for i, encoder in enumerate(encoders):
        pairs = [(v, c) for _, v, c in sorted(top[i], key=lambda x: x[0])]
        encoder.vocabulary = Vocabulary.from_top(pairs, totals[i], limit)
        if encoder.vocabulary.other_code is not None:
            encoder.vocabulary.distinct = distinct[i]


class CategoricalEncoder(_VocabularyEncoder):
    group = "categorical"

    def values(self) -> "Column":
        from pyspark.sql import functions as F

        value = self.source()
        if self.dtype in _FLOATS:
            value = F.when(F.isnan(value), F.lit(None)).otherwise(value)
        return value

    def aggregates(self) -> list["Column"]:
        from pyspark.sql import functions as F

        return [F.count(self.values()).alias(f"{self.alias}_count")]

    def total(self, row: dict[str, Any]) -> int:
        return int(row[f"{self.alias}_count"])

    def value_kind(self) -> str:
        return _KIND_OF.get(self.dtype, "s")

    def statistics(self, row: dict[str, Any], num_rows: int) -> dict[str, Any]:
        stats = self.vocabulary.statistics()
        return {"cardinality": stats.pop("cardinality"), "null_count": num_rows - self.total(row), **stats}

    def encoded(self) -> "Column":
        from pyspark.sql import functions as F

        value = self.values()
        if not self.vocabulary.values:
            return F.lit(CATEGORY_NULL).cast("int")
        return F.when(value.isNull(), F.lit(CATEGORY_NULL)).otherwise(self.vocabulary.code_of(value)).cast("int")

    def convert(self, array: pa.Array) -> np.ndarray:
        return int64_values(array, CATEGORY_NULL).astype(np.int32)


class MulticategoricalEncoder(_VocabularyEncoder):
    """A list column, or a string column split at its separator (tokens trimmed, empty tokens dropped)."""

    group = "multicategorical"
    separator: str = "|"

    def lists(self) -> "Column":
        """The column as arrays without null elements (null stays null)."""
        from pyspark.sql import functions as F

        value = self.source()
        if self.dtype.startswith(("list", "array")):
            return F.filter(value, lambda e: e.isNotNull())
        tokens = F.transform(F.split(value.cast("string"), re.escape(self.separator)), lambda e: F.trim(e))
        return F.filter(tokens, lambda e: e != F.lit(""))

    def values(self) -> "Column":
        from pyspark.sql import functions as F

        return F.explode(self.lists())

    def aggregates(self) -> list["Column"]:
        from pyspark.sql import functions as F

        lists, a = self.lists(), self.alias
        length = F.when(lists.isNull(), F.lit(0)).otherwise(F.size(lists))
        return [F.count(lists).alias(f"{a}_count"), F.sum(length).alias(f"{a}_length")]

    def total(self, row: dict[str, Any]) -> int:
        return int(row[f"{self.alias}_length"] or 0)

    def value_kind(self) -> str:
        if self.dtype.startswith(("list<", "array<")):
            return _KIND_OF.get(self.dtype[self.dtype.index("<") + 1:-1], "s")
        return "s"

    def statistics(self, row: dict[str, Any], num_rows: int) -> dict[str, Any]:
        stats = self.vocabulary.statistics()
        return {"cardinality": stats.pop("cardinality"), "null_count": num_rows - int(row[f"{self.alias}_count"]),
                **stats, "mean_length": self.total(row) / num_rows if num_rows else None}

    def encoded(self) -> "Column":
        from pyspark.sql import functions as F

        lists = self.lists()
        if not self.vocabulary.values:
            return F.when(lists.isNull(), F.lit(None)).otherwise(F.array().cast("array<int>"))
        return F.transform(lists, self.vocabulary.code_of).cast("array<int>")

    def convert(self, array: pa.Array) -> pa.Array:  # type: ignore[override]
        return array


ENCODERS: dict[str, type[ColumnEncoder]] = {
    "numerical": NumericalEncoder, "categorical": CategoricalEncoder, "multicategorical": MulticategoricalEncoder,
    "timestamp": TimestampEncoder, "text": TextEncoder,
}
