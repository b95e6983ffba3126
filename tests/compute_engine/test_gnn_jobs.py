"""The trainer's ``train`` and ``predict`` jobs on the demo data, prepared by the real data engine (Spark):
ingested tables, a materialized graph, training and prediction tables from compiled queries."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

import pql
from compute_engine.baseline import run_baseline
from compute_engine.inputs import InputError
from compute_engine.job_spec import GraphInputs, JobSpec, write_job_spec
from compute_engine.training import load_checkpoint
from compute_engine.training.job import run_predict_job, run_train_job
from data_engine.demo_data import generate
from data_engine.ingest import IngestOptions, ingest_table
from data_engine.materialize import NodeIndex, materialize_graph
from data_engine.training_table import build_prediction_table, build_training_table
from platform_core.artifacts import ArtifactNotFoundError, ArtifactStore
from platform_core.object_store import ObjectStore
from platform_core.settings import Settings

pytestmark = pytest.mark.integration

CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id"
NEXT_PRODUCTS = "PREDICT LIST_DISTINCT(orders.product_id, 0, 30, days) RANK TOP 5 FOR EACH customers.customer_id"
SEGMENT = "PREDICT customers.segment FOR EACH customers.customer_id"
FAST = {"channels": 32, "epochs": 2, "patience": 1, "batch_size": 256, "fanouts": [8, 4]}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, spark):
    """Demo data at a tiny scale, ingested and materialized once for the module."""
    home = tmp_path_factory.mktemp("gnn-jobs")
    raw = home / "raw"
    generate(raw.as_uri(), scale=0.02, seed=5, fmt="parquet")
    settings = Settings(home=home, spark_master="local[2]")
    store = ObjectStore.from_settings(settings)
    schema = json.loads((raw / "schema.json").read_text())
    tables = {name: t for name, t in schema["tables"].items() if name in ("customers", "products", "orders")}
    schema = {"tables": tables, "links": [link for link in schema["links"] if link["table"] in tables]}
    uris = {name: ingest_table(str(raw / f"{name}.parquet"), name, settings=settings, store=store, profile=False,
                               options=IngestOptions(primary_key=t["primary_key"], time_column=t["time_column"])).uri
            for name, t in tables.items()}
    graph = materialize_graph(schema, uris, "graphs/demo", settings=settings, store=store)
    inputs = GraphInputs(graph_uri=graph.graph_uri, features_uri=graph.output_uri + "/features",
                         index_uri=graph.output_uri + "/index")

    def tables_for(query: str, name: str):
        compiled = pql.compile(query, pql.GraphSchema.from_dict(schema))
        training = build_training_table(compiled.plan, uris, store.uri("training", name), store=store,
                                        settings=settings)
        prediction = build_prediction_table(compiled.plan, uris, store.uri("prediction", name), store=store,
                                            settings=settings)
        return compiled, training.uri, prediction.uri

    return {"store": store, "settings": settings, "uris": uris, "graph": inputs, "index": graph.output_uri + "/index",
            "tables_for": tables_for}


def _train_spec(demo, compiled, training_uri: str, name: str, **plan) -> JobSpec:
    return JobSpec(kind="train", job_id=name, task_type=compiled.task_type, training_table_uri=training_uri,
                   output_uri=demo["store"].uri("jobs", name, "train"), table_uris=demo["uris"], graph=demo["graph"],
                   model_plan={**FAST, **plan}, seed=3)


def test_churn_trains_a_checkpoint_with_metrics_then_scores_every_entity(demo):
    store = demo["store"]
    compiled, training_uri, prediction_uri = demo["tables_for"](CHURN, "churn")
    spec = _train_spec(demo, compiled, training_uri, "churn")
    result = run_train_job(spec, store=store)
    assert not result.reused and set(result.metrics) == {"auroc", "average_precision", "accuracy", "f1"}
    assert 0.5 < result.metrics["auroc"] <= 1.0
    out = ArtifactStore(store).open(result.uri)
    summary = out.read_json("metrics.json")
    assert summary["model"] == "gnn" and summary["selection_metric"] == "auroc"
    assert len(summary["history"]) >= 1 and summary["seeds_per_s"] > 0
    assert summary["validation_metrics"]["auroc"] == summary["history"][summary["best_epoch"] - 1]["val_metrics"]["auroc"]
    assert set(out.read_json("curves.json")) >= {"roc", "pr"}
    holdout = out.read_table("predictions.parquet")
    assert holdout.num_rows == result.rows["holdout"] and holdout.column_names == [
        "customer_id", "anchor_time", "label", "score"]
    assert load_checkpoint(store, result.uri).spec.entity_type == "customers"
    # The same spec again finds its output.
    assert run_train_job(spec, store=store).reused

    predict = JobSpec(kind="predict", job_id="churn-predict", task_type=compiled.task_type,
                      prediction_table_uri=prediction_uri, model_uri=result.uri,
                      output_uri=store.uri("jobs", "churn", "predict"), graph=demo["graph"])
    scored = run_predict_job(predict, store=store)
    entities = ArtifactStore(store).open(prediction_uri)
    expected = sum(f.rows for f in entities.manifest.files if f.kind == "parquet")
    predictions = ArtifactStore(store).open(scored.uri).read_table("predictions.parquet")
    embeddings = ArtifactStore(store).open(scored.uri).read_table("embeddings.parquet")
    assert scored.rows["predicted"] == predictions.num_rows == embeddings.num_rows == expected > 0
    scores = predictions.column("score").to_numpy()
    assert ((scores >= 0) & (scores <= 1)).all() and scores.std() > 0
    assert embeddings.schema.field("embedding").type.list_size == FAST["channels"]
    assert predictions.column("customer_id").equals(embeddings.column("customer_id"))
    assert run_predict_job(predict, store=store).reused


def test_the_trainer_process_runs_a_train_spec_and_reports_bad_inputs_in_one_line(demo):
    store, settings = demo["store"], demo["settings"]
    compiled, training_uri, _ = demo["tables_for"](CHURN, "churn")
    good = _train_spec(demo, compiled, training_uri, "process", epochs=1)
    env = {"PQ_HOME": str(settings.home), "PATH": "/usr/bin:/bin"}
    spec_uri = write_job_spec(store, store.uri("specs", "good"), good)
    done = subprocess.run([sys.executable, "-m", "services.trainer", "--spec", spec_uri], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "holdout metrics" in done.stdout and ArtifactStore(store).open(good.output_uri).manifest.files

    bad = JobSpec(**{**good.__dict__, "job_id": "bad", "output_uri": store.uri("jobs", "bad"),
                     "model_plan": {"channels": 3}})
    spec_uri = write_job_spec(store, store.uri("specs", "bad"), bad)
    failed = subprocess.run([sys.executable, "-m", "services.trainer", "--spec", spec_uri], env=env,
                            capture_output=True, text=True, timeout=600)
    assert failed.returncode == 2 and failed.stderr.strip().splitlines() == [
        "error: model_plan: channels must be an even number >= 2, got 3"]
    with pytest.raises(ArtifactNotFoundError):
        ArtifactStore(store).open(bad.output_uri)


def test_ranking_recommends_product_keys_and_beats_nothing_worse_than_random(demo):
    store = demo["store"]
    compiled, training_uri, prediction_uri = demo["tables_for"](NEXT_PRODUCTS, "next-products")
    result = run_train_job(_train_spec(demo, compiled, training_uri, "rank", epochs=3), store=store)
    assert set(result.metrics) == {"map@5", "precision@5", "recall@5"}
    scored = run_predict_job(JobSpec(kind="predict", job_id="rank-predict", task_type=compiled.task_type,
                                     prediction_table_uri=prediction_uri, model_uri=result.uri,
                                     output_uri=store.uri("jobs", "rank", "predict"), graph=demo["graph"]),
                             store=store)
    predictions = ArtifactStore(store).open(scored.uri).read_table("predictions.parquet")
    lists = predictions.column("predicted").to_pylist()
    products = NodeIndex.open(ArtifactStore(store), demo["index"] + "/products")
    known = set(products.keys(np.arange(products.num_nodes)).to_pylist())
    assert all(len(items) == 5 and len(set(items)) == 5 and set(items) <= known for items in lists)
    scores = np.array(predictions.column("scores").to_pylist())
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first


def test_a_static_target_column_is_never_a_feature(demo):
    """PREDICT customers.segment: the segment column is in the customers' features; neither the GNN nor the
    baseline may read it (both would otherwise be perfect)."""
    store = demo["store"]
    compiled, training_uri, _ = demo["tables_for"](SEGMENT, "segment")
    assert ArtifactStore(store).open(training_uri).manifest.metadata["label_columns"] == [["customers", "segment"]]
    result = run_train_job(_train_spec(demo, compiled, training_uri, "segment", epochs=3, num_layers=0, fanouts=[]),
                           store=store)
    model = load_checkpoint(store, result.uri)
    assert model.spec.tables["customers"].hidden == ["segment"]
    baseline = run_baseline(JobSpec(kind="baseline", job_id="segment-baseline", task_type=compiled.task_type,
                                    training_table_uri=training_uri, table_uris=demo["uris"],
                                    output_uri=store.uri("jobs", "segment", "baseline")), store=store)
    summary = ArtifactStore(store).open(baseline.uri).read_json("metrics.json")
    assert {"source": "segment", "reason": "the label"} in [
        {"source": d["source"], "reason": d["reason"]} for d in summary["dropped_columns"]]
    assert result.metrics["accuracy"] < 0.9 and baseline.metrics["accuracy"] < 0.9


def test_a_train_job_without_node_indexes_or_with_a_foreign_table_fails_clearly(demo):
    store = demo["store"]
    compiled, training_uri, prediction_uri = demo["tables_for"](CHURN, "churn")
    no_index = JobSpec(kind="train", job_id="no-index", task_type=compiled.task_type,
                       training_table_uri=training_uri, output_uri=store.uri("jobs", "no-index"),
                       graph=GraphInputs(graph_uri=demo["graph"].graph_uri, features_uri=demo["graph"].features_uri))
    with pytest.raises(InputError, match="needs graph.index_uri"):
        run_train_job(no_index, store=store)
    wrong = JobSpec(kind="train", job_id="wrong", task_type=compiled.task_type, training_table_uri=prediction_uri,
                    output_uri=store.uri("jobs", "wrong"), graph=demo["graph"])
    with pytest.raises(InputError, match="not a training table"):
        run_train_job(wrong, store=store)
    with pytest.raises(ArtifactNotFoundError):
        ArtifactStore(store).open(store.uri("jobs", "wrong"))
