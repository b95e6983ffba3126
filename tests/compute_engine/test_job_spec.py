"""Job specs: validation, JSON round trips and storage as artifacts."""

from __future__ import annotations

import json

import pytest

from compute_engine.job_spec import (
    SPEC_FILE,
    GraphInputs,
    JobSpec,
    JobSpecError,
    Resources,
    read_job_spec,
    write_job_spec,
)
from platform_core.artifacts import ArtifactStore
from platform_core.errors import UserFacingError
from pql.task import TaskType

pytestmark = pytest.mark.unit


def full_spec() -> JobSpec:
    return JobSpec(
        kind="train", job_id="trial-7", task_type=TaskType.LINK_PREDICTION, output_uri="s3://pq-bucket/jobs/trial-7",
        training_table_uri="s3://pq-bucket/tt/recs", table_uris={"customers": "s3://pq-bucket/tables/customers"},
        graph=GraphInputs(graph_uri="s3://pq-bucket/graph", features_uri="s3://pq-bucket/features",
                          graph_store_address="graph-store:8815", index_uri="s3://pq-bucket/g2/index",
                          index_uris={"customers": "s3://pq-bucket/g1/index/customers"},
                          feature_uris={"customers": "s3://pq-bucket/g1/features/customers"}),
        model_plan={"channels": 128, "layers": 2, "lr": 0.001, "aggr": ["sum", "mean"]}, seed=11, device="cuda",
        resources=Resources(cpu=4, memory="16Gi", gpu=1), node_selector={"cloud.google.com/gke-accelerator": "nvidia-l4"},
    )


def test_spec_round_trips_through_json() -> None:
    spec = full_spec()
    again = JobSpec.from_json(spec.to_json())
    assert again == spec
    assert again.task_type is TaskType.LINK_PREDICTION
    assert json.loads(spec.to_json())["task_type"] == "link_prediction"


def test_spec_round_trips_through_the_store(store) -> None:
    spec = full_spec()
    uri = write_job_spec(store, "specs/trial-7", spec)
    assert uri == store.uri("specs/trial-7")
    assert read_job_spec(store, uri) == spec
    manifest = ArtifactStore(store).open(uri).manifest
    assert manifest.metadata["kind"] == "train" and manifest.file(SPEC_FILE).kind == "json"


def test_missing_and_incomplete_specs_are_user_errors(store) -> None:
    with pytest.raises(JobSpecError, match="no job spec at"):
        read_job_spec(store, store.uri("nothing"))
    # A spec whose writer crashed before the manifest does not exist for readers.
    store.write_bytes(store.uri("half", SPEC_FILE), full_spec().to_json().encode())
    with pytest.raises(JobSpecError, match="incomplete artifact"):
        read_job_spec(store, store.uri("half"))
    assert issubclass(JobSpecError, UserFacingError)


@pytest.mark.parametrize("change, message", [
    ({"kind": "fit"}, "kind: expected one of train, predict, baseline"),
    ({"job_id": "has space"}, "job_id"),
    ({"task_type": "clustering"}, "task_type: expected one of binary_classification"),
    ({"output_uri": "relative/path"}, "output_uri: expected an absolute"),
    ({"training_table_uri": None}, "training_table_uri: a train job needs it"),
    ({"seed": -1}, "seed"),
    ({"device": "tpu"}, "device: expected one of auto, cpu, cuda"),
    ({"model_plan": {"lr": float("nan")}}, "model_plan: not JSON-serializable"),
    ({"node_selector": {"bad key!": "x"}}, "not a valid label key"),
    ({"node_selector": {"pool": "-bad"}}, "not a valid label value"),
    ({"table_uris": {"t": "ftp://x"}}, r"table_uris\['t'\]"),
    ({"version": 99}, "version"),
])
def test_invalid_fields_name_the_field(change, message) -> None:
    raw = full_spec().to_dict() | change
    with pytest.raises(JobSpecError, match=message):
        JobSpec.from_dict(raw)


@pytest.mark.parametrize("resources, message", [
    ({"cpu": 0}, "resources.cpu"), ({"memory": "lots"}, "resources.memory"), ({"gpu": 1.5}, "resources.gpu"),
    ({"gpu": True}, "resources.gpu"), ({"extra": 1}, "unknown field"),
])
def test_invalid_resources(resources, message) -> None:
    raw = full_spec().to_dict()
    raw["resources"] = raw["resources"] | resources
    with pytest.raises(JobSpecError, match=message):
        JobSpec.from_dict(raw)


def test_unknown_and_missing_fields() -> None:
    with pytest.raises(JobSpecError, match="unknown field.*colour"):
        JobSpec.from_dict(full_spec().to_dict() | {"colour": "red"})
    raw = full_spec().to_dict()
    del raw["job_id"]
    with pytest.raises(JobSpecError, match="missing 1 required.*job_id"):
        JobSpec.from_dict(raw)
    with pytest.raises(JobSpecError, match="must be JSON"):
        JobSpec.from_json("{not json")
    with pytest.raises(JobSpecError, match="graph_store_address"):
        JobSpec.from_dict(full_spec().to_dict() | {"graph": {"graph_store_address": "nohost"}})


def test_predict_needs_a_model_and_a_prediction_table() -> None:
    with pytest.raises(JobSpecError, match="prediction_table_uri: a predict job needs it"):
        JobSpec(kind="predict", job_id="p1", task_type="regression", output_uri="file:///tmp/out")
    spec = JobSpec(kind="predict", job_id="p1", task_type="regression", output_uri="file:///tmp/out",
                   prediction_table_uri="file:///tmp/pt", model_uri="file:///tmp/model")
    assert spec.resources == Resources() and spec.device == "auto"


def test_per_table_index_artifacts_come_before_the_folder() -> None:
    graph = full_spec().graph
    # An incrementally updated graph keeps an unchanged table's artifacts where the previous graph made them.
    assert graph.index_location("customers") == "s3://pq-bucket/g1/index/customers"
    assert graph.index_location("orders") == "s3://pq-bucket/g2/index/orders"
    assert GraphInputs().index_location("orders") is None
    with pytest.raises(JobSpecError, match="graph.index_uris"):
        GraphInputs(index_uris=["s3://pq-bucket/x"])  # type: ignore[arg-type]
    with pytest.raises(JobSpecError, match="graph.feature_uris.orders"):
        GraphInputs(feature_uris={"orders": "ftp://elsewhere/x"})
