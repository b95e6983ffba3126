"""The label column of each task, and the split of a static query.

Label types (the ``label`` column of the training table):

- binary classification: boolean (a condition never is NULL, see :mod:`.expr_to_spark`);
- regression: double;
- multiclass: the target's own type (a category as written in the data);
- ranking (RANK TOP k) and multilabel (CLASSIFY): an array of the distinct target values, sorted (for
  LIST_DISTINCT the primary keys of the ranked table);
- forecasting: an array of doubles, one per timeframe, in time order.

Examples whose label is undefined are dropped: a ``"drop"``-rule aggregation over an empty window (AVG,
MIN, MAX, FIRST, LAST, LIST_DISTINCT; any timeframe of a forecast), or a static value target that is NULL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from data_engine.training_table.examples import ENTITY_TIME, KEY, ExampleFrame
from data_engine.training_table.expr_to_spark import is_condition, to_column
from data_engine.training_table.spec import TableSpec, agg_nodes

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["label_column", "static_split", "random_split"]


def label_column(spec: TableSpec, frame: ExampleFrame) -> tuple["Column", "Column | None"]:
    """The label of each (entity, anchor) row and the condition for keeping the row.

    Args:
        spec: the plan's table parameters.
        frame: the example frame that holds the label's columns and aggregations.

    Returns:
        (label column, keep condition or None when every row is kept).
    """
    from pyspark.sql import functions as F

    exprs = spec.label_expressions()
    keep = None
    for expr in exprs:
        for node in agg_nodes(expr):
            if node.get("empty_window") == "drop":
                keep = frame.defined(node) if keep is None else keep & frame.defined(node)
    if spec.label.get("forecast"):
        return F.array(*[to_column(e, frame.resolve).cast("double") for e in exprs]), keep
    expr = exprs[0]
    label = to_column(expr, frame.resolve)
    if is_condition(expr):
        return label, keep
    if spec.task_type == "regression":
        label = label.cast("double")
    if not spec.temporal:
        not_null = label.isNotNull()
        keep = not_null if keep is None else keep & not_null
    return label, keep


def random_split(key: "Column", seed: int, fractions: dict[str, float]) -> "Column":
    """A seeded split by a hash of the entity key: the same key always lands in the same split, whatever
    the partitioning (``train``, ``val``, ``holdout`` in the given fractions)."""
    from pyspark.sql import functions as F

    draw = F.pmod(F.xxhash64(F.lit(int(seed)), key.cast("string")), F.lit(1_000_000)) / F.lit(1_000_000.0)
    train, val = float(fractions["train"]), float(fractions["validation"])
    return (F.when(draw < train, F.lit("train")).when(draw < train + val, F.lit("val"))
            .otherwise(F.lit("holdout")))


def time_split(etime: "Column", validation_start_us: int, holdout_start_us: int) -> "Column":
    """``train`` before the validation start, ``val`` before the holdout start, ``holdout`` after (times in
    epoch microseconds; entities without a time are training examples)."""
    from pyspark.sql import functions as F

    return (F.when(etime.isNull() | (etime < F.lit(validation_start_us)), F.lit("train"))
            .when(etime < F.lit(holdout_start_us), F.lit("val")).otherwise(F.lit("holdout")))


def static_split(examples: "DataFrame", anchors: dict[str, Any], boundaries_us: tuple[int, int] | None
                 ) -> tuple["DataFrame", dict[str, Any]]:
    """Split the examples of a static query.

    Args:
        examples: the examples, with ``__key`` and ``__etime``.
        anchors: the plan's static policy (``static_time`` with fractions, or ``static_random`` with a seed).
        boundaries_us: user-given (validation start, holdout start) in epoch microseconds for a time split.

    Returns:
        (the examples with ``__split``, a description of the split for the manifest).
    """
    from pyspark.sql import functions as F

    from data_engine.training_table.sources import micros_to_datetime

    fractions = anchors.get("fractions") or {"train": 0.8, "validation": 0.1, "holdout": 0.1}
    if anchors["policy"] == "static_random":
        seed = int(anchors.get("seed", 0))
        return (examples.withColumn("__split", random_split(F.col(KEY), seed, fractions)),
                {"policy": "static_random", "seed": seed, "fractions": fractions})
    if boundaries_us is None:
        train, val = float(fractions["train"]), float(fractions["validation"])
        # Exact enough: relative rank error 1e-6; both quantiles are times that occur in the data.
        row = examples.agg(F.percentile_approx(F.col(ENTITY_TIME), [train, train + val], 1_000_000).alias("q")).first()
        quantiles = row["q"] if row is not None else None
        if not quantiles or quantiles[0] is None:
            return (examples.withColumn("__split", F.lit("train")),
                    {"policy": "static_time", "fractions": fractions, "note": "no entity has a time"})
        # The quantile times themselves open the later split, so ties never straddle two splits.
        boundaries_us = (int(quantiles[0]) + 1, int(quantiles[1]) + 1)
        source = "fractions"
    else:
        source = "given"
    info = {"policy": "static_time", "fractions": fractions, "boundaries_from": source,
            "validation_start": micros_to_datetime(boundaries_us[0]).isoformat(),
            "holdout_start": micros_to_datetime(boundaries_us[1]).isoformat()}
    return examples.withColumn("__split", time_split(F.col(ENTITY_TIME), *boundaries_us)), info
