"""The LightGBM baseline on the entity table's own columns (most-popular for ranking), beside the GNN.

Public interface::

    from compute_engine.baseline import run_baseline
    result = run_baseline(spec, store=store)     # spec.kind == "baseline"
    result.uri, result.metrics, result.rows

See :mod:`.job` for the output artifact, :mod:`.features` for the feature rules and :mod:`.models` for the
models and their parameters (``model_plan["baseline"]``).
"""

from compute_engine.baseline.features import DroppedColumn, FeatureColumn, build_features, plan_features
from compute_engine.baseline.inputs import BaselineError, TrainingTable, read_training_table
from compute_engine.baseline.job import BASELINE_PRODUCER, BaselineResult, run_baseline
from compute_engine.baseline.models import DEFAULT_PARAMS, baseline_params, most_popular

__all__ = ["run_baseline", "BaselineResult", "BaselineError", "BASELINE_PRODUCER", "DEFAULT_PARAMS",
           "baseline_params", "most_popular", "plan_features", "build_features", "FeatureColumn", "DroppedColumn",
           "TrainingTable", "read_training_table"]
