"""Label statistics per split of a written training table (small aggregates, computed in Spark)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["split_stats", "TOP_CLASSES"]

#: How many of the most frequent classes the manifest lists per split.
TOP_CLASSES = 20


def _num(value: Any) -> Any:
    return None if value is None else (round(float(value), 6) if isinstance(value, float) else value)


def split_stats(table: "DataFrame", task_type: str, entity_column: str, horizons: int | None = None
                ) -> dict[str, dict[str, Any]]:
    """Rows, entities, anchors and label statistics of each split.

    Args:
        table: the written training table (entity column, ``anchor_time``, ``label``, ``split``).
        task_type: the plan's task type (decides which label statistics apply).
        entity_column: the name of the entity key column.
        horizons: the number of timeframes of a forecast.

    Returns:
        Split name -> ``{rows, entities, anchors, label: {...}}``; the label part has ``positives`` and
        ``positive_rate`` (binary), ``mean/std/min/max`` (regression), ``classes`` (the most frequent, with
        counts) and ``distinct`` (multiclass), ``mean/min/max_length`` and ``distinct_targets`` (lists),
        ``mean_per_horizon`` (forecasting).
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    from pyspark.sql.window import Window

    from data_engine.spark_session import col

    label = F.col("label")
    label_type = table.schema["label"].dataType
    common = [F.count(F.lit(1)).alias("rows"), F.count_distinct(col(entity_column)).alias("entities"),
              F.count_distinct(F.col("anchor_time")).alias("anchors")]
    extra: list = []
    if task_type == "binary_classification":
        extra = [F.sum(label.cast("int")).alias("positives")]
    elif task_type == "regression":
        extra = [F.avg(label).alias("mean"), F.stddev(label).alias("std"), F.min(label).alias("min"),
                 F.max(label).alias("max")]
    elif task_type == "forecasting" and isinstance(label_type, T.ArrayType):
        extra = [F.avg(label[i]).alias(f"h{i}") for i in range(horizons or 0)]
    elif task_type == "multiclass_classification":
        extra = [F.count_distinct(label).alias("distinct")]
    elif isinstance(label_type, T.ArrayType):
        extra = [F.avg(F.size(label)).alias("mean_length"), F.min(F.size(label)).alias("min_length"),
                 F.max(F.size(label)).alias("max_length")]
    out: dict[str, dict[str, Any]] = {}
    for row in table.groupBy("split").agg(*common, *extra).collect():
        values = row.asDict()
        split = values.pop("split")
        stats: dict[str, Any] = {k: values.pop(k) for k in ("rows", "entities", "anchors")}
        if task_type == "binary_classification":
            positives = int(values["positives"] or 0)
            stats["label"] = {"positives": positives, "positive_rate": _num(positives / stats["rows"])}
        elif task_type == "forecasting" and values:
            stats["label"] = {"mean_per_horizon": [_num(values[f"h{i}"]) for i in range(len(values))]}
        else:
            stats["label"] = {k: _num(v) for k, v in values.items()}
        out[split] = stats
    if task_type == "multiclass_classification":
        order = Window.partitionBy("split").orderBy(F.desc("count"), F.asc("label"))
        ranked = table.groupBy("split", "label").count().withColumn("_r", F.row_number().over(order))
        for r in ranked.where(F.col("_r") <= TOP_CLASSES).orderBy("split", "_r").collect():
            out[r["split"]]["label"].setdefault("classes", {})[str(r["label"])] = r["count"]
    elif isinstance(label_type, T.ArrayType) and task_type != "forecasting":
        exploded = table.select("split", F.explode(label).alias("target"))
        for r in exploded.groupBy("split").agg(F.count_distinct("target").alias("n")).collect():
            out[r["split"]].setdefault("label", {})["distinct_targets"] = r["n"]
    return out
