"""The GNN jobs a trainer process runs: ``train`` (one AutoML trial) and ``predict`` (score a prediction table).

Both read the graph and features from the running stores named in the spec (``graph.*_store_address``) or,
without them, straight from the materialized artifacts, and turn entity keys into node indices through the
node index artifacts (``graph.index_uri``).

Train output artifact (at the spec's ``output_uri``; the manifest is written last)::

    model.pt / model.json    the checkpoint (:mod:`.checkpoint`); the manifest says format pq.gnn_checkpoint
    metrics.json             holdout and validation metrics, per-epoch history, throughput, classes, plan
    curves.json              ROC / PR / calibration / confusion / predicted-vs-actual data on holdout
    predictions.parquet      holdout rows: entity key, anchor_time, label and the prediction

Predict output artifact::

    predictions.parquet      entity key, anchor_time and the prediction columns of the task
    embeddings.parquet       entity key, anchor_time, ``embedding`` (the GNN's entity embedding)

Prediction columns by task: binary ``score`` (probability of true); regression ``prediction``; multiclass
``predicted`` (a class as written in the data) and ``probabilities`` (in the order of the model's
``classes``); multilabel ``predicted`` (labels with probability >= 0.5) and ``scores``; forecasting
``prediction`` (one value per timeframe); ranking ``predicted`` (the top-k target keys) and ``scores``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from compute_engine.inputs import InputError, TrainingTable, read_prediction_table, read_training_table
from compute_engine.job_spec import JobSpec
from compute_engine.model.model import ModelPlan, PlanError
from compute_engine.training.checkpoint import FORMAT, VERSION, checkpoint_bytes, load_checkpoint
from compute_engine.training.data import RaggedLabels, Stores, Task, TrainingExamples
from compute_engine.training.loop import ProgressEvent, train
from compute_engine.training.predict import Predictions, predict
from data_engine.materialize import MaterializeError, NodeIndex
from platform_core.artifacts import ArtifactError, ArtifactStore
from platform_core.object_store import ObjectStore
from pql.task import TaskType

__all__ = ["run_train_job", "run_predict_job", "open_stores", "GNNJobResult", "TRAIN_PRODUCER", "PREDICT_PRODUCER",
           "METRICS_FILE", "CURVES_FILE", "PREDICTIONS_FILE", "EMBEDDINGS_FILE"]

TRAIN_PRODUCER = "compute_engine.training"
PREDICT_PRODUCER = "compute_engine.predict"
JOB_VERSION = 1
METRICS_FILE = "metrics.json"
CURVES_FILE = "curves.json"
PREDICTIONS_FILE = "predictions.parquet"
EMBEDDINGS_FILE = "embeddings.parquet"
#: Keys of a ``model_plan`` that steer the job rather than the model.
JOB_KEYS = ("max_train_rows",)
#: Entities scored per pass when predicting (bounds the memory of one pass).
PREDICT_CHUNK = 65_536

log = logging.getLogger("compute_engine.training.job")


@dataclass(frozen=True)
class GNNJobResult:
    """A written (or found) train or predict output.

    Attributes:
        uri: the output artifact.
        metrics: holdout metrics (train) or ``{}`` (predict).
        rows: examples per split (train) or scored rows (predict, under ``"predicted"``).
        reused: an artifact made from the same inputs was found and kept.
    """

    uri: str
    metrics: dict[str, Any]
    rows: dict[str, int]
    reused: bool


def _clean(value: Any) -> Any:
    """JSON-safe values: NaN and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def open_stores(spec: JobSpec, store: ObjectStore) -> Stores:
    """The graph and feature stores of a job: the running servers when the spec names them, else the artifacts.

    Raises:
        InputError: the spec names neither a graph store nor a graph artifact (or no features).
    """
    from graph_engine.features.store import ArtifactFeatureStore
    from graph_engine.graph_store import ArtifactGraphStore

    g = spec.graph
    if g.graph_store_address:
        from graph_engine.service import RemoteGraphStore

        graph = RemoteGraphStore(g.graph_store_address)
    elif g.graph_uri:
        graph = ArtifactGraphStore.open(store, g.graph_uri)
    else:
        raise InputError(f"job {spec.job_id}: a GNN job needs graph.graph_uri or graph.graph_store_address")
    if g.feature_store_address:
        from graph_engine.service import RemoteFeatureStore

        features = RemoteFeatureStore(g.feature_store_address)
    elif g.feature_uris:
        features = ArtifactFeatureStore.open(store, dict(g.feature_uris))
    elif g.features_uri:
        features = ArtifactFeatureStore.open(store, g.features_uri)
    else:
        raise InputError(f"job {spec.job_id}: a GNN job needs graph.features_uri or graph.feature_store_address")
    return Stores(graph, features)


def _index(spec: JobSpec, store: ObjectStore, table: str) -> NodeIndex:
    uri = spec.graph.index_location(table)
    if uri is None:
        raise InputError(f"job {spec.job_id}: a GNN job needs graph.index_uri or graph.index_uris (the node index "
                         "artifacts)")
    try:
        return NodeIndex.open(ArtifactStore(store), uri)
    except (ArtifactError, MaterializeError) as exc:
        raise InputError(f"no node index of table {table} at {uri}: {exc}") from None


def _plan(spec: JobSpec) -> tuple[ModelPlan, dict[str, Any]]:
    raw = dict(spec.model_plan)
    job = {k: raw.pop(k) for k in JOB_KEYS if k in raw}
    raw.setdefault("seed", spec.seed)
    try:
        return ModelPlan.from_dict(raw), job
    except (PlanError, TypeError) as exc:
        raise InputError(f"model_plan: {exc}") from None


def _seconds(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    values = column.to_numpy(zero_copy_only=False)
    if np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[s]").astype(np.int64)
    return np.asarray(values, dtype=np.int64)


def _list_values(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """(offsets, flattened values) of a list column (null lists count as empty)."""
    array = column.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = np.zeros(len(array) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, pc.list_flatten(array)


def _labels(table: TrainingTable, spec: JobSpec, store: ObjectStore) -> tuple[Task, Any, list[Any] | None]:
    """The task, the labels in the trainer's numeric form and the class vocabulary (classification)."""
    t = table.task_type
    label = table.table.column("label")
    entity = table.entity_table
    if t is TaskType.BINARY_CLASSIFICATION:
        return Task(t, entity), label.to_numpy(zero_copy_only=False).astype(np.int8), None
    if t is TaskType.REGRESSION:
        return Task(t, entity), label.to_numpy(zero_copy_only=False).astype(np.float64), None
    if t is TaskType.MULTICLASS_CLASSIFICATION:
        classes = _sorted_unique(label.combine_chunks())
        codes = pc.index_in(label, value_set=classes).to_numpy(zero_copy_only=False).astype(np.int64)
        names = classes.to_pylist()
        return Task(t, entity, num_classes=len(names), class_names=tuple(names)), codes, names
    if t is TaskType.FORECASTING:
        offsets, values = _list_values(label)
        horizon = int(offsets[1] - offsets[0]) if len(offsets) > 1 else 1
        if not np.all(np.diff(offsets) == horizon):
            raise InputError(f"{table.uri}: forecasting labels must all have the same number of timeframes")
        matrix = values.to_numpy(zero_copy_only=False).astype(np.float64).reshape(-1, horizon)
        return Task(t, entity, horizon=horizon), matrix, None
    offsets, values = _list_values(label)
    if t is TaskType.MULTILABEL_CLASSIFICATION:
        classes = _sorted_unique(values)
        codes = pc.index_in(values, value_set=classes).to_numpy(zero_copy_only=False).astype(np.int64)
        names = classes.to_pylist()
        return (Task(t, entity, num_classes=len(names), class_names=tuple(names)),
                RaggedLabels(offsets, codes), names)
    # Ranking: the label lists keys of the ranked table; the model ranks its nodes.
    if not table.ranked_table or table.rank_k is None:
        raise InputError(f"{table.uri}: a ranking training table must name its ranked table and k")
    nodes = _index(spec, store, table.ranked_table).lookup(values)
    keep = nodes >= 0
    kept = np.concatenate([[0], np.cumsum(keep)]).astype(np.int64)
    return (Task(t, entity, target_type=table.ranked_table, k=table.rank_k),
            RaggedLabels(kept[offsets], nodes[keep]), None)


def _sorted_unique(values: pa.Array) -> pa.Array:
    unique = pc.unique(values).drop_null()
    return unique.take(pc.sort_indices(unique))


def _log_progress(every_s: float = 10.0):
    last = [0.0]

    def report(event: ProgressEvent) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s or event.step == event.steps:
            last[0] = now
            log.info("epoch %d step %d/%d: loss %.4f, %.0f seeds/s", event.epoch, event.step, event.steps,
                     event.loss, event.seeds_per_s)
    return report


def _threads(spec: JobSpec) -> None:
    import torch

    torch.set_num_threads(max(1, min(int(spec.resources.cpu), os.cpu_count() or 1)))


def prediction_columns(task: Task, predictions: Predictions, classes: list[Any] | None, label_type: pa.DataType | None,
                       target_keys: NodeIndex | None) -> dict[str, pa.Array]:
    """The task's prediction columns (see the module's docstring) for a batch of predictions."""
    t = task.task_type
    if t is TaskType.BINARY_CLASSIFICATION:
        return {"score": pa.array(predictions.scores.astype(np.float64))}
    if t is TaskType.REGRESSION:
        return {"prediction": pa.array(predictions.scores.astype(np.float64))}
    if t is TaskType.FORECASTING:
        return {"prediction": pa.array(list(predictions.scores.astype(np.float64)), pa.list_(pa.float64()))}
    if t is TaskType.LINK_PREDICTION:
        top = predictions.top_k
        keys = target_keys.keys(top.reshape(-1)) if target_keys is not None else pa.array(top.reshape(-1))
        offsets = pa.array(np.arange(len(top) + 1, dtype=np.int32) * top.shape[1])
        scores = predictions.top_k_scores.astype(np.float64)
        return {"predicted": pa.ListArray.from_arrays(offsets, keys),
                "scores": pa.array(list(scores), pa.list_(pa.float64()))}
    names = pa.array(classes or [], label_type) if label_type is not None else pa.array(classes or [])
    probabilities = predictions.scores.astype(np.float64)
    if t is TaskType.MULTICLASS_CLASSIFICATION:
        return {"predicted": names.take(pa.array(probabilities.argmax(axis=1))),
                "probabilities": pa.array(list(probabilities), pa.list_(pa.float64()))}
    chosen = [names.take(pa.array(np.flatnonzero(row >= 0.5))) for row in probabilities]
    return {"predicted": pa.array([c.to_pylist() for c in chosen], pa.list_(names.type)),
            "scores": pa.array(list(probabilities), pa.list_(pa.float64()))}


def run_train_job(spec: JobSpec, *, store: ObjectStore) -> GNNJobResult:
    """Train one GNN trial and write its checkpoint, metrics, curves and holdout predictions.

    Args:
        spec: a ``train`` job spec (training table, graph inputs with ``index_uri``, model plan, seed).
        store: the object store.

    Returns:
        The :class:`GNNJobResult` (holdout metrics; ``reused`` when an identical run's output exists).

    Raises:
        InputError: a missing or malformed input, a plan that cannot be built, or examples that do not fit
            the task (no training example, an entity the graph does not have...).
    """
    from compute_engine import metrics as metric_fns
    from compute_engine.training.data import ExamplesError

    if spec.kind != "train":
        raise InputError(f"job {spec.job_id} is a {spec.kind} job, not a train job")
    plan, options = _plan(spec)
    table = read_training_table(store, spec.training_table_uri, max_train_rows=options.get("max_train_rows"),
                                seed=plan.seed)
    if table.task_type is not spec.task_type:
        raise InputError(f"the job is {spec.task_type.value} but the training table {table.uri} is "
                         f"{table.task_type.value}")
    artifacts = ArtifactStore(store)
    inputs = {"job": "train", "version": JOB_VERSION, "training_table": table.content_hash,
              "graph": spec.graph.graph_uri, "features": spec.graph.feature_uris or spec.graph.features_uri,
              "index": spec.graph.index_uris or spec.graph.index_uri,
              "plan": plan.to_dict(), "options": options}
    found = artifacts.find(spec.output_uri, inputs)
    if found is not None:
        summary = found.read_json(METRICS_FILE)
        return GNNJobResult(found.uri, summary.get("metrics") or {}, summary.get("rows") or {}, reused=True)

    _threads(spec)
    stores = open_stores(spec, store)
    nodes = _index(spec, store, table.entity_table).lookup(table.table.column(table.entity_column))
    task, labels, classes = _labels(table, spec, store)
    task = dataclasses.replace(task, hidden_columns=table.label_columns)
    missing = int((nodes < 0).sum())
    if missing:
        log.warning("%d of %d examples name an entity that is not in the graph; they are left out", missing,
                    len(nodes))
    keep = np.flatnonzero(nodes >= 0)
    labels = labels.take(keep) if isinstance(labels, RaggedLabels) else labels[keep]
    split = table.split[keep]
    examples = TrainingExamples(nodes[keep], _seconds(table.table.column("anchor_time"))[keep], labels, split)
    rows = {s: int((split == s).sum()) for s in ("train", "val", "holdout")}
    log.info("job %s: %s on %s, %s examples (%s), plan %s", spec.job_id, task.task_type.value, task.entity_type,
             len(examples), rows, plan.to_dict())
    start = time.perf_counter()
    try:
        result = train(plan, examples, stores, task, progress=_log_progress(), device=spec.device)
    except ExamplesError as exc:
        raise InputError(f"{table.uri}: {exc}") from None
    seconds = time.perf_counter() - start

    holdout = examples.select("holdout")
    holdout_rows = keep[split == "holdout"]
    curves: dict[str, Any] = {}
    out = table.table.select([table.entity_column, "anchor_time", "label"]).take(pa.array(holdout_rows))
    target_keys = _index(spec, store, task.target_type) if task.target_type else None
    if result.holdout_predictions is not None:
        p = result.holdout_predictions
        if task.task_type is TaskType.LINK_PREDICTION:
            curves = metric_fns.curves(task.task_type, holdout.label.to_lists(), list(p.top_k), k=task.k)
        elif task.task_type is TaskType.MULTILABEL_CLASSIFICATION:
            truth = holdout.label.multi_hot(np.arange(len(holdout)), task.num_classes).numpy()
            curves = metric_fns.curves(task.task_type, truth, p.scores)
        elif task.task_type is TaskType.MULTICLASS_CLASSIFICATION:
            curves = metric_fns.curves(task.task_type, np.asarray(holdout.label), p.scores.argmax(axis=1))
        else:
            curves = metric_fns.curves(task.task_type, np.asarray(holdout.label), p.scores)
        for name, column in prediction_columns(task, p, classes, _label_value_type(table), target_keys).items():
            out = out.append_column(name, column)

    summary = _clean({
        "model": "gnn", "task_type": task.task_type.value, "selection_metric": result.selection_metric,
        "metrics": result.holdout_metrics, "validation_metrics": result.val_metrics,
        "best_epoch": result.best_epoch, "history": [r.to_dict() for r in result.history],
        "seeds_per_s": result.seeds_per_s, "device": result.device, "train_seconds": seconds, "rows": rows,
        "train_rows_total": table.train_rows_total, "missing_entities": missing, "classes": classes,
        "plan": plan.to_dict(), "training_table": table.uri,
    })
    with artifacts.writer(spec.output_uri, producer=TRAIN_PRODUCER, inputs=inputs) as writer:
        writer.write_bytes("model.pt", checkpoint_bytes(result.model))
        writer.write_json("model.json", {"plan": plan.to_dict(), "spec": json.loads(result.model.spec.to_json())})
        writer.write_json(METRICS_FILE, summary)
        writer.write_json(CURVES_FILE, _clean(curves))
        writer.write_table(PREDICTIONS_FILE, out)
        writer.metadata.update({
            "format": FORMAT, "format_version": VERSION, "task_type": task.task_type.value,
            "entity_type": task.entity_type, "entity_column": table.entity_column, "target_type": task.target_type,
            "k": task.k, "classes": classes, "label_type": str(_label_value_type(table)),
            "metrics": summary["metrics"], "training_table": table.uri, "job_id": spec.job_id,
        })
    log.info("holdout metrics: %s (best epoch %d, %.0f seeds/s)", summary["metrics"], result.best_epoch,
             result.seeds_per_s)
    return GNNJobResult(writer.uri, summary["metrics"] or {}, rows, reused=False)


def _label_value_type(table: TrainingTable) -> pa.DataType:
    """The type of one class (multiclass), one label (multilabel) or one target key (ranking)."""
    label = table.table.schema.field("label").type
    return label.value_type if pa.types.is_list(label) or pa.types.is_large_list(label) else label


def run_predict_job(spec: JobSpec, *, store: ObjectStore) -> GNNJobResult:
    """Score a prediction table with a trained model; write predictions and entity embeddings.

    Args:
        spec: a ``predict`` job spec (prediction table, model, graph inputs with ``index_uri``).
        store: the object store.

    Returns:
        The :class:`GNNJobResult` (``rows["predicted"]``: rows written).

    Raises:
        InputError: a missing or malformed input, or a model trained for another task or entity.
    """
    from compute_engine.training.checkpoint import CheckpointError

    if spec.kind != "predict":
        raise InputError(f"job {spec.job_id} is a {spec.kind} job, not a predict job")
    artifacts = ArtifactStore(store)
    try:
        model_artifact = artifacts.open(spec.model_uri)
        model = load_checkpoint(artifacts, spec.model_uri)
    except (ArtifactError, CheckpointError) as exc:
        raise InputError(f"no usable model at {spec.model_uri}: {exc}") from None
    meta = model_artifact.manifest.metadata
    if model.spec.task_type is not spec.task_type:
        raise InputError(f"the job is {spec.task_type.value} but the model at {spec.model_uri} was trained for "
                         f"{model.spec.task_type.value}")
    table = read_prediction_table(store, spec.prediction_table_uri)
    if table.entity_table != model.spec.entity_type:
        raise InputError(f"the prediction table scores {table.entity_table} but the model was trained for "
                         f"{model.spec.entity_type}")
    inputs = {"job": "predict", "version": JOB_VERSION, "prediction_table": table.content_hash,
              "model": model_artifact.manifest.content_hash, "graph": spec.graph.graph_uri,
              "features": spec.graph.feature_uris or spec.graph.features_uri,
              "index": spec.graph.index_uris or spec.graph.index_uri}
    found = artifacts.find(spec.output_uri, inputs)
    if found is not None:
        return GNNJobResult(found.uri, {}, {"predicted": int(found.manifest.metadata.get("rows") or 0)},
                            reused=True)

    _threads(spec)
    stores = open_stores(spec, store)
    _read_codes_of(model, stores)
    task = Task(model.spec.task_type, model.spec.entity_type, num_classes=model.spec.num_classes,
                horizon=model.spec.horizon, target_type=model.spec.target_type, k=model.spec.k)
    nodes = _index(spec, store, table.entity_table).lookup(table.table.column(table.entity_column))
    keep = np.flatnonzero(nodes >= 0)
    if keep.size < len(nodes):
        log.warning("%d of %d entities to score are not in the graph; they are left out", len(nodes) - keep.size,
                    len(nodes))
    entities = table.table.select([table.entity_column, "anchor_time"]).take(pa.array(keep))
    nodes, anchors = nodes[keep], _seconds(entities.column("anchor_time"))
    target_keys = _index(spec, store, task.target_type) if task.target_type else None
    classes = meta.get("classes")
    label_type = _parse_type(meta.get("label_type"))
    stats = {"rows": 0}

    with tempfile.TemporaryDirectory(prefix="pq-embeddings-") as scratch:
        embeddings_path = Path(scratch) / EMBEDDINGS_FILE

        def prediction_batches() -> Iterator[pa.RecordBatch]:
            with pq.ParquetWriter(embeddings_path, _embedding_schema(entities.schema, model.plan.channels)) as emb:
                for start in range(0, len(nodes), PREDICT_CHUNK):
                    stop = min(start + PREDICT_CHUNK, len(nodes))
                    p = predict(model, stores, nodes[start:stop], anchors[start:stop], k=task.k, embeddings=True,
                                device=spec.device)
                    ids = entities.slice(start, stop - start)
                    columns = prediction_columns(task, p, classes, label_type, target_keys)
                    batch = pa.table({**{n: ids.column(n) for n in ids.column_names}, **columns})
                    vectors = pa.FixedSizeListArray.from_arrays(pa.array(p.embeddings.reshape(-1), pa.float32()),
                                                                 model.plan.channels)
                    emb.write_table(pa.table({**{n: ids.column(n) for n in ids.column_names},
                                              "embedding": vectors}))
                    stats["rows"] += batch.num_rows
                    log.info("scored %d of %d entities", stop, len(nodes))
                    yield from batch.to_batches()

        with artifacts.writer(spec.output_uri, producer=PREDICT_PRODUCER, inputs=inputs) as writer:
            schema = _prediction_schema(entities.schema, task, label_type)
            writer.write_batches(PREDICTIONS_FILE, schema, (b.cast(schema) for b in prediction_batches()))
            written = pq.ParquetFile(embeddings_path)
            writer.write_batches(EMBEDDINGS_FILE, written.schema_arrow, written.iter_batches())
            writer.metadata.update({"task_type": task.task_type.value, "entity_type": task.entity_type,
                                    "entity_column": table.entity_column, "rows": stats["rows"],
                                    "model": spec.model_uri, "prediction_table": table.uri,
                                    "anchor_time": _anchor_iso(anchors), "classes": classes})
    log.info("wrote %d predictions to %s", stats["rows"], writer.uri)
    return GNNJobResult(writer.uri, {}, {"predicted": stats["rows"]}, reused=False)


def _read_codes_of(model: Any, stores: Stores) -> None:
    """Let the model read the categorical codes of features materialized after it was trained (new data can
    reorder a vocabulary, which is sorted by frequency) as the codes it learnt."""
    for table, encoder in model.encoders.items():
        if not stores.has_features(table):
            continue
        changed = encoder.read_codes_of(stores.features.table_info(table).vocabularies)
        if changed:
            log.info("table %s: categorical codes of %s translated to the model's vocabularies", table,
                     ", ".join(changed))


def _anchor_iso(anchors: np.ndarray) -> str | None:
    if anchors.size == 0:
        return None
    return np.datetime_as_string(np.datetime64(int(anchors.max()), "s"), timezone="UTC")


def _parse_type(text: str | None) -> pa.DataType | None:
    """The Arrow type named by ``str(type)`` for the label types a training table can hold."""
    if not text or text == "None":
        return None
    simple = {"string": pa.string(), "large_string": pa.large_string(), "bool": pa.bool_(), "double": pa.float64(),
              "float": pa.float32(), "int64": pa.int64(), "int32": pa.int32(), "int16": pa.int16(),
              "int8": pa.int8()}
    return simple.get(text)


def _embedding_schema(ids: pa.Schema, channels: int) -> pa.Schema:
    return pa.schema([*_nullable(ids), pa.field("embedding", pa.list_(pa.float32(), channels))])


def _prediction_schema(ids: pa.Schema, task: Task, label_type: pa.DataType | None) -> pa.Schema:
    t = task.task_type
    value = label_type or pa.string()
    floats = pa.list_(pa.float64())
    columns = {TaskType.BINARY_CLASSIFICATION: [("score", pa.float64())],
               TaskType.REGRESSION: [("prediction", pa.float64())],
               TaskType.FORECASTING: [("prediction", floats)],
               TaskType.MULTICLASS_CLASSIFICATION: [("predicted", value), ("probabilities", floats)],
               TaskType.MULTILABEL_CLASSIFICATION: [("predicted", pa.list_(value)), ("scores", floats)],
               TaskType.LINK_PREDICTION: [("predicted", pa.list_(value)), ("scores", floats)]}[t]
    return pa.schema([*_nullable(ids), *(pa.field(n, ty) for n, ty in columns)])


def _nullable(schema: pa.Schema) -> list[pa.Field]:
    """The fields as the batches built from them carry them (Spark marks some columns not null)."""
    return [pa.field(f.name, f.type) for f in schema]
