"""The baseline job: LightGBM on the entity table's own columns, reported beside the GNN.

It answers "what does the graph add?": the same training table (same examples, labels and splits) with only
the columns of the entity's own row as features (see :mod:`.features`), early stopping on ``val``, metrics
on ``holdout`` through :func:`compute_engine.metrics.evaluate`. Ranking queries get the most-popular
baseline instead: the k targets that occur most often in the training labels, recommended to everyone.

Output artifact (at the spec's ``output_uri``; the manifest is written last)::

    metrics.json             task, model, metrics on holdout, rows per split, features, parameters
    predictions.parquet      holdout rows: entity key, anchor_time, label, and the prediction
    feature_importance.json  gain and split count per feature, largest gain first (LightGBM)
    curves.json              ROC / PR / calibration / confusion / predicted-vs-actual data
    model/lightgbm-<i>.txt   each LightGBM model in its text format

The artifact's inputs are the content hashes of the training and entity tables with the parameters and
seed, so running the same job again finds the artifact and does nothing.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from compute_engine import metrics as metric_fns
from compute_engine.baseline.features import PRIOR_FEATURE, FeatureColumn, build_features, plan_features
from compute_engine.baseline.inputs import BaselineError, TrainingTable, entity_rows, read_training_table
from compute_engine.baseline.models import Fit, baseline_params, fit_lightgbm, most_popular
from compute_engine.job_spec import JobSpec
from data_engine.ingest import open_table
from platform_core.artifacts import ArtifactStore, ArtifactWriter
from platform_core.object_store import ObjectStore
from pql.task import TaskType

__all__ = ["run_baseline", "BaselineResult", "BASELINE_PRODUCER"]

BASELINE_PRODUCER = "compute_engine.baseline"
JOB_VERSION = 1
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.parquet"
IMPORTANCE_FILE = "feature_importance.json"
CURVES_FILE = "curves.json"

log = logging.getLogger("compute_engine.baseline")


@dataclass(frozen=True)
class BaselineResult:
    """A written (or found) baseline.

    Attributes:
        uri: the output artifact.
        model: ``lightgbm`` or ``most_popular``.
        metrics: holdout metrics (None where undefined).
        rows: examples per split that the baseline used.
        reused: an artifact made from the same inputs was found and kept.
    """

    uri: str
    model: str
    metrics: dict[str, float | None]
    rows: dict[str, int]
    reused: bool


def _clean(value: Any) -> Any:
    """JSON-safe values: NaN and infinities become None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def _result(uri: str, summary: dict[str, Any], reused: bool) -> BaselineResult:
    return BaselineResult(uri=uri, model=summary["model"], metrics=dict(summary["metrics"]),
                          rows=dict(summary["rows"]), reused=reused)


def run_baseline(spec: JobSpec, *, store: ObjectStore) -> BaselineResult:
    """Run a baseline job.

    Args:
        spec: a ``baseline`` job spec (training table, the entity table among ``table_uris``, output URI).
        store: the object store.

    Returns:
        The :class:`BaselineResult`.

    Raises:
        BaselineError: the spec is not a baseline, the training table's task differs from the spec's, the
            entity table is not given or has no usable column, or a split the baseline needs is empty.
        TableNotFoundError: the entity table's URI holds no ingested table.
    """
    if spec.kind != "baseline":
        raise BaselineError(f"job {spec.job_id} is a {spec.kind} job, not a baseline")
    params = baseline_params(spec.model_plan)
    log.info("reading training table %s", spec.training_table_uri)
    examples = read_training_table(store, spec.training_table_uri, max_train_rows=params["max_train_rows"],
                                   seed=spec.seed)
    if examples.task_type is not spec.task_type:
        raise BaselineError(f"the job is {spec.task_type.value} but the training table {examples.uri} is "
                            f"{examples.task_type.value}")
    rows = examples.rows()
    log.info("examples per split: %s (train sampled from %d)", rows, examples.train_rows_total)
    if rows["holdout"] == 0:
        raise BaselineError(f"the training table {examples.uri} has no holdout example to evaluate on")
    artifacts = ArtifactStore(store)
    if examples.task_type is TaskType.LINK_PREDICTION:
        inputs = {"job": "baseline", "version": JOB_VERSION, "training_table": examples.content_hash,
                  "model": "most_popular", "k": examples.rank_k}
        found = artifacts.find(spec.output_uri, inputs)
        if found is not None:
            log.info("baseline already at %s", found.uri)
            return _result(found.uri, found.read_json(METRICS_FILE), reused=True)
        with artifacts.writer(spec.output_uri, producer=BASELINE_PRODUCER, inputs=inputs) as writer:
            summary = _most_popular(writer, examples)
        return _result(writer.uri, summary, reused=False)

    if examples.entity_table not in spec.table_uris:
        raise BaselineError(f"the baseline needs the entity table {examples.entity_table} among the job's "
                            f"table_uris (given: {', '.join(sorted(spec.table_uris)) or 'none'})")
    table = open_table(store, spec.table_uris[examples.entity_table])
    inputs = {"job": "baseline", "version": JOB_VERSION, "training_table": examples.content_hash,
              "entity_table": table.artifact.manifest.content_hash, "model": "lightgbm", "params": params,
              "seed": spec.seed}
    found = artifacts.find(spec.output_uri, inputs)
    if found is not None:
        log.info("baseline already at %s", found.uri)
        return _result(found.uri, found.read_json(METRICS_FILE), reused=True)
    if rows["train"] == 0:
        raise BaselineError(f"the training table {examples.uri} has no training example")
    schema = _data_schema(table)
    features, dropped = plan_features(schema, table.stypes, table.primary_key or examples.entity_column,
                                      dict(table.metadata.get("separators") or {}),
                                      examples.label_columns.get(examples.entity_table, ()))
    if not features:
        # Nothing of the entity's own to learn from: the baseline is the training split's prior (a constant
        # feature lets LightGBM fit nothing but it), which is what a model without the graph can do.
        log.info("the entity table %s has no column the baseline can use (%s): the baseline is the prior",
                 table.name, "; ".join(f"{d.source}: {d.reason}" for d in dropped) or "no columns")
        features = [FeatureColumn(PRIOR_FEATURE, table.primary_key or examples.entity_column, "constant")]
    log.info("features from %s: %s", table.name, ", ".join(f.name for f in features))
    sources = list(dict.fromkeys(f.source for f in features))
    entity = entity_rows(table, examples.table.column(examples.entity_column), sources)
    x = build_features(features, entity, examples.table.column("anchor_time"),
                       dict(table.metadata.get("separators") or {}))
    labels = examples.table.column("label").to_pylist()
    threads = max(1, min(int(spec.resources.cpu), os.cpu_count() or 1))
    fit = fit_lightgbm(examples.task_type, x, labels, examples.split, params, seed=spec.seed, threads=threads)
    with artifacts.writer(spec.output_uri, producer=BASELINE_PRODUCER, inputs=inputs) as writer:
        summary = _write_lightgbm(writer, examples, labels, fit, params, features, dropped)
    return _result(writer.uri, summary, reused=False)


def _data_schema(table) -> pa.Schema:
    import pyarrow.parquet as pq

    if not table.data_files:
        raise BaselineError(f"the entity table {table.name} has no data parts")
    with table.artifact.store.open_input(table.artifact.file_uri(table.data_files[0])) as stream:
        return pq.ParquetFile(stream).schema_arrow


def _holdout_table(examples: TrainingTable) -> tuple[np.ndarray, pa.Table]:
    holdout = np.flatnonzero(examples.split == "holdout")
    columns = [examples.entity_column, "anchor_time", "label"]
    return holdout, examples.table.select(columns).take(pa.array(holdout))


def _evaluate(task: TaskType, y_true: Any, y_pred: Any, k: int | None = None) -> tuple[dict, dict]:
    values = metric_fns.evaluate(task, y_true, y_pred, k=k)
    curves = metric_fns.curves(task, y_true, y_pred, k=k)
    return values, curves


def _write_lightgbm(writer: ArtifactWriter, examples: TrainingTable, labels: list[Any], fit: Fit,
                    params: dict[str, Any], features, dropped) -> dict[str, Any]:
    task = examples.task_type
    holdout, out = _holdout_table(examples)
    truth = [labels[i] for i in holdout]
    pred = fit.holdout
    label_type = examples.table.schema.field("label").type
    if task is TaskType.BINARY_CLASSIFICATION:
        values, curves = _evaluate(task, np.array([bool(v) for v in truth]), pred)
        out = out.append_column("score", pa.array(pred, pa.float64()))
    elif task is TaskType.REGRESSION:
        values, curves = _evaluate(task, np.array(truth, dtype=float), pred)
        out = out.append_column("prediction", pa.array(pred, pa.float64()))
    elif task is TaskType.MULTICLASS_CLASSIFICATION:
        predicted = [fit.classes[i] for i in pred.argmax(axis=1)]
        values, curves = _evaluate(task, np.asarray(truth), np.asarray(predicted))
        out = out.append_column("predicted", pa.array(predicted, label_type))
        out = out.append_column("probabilities", pa.array(list(pred), pa.list_(pa.float64())))
    elif task is TaskType.FORECASTING:
        values, curves = _evaluate(task, np.array(truth, dtype=float), pred)
        out = out.append_column("prediction", pa.array(list(pred), pa.list_(pa.float64())))
    else:  # multilabel
        sets = [set(v or ()) for v in truth]
        y_true = np.array([[1 if c in s else 0 for c in fit.classes] for s in sets], dtype=np.int8)
        values, curves = _evaluate(task, y_true, pred)
        out = out.append_column("scores", pa.array(list(pred), pa.list_(pa.float64())))
    importance = sorted(({"feature": f.name, "source": f.source, "kind": f.kind,
                          "gain": fit.importance[f.name][0], "split": fit.importance[f.name][1]} for f in features),
                        key=lambda e: (-e["gain"], e["feature"]))
    summary = _clean({
        "model": "prior" if [f.kind for f in features] == ["constant"] else "lightgbm", "task_type": task.value,
        "metrics": values,
        "selection_metric": next(iter(values)), "rows": examples.rows(),
        "train_rows_total": examples.train_rows_total, "best_iterations": fit.best_iterations,
        "classes": fit.classes, "features": [f.__dict__ for f in features],
        "dropped_columns": [d.__dict__ for d in dropped], "params": params,
    })
    writer.write_json(METRICS_FILE, summary)
    writer.write_table(PREDICTIONS_FILE, out)
    writer.write_json(IMPORTANCE_FILE, importance)
    writer.write_json(CURVES_FILE, _clean(curves))
    for i, text in enumerate(fit.model_text):
        writer.write_bytes(f"model/lightgbm-{i}.txt", text.encode())
    writer.metadata.update({"model": summary["model"], "task_type": task.value, "metrics": summary["metrics"],
                            "rows": summary["rows"], "training_table": examples.uri})
    log.info("holdout metrics: %s", summary["metrics"])
    return summary


def _most_popular(writer: ArtifactWriter, examples: TrainingTable) -> dict[str, Any]:
    k = examples.rank_k
    if k is None:
        raise BaselineError(f"the ranking training table {examples.uri} does not say its k (rank_k)")
    labels = examples.table.column("label").to_pylist()
    top = most_popular(labels, examples.split, k)
    if not top:
        raise BaselineError(f"the training labels of {examples.uri} hold no target to recommend")
    holdout, out = _holdout_table(examples)
    truth = [labels[i] for i in holdout]
    values, curves = _evaluate(TaskType.LINK_PREDICTION, truth, [top] * len(truth), k)
    item_type = examples.table.schema.field("label").type.value_type
    out = out.append_column("predicted", pa.array([top] * len(truth), pa.list_(item_type)))
    summary = _clean({"model": "most_popular", "task_type": TaskType.LINK_PREDICTION.value, "metrics": values,
                      "selection_metric": next(iter(values)), "rows": examples.rows(),
                      "train_rows_total": examples.train_rows_total, "k": k, "recommended": top})
    writer.write_json(METRICS_FILE, summary)
    writer.write_table(PREDICTIONS_FILE, out)
    writer.write_json(CURVES_FILE, _clean(curves))
    writer.metadata.update({"model": "most_popular", "task_type": TaskType.LINK_PREDICTION.value,
                            "metrics": summary["metrics"], "rows": summary["rows"], "training_table": examples.uri})
    log.info("holdout metrics: %s", summary["metrics"])
    return summary
