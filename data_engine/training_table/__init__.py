"""Training and prediction tables: a compiled plan's labels over anchor times, split train / val / holdout.

Public interface::

    from data_engine.training_table import build_training_table, build_prediction_table, SplitBoundaries
    result = build_training_table(compiled.plan, {"customers": uri1, "orders": uri2}, "s3://bucket/tt/churn",
                                  boundaries=SplitBoundaries(validation_start="2024-09-01",
                                                             holdout_start="2024-10-01"))
    result.rows_per_split, result.anchors, result.label_type
    build_prediction_table(compiled.plan, tables, "s3://bucket/pt/churn")

The output Parquet (``data/part-*.parquet``) has the entity key (named as in the entity table),
``anchor_time`` (timestamp), ``label`` (typed per task, see :mod:`.labels`) and ``split`` (``train``, ``val``,
``holdout``). See :mod:`.job` for the steps, :mod:`.anchors` for the anchor times and splits, and
:mod:`.examples` for the window semantics.
"""

from data_engine.training_table.anchors import SPLITS, AnchorSplit, SplitBoundaries, plan_anchors
from data_engine.training_table.errors import AnchorError, ExpressionError, TrainingTableError
from data_engine.training_table.expr_to_spark import to_column
from data_engine.training_table.job import (
    PredictionTableResult,
    TrainingTableResult,
    build_prediction_table,
    build_training_table,
)

__all__ = ["build_training_table", "build_prediction_table", "TrainingTableResult", "PredictionTableResult",
           "SplitBoundaries", "AnchorSplit", "plan_anchors", "SPLITS", "TrainingTableError", "AnchorError",
           "ExpressionError", "to_column"]
