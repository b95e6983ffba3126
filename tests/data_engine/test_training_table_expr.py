"""Plan expressions evaluated by Spark against the truth tables of PQL's two-valued conditions.

Uses the session-wide ``spark`` fixture of ``tests/data_engine/conftest.py``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from data_engine.training_table.expr_to_spark import to_column
from data_engine.training_table.labels import random_split

pytestmark = pytest.mark.integration

T, F = True, False
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def col(name: str) -> dict:
    return {"op": "column", "table": "t", "column": name, "stype": "numerical", "path": []}


def lit(value, kind: str | None = None) -> dict:
    kind = kind or {bool: "bool", int: "int", float: "float", str: "string", type(None): "null"}[type(value)]
    return {"op": "literal", "type": kind, "value": value}


def cmp(op: str, left: dict, right: dict) -> dict:
    return {"op": op, "left": left, "right": right}


X, S, TM = col("x"), col("s"), col("t")
CASES = [
    # (expression, results for rows 1..4); row 2 has x NULL, row 3 has s and t NULL.
    (cmp(">", X, lit(3)), [T, F, T, F]),
    ({"op": "not", "arg": cmp(">", X, lit(3))}, [F, T, F, T]),
    (cmp("!=", X, lit(5)), [F, F, T, T]),
    (cmp("=", X, lit(5.0)), [T, F, F, F]),
    ({"op": "in", "left": X, "values": [lit(5), lit(0)]}, [T, F, F, T]),
    ({"op": "not_in", "left": X, "values": [lit(5), lit(0)]}, [F, F, T, F]),
    ({"op": "is_null", "arg": X}, [F, T, F, F]),
    ({"op": "is_not_null", "arg": S}, [T, T, F, T]),
    (cmp("like", S, lit("a%")), [T, F, F, T]),
    (cmp("not_like", S, lit("a%")), [F, T, F, F]),
    (cmp("like", S, lit("_pple")), [T, F, F, F]),
    (cmp("contains", S, lit("an")), [F, T, F, F]),
    (cmp("not_contains", S, lit("an")), [T, F, F, T]),
    (cmp("starts_with", S, lit("a_")), [F, F, F, T]),  # no wildcards outside LIKE
    (cmp("ends_with", S, lit("%c")), [F, F, F, T]),
    (cmp("not_ends_with", S, lit("e")), [F, T, F, T]),
    (cmp(">", TM, lit("2024-01-15", "date")), [T, F, F, T]),
    (cmp(">=", TM, lit("2024-01-15T10:00:00Z", "datetime")), [T, F, F, T]),
    (cmp("<", TM, lit("2024-01-15 05:00:00+05:00", "datetime")), [F, T, F, F]),
    ({"op": "or", "args": [{"op": "and", "args": [cmp(">", X, lit(3)), {"op": "is_not_null", "arg": S}]},
                           cmp("=", S, lit("banana"))]}, [T, T, F, F]),
    ({"op": "not", "arg": {"op": "or", "args": [cmp(">", X, lit(3)), cmp("like", S, lit("b%"))]}}, [F, F, F, T]),
    (cmp("<", lit(1), lit(2)), [T, T, T, T]),
    (cmp("=", X, lit(None)), [F, F, F, F]),
]


def _micros(*args) -> int:
    return (dt.datetime(*args, tzinfo=dt.timezone.utc) - EPOCH) // dt.timedelta(microseconds=1)


def test_conditions_match_their_truth_tables(spark) -> None:
    from pyspark.sql import functions as F

    rows = [(1, "apple", 5, _micros(2024, 1, 15, 10)), (2, "banana", None, _micros(2024, 1, 14, 23, 59, 59)),
            (3, None, 10, None), (4, "a_b%c", 0, _micros(2024, 1, 16))]
    frame = spark.createDataFrame(rows, "id long, s string, x long, t_us long").withColumn(
        "t", F.timestamp_micros("t_us"))
    resolve = lambda node: F.col(node["column"])  # noqa: E731
    selected = frame.orderBy("id").select(*[to_column(expr, resolve).alias(f"c{i}") for i, (expr, _) in enumerate(CASES)])
    got = selected.collect()
    for i, (expr, expected) in enumerate(CASES):
        assert [r[f"c{i}"] for r in got] == expected, expr


def test_random_split_is_seeded_and_independent_of_partitioning(spark) -> None:
    from pyspark.sql import functions as F

    fractions = {"train": 0.8, "validation": 0.1, "holdout": 0.1}
    keys = spark.range(4000).withColumnRenamed("id", "k")

    def splits(frame, seed):
        return dict(frame.select("k", random_split(F.col("k"), seed, fractions).alias("s")).collect())

    first = splits(keys.repartition(7), 0)
    assert first == splits(keys.coalesce(1), 0)
    other = splits(keys, 1)
    assert sum(first[k] != other[k] for k in first) > 500
    shares = {s: sum(v == s for v in first.values()) / len(first) for s in ("train", "val", "holdout")}
    assert 0.76 < shares["train"] < 0.84 and 0.07 < shares["val"] < 0.13 and 0.07 < shares["holdout"] < 0.13
